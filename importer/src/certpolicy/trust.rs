//! What a certificate's trust rests on beyond the policy's pinned CAs: the
//! helpers a path may use (the policy's intermediates and the CA certificates
//! the bundle carries, never anchors) and the bundle's CRLs, indexed once per
//! bundle (SPEC.md §6.7). Then, per certificate, the chain found and its
//! revocation status, judged against the policy's `certificates.revocation`.

use certferry_format::cert::chain::{CaCertificate, Path, TrustedIssuer};
use certferry_format::model::BundleHeader;
use certferry_format::pki::revocation::{RevocationIndex, Status};
use certferry_format::pki::PkiKind;
use certferry_format::{Sha256, VerifiedPki};
use serde::Serialize;

use super::CertificatePolicy;

/// What the policy does when no CRL can decide a certificate's status
/// (`certificates.revocation`). A revoked or held certificate is always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationPolicy {
    /// Refuse it (`revocation-undetermined`).
    Require,
    /// Accept it and say so in `verify`, `plan` and `review` (the default).
    Warn,
    /// Accept it; `review` still shows the status.
    Ignore,
}

impl RevocationPolicy {
    /// The policy file's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "require" => Some(Self::Require),
            "warn" => Some(Self::Warn),
            "ignore" => Some(Self::Ignore),
            _ => None,
        }
    }
}

/// The helpers and CRLs of one bundle, built before its entries are judged.
#[derive(Debug)]
pub(super) struct BundleTrust {
    /// The policy's intermediates, then the bundle's CA certificates (each once).
    pub(super) helpers: Vec<CaCertificate>,
    /// `None` when the bundle carries no CA material at all.
    revocation: Option<RevocationIndex>,
    /// When the bundle was made (Unix seconds): a CRL must be current then too.
    created: i64,
}

impl BundleTrust {
    /// For a verified bundle's header and CA material (`None`: it carries none).
    pub(super) fn of_bundle(
        policy: &CertificatePolicy,
        header: &BundleHeader,
        pki: Option<&[VerifiedPki<'_>]>,
        now: i64,
    ) -> Self {
        let carries_pki = pki.is_some();
        let pki = pki.unwrap_or_default();
        let mut helpers = policy.intermediates.clone();
        let mut seen: Vec<Sha256> = helpers.iter().map(CaCertificate::sha256).collect();
        seen.extend(policy.trusted_issuers.iter().map(TrustedIssuer::sha256));
        for p in pki {
            if p.record().kind != PkiKind::Certificate {
                continue;
            }
            if let Ok(ca) = CaCertificate::from_der(p.bytes()) {
                if !seen.contains(&ca.sha256()) {
                    seen.push(ca.sha256());
                    helpers.push(ca);
                }
            }
        }
        let revocation = carries_pki.then(|| {
            RevocationIndex::build(
                pki.iter()
                    .filter(|p| p.record().kind == PkiKind::Crl)
                    .map(|p| {
                        let r = p.record();
                        (p.bytes(), format!("{} of {}", r.file, r.location))
                    }),
                &policy.trusted_issuers,
                &helpers,
                now,
            )
        });
        Self {
            helpers,
            revocation,
            created: header.created.unix(),
        }
    }

    /// The path's CA certificates from the certificate's issuer up to the
    /// anchor: their subjects and their SHA-256s.
    pub(super) fn chain(
        &self,
        policy: &CertificatePolicy,
        path: &Path,
    ) -> (Vec<String>, Vec<Sha256>) {
        let anchor = &policy.trusted_issuers[path.anchor];
        path.intermediates
            .iter()
            .map(|&i| {
                (
                    self.helpers[i].subject().to_owned(),
                    self.helpers[i].sha256(),
                )
            })
            .chain([(anchor.subject().to_owned(), anchor.sha256())])
            .unzip()
    }

    /// The revocation status of the certificate with `serial` on `path`,
    /// its intermediate CAs' included ([`RevocationIndex::path_status`]).
    pub(super) fn status(
        &self,
        policy: &CertificatePolicy,
        path: &Path,
        serial: &str,
        now: i64,
    ) -> Status {
        let Some(index) = &self.revocation else {
            return Status::Undetermined {
                why: "the bundle carries no CA material (exported without --pki), so no CRL"
                    .to_owned(),
            };
        };
        let chain: Vec<&CaCertificate> = path
            .intermediates
            .iter()
            .map(|&i| &self.helpers[i])
            .chain([policy.trusted_issuers[path.anchor].ca()])
            .collect();
        index.path_status(serial, &chain, self.created, now)
    }
}

/// A certificate's revocation status as `verify --json` and `review` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// `good`, `revoked`, `on-hold` or `undetermined`.
    pub status: &'static str,
    /// The sentence: which CRL, the reason and date, or why undetermined.
    pub detail: String,
}

impl Revocation {
    pub(super) fn of(status: &Status) -> Self {
        Self {
            status: status.code(),
            detail: status.to_string(),
        }
    }
}
