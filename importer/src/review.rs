//! The review: what a verified bundle would change compared with the last
//! bundle imported from the same source (the
//! report is generated from the verified bytes, and its hash is recorded
//! with the import).
//!
//! Entries are matched by their key (objectGUID, else lowercased DN); values
//! by the SHA-256 of their bytes, per attribute. The previous side is what
//! certferry recorded as written (the accepted values of the last import).

use std::collections::{BTreeSet, HashSet};

use crate::certpolicy::JudgedBundle;
use serde::Serialize;

use crate::certpolicy::{
    ContainedCertificate, EntryEvaluation, Refusal, Revocation, ValueEvaluation,
};
use crate::state::{ImportRecord, RecordedEntries, StateError, ValueRecord};

/// What kind of change a row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// An entry not in the last import.
    EntryAdded,
    /// An entry of the last import that this bundle no longer holds.
    EntryRemoved,
    /// A certificate value that will be published and was not before.
    CertificateAdded,
    /// A value published before that this bundle no longer publishes.
    CertificateRemoved,
    /// One value of an attribute replaced by another.
    CertificateReplaced,
    /// A value refused by the importer's certificate policy.
    Refused,
    /// An accepted value whose revocation status no current CRL decided
    /// (shown for every such value of a bundle that carries CA material).
    RevocationUndetermined,
}

impl ChangeKind {
    /// The kebab-case name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntryAdded => "entry-added",
            Self::EntryRemoved => "entry-removed",
            Self::CertificateAdded => "certificate-added",
            Self::CertificateRemoved => "certificate-removed",
            Self::CertificateReplaced => "certificate-replaced",
            Self::Refused => "refused",
            Self::RevocationUndetermined => "revocation-undetermined",
        }
    }
}

/// One side (old or new) of a certificate change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSide {
    /// SHA-256 of the value bytes.
    pub value_sha256: String,
    /// SHA-1 thumbprint of the certificate, uppercase.
    pub thumbprint: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Issuer.
    pub issuer: Option<String>,
    /// notAfter.
    pub not_after: Option<String>,
    /// The value's other certificates (a PKCS#7 container's further
    /// certificates and chain), each with its verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<ContainedCertificate>,
    /// The certification path of the certificate: its issuer up to the pinned CA.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// The certificate's revocation status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
}

impl CertSide {
    fn new(v: &ValueEvaluation<'_>) -> Self {
        let c = v.certificate();
        let me = v
            .certificates()
            .iter()
            .find(|o| Some(&o.summary.sha256) == c.map(|c| &c.sha256));
        Self {
            chain: me.map(|m| m.chain.clone()).unwrap_or_default(),
            revocation: me.and_then(|m| m.revocation.clone()),
            value_sha256: v.sha256().to_owned(),
            thumbprint: c.map(|c| c.sha1.clone()),
            subject: c.map(|c| c.subject.clone()),
            issuer: c.map(|c| c.issuer.clone()),
            not_after: c.map(|c| c.not_after.clone()),
            others: v
                .certificates()
                .iter()
                .filter(|o| Some(&o.summary.sha1) != c.map(|c| &c.sha1))
                .cloned()
                .collect(),
        }
    }

    fn old(v: &ValueRecord) -> Self {
        Self {
            value_sha256: v.value_sha256.clone(),
            thumbprint: v.cert_sha1.clone(),
            subject: v.subject.clone(),
            issuer: v.issuer.clone(),
            not_after: v.not_after.clone(),
            others: Vec::new(),
            chain: Vec::new(),
            revocation: None,
        }
    }
}

/// One row of the review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What changed.
    pub change: ChangeKind,
    /// The entry's position in the bundle (none for removed entries).
    pub entry: Option<usize>,
    /// objectGUID, else lowercased DN.
    pub key: String,
    /// `user` or `contact`.
    pub kind: String,
    /// UPN, mail, sAMAccountName or DN.
    pub label: String,
    /// DN.
    pub dn: String,
    /// The attribute, for certificate rows.
    pub attribute: Option<String>,
    /// The value before.
    pub old: Option<CertSide>,
    /// The value after (or the refused value).
    pub new: Option<CertSide>,
    /// Why a value is refused.
    pub reasons: Vec<Refusal>,
}

/// Totals of a review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReviewCounts {
    /// Entries in the bundle.
    pub entries: usize,
    /// Entries without any change.
    pub unchanged_entries: usize,
    /// Entry rows added.
    pub entries_added: usize,
    /// Entries removed.
    pub entries_removed: usize,
    /// Certificates added.
    pub certificates_added: usize,
    /// Certificates removed.
    pub certificates_removed: usize,
    /// Certificates replaced.
    pub certificates_replaced: usize,
    /// Values refused by policy.
    pub refused: usize,
    /// Accepted values whose revocation status no current CRL decided.
    pub revocation_undetermined: usize,
}

/// The bundle under review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleInfo {
    /// Source id.
    pub source: String,
    /// Sequence.
    pub sequence: u64,
    /// SHA-256 of the bundle file.
    pub sha256: String,
    /// Creation time.
    pub created: String,
    /// Expiry.
    pub expires: String,
    /// Signers that counted: "name (role, key id)".
    pub signers: Vec<String>,
    /// Whether the bundle carries CA material (certificates and CRLs), so
    /// that revocation could be checked.
    pub carries_ca_material: bool,
}

/// The last import it is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviousInfo {
    /// Sequence.
    pub sequence: u64,
    /// SHA-256 of that bundle.
    pub sha256: String,
    /// When it was imported.
    pub imported_at: String,
}

/// What a review says before its changes: the bundle, the last import it is
/// compared with, and the evaluation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewHead {
    /// The bundle.
    pub bundle: BundleInfo,
    /// The last import of the source, if any.
    pub previous: Option<PreviousInfo>,
    /// The evaluation time.
    pub now: String,
}

/// The head of the review of `bundle` against `previous` at `now`.
pub fn head(
    bundle: &JudgedBundle,
    previous: Option<&ImportRecord>,
    now: certferry_format::Timestamp,
) -> ReviewHead {
    let h = bundle.header();
    ReviewHead {
        bundle: BundleInfo {
            source: h.source.to_string(),
            sequence: h.sequence,
            sha256: bundle.sha256().to_hex(),
            created: h.created.to_string(),
            expires: h.expires.to_string(),
            signers: bundle
                .signers()
                .iter()
                .map(|s| format!("{} ({}, key {})", s.name, s.role, s.key_id))
                .collect(),
            carries_ca_material: bundle.carries_pki(),
        },
        previous: previous.map(|i| PreviousInfo {
            sequence: i.sequence,
            sha256: i.bundle_sha256.clone(),
            imported_at: i.imported_at.clone(),
        }),
        now: now.to_string(),
    }
}

/// The comparison of a bundle with the last import, one entry at a time,
/// in bundle order ([`Comparison::entry`]), then the entries gone since
/// ([`Comparison::finish`]). Each change is handed to the caller as it is
/// found, and each entry of the last import is read from the state database
/// when the bundle's entry with its key is compared, so that neither the
/// reports nor the last import are ever held whole.
#[derive(Debug)]
pub struct Comparison<'p> {
    previous: Option<RecordedEntries<'p>>,
    present: HashSet<String>,
    carries_pki: bool,
    counts: ReviewCounts,
}

impl<'p> Comparison<'p> {
    /// A comparison with the entries of the last import (`None`: none), for
    /// a bundle that does or does not carry CA material.
    pub fn new(previous: Option<RecordedEntries<'p>>, carries_pki: bool) -> Self {
        Self {
            previous,
            present: HashSet::new(),
            carries_pki,
            counts: ReviewCounts::default(),
        }
    }

    /// Compares the next entry of the bundle, handing each change to `emit`.
    pub fn entry<E: From<StateError>>(
        &mut self,
        e: &EntryEvaluation<'_>,
        emit: &mut impl FnMut(Change) -> Result<(), E>,
    ) -> Result<(), E> {
        let first = self.present.insert(e.key().to_owned());
        let prev = match (&self.previous, first) {
            (Some(p), true) => p.get(e.key())?,
            _ => None,
        };
        let prev = prev.as_ref();
        let counts = &mut self.counts;
        counts.entries += 1;
        let mut only_undetermined = true;
        let mut push = |c: Change| {
            if c.change != ChangeKind::RevocationUndetermined {
                only_undetermined = false;
            }
            emit(c)
        };
        let row = |change: ChangeKind,
                   attribute: Option<&str>,
                   o: Option<CertSide>,
                   n: Option<CertSide>,
                   reasons: Vec<Refusal>| Change {
            change,
            entry: Some(e.index()),
            key: e.key().to_owned(),
            kind: e.kind().as_str().to_owned(),
            label: e.label().to_owned(),
            dn: e.dn().to_owned(),
            attribute: attribute.map(str::to_owned),
            old: o,
            new: n,
            reasons,
        };
        if first && prev.is_none() {
            push(row(ChangeKind::EntryAdded, None, None, None, Vec::new()))?;
            counts.entries_added += 1;
        }
        if first {
            let attrs: BTreeSet<&str> = e
                .values()
                .iter()
                .map(|v| v.attribute().as_str())
                .chain(
                    prev.iter()
                        .flat_map(|p| p.values.iter().map(|v| v.attribute.as_str())),
                )
                .collect();
            for attr in attrs {
                let new_vals: Vec<&ValueEvaluation<'_>> = e
                    .values()
                    .iter()
                    .filter(|v| v.accepted() && v.attribute().as_str() == attr)
                    .collect();
                let old_vals: Vec<&ValueRecord> = prev
                    .map(|p| p.values.iter().filter(|v| v.attribute == attr).collect())
                    .unwrap_or_default();
                let old_set: BTreeSet<&str> =
                    old_vals.iter().map(|v| v.value_sha256.as_str()).collect();
                let new_set: BTreeSet<&str> = new_vals.iter().map(|v| v.sha256()).collect();
                let added: Vec<&&ValueEvaluation<'_>> = new_vals
                    .iter()
                    .filter(|v| !old_set.contains(v.sha256()))
                    .collect();
                let removed: Vec<&&ValueRecord> = old_vals
                    .iter()
                    .filter(|v| !new_set.contains(v.value_sha256.as_str()))
                    .collect();
                let pairs = added.len().min(removed.len());
                for (a, r) in added.iter().zip(&removed) {
                    push(row(
                        ChangeKind::CertificateReplaced,
                        Some(attr),
                        Some(CertSide::old(r)),
                        Some(CertSide::new(a)),
                        Vec::new(),
                    ))?;
                }
                counts.certificates_replaced += pairs;
                for a in &added[pairs..] {
                    push(row(
                        ChangeKind::CertificateAdded,
                        Some(attr),
                        None,
                        Some(CertSide::new(a)),
                        Vec::new(),
                    ))?;
                    counts.certificates_added += 1;
                }
                for r in &removed[pairs..] {
                    push(row(
                        ChangeKind::CertificateRemoved,
                        Some(attr),
                        Some(CertSide::old(r)),
                        None,
                        Vec::new(),
                    ))?;
                    counts.certificates_removed += 1;
                }
            }
        }
        for v in e
            .values()
            .iter()
            .filter(|v| v.accepted() && v.revocation_undetermined())
        {
            counts.revocation_undetermined += 1;
            if self.carries_pki {
                let why = CertSide::new(v)
                    .revocation
                    .map(|r| r.detail)
                    .unwrap_or_default();
                push(row(
                    ChangeKind::RevocationUndetermined,
                    Some(v.attribute().as_str()),
                    None,
                    Some(CertSide::new(v)),
                    vec![Refusal::new("revocation-undetermined", why)],
                ))?;
            }
        }
        for v in e.values().iter().filter(|v| !v.accepted()) {
            push(row(
                ChangeKind::Refused,
                Some(v.attribute().as_str()),
                None,
                Some(CertSide::new(v)),
                v.refusals().to_vec(),
            ))?;
            counts.refused += 1;
        }
        if only_undetermined {
            counts.unchanged_entries += 1;
        }
        Ok(())
    }

    /// The entries of the last import that the bundle no longer holds, each
    /// handed to `emit`; returns the totals.
    pub fn finish<E: From<StateError>>(
        mut self,
        emit: &mut impl FnMut(Change) -> Result<(), E>,
    ) -> Result<ReviewCounts, E> {
        let Some(previous) = self.previous else {
            return Ok(self.counts);
        };
        let present = &self.present;
        let removed = &mut self.counts.entries_removed;
        previous.for_each_head(|r| {
            if present.contains(r.key.as_str()) {
                return Ok(());
            }
            *removed += 1;
            emit(Change {
                change: ChangeKind::EntryRemoved,
                entry: None,
                key: r.key,
                kind: r.kind,
                label: r.label,
                dn: r.dn,
                attribute: None,
                old: None,
                new: None,
                reasons: Vec::new(),
            })
        })?;
        Ok(self.counts)
    }
}
