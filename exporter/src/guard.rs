//! The snapshot guard: an empty snapshot, or one much smaller than the last
//! one from the same source, is refused before anything is signed. A
//! half-read directory (a wrong base DN or filter, a cut dump, a replica that
//! lost objects) must not become the new truth that the importer then
//! applies, removing certificates with `--prune`.
//!
//! Entra Connect's "prevent accidental deletes" is the model: on by default,
//! 500 deletions. certferry compares counts instead of deletions (the
//! exporter does not diff objects), and adds a relative limit so that a
//! small directory is protected too.

/// How much smaller a snapshot may be than the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Accept a snapshot with no entry at all.
    pub allow_empty: bool,
    /// Accept any shrink (once: the next run compares with this snapshot).
    pub allow_shrink: bool,
    /// Refuse when a count drops by more than this many.
    pub max_drop: u64,
    /// Refuse when a count drops by more than this percentage of the last
    /// snapshot's count (and by at least [`MIN_RELATIVE_DROP`]).
    pub max_drop_percent: u64,
}

/// The relative limit ignores drops smaller than this, so that two users
/// leaving a directory of ten is not an alarm.
pub const MIN_RELATIVE_DROP: u64 = 10;

/// Default for [`Limits::max_drop`] (Entra Connect's deletion threshold).
pub const DEFAULT_MAX_DROP: u64 = 500;

/// Default for [`Limits::max_drop_percent`].
pub const DEFAULT_MAX_DROP_PERCENT: u64 = 10;

/// What a snapshot holds, as far as the guard is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Entries in the bundle.
    pub entries: u64,
    /// Certificates classified usable (encryption or signing).
    pub usable: u64,
}

/// Why a snapshot is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No entry at all.
    Empty {
        /// Directory objects read (all of them skipped).
        objects_read: u64,
    },
    /// A count dropped by more than the limits allow.
    Shrank {
        /// `entries` or `usable certificates`.
        what: &'static str,
        /// The last snapshot's count.
        before: u64,
        /// This snapshot's count.
        now: u64,
    },
}

impl Refusal {
    /// The message for the administrator (what, why, and what to do).
    pub fn message(&self, limits: &Limits, last: &str) -> String {
        match self {
            Refusal::Empty { objects_read: 0 } => "refused: the input holds no directory object \
                 (an empty dump, a wrong base DN or filter?); nothing was written. \
                 Use --allow-empty to write an empty snapshot on purpose"
                .to_owned(),
            Refusal::Empty { objects_read } => format!(
                "refused: {objects_read} directory objects read, none with a certificate value to \
                 export (a wrong base DN or filter? see `skipped` with --json); nothing was \
                 written. Use --allow-empty to write an empty snapshot on purpose"
            ),
            Refusal::Shrank { what, before, now } => {
                let (before, now) = (*before, *now);
                let drop = before - now;
                format!(
                    "refused: this snapshot has {now} {what}, the last one ({last}) had {before}: \
                     {drop} fewer ({}%), more than the shrink limits allow ({} or {}%). A \
                     half-read directory must not become the new truth: check the base DN, the \
                     filter and the dump. Nothing was written; if the directory really shrank, \
                     run again with --allow-shrink",
                    drop * 100 / before.max(1),
                    limits.max_drop,
                    limits.max_drop_percent
                )
            }
        }
    }
}

/// Checks a finished snapshot against the last one from the same source
/// (`None`: the first, or a state file from before counts were kept).
pub fn check(
    now: Counts,
    before: Option<Counts>,
    objects_read: u64,
    limits: &Limits,
) -> Result<(), Refusal> {
    if now.entries == 0 && !limits.allow_empty {
        return Err(Refusal::Empty { objects_read });
    }
    if limits.allow_shrink {
        return Ok(());
    }
    let Some(before) = before else {
        return Ok(());
    };
    for (what, b, n) in [
        ("entries", before.entries, now.entries),
        ("usable certificates", before.usable, now.usable),
    ] {
        let drop = b.saturating_sub(n);
        let relative = drop >= MIN_RELATIVE_DROP
            && u128::from(drop) * 100 > u128::from(b) * u128::from(limits.max_drop_percent);
        if drop > limits.max_drop || relative {
            return Err(Refusal::Shrank {
                what,
                before: b,
                now: n,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Limits = Limits {
        allow_empty: false,
        allow_shrink: false,
        max_drop: DEFAULT_MAX_DROP,
        max_drop_percent: DEFAULT_MAX_DROP_PERCENT,
    };

    fn c(entries: u64, usable: u64) -> Counts {
        Counts { entries, usable }
    }

    #[test]
    fn an_empty_snapshot_is_refused_unless_allowed() {
        assert_eq!(
            check(c(0, 0), None, 7, &DEFAULTS),
            Err(Refusal::Empty { objects_read: 7 })
        );
        let allow = Limits {
            allow_empty: true,
            allow_shrink: true,
            ..DEFAULTS
        };
        assert_eq!(check(c(0, 0), Some(c(5, 5)), 0, &allow), Ok(()));
    }

    #[test]
    fn the_absolute_limit_holds_for_large_directories() {
        assert_eq!(
            check(c(99_500, 99_500), Some(c(100_000, 100_000)), 0, &DEFAULTS),
            Ok(())
        );
        assert!(matches!(
            check(c(99_499, 99_499), Some(c(100_000, 100_000)), 0, &DEFAULTS),
            Err(Refusal::Shrank {
                what: "entries",
                before: 100_000,
                now: 99_499
            })
        ));
    }

    #[test]
    fn the_relative_limit_holds_for_small_directories_above_a_floor() {
        // 10 % of 200 is 20: 21 fewer is refused, 20 is not.
        assert_eq!(check(c(180, 180), Some(c(200, 200)), 0, &DEFAULTS), Ok(()));
        assert!(check(c(179, 180), Some(c(200, 200)), 0, &DEFAULTS).is_err());
        // Nine fewer out of 20 is 45 %, but below the floor of ten.
        assert_eq!(check(c(11, 11), Some(c(20, 20)), 0, &DEFAULTS), Ok(()));
    }

    #[test]
    fn usable_certificates_count_on_their_own() {
        let r = check(c(1000, 400), Some(c(1000, 1000)), 0, &DEFAULTS);
        assert!(
            matches!(
                r,
                Err(Refusal::Shrank {
                    what: "usable certificates",
                    ..
                })
            ),
            "{r:?}"
        );
        let msg = r.unwrap_err().message(&DEFAULTS, "sequence 4");
        assert!(
            msg.contains(
                "400 usable certificates, the last one (sequence 4) had 1000: 600 fewer (60%)"
            ),
            "{msg}"
        );
    }

    #[test]
    fn growth_and_allow_shrink_pass() {
        assert_eq!(check(c(10, 10), Some(c(5, 5)), 0, &DEFAULTS), Ok(()));
        let once = Limits {
            allow_shrink: true,
            ..DEFAULTS
        };
        assert_eq!(check(c(1, 1), Some(c(5000, 5000)), 0, &once), Ok(()));
    }
}
