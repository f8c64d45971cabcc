//! Reading a bundle and its signature files from disk, and verifying them
//! against the trust policy and the import state, fully offline.
//!
//! The bundle is read into memory once (SPEC.md §8): the bytes whose
//! signatures are checked are the bytes that are parsed, reviewed and written.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use certferry_format::model::BundleHeader;
use certferry_format::signature::SignatureFile;
use certferry_format::trusted_comment::TrustedComment;
use certferry_format::{
    Error as FormatError, HashedBytes, Limits, ParsedEntry, SourceId, Timestamp, UnverifiedBundle,
    UnverifiedParts, VerifiedPki,
};

use crate::verified::Verified;

use crate::policy::Policy;
use crate::state::{StateDb, StateError};

/// Why a bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bundle or a signature file could not be read (a wrong path: usage error).
    #[error("{0}")]
    Io(String),
    /// Verification failed; the class is the SPEC.md §10 error class.
    #[error("{file}: bundle invalid ({}): {}", .error.class(), .error.message())]
    Invalid {
        /// The bundle file.
        file: String,
        /// The format library's error.
        error: FormatError,
    },
    /// The import state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Reads at most `max` bytes of a file; more is a size-limit error, before
/// the rest is read (endless data).
fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, LoadError> {
    let io = |e: std::io::Error| LoadError::Io(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > max {
        return Err(too_large(path, max));
    }
    Ok(buf)
}

/// Reads a bundle file of at most `max` bytes into memory, hashing it in the
/// same pass; a file that changes size while it is read is refused.
fn read_bundle(path: &Path, max: u64) -> Result<HashedBytes, LoadError> {
    let io = |e: std::io::Error| LoadError::Io(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(LoadError::Io(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > max {
        return Err(too_large(path, max));
    }
    HashedBytes::read(&file, meta.len()).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => LoadError::Io(format!(
            "cannot read {}: the file shrank while it was read (it was {} bytes)",
            path.display(),
            meta.len()
        )),
        _ => io(e),
    })
}

fn too_large(path: &Path, max: u64) -> LoadError {
    LoadError::Invalid {
        file: path.display().to_string(),
        error: FormatError::new(
            certferry_format::ErrorClass::SizeLimit,
            format!("{} is larger than the limit of {max} bytes", path.display()),
        ),
    }
}

/// The signature files beside `bundle`: `<name>.minisig` and
/// `<name>.<anything>.minisig` (SPEC.md §7.3), sorted by name.
pub fn find_signatures(bundle: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let name = bundle
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| LoadError::Io(format!("{}: not a file name", bundle.display())))?;
    let dir = crate::output::parent_dir(bundle);
    let exact = format!("{name}.minisig");
    let prefix = format!("{name}.");
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir)
        .map_err(|e| LoadError::Io(format!("cannot list {}: {e}", dir.display())))?;
    for ent in rd {
        let ent = ent.map_err(|e| LoadError::Io(format!("cannot list {}: {e}", dir.display())))?;
        let Some(n) = ent.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if n == exact || (n.starts_with(&prefix) && n.ends_with(".minisig")) {
            out.push(dir.join(n));
        }
    }
    out.sort();
    Ok(out)
}

/// A bundle read from disk with its signature files: sizes checked and each
/// signature file parsed (SPEC.md §8 step 1, once), not verified yet.
#[derive(Debug)]
pub struct LoadedBundle {
    /// The bundle file, or the part index of a snapshot in parts.
    pub path: PathBuf,
    unverified: Unverified,
}

/// A bundle file, or a part index whose parts lie beside it (SPEC.md §4.6).
#[derive(Debug)]
enum Unverified {
    Bundle(UnverifiedBundle),
    Parts(UnverifiedParts),
}

impl Unverified {
    fn signatures(&self) -> &[(String, SignatureFile)] {
        match self {
            Self::Bundle(b) => b.signatures(),
            Self::Parts(p) => p.signatures(),
        }
    }
}

impl LoadedBundle {
    /// Reads the bundle and its signature files (`explicit`, or those found
    /// beside it) and parses each signature file.
    pub fn read(path: &Path, explicit: &[PathBuf], limits: &Limits) -> Result<Self, LoadError> {
        let bytes = read_bundle(
            path,
            limits.max_bundle_bytes.min(Limits::HARD_MAX_BUNDLE_BYTES),
        )?;
        let files = if explicit.is_empty() {
            find_signatures(path)?
        } else {
            explicit.to_vec()
        };
        let mut signatures = Vec::with_capacity(files.len());
        for f in files.iter().take(limits.max_signatures.saturating_add(1)) {
            let label = f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            signatures.push((label, read_capped(f, limits.max_signature_bytes as u64)?));
        }
        let invalid = |error| LoadError::Invalid {
            file: path.display().to_string(),
            error,
        };
        let unverified = if certferry_format::parts::is_part_index(bytes.bytes()) {
            Unverified::Parts(UnverifiedParts::parse(bytes, signatures, limits).map_err(invalid)?)
        } else {
            Unverified::Bundle(UnverifiedBundle::parse(bytes, signatures, limits).map_err(invalid)?)
        };
        Ok(Self {
            path: path.to_path_buf(),
            unverified,
        })
    }

    /// SHA-256 of the bundle file, or of the part index (computed while it
    /// was read): the snapshot's identity.
    pub fn sha256(&self) -> certferry_format::Sha256 {
        match &self.unverified {
            Unverified::Bundle(b) => b.sha256(),
            Unverified::Parts(p) => p.sha256(),
        }
    }

    /// The signature files whose keys the policy lists, with their labels.
    fn by_listed_keys<'s>(
        &'s self,
        policy: &'s Policy,
    ) -> impl Iterator<Item = (&'s str, &'s SignatureFile)> + 's {
        self.unverified
            .signatures()
            .iter()
            .filter(|(_, sig)| {
                policy
                    .signers
                    .iter()
                    .any(|k| k.key.key_id() == sig.key_id())
            })
            .map(|(label, sig)| (label.as_str(), sig))
    }

    /// The source the signatures by trusted keys claim. Only used to pick
    /// which replay state and limits to verify with; verification then
    /// requires every counted signature and the header to name this same
    /// source (SPEC.md §8 step 8), so a false claim cannot pass.
    pub fn claimed_source(&self, policy: &Policy) -> Option<SourceId> {
        self.by_listed_keys(policy).find_map(|(_, sig)| {
            TrustedComment::parse(sig.trusted_comment())
                .ok()
                .map(|c| c.source)
        })
    }

    /// Signature files by keys the policy does not list: they neither count
    /// nor fail the bundle (SPEC.md §7.4), which is worth saying when a
    /// threshold is not met. `(file, key id)`.
    pub fn untrusted_signatures(&self, policy: &Policy) -> Vec<(String, String)> {
        self.unverified
            .signatures()
            .iter()
            .filter(|(_, sig)| {
                !policy
                    .signers
                    .iter()
                    .any(|k| k.key.key_id() == sig.key_id())
            })
            .map(|(label, sig)| (label.clone(), sig.key_id().to_string()))
            .collect()
    }

    /// Verifies against `policy` (optionally with some role thresholds
    /// lowered, for `approve`) and the state's replay record for the source,
    /// handing what the keeper `make_keeper` makes from the header and CA
    /// material returns for each entry to `drain`, in snapshot order, as each
    /// part is checked (a bundle file: once, at its end), so that memory need
    /// not hold it all. What `drain` was handed may be acted on only when
    /// this returns `Ok`.
    pub fn verify_draining<T: Send, K: Fn(ParsedEntry<'_>) -> T + Sync>(
        self,
        policy: &Policy,
        state: Option<&StateDb>,
        now: Timestamp,
        adjust: impl FnOnce(&mut certferry_format::TrustPolicy),
        make_keeper: impl FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> K,
        mut drain: impl FnMut(Vec<T>),
    ) -> Result<Verified<()>, LoadError> {
        self.verify_by(policy, state, adjust, |unverified, trust, previous, dir| {
            Ok(match unverified {
                Unverified::Bundle(b) => {
                    let verified = b.verify_keeping_with(trust, now, previous, make_keeper)?;
                    let (verified, kept) = verified.take_kept();
                    drain(kept);
                    Verified::Bundle(verified)
                }
                Unverified::Parts(p) => Verified::Parts(p.verify_draining_with(
                    trust,
                    now,
                    previous,
                    certferry_format::parts_in(dir),
                    make_keeper,
                    drain,
                )?),
            })
        })
    }

    /// What both ways of verifying share: the replay state and trust policy
    /// for the claimed source, the error wording, and the check that a
    /// trusted signature named the header's source. `run` verifies.
    fn verify_by<T>(
        self,
        policy: &Policy,
        state: Option<&StateDb>,
        adjust: impl FnOnce(&mut certferry_format::TrustPolicy),
        run: impl FnOnce(
            Unverified,
            &certferry_format::TrustPolicy,
            Option<&certferry_format::replay::SourceState>,
            &Path,
        ) -> Result<Verified<T>, FormatError>,
    ) -> Result<Verified<T>, LoadError> {
        let file = self.path.display().to_string();
        let source = self.claimed_source(policy);
        let previous = match (&source, state) {
            (Some(s), Some(db)) => db.source_state(s)?,
            _ => None,
        };
        let mut trust = policy.trust_policy(source.as_ref());
        adjust(&mut trust);
        let untrusted = self.untrusted_signatures(policy);
        let invalid = |error: FormatError| {
            let error = if error.class() == certferry_format::ErrorClass::ThresholdNotMet
                && !untrusted.is_empty()
            {
                let list: Vec<String> = untrusted
                    .iter()
                    .map(|(f, k)| format!("{f} by key {k}"))
                    .collect();
                FormatError::new(
                    error.class(),
                    format!(
                        "{}; ignored, their keys are not in the policy: {}",
                        error.message(),
                        list.join(", ")
                    ),
                )
            } else {
                error
            };
            LoadError::Invalid {
                file: file.clone(),
                error,
            }
        };
        let dir = crate::output::parent_dir(&self.path);
        let verified = run(self.unverified, &trust, previous.as_ref(), dir).map_err(invalid)?;
        if source.as_ref() != Some(&verified.header().source) {
            // Only reachable when no signature by a trusted key counted (a
            // policy requiring nothing), so there was no claim to check.
            return Err(invalid(FormatError::new(
                certferry_format::ErrorClass::TrustedCommentMismatch,
                format!(
                    "no trusted signature names source {}",
                    verified.header().source
                ),
            )));
        }
        Ok(verified)
    }
}
