//! The trust store Exchange Online needs: the pinned and intermediate CA
//! certificates that the accepted certificates of a bundle chain to.
//!
//! Exchange Online validates S/MIME certificates only against the SST
//! uploaded with `Set-SmimeConfig -SMIMECertificateIssuingCA`, and "if any
//! certificates are expired, the operation will fail": an expired CA
//! certificate is left out and reported, never written. Pure: the same
//! evaluation, policy and time give the same store.

use std::collections::{BTreeMap, HashMap};

use certferry_format::cert::chain::CaCertificate;
use certferry_format::{Sha256, Timestamp};
use serde::Serialize;

use crate::certpolicy::{for_each_entry, CertificatePolicy, JudgedBundle, SpoolError};

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

/// The CA certificates the accepted certificates of `bundle` chain to (its
/// verdicts read one entry at a time),
/// at time `now`: the paths the policy found (`chain_sha256` of each
/// accepted certificate), through the policy's pinned and intermediate CAs
/// and the CA certificates the bundle carries (`bundle_cas`).
pub fn compute(
    bundle: &JudgedBundle,
    policy: &CertificatePolicy,
    bundle_cas: &[CaCertificate],
    now: Timestamp,
) -> Result<TrustStore, SpoolError> {
    let known: HashMap<Sha256, (&CaCertificate, &'static str)> = policy
        .trusted_issuers
        .iter()
        .map(|a| (a.sha256(), (a.ca(), "pinned")))
        .chain(
            policy
                .intermediates
                .iter()
                .chain(bundle_cas)
                .map(|h| (h.sha256(), (h, "intermediate"))),
        )
        .rev() // the first wins: a pinned CA stays pinned
        .collect();
    let stamp = |t: i64| Timestamp::from_unix(t).map_or_else(|| t.to_string(), |t| t.to_string());
    let mut found: BTreeMap<Sha256, StoreCertificate> = BTreeMap::new();
    let mut expired: BTreeMap<Sha256, i64> = BTreeMap::new();
    let mut values = 0;
    for_each_entry(bundle, |entry| {
        for v in entry.values().iter().filter(|v| v.accepted()) {
            let Some(accepted) = v.certificate() else {
                continue; // an opaque value: no certificate, no path
            };
            let Some(me) = v
                .certificates()
                .iter()
                .find(|c| c.summary.sha256 == accepted.sha256)
                .filter(|c| !c.chain_sha256.is_empty())
            else {
                continue;
            };
            values += 1;
            for id in &me.chain_sha256 {
                let Some(&(ca, role)) = known.get(id) else {
                    continue;
                };
                found
                    .entry(*id)
                    .or_insert_with(|| StoreCertificate {
                        subject: ca.subject().to_owned(),
                        sha256: id.to_hex(),
                        not_after: stamp(ca.not_after()),
                        role,
                        used_by: 0,
                        der: ca.der().to_vec(),
                    })
                    .used_by += 1;
                // Anchors are trusted as given, expired or not; the upload refuses them.
                if now.unix() > ca.not_after() {
                    expired.insert(*id, ca.not_after());
                }
            }
        }
        Ok::<(), SpoolError>(())
    })?;
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
    Ok(store)
}

/// One CA certificate of an upload, as shown to the administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shown {
    /// Subject (RFC 4514), or a note when the bytes are not a certificate.
    pub subject: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// End of validity (empty when unknown).
    pub not_after: String,
}

/// What uploading a store changes in the tenant's collection, which the
/// upload replaces whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    /// The collection to upload (DER, in order: the store, then the tenant's
    /// certificates kept).
    #[serde(skip)]
    pub certificates: Vec<Vec<u8>>,
    /// In the upload and not in the tenant's collection now.
    pub added: Vec<Shown>,
    /// The tenant's certificates that stay.
    pub kept: Vec<Shown>,
    /// The tenant's certificates the upload removes, each with why.
    pub removed: Vec<(Shown, &'static str)>,
    /// The upload would change nothing: it is not sent.
    pub unchanged: bool,
}

fn shown(der: &[u8]) -> Shown {
    let stamp = |t: i64| Timestamp::from_unix(t).map_or_else(|| t.to_string(), |t| t.to_string());
    match CaCertificate::from_der(der) {
        Ok(c) => Shown {
            subject: c.subject().to_owned(),
            sha256: c.sha256().to_hex(),
            not_after: stamp(c.not_after()),
        },
        Err(_) => Shown {
            subject: "(not readable as a certificate)".to_owned(),
            sha256: Sha256::digest(der).to_hex(),
            not_after: String::new(),
        },
    }
}

/// The upload of `store` over the tenant's current collection `current`
/// (`None`: the service does not show it). By default the tenant's other
/// certificates stay, except expired ones (the upload would fail on them)
/// and bytes that are no certificate; `replace` uploads exactly the store.
/// Without `replace`, a collection the service does not show cannot be
/// kept: that is an error, never a guess.
pub fn plan_upload(
    store: &TrustStore,
    current: Option<&[Vec<u8>]>,
    replace: bool,
    now: Timestamp,
) -> Result<Upload, String> {
    let Some(current) = current.or(replace.then_some(&[][..])) else {
        return Err("the service does not show the tenant's current S/MIME certificate collection (Get-SmimeConfig has no SMIMECertificateIssuingCA), and an upload replaces it whole: rerun with --replace to upload exactly this store".to_owned());
    };
    let ours: Vec<Sha256> = store
        .certificates
        .iter()
        .map(|c| Sha256::digest(&c.der))
        .collect();
    let mut up = Upload {
        certificates: store.certificates.iter().map(|c| c.der.clone()).collect(),
        added: Vec::new(),
        kept: Vec::new(),
        removed: Vec::new(),
        unchanged: false,
    };
    let theirs: Vec<Sha256> = current.iter().map(|d| Sha256::digest(d)).collect();
    for c in &store.certificates {
        if !theirs.contains(&Sha256::digest(&c.der)) {
            up.added.push(shown(&c.der));
        }
    }
    for (der, id) in current.iter().zip(&theirs) {
        if ours.contains(id) {
            continue;
        }
        let why = if replace {
            Some("--replace uploads exactly the store")
        } else {
            match CaCertificate::from_der(der) {
                Err(_) => Some("not a certificate: the upload would fail on it"),
                Ok(c) if now.unix() > c.not_after() => Some("expired: the upload would fail on it"),
                Ok(_) => None,
            }
        };
        match why {
            Some(w) => up.removed.push((shown(der), w)),
            None => {
                up.kept.push(shown(der));
                up.certificates.push(der.clone());
            }
        }
    }
    let mut now_set = theirs.clone();
    now_set.sort();
    now_set.dedup();
    let mut next: Vec<Sha256> = up.certificates.iter().map(|d| Sha256::digest(d)).collect();
    next.sort();
    next.dedup();
    up.unchanged = now_set == next;
    Ok(up)
}
