//! A verified snapshot with the certificate policy's verdict on each entry,
//! the verdicts spooled to disk as the parts were verified
//! ([`super::spool`]), so that verifying a snapshot holds one part in memory
//! and not every entry's verdict.

use std::sync::OnceLock;

use certferry_format::Timestamp;

use super::spool::{Encoded, SpoolError, SpoolWriter, VerdictSpool};
use super::{judge_bundle, EntryVerdict, ValueBytes, Values};
use crate::bundle::{LoadError, LoadedBundle};
use crate::policy::Policy;
use crate::state::StateDb;
use crate::value_spool::{ValueSpool, ValueSpoolWriter};
use crate::verified::Verified;

/// A verified snapshot and the policy's verdicts on its entries. It derefs
/// to the [`Verified`] snapshot (header, signers, parts, bytes).
#[derive(Debug)]
pub struct JudgedBundle {
    verified: Verified<()>,
    spool: VerdictSpool,
    /// The values' bytes of a snapshot in parts, when the command keeps them.
    values: Option<ValueSpool>,
    /// The verdicts read back whole, for the commands that need them all at
    /// once ([`super::evaluate`]); streaming readers use [`Self::spool`].
    loaded: OnceLock<Vec<(EntryVerdict, Option<usize>)>>,
}

impl std::ops::Deref for JudgedBundle {
    type Target = Verified<()>;
    fn deref(&self) -> &Verified<()> {
        &self.verified
    }
}

impl JudgedBundle {
    /// The totals of the policy's verdicts.
    pub fn counts(&self) -> &super::EvaluationCounts {
        self.spool.counts()
    }

    /// The spooled verdicts.
    pub(super) fn spool(&self) -> &VerdictSpool {
        &self.spool
    }

    /// The bytes of the value `r` refers to (from a value of this bundle):
    /// in the bundle file, or read back from the value spool and checked
    /// against the value's SHA-256.
    pub fn value_bytes(
        &self,
        r: &super::ValueRef,
    ) -> Result<std::borrow::Cow<'_, [u8]>, ValueError> {
        use std::borrow::Cow;
        match r.at() {
            ValueBytes::InBundle(range) => self
                .file_bytes()
                .get(range.clone())
                .map(Cow::Borrowed)
                .ok_or(ValueError::NotKept(super::ValuesNotKept)),
            ValueBytes::Copied(b) => Ok(Cow::Owned(b.to_vec())),
            ValueBytes::Spooled { offset, len } => {
                let spool = self
                    .values
                    .as_ref()
                    .ok_or(ValueError::NotKept(super::ValuesNotKept))?;
                Ok(Cow::Owned(read_checked(spool, *offset, *len, r.sha256())?))
            }
            ValueBytes::NotKept => Err(ValueError::NotKept(super::ValuesNotKept)),
        }
    }

    /// Every verdict in memory, read from the spool at the first call, with
    /// the spooled values' bytes read back (each checked against its digest).
    pub(super) fn loaded(&self) -> Result<&[(EntryVerdict, Option<usize>)], SpoolError> {
        if self.loaded.get().is_none() {
            let mut all = self.spool.entries().collect::<Result<Vec<_>, _>>()?;
            for v in all.iter_mut().flat_map(|(e, _)| e.values.iter_mut()) {
                if let ValueBytes::Spooled { offset, len } = v.bytes {
                    let spool = self.values.as_ref().ok_or(super::codec::CodecError)?;
                    v.bytes =
                        ValueBytes::Copied(read_checked(spool, offset, len, &v.sha256)?.into());
                }
            }
            // Another caller may have filled it meanwhile; either is the same.
            let _ = self.loaded.set(all);
        }
        Ok(self.loaded.get().map_or(&[], Vec::as_slice))
    }
}

/// The value at `offset`, checked against its SHA-256 (hex, as verification found it).
fn read_checked(
    spool: &ValueSpool,
    offset: u64,
    len: u32,
    sha256_hex: &str,
) -> Result<Vec<u8>, SpoolError> {
    let sha256 = certferry_format::Sha256::parse_hex(sha256_hex).ok_or(super::codec::CodecError)?;
    Ok(spool.read(offset, len, &sha256)?)
}

/// Verifies `loaded` with the full policy (or `adjust`ed) and judges every
/// entry with the certificate policy at `now` while it is verified, spooling
/// the verdicts (and, for a snapshot in parts, the values' bytes if `values`
/// says the command writes them) part by part.
pub fn judge_spooled(
    loaded: LoadedBundle,
    policy: &Policy,
    state: Option<&StateDb>,
    now: Timestamp,
    adjust: impl FnOnce(&mut certferry_format::TrustPolicy),
    values: Values,
) -> Result<JudgedBundle, JudgeError> {
    let mut spool = SpoolWriter::new();
    let value_spool = ValueSpoolWriter::default();
    let make = judge_bundle(
        &policy.certificates,
        now,
        (values == Values::Kept).then_some(&value_spool),
    );
    let verified = loaded.verify_draining(
        policy,
        state,
        now,
        adjust,
        |header, pki| {
            let judge = make(header, pki);
            move |parsed| Encoded::of(&judge(parsed))
        },
        |part| spool.append(part),
    )?;
    Ok(JudgedBundle {
        verified,
        spool: spool.finish()?,
        values: value_spool.finish().map_err(SpoolError::Io)?,
        loaded: OnceLock::new(),
    })
}

/// Verifies one bundle file already in memory against `trust` and judges
/// every entry under `policy` at `now`, as [`judge_spooled`] does (for
/// callers that hold the bytes: tests, tools).
pub fn judge_bundle_file(
    unverified: certferry_format::UnverifiedBundle,
    trust: &certferry_format::TrustPolicy,
    now: Timestamp,
    previous: Option<&certferry_format::replay::SourceState>,
    policy: &super::CertificatePolicy,
) -> Result<JudgedBundle, JudgeError> {
    let make = judge_bundle(policy, now, None);
    let verified = unverified.verify_keeping_with(trust, now, previous, |header, pki| {
        let judge = make(header, pki);
        move |parsed| Encoded::of(&judge(parsed))
    })?;
    let (verified, kept) = verified.take_kept();
    let mut spool = SpoolWriter::new();
    spool.append(kept);
    Ok(JudgedBundle {
        verified: Verified::Bundle(verified),
        spool: spool.finish()?,
        values: None,
        loaded: OnceLock::new(),
    })
}

/// Why a value's bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// The command did not keep them (a bug).
    #[error(transparent)]
    NotKept(#[from] super::ValuesNotKept),
    /// The value spool could not be read, or held other bytes.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Why a snapshot could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// It could not be read or did not verify.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A bundle in memory did not verify.
    #[error(transparent)]
    Invalid(#[from] certferry_format::Error),
    /// The verdicts could not be spooled.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}
