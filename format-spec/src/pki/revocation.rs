//! Revocation checked offline (RFC 5280 §5, §6.3, the essentials) against
//! the CRLs a bundle carries, at one fixed "now".
//!
//! A certificate's status comes from a complete CRL of its issuer that the
//! issuer's own key signed (the CA that the certification path found, with
//! cRLSign when it has keyUsage), that carries no critical extension this
//! code cannot process and no issuingDistributionPoint (indirect and
//! partitioned CRLs are not used), and that is fresh both when the bundle
//! was made and now (thisUpdate ≤ t ≤ nextUpdate; a CRL without nextUpdate
//! is never fresh). Of several, the one with the highest cRLNumber (then the
//! latest thisUpdate) counts. A delta CRL meeting the same rules applies to
//! it when its BaseCRLNumber ≤ the complete CRL's number < its own number;
//! the newest such delta counts, and its entries come first: `removeFromCRL`
//! takes a certificate off the list. Without such a CRL the status is
//! *undetermined*, never good.
//!
//! Everything that does not depend on the certificate is done once, when
//! the index is built: parsing, signature checks against every known CA,
//! the serial lookup tables.

use std::collections::HashMap;
use std::fmt;

use super::crl::{reason_name, CrlInfo};
use crate::cert::chain::{build_path, CaCertificate, TrustedIssuer};
use crate::ids::Sha256;

/// `certificateHold` (RFC 5280 §5.3.1).
const HOLD: u8 = 6;
/// `removeFromCRL`.
const REMOVE_FROM_CRL: u8 = 8;

/// A certificate's revocation status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not on a fresh CRL of its issuer.
    Good {
        /// The CRLs that decided it (the complete one, and the delta if any).
        by: String,
    },
    /// On the list, for good.
    Revoked {
        /// The reasonCode's RFC 5280 name, when the entry has one.
        reason: Option<&'static str>,
        /// revocationDate, Unix seconds.
        date: i64,
        /// The CRL that lists it.
        by: String,
    },
    /// On the list with reason certificateHold: not to be used now (a later
    /// CRL may release it).
    OnHold {
        /// revocationDate, Unix seconds.
        date: i64,
        /// The CRL that lists it.
        by: String,
    },
    /// No CRL could decide.
    Undetermined {
        /// Why, for people.
        why: String,
    },
}

impl Status {
    /// A stable one-word code: `good`, `revoked`, `on-hold`, `undetermined`.
    pub fn code(&self) -> &'static str {
        match self {
            Status::Good { .. } => "good",
            Status::Revoked { .. } => "revoked",
            Status::OnHold { .. } => "on-hold",
            Status::Undetermined { .. } => "undetermined",
        }
    }
}

fn date(unix: i64) -> String {
    crate::Timestamp::from_unix(unix).map_or_else(|| unix.to_string(), |t| t.to_string())
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Good { by } => write!(f, "not revoked ({by})"),
            Status::Revoked {
                reason,
                date: d,
                by,
            } => write!(
                f,
                "revoked on {} ({}) according to {by}",
                date(*d),
                reason.unwrap_or("no reason given")
            ),
            Status::OnHold { date: d, by } => {
                write!(f, "on hold since {} according to {by}", date(*d))
            }
            Status::Undetermined { why } => write!(f, "revocation status undetermined: {why}"),
        }
    }
}

struct IndexedCrl {
    info: CrlInfo,
    /// The names of the CAs whose certificates it lists (its own issuer, and
    /// on an indirect CRL each certificateIssuer), by encoding.
    issuers: Vec<Vec<u8>>,
    /// (index into `issuers`, serial) → index into `info.revoked`.
    by_serial: HashMap<(usize, String), usize>,
    /// The CA certificates (by SHA-256) whose key signed it, whose subject is
    /// its issuer name and which may sign CRLs.
    signers: Vec<Sha256>,
    /// For an indirect CRL: the subject of the certificate that signed it,
    /// when that certificate may sign CRLs and has a path to an anchor.
    indirect_signer: Option<String>,
    /// Where it came from, for messages.
    label: String,
}

impl IndexedCrl {
    /// The revoked entry for `serial` of a certificate issued by `issuer` (encoding).
    fn entry(&self, issuer: &[u8], serial: &str) -> Option<&super::crl::Revoked> {
        let i = self.issuers.iter().position(|n| n.as_slice() == issuer)?;
        let &e = self.by_serial.get(&(i, serial.to_owned()))?;
        self.info.revoked.get(e)
    }

    /// Whether it may decide the status of a certificate of the CA `issuer`:
    /// its own CRL, signed by that key, or an indirect CRL by a signer with a path.
    fn speaks_for(&self, issuer: &CaCertificate) -> bool {
        if self.info.indirect {
            self.indirect_signer.is_some()
                && self
                    .issuers
                    .iter()
                    .any(|n| n.as_slice() == issuer.subject_raw())
        } else {
            self.info.issuer_raw.as_slice() == issuer.subject_raw()
        }
    }

    fn name(&self) -> String {
        let number = self.info.number.as_deref().unwrap_or("without number");
        match &self.info.delta_base {
            Some(_) => format!("delta CRL {number} of {}", self.info.issuer),
            None => format!("CRL {number} of {}", self.info.issuer),
        }
    }

    fn fresh_at(&self, t: i64) -> bool {
        self.info.this_update <= t && self.info.next_update.is_some_and(|n| t <= n)
    }
}

/// The CRLs of one bundle, ready for many lookups.
pub struct RevocationIndex {
    crls: Vec<IndexedCrl>,
    /// CRLs that could not be read at all, by label (they decide nothing).
    unreadable: Vec<String>,
}

impl fmt::Debug for RevocationIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationIndex")
            .field("crls", &self.crls.len())
            .finish_non_exhaustive()
    }
}

/// Compares two cRLNumbers written as serials (hex magnitude, no leading
/// zero octets).
fn number_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl RevocationIndex {
    /// Indexes `crls` (each its DER and a label for messages) against the CA
    /// certificates that may have issued them: the pinned `anchors` and the
    /// `helpers`. A direct CRL's signer is one of them with its issuer name;
    /// an indirect CRL's signer may be any of them with cRLSign that has a
    /// certification path to an anchor (through the helpers, at `now`).
    pub fn build<'a>(
        crls: impl IntoIterator<Item = (&'a [u8], String)>,
        anchors: &[TrustedIssuer],
        helpers: &[CaCertificate],
        now: i64,
    ) -> Self {
        let cas: Vec<&CaCertificate> = anchors
            .iter()
            .map(TrustedIssuer::ca)
            .chain(helpers)
            .collect();
        let mut out = Self {
            crls: Vec::new(),
            unreadable: Vec::new(),
        };
        for (der, label) in crls {
            let Some(info) = CrlInfo::parse(der) else {
                out.unreadable.push(label);
                continue;
            };
            let signed: Vec<&CaCertificate> = cas
                .iter()
                .copied()
                .filter(|ca| {
                    ca.subject_raw() == info.issuer_raw.as_slice()
                        && ca.may_sign_crls()
                        && CrlInfo::signed_by(der, ca.spki())
                })
                .collect();
            let indirect_signer = if info.indirect {
                signed
                    .iter()
                    .find(|ca| {
                        anchors.iter().any(|a| a.sha256() == ca.sha256())
                            || has_path(ca, anchors, helpers, now)
                    })
                    .map(|ca| ca.subject().to_owned())
            } else {
                None
            };
            let mut issuers: Vec<Vec<u8>> = vec![info.issuer_raw.clone()];
            let mut by_serial = HashMap::with_capacity(info.revoked.len());
            for (i, r) in info.revoked.iter().enumerate() {
                let name = r.issuer_raw.as_deref().unwrap_or(&info.issuer_raw);
                let k = match issuers.iter().position(|n| n.as_slice() == name) {
                    Some(k) => k,
                    None => {
                        issuers.push(name.to_vec());
                        issuers.len() - 1
                    }
                };
                by_serial.insert((k, r.serial.clone()), i);
            }
            out.crls.push(IndexedCrl {
                signers: signed.iter().map(|ca| ca.sha256()).collect(),
                indirect_signer,
                issuers,
                info,
                by_serial,
                label,
            });
        }
        out
    }

    /// Whether there is no CRL at all.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    /// The status of the certificate with serial `serial` (as SPEC.md §6.3
    /// writes serials) issued by `issuer` (the CA the certification path
    /// found), for a bundle created at `created`, checked at `now` (Unix
    /// seconds).
    pub fn status(&self, serial: &str, issuer: &CaCertificate, created: i64, now: i64) -> Status {
        let key = issuer.sha256();
        let mine: Vec<&IndexedCrl> = self.crls.iter().filter(|c| c.speaks_for(issuer)).collect();
        if mine.is_empty() {
            return Status::Undetermined {
                why: format!("the bundle carries no CRL of {}", issuer.subject()),
            };
        }
        let mut problems = Vec::new();
        let usable = |c: &&IndexedCrl, problems: &mut Vec<String>| -> bool {
            if !c.info.indirect && !c.signers.contains(&key) {
                problems.push(format!(
                    "{} ({}) is not signed by the key of {}",
                    c.name(),
                    c.label,
                    issuer.subject()
                ));
                return false;
            }
            if let Some(why) = &c.info.unusable {
                problems.push(format!("{} ({}) cannot be used: {why}", c.name(), c.label));
                return false;
            }
            if c.info.scoped {
                problems.push(format!(
                    "{} ({}) is scoped (issuingDistributionPoint), which certferry does not process",
                    c.name(),
                    c.label
                ));
                return false;
            }
            if !(c.fresh_at(created) && c.fresh_at(now)) {
                let until = c.info.next_update.map_or_else(
                    || "no nextUpdate".to_owned(),
                    |n| format!("next update {}", date(n)),
                );
                problems.push(format!(
                    "{} ({}) is not current at both the bundle's creation ({}) and now ({}): this update {}, {until}",
                    c.name(),
                    c.label,
                    date(created),
                    date(now),
                    date(c.info.this_update)
                ));
                return false;
            }
            true
        };
        let complete = mine
            .iter()
            .filter(|c| c.info.delta_base.is_none())
            .filter(|c| usable(c, &mut problems))
            .max_by(|a, b| {
                number_order(
                    a.info.number.as_deref().unwrap_or(""),
                    b.info.number.as_deref().unwrap_or(""),
                )
                .then(a.info.this_update.cmp(&b.info.this_update))
            })
            .copied();
        let Some(complete) = complete else {
            if problems.is_empty() {
                problems.push(format!(
                    "the bundle carries only delta CRLs of {}, no complete one",
                    issuer.subject()
                ));
            }
            return Status::Undetermined {
                why: problems.join("; "),
            };
        };
        let base_number = complete.info.number.as_deref().unwrap_or("");
        let delta = mine
            .iter()
            .filter(|c| c.info.issuer_raw == complete.info.issuer_raw)
            .filter(|c| {
                c.info.delta_base.as_deref().is_some_and(|base| {
                    let number = c.info.number.as_deref().unwrap_or("");
                    !base_number.is_empty()
                        && number_order(base, base_number).is_le()
                        && number_order(base_number, number).is_lt()
                })
            })
            .filter(|c| usable(c, &mut Vec::new()))
            .max_by(|a, b| {
                number_order(
                    a.info.number.as_deref().unwrap_or(""),
                    b.info.number.as_deref().unwrap_or(""),
                )
            })
            .copied();
        let by = match delta {
            Some(d) => format!("{} with {}", complete.name(), d.name()),
            None => complete.name(),
        };
        for crl in delta.into_iter().chain([complete]) {
            let Some(entry) = crl.entry(issuer.subject_raw(), serial) else {
                continue;
            };
            return match entry.reason {
                Some(REMOVE_FROM_CRL) => Status::Good { by },
                Some(HOLD) => Status::OnHold {
                    date: entry.date,
                    by: crl.name(),
                },
                reason => Status::Revoked {
                    reason: reason.and_then(reason_name),
                    date: entry.date,
                    by: crl.name(),
                },
            };
        }
        Status::Good { by }
    }

    /// The status of a certificate with serial `serial` whose path up to the
    /// anchor is `chain` (its issuer first, each next one the issuer of the
    /// one before, the anchor last): its own status from its issuer's CRLs,
    /// then each intermediate CA's from its issuer's (the anchor is taken as
    /// given). A revoked or held CA revokes or holds what it issued; an
    /// undetermined CA leaves a good certificate undetermined.
    pub fn path_status(
        &self,
        serial: &str,
        chain: &[&CaCertificate],
        created: i64,
        now: i64,
    ) -> Status {
        let Some(issuer) = chain.first() else {
            return Status::Undetermined {
                why: "no issuer".to_owned(),
            };
        };
        let leaf = self.status(serial, issuer, created, now);
        if matches!(leaf, Status::Revoked { .. } | Status::OnHold { .. }) {
            return leaf;
        }
        let mut undetermined = None;
        for pair in chain.windows(2) {
            let (ca, above) = (pair[0], pair[1]);
            let listed = |by: String| format!("{by}, which lists its issuing CA {}", ca.subject());
            match self.status(ca.serial(), above, created, now) {
                Status::Good { .. } => {}
                Status::Revoked { reason, date, by } => {
                    return Status::Revoked {
                        reason,
                        date,
                        by: listed(by),
                    }
                }
                Status::OnHold { date, by } => {
                    return Status::OnHold {
                        date,
                        by: listed(by),
                    }
                }
                Status::Undetermined { why } => {
                    undetermined.get_or_insert_with(|| {
                        format!("for its issuing CA {}: {why}", ca.subject())
                    });
                }
            }
        }
        match (leaf, undetermined) {
            (Status::Good { .. }, Some(why)) => Status::Undetermined { why },
            (leaf, _) => leaf,
        }
    }

    /// CRLs that did not parse, by label.
    pub fn unreadable(&self) -> &[String] {
        &self.unreadable
    }
}

/// Whether the certificate `ca` (an indirect CRL's signer) is valid at `now`
/// and has a certification path to one of `anchors` through `helpers`.
fn has_path(
    ca: &CaCertificate,
    anchors: &[TrustedIssuer],
    helpers: &[CaCertificate],
    now: i64,
) -> bool {
    let decoded = crate::cert::decode_value(ca.der());
    let Some(info) = decoded.certificates.first() else {
        return false;
    };
    info.not_before <= now
        && now <= info.not_after
        && build_path(ca.der(), info, anchors, helpers, now).is_ok()
}
