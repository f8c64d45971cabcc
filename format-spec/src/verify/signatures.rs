//! Steps 2 and 3 of SPEC.md §8: the trust policy itself, then each signature
//! over the raw bytes, its trusted comment, and the thresholds.

use std::collections::{BTreeMap, BTreeSet};

use super::{TrustPolicy, TrustedKey, VerifiedSigner};
use crate::digests::BundleDigests;
use crate::ids::Role;
use crate::signature::SignatureFile;
use crate::trusted_comment::TrustedComment;
use crate::{err, Error, Result};

/// The trusted comment of each counted signature file, by its label.
pub(super) type CommentList = Vec<(String, TrustedComment)>;

/// SPEC.md §7.4: a key listed under two roles makes the policy unusable (which
/// role would its signature count for?). A configuration error, found before
/// any byte of the bundle is looked at.
pub(super) fn check_policy(policy: &TrustPolicy) -> Result<()> {
    let mut roles: BTreeMap<[u8; 32], Role> = BTreeMap::new();
    for k in &policy.keys {
        match roles.insert(*k.key.as_bytes(), k.role) {
            Some(r) if r != k.role => {
                return Err(err!(
                    Key,
                    "the trust policy lists key {} as {r} and as {}: a key has one role",
                    k.key.key_id(),
                    k.role
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Steps 2 and 3: signatures over the raw bytes, trusted comments, threshold.
pub(super) fn check_signatures(
    sigs: &[(String, SignatureFile)],
    policy: &TrustPolicy,
    digests: &BundleDigests,
) -> Result<(Vec<VerifiedSigner>, CommentList)> {
    let mut signers: Vec<VerifiedSigner> = Vec::new();
    let mut comments = Vec::new();
    let mut counted: BTreeMap<Role, BTreeSet<[u8; 32]>> = BTreeMap::new();
    for (label, sig) in sigs {
        // A key id can be listed under several names; any of them verifying is enough,
        // and a key counts once whatever the number of files or policy rows.
        let candidates: Vec<&TrustedKey> = policy
            .keys
            .iter()
            .filter(|k| k.key.key_id() == sig.key_id())
            .collect();
        let Some(first) = candidates.first() else {
            continue; // Unknown key: it neither counts nor fails the bundle.
        };
        sig.verify(&first.key, &digests.blake2b)
            .map_err(|e| Error::new(e.class(), format!("{label}: {}", e.message())))?;
        let comment = TrustedComment::parse(sig.trusted_comment())
            .map_err(|e| Error::new(e.class(), format!("{label}: {}", e.message())))?;
        if comment.sha256 != digests.sha256 {
            return Err(err!(
                TrustedCommentMismatch,
                "{label}: signed for a file with SHA-256 {}, this file has {}",
                comment.sha256,
                digests.sha256
            ));
        }
        if comment.role != first.role {
            return Err(err!(
                TrustedCommentMismatch,
                "{label}: signed as {} but key {} ({}) is trusted as {}",
                comment.role,
                sig.key_id(),
                first.name,
                first.role
            ));
        }
        if counted
            .entry(comment.role)
            .or_default()
            .insert(*first.key.as_bytes())
        {
            signers.push(VerifiedSigner {
                name: first.name.clone(),
                role: comment.role,
                key_id: sig.key_id(),
                file: label.clone(),
            });
        }
        comments.push((label.clone(), comment));
    }
    for (role, need) in &policy.required {
        let have = counted.get(role).map_or(0, BTreeSet::len);
        if have < *need {
            return Err(err!(
                ThresholdNotMet,
                "{need} distinct {role} signature(s) required, {have} valid from trusted keys"
            ));
        }
    }
    Ok((signers, comments))
}
