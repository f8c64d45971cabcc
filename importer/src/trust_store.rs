//! The trust store Exchange Online needs: the pinned and intermediate CA
//! certificates that the accepted certificates of a bundle chain to.
//!
//! Exchange Online validates S/MIME certificates only against the SST
//! uploaded with `Set-SmimeConfig -SMIMECertificateIssuingCA`, and "if any
//! certificates are expired, the operation will fail": an expired CA
//! certificate is left out and reported, never written. Pure: the same
//! evaluation, policy and time give the same store.

use std::collections::BTreeMap;

use certferry_format::cert::{self, chain::build_path};
use certferry_format::{Sha256, Timestamp};
use serde::Serialize;

use crate::certpolicy::{CertificatePolicy, Evaluation};

/// One CA certificate of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreCertificate {
    /// Subject (RFC 4514).
    pub subject: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// End of validity.
    pub not_after: String,
    /// `pinned` (from `certificates.trusted_ca`) or `intermediate`.
    pub role: &'static str,
    /// How many accepted certificates chain through it.
    pub used_by: usize,
    /// The DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// The store's contents: what goes in, and what is left out and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrustStore {
    /// The certificates to write: pinned CAs first, then intermediates, each
    /// group by subject and then SHA-256.
    pub certificates: Vec<StoreCertificate>,
    /// Expired CA certificates the accepted certificates chain through: not
    /// written (the upload would fail), so those certificates will not
    /// validate in Exchange Online until their CA is renewed.
    pub left_out_expired: Vec<StoreCertificate>,
    /// Accepted values whose path is in the store.
    pub values: usize,
}

/// The CA certificates the accepted certificates of `evaluation` chain to
/// under `policy`, at time `now`.
pub fn compute(
    evaluation: &Evaluation<'_>,
    policy: &CertificatePolicy,
    now: Timestamp,
) -> TrustStore {
    // By SHA-256: (role order, subject, the certificate).
    let mut found: BTreeMap<Sha256, StoreCertificate> = BTreeMap::new();
    let mut values = 0;
    let stamp = |t: i64| Timestamp::from_unix(t).map_or_else(|| t.to_string(), |t| t.to_string());
    let mut add = |der: &[u8], subject: &str, not_after: i64, role: &'static str| {
        found
            .entry(Sha256::digest(der))
            .or_insert_with(|| StoreCertificate {
                subject: subject.to_owned(),
                sha256: Sha256::digest(der).to_hex(),
                not_after: stamp(not_after),
                role,
                used_by: 0,
                der: der.to_vec(),
            })
            .used_by += 1;
    };
    let mut expired: BTreeMap<Sha256, i64> = BTreeMap::new();
    for entry in evaluation.entries() {
        for v in entry.values().iter().filter(|v| v.accepted()) {
            let Some(accepted) = v.certificate() else {
                continue; // an opaque value: no certificate, no path
            };
            // The value's certificate again (only this command needs its path).
            let decoded = cert::decode_value(v.bytes());
            let Some(info) = decoded
                .certificates
                .iter()
                .find(|c| c.sha256.to_hex() == accepted.sha256)
            else {
                continue;
            };
            let Ok(path) = build_path(
                v.bytes(),
                info,
                &policy.trusted_issuers,
                &policy.intermediates,
                now.unix(),
            ) else {
                continue;
            };
            values += 1;
            let anchor = &policy.trusted_issuers[path.anchor];
            add(anchor.der(), anchor.subject(), anchor.not_after(), "pinned");
            if now.unix() > anchor.not_after() {
                expired.insert(anchor.sha256(), anchor.not_after());
            }
            for &i in &path.intermediates {
                let h = &policy.intermediates[i];
                add(h.der(), h.subject(), h.not_after(), "intermediate");
            }
        }
    }
    let mut store = TrustStore {
        values,
        ..TrustStore::default()
    };
    let mut all: Vec<(Sha256, StoreCertificate)> = found.into_iter().collect();
    all.sort_by(|(ha, a), (hb, b)| {
        (a.role != "pinned", &a.subject, ha).cmp(&(b.role != "pinned", &b.subject, hb))
    });
    for (h, c) in all {
        if expired.contains_key(&h) {
            store.left_out_expired.push(c);
        } else {
            store.certificates.push(c);
        }
    }
    store
}
