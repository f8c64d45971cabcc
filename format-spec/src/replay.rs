//! Replay, rollback, freeze and fast-forward rules (SPEC.md §8.9), as a pure
//! function of the bundle header, the caller's previous state and `now`.

use crate::ids::{Sha256, SourceId};
use crate::model::BundleHeader;
use crate::timestamp::Timestamp;
use crate::{err, Result};

/// What the importer remembers about the last bundle it imported from a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    /// Sequence number of the last imported bundle.
    pub sequence: u64,
    /// SHA-256 of the last imported bundle file.
    pub sha256: Sha256,
    /// Creation time of the last imported bundle.
    pub created: Timestamp,
}

/// Freshness and ordering rules a policy sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRules {
    /// Sources accepted; `None` accepts any source id.
    pub accepted_sources: Option<Vec<SourceId>>,
    /// Largest allowed `sequence - last sequence`; `None` for no limit.
    pub max_sequence_jump: Option<u64>,
    /// Largest allowed age (`now - created`) in seconds; `None` for no limit.
    pub max_age_secs: Option<i64>,
    /// How far `created` may lie in the future (clock skew), in seconds.
    pub max_clock_skew_secs: i64,
}

impl Default for ReplayRules {
    fn default() -> Self {
        Self {
            accepted_sources: None,
            max_sequence_jump: Some(1000),
            max_age_secs: None,
            max_clock_skew_secs: 300,
        }
    }
}

/// Applies the rules in SPEC.md §8.9 order. `sha256` is the bundle file's hash.
pub fn check(
    header: &BundleHeader,
    sha256: &Sha256,
    previous: Option<&SourceState>,
    rules: &ReplayRules,
    now: Timestamp,
) -> Result<()> {
    if let Some(accepted) = &rules.accepted_sources {
        if !accepted.contains(&header.source) {
            return Err(err!(
                SourceNotAccepted,
                "source {:?} is not accepted by the policy",
                header.source.as_str()
            ));
        }
    }
    if now > header.expires {
        return Err(err!(
            Expired,
            "bundle expired at {} (now {now})",
            header.expires
        ));
    }
    if header.created > now.saturating_add(rules.max_clock_skew_secs) {
        return Err(err!(
            NotYetValid,
            "bundle created at {}, which is in the future (now {now})",
            header.created
        ));
    }
    if let Some(max_age) = rules.max_age_secs {
        if now.unix().saturating_sub(header.created.unix()) > max_age {
            return Err(err!(
                Stale,
                "bundle created at {} is older than the allowed {max_age} s",
                header.created
            ));
        }
    }
    let Some(prev) = previous else {
        return Ok(());
    };
    if header.sequence == prev.sequence {
        return if *sha256 == prev.sha256 {
            Err(err!(
                Replay,
                "bundle {} of source {} was already imported",
                header.sequence,
                header.source
            ))
        } else {
            Err(err!(
                Fork,
                "sequence {} of source {} was imported before with hash {}, this bundle has {} (two different bundles with one sequence number)",
                header.sequence,
                header.source,
                prev.sha256,
                sha256
            ))
        };
    }
    if header.sequence < prev.sequence {
        return Err(err!(
            Replay,
            "sequence {} goes back: {} was already imported from source {}",
            header.sequence,
            prev.sequence,
            header.source
        ));
    }
    let jump = header.sequence - prev.sequence;
    if let Some(max) = rules.max_sequence_jump {
        if jump > max {
            return Err(err!(
                FastForward,
                "sequence jumps by {jump} (from {} to {}), more than the allowed {max}",
                prev.sequence,
                header.sequence
            ));
        }
    }
    if header.created < prev.created {
        return Err(err!(
            Stale,
            "bundle created at {} is older than the last imported one ({})",
            header.created,
            prev.created
        ));
    }
    if jump == 1 && header.previous_sha256 != Some(prev.sha256) {
        return Err(err!(
            ChainMismatch,
            "bundle {} names previous bundle {} but the last imported bundle ({}) has hash {}",
            header.sequence,
            header
                .previous_sha256
                .map(|h| h.to_hex())
                .unwrap_or_else(|| "none".into()),
            prev.sequence,
            prev.sha256
        ));
    }
    Ok(())
}
