//! The evaluation of a judged bundle: views over the verdicts `judge` made
//! while the bundle was verified, with the one rule that needs every entry
//! (a repeated identity is refused after its first entry) and the totals.
//! Private fields and no constructor but [`evaluate`].

use std::borrow::Cow;

use certferry_format::model::{Attribute, ObjectKind};
use serde::Serialize;

use super::spool::SpoolError;
use super::{CertSummary, ContainedCertificate, EntryVerdict, JudgedBundle, Refusal, ValueVerdict};

/// The verdict on one value of a verified bundle.
#[derive(Debug, Clone)]
pub struct ValueEvaluation<'a> {
    verdict: &'a ValueVerdict,
    /// `None` when the command did not keep the bytes of a snapshot in parts.
    bytes: Option<&'a [u8]>,
    /// The verdict's refusals, plus `duplicate-entry` when the entry repeats
    /// an earlier entry's identity.
    refusals: Cow<'a, [Refusal]>,
}

impl<'a> ValueEvaluation<'a> {
    /// The attribute holding the value.
    pub fn attribute(&self) -> Attribute {
        self.verdict.attribute
    }

    /// The value file in the bundle (empty for a withheld value).
    pub fn file(&self) -> &'a str {
        &self.verdict.file
    }

    /// SHA-256 of the value's bytes, hex.
    pub fn sha256(&self) -> &'a str {
        &self.verdict.sha256
    }

    /// The certificate the verdict is about, if the value holds one: the
    /// accepted one (an encryption certificate before a signing-only one),
    /// else the first refused end-entity certificate.
    pub fn certificate(&self) -> Option<&'a CertSummary> {
        self.verdict.certificate()
    }

    /// Every certificate the value holds, in order, each with its verdict.
    pub fn certificates(&self) -> &'a [ContainedCertificate] {
        &self.verdict.certificates
    }

    /// Accepted: the value may be published.
    pub fn accepted(&self) -> bool {
        self.refusals.is_empty()
    }

    /// Why not (empty when accepted).
    pub fn refusals(&self) -> &[Refusal] {
        &self.refusals
    }

    /// Where the value's bytes are, to be read later with
    /// [`super::JudgedBundle::value_bytes`] (a plan holds references, not
    /// bytes).
    pub fn value_ref(&self) -> ValueRef {
        ValueRef {
            sha256: self.verdict.sha256.clone(),
            at: self.verdict.bytes.clone(),
        }
    }

    /// The verified bytes of the value; an error when the command judged a
    /// snapshot in parts without keeping them ([`super::Values::NotNeeded`]).
    pub fn bytes(&self) -> Result<&'a [u8], ValuesNotKept> {
        self.bytes.ok_or(ValuesNotKept)
    }

    /// Whether the certificate the verdict is about has a revocation status
    /// that no CRL decided.
    pub fn revocation_undetermined(&self) -> bool {
        self.verdict.revocation_undetermined()
    }
}

impl Serialize for ValueEvaluation<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The JSON form (`verify --json`), in its documented member order.
        #[derive(Serialize)]
        struct Wire<'b> {
            attribute: &'static str,
            file: &'b str,
            sha256: &'b str,
            certificate: Option<&'b CertSummary>,
            certificates: &'b [ContainedCertificate],
            accepted: bool,
            refusals: &'b [Refusal],
        }
        Wire {
            attribute: self.attribute().as_str(),
            file: self.file(),
            sha256: self.sha256(),
            certificate: self.certificate(),
            certificates: self.certificates(),
            accepted: self.accepted(),
            refusals: self.refusals(),
        }
        .serialize(s)
    }
}

/// Where one value's bytes are (private: made by
/// [`ValueEvaluation::value_ref`], read by [`super::JudgedBundle::value_bytes`]).
#[derive(Debug, Clone)]
pub struct ValueRef {
    sha256: String,
    at: super::ValueBytes,
}

impl ValueRef {
    /// SHA-256 of the value's bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub(super) fn at(&self) -> &super::ValueBytes {
        &self.at
    }
}

/// A value's bytes were asked for by a command that did not keep them: a
/// bug in the command, never a property of the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a value's bytes were not kept for this command (certferry bug: judged with Values::NotNeeded)"
)]
pub struct ValuesNotKept;

/// The verdicts for one entry of a verified bundle.
#[derive(Debug, Clone)]
pub struct EntryEvaluation<'a> {
    index: usize,
    verdict: &'a EntryVerdict,
    values: Vec<ValueEvaluation<'a>>,
    repeats: Option<usize>,
}

impl<'a> EntryEvaluation<'a> {
    /// Position in the bundle, from 1.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The position of the earlier entry with the same identity, when this
    /// one repeats it (then every value is refused: only the first is used).
    pub fn repeats(&self) -> Option<usize> {
        self.repeats
    }

    /// The key that identifies the entry across bundles: objectGUID, else the lowercased DN.
    pub fn key(&self) -> &'a str {
        &self.verdict.key
    }

    /// User or contact.
    pub fn kind(&self) -> ObjectKind {
        self.verdict.kind
    }

    /// UPN, else mail, else sAMAccountName, else DN.
    pub fn label(&self) -> &'a str {
        &self.verdict.label
    }

    /// The DN.
    pub fn dn(&self) -> &'a str {
        &self.verdict.dn
    }

    /// userPrincipalName.
    pub fn upn(&self) -> Option<&'a str> {
        self.verdict.upn.as_deref()
    }

    /// mail.
    pub fn mail(&self) -> Option<&'a str> {
        self.verdict.mail.as_deref()
    }

    /// displayName.
    pub fn display_name(&self) -> Option<&'a str> {
        self.verdict.display_name.as_deref()
    }

    /// The primary SMTP address (`SMTP:` proxy address), else mail.
    pub fn primary_smtp(&self) -> Option<&'a str> {
        self.verdict.primary_smtp.as_deref()
    }

    /// All SMTP addresses, lowercased and sorted.
    pub fn addresses(&self) -> &'a [String] {
        &self.verdict.addresses
    }

    /// One verdict per value, in bundle order.
    pub fn values(&self) -> &[ValueEvaluation<'a>] {
        &self.values
    }

    /// The accepted values of `attribute`, in bundle order.
    pub fn accepted(&self, attribute: Attribute) -> impl Iterator<Item = &ValueEvaluation<'a>> {
        self.values
            .iter()
            .filter(move |v| v.accepted() && v.attribute() == attribute)
    }
}

impl Serialize for EntryEvaluation<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The JSON form (`verify --json`), in its documented member order.
        #[derive(Serialize)]
        struct Wire<'b> {
            index: usize,
            key: &'b str,
            kind: &'static str,
            label: &'b str,
            dn: &'b str,
            upn: Option<&'b str>,
            mail: Option<&'b str>,
            display_name: Option<&'b str>,
            primary_smtp: Option<&'b str>,
            addresses: &'b [String],
            values: &'b [ValueEvaluation<'b>],
        }
        Wire {
            index: self.index,
            key: self.key(),
            kind: self.kind().as_str(),
            label: self.label(),
            dn: self.dn(),
            upn: self.upn(),
            mail: self.mail(),
            display_name: self.display_name(),
            primary_smtp: self.primary_smtp(),
            addresses: self.addresses(),
            values: &self.values,
        }
        .serialize(s)
    }
}

/// Totals over an evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvaluationCounts {
    /// Entries.
    pub entries: usize,
    /// Values.
    pub values: usize,
    /// Accepted values.
    pub accepted: usize,
    /// Refused values.
    pub refused: usize,
    /// Entries with at least one refused value.
    pub entries_with_refusals: usize,
    /// Accepted values whose certificate's revocation status no current CRL
    /// decided (accepted because `certificates.revocation` is not `require`).
    pub revocation_undetermined: usize,
}

/// The certificate policy applied to a whole verified bundle; made only by [`evaluate`].
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    entries: Vec<EntryEvaluation<'a>>,
    counts: EvaluationCounts,
}

impl<'a> Evaluation<'a> {
    /// Per entry, in bundle order.
    pub fn entries(&self) -> &[EntryEvaluation<'a>] {
        &self.entries
    }

    /// Totals.
    pub fn counts(&self) -> &EvaluationCounts {
        &self.counts
    }

    /// True when every value was accepted.
    pub fn all_accepted(&self) -> bool {
        self.counts.refused == 0
    }
}

/// The evaluation of a bundle judged while it was verified: the verdicts in
/// bundle order, each entry after the first with the same identity refused
/// as a whole (`duplicate-entry`), and the totals. Reads every verdict into
/// memory, for tests and tools that want them side by side; no command does:
/// they read one at a time with [`for_each_entry`].
pub fn evaluate(bundle: &JudgedBundle) -> Result<Evaluation<'_>, SpoolError> {
    let entries = bundle
        .loaded()?
        .iter()
        .enumerate()
        .map(|(i, (verdict, duplicate_of))| {
            entry_evaluation(i + 1, verdict, *duplicate_of, bundle.file_bytes())
        })
        .collect();
    Ok(Evaluation {
        entries,
        counts: bundle.spool().counts().clone(),
    })
}

/// Hands each entry's evaluation to `each`, in bundle order, reading one
/// verdict at a time from the spool (as [`evaluate`] sees them), and returns
/// the totals.
pub fn for_each_entry<E: From<SpoolError>>(
    bundle: &JudgedBundle,
    mut each: impl FnMut(&EntryEvaluation<'_>) -> Result<(), E>,
) -> Result<EvaluationCounts, E> {
    for (i, read) in bundle.spool().entries().enumerate() {
        let (verdict, duplicate_of) = read?;
        each(&entry_evaluation(
            i + 1,
            &verdict,
            duplicate_of,
            bundle.file_bytes(),
        ))?;
    }
    Ok(bundle.spool().counts().clone())
}

/// The evaluation of the `index`th entry (1-based), refused as a whole when
/// `duplicate_of` names an earlier entry with its identity.
fn entry_evaluation<'a>(
    index: usize,
    verdict: &'a EntryVerdict,
    duplicate_of: Option<usize>,
    file_bytes: &'a [u8],
) -> EntryEvaluation<'a> {
    let values = verdict
        .values
        .iter()
        .map(|v| ValueEvaluation {
            verdict: v,
            bytes: match &v.bytes {
                super::ValueBytes::InBundle(range) => file_bytes.get(range.clone()),
                super::ValueBytes::Copied(bytes) => Some(bytes),
                super::ValueBytes::Spooled { .. } | super::ValueBytes::NotKept => None,
            },
            refusals: match duplicate_of {
                None => Cow::Borrowed(v.refusals.as_slice()),
                Some(first) => {
                    let mut r = v.refusals.clone();
                    r.push(Refusal::new(
                        "duplicate-entry",
                        format!(
                            "entry {first} of the bundle has the same identity ({}); only the first is used",
                            verdict.key
                        ),
                    ));
                    Cow::Owned(r)
                }
            },
        })
        .collect();
    EntryEvaluation {
        index,
        verdict,
        values,
        repeats: duplicate_of,
    }
}
