//! `archive DIR`: the audit view over a folder of archived bundles (any
//! number, several sources). Every bundle is read through the verified path
//! of the format library (signatures, format, contents); replay rules are
//! replaced by a check of each source's chain: sequence gaps, forks (two
//! bundles with one sequence number) and broken hash links are reported. It
//! answers which certificates an address had in each snapshot, and which
//! snapshots and users carried a certificate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use certferry_format::model::Entry;
use certferry_format::replay::ReplayRules;
use certferry_format::{Limits, ParsedEntry, Sha256, SourceId, Timestamp};
use serde::Serialize;

use crate::bundle::LoadedBundle;
use crate::certpolicy::{judge_by_ref, EntryVerdict};
use crate::policy::Policy;

/// One archived bundle that verified.
#[derive(Debug)]
pub struct Snapshot {
    /// The file.
    pub path: PathBuf,
    /// The verified bundle.
    pub bundle: crate::verified::Verified<()>,
    /// The rows of this snapshot that answer the query (none without one),
    /// in snapshot order.
    pub rows: Vec<Row>,
}

/// A bundle that did not verify.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The file.
    pub path: String,
    /// Why (with the SPEC.md §10 class).
    pub reason: String,
}

/// A problem in a source's chain of bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum ChainProblem {
    /// Sequence numbers missing between two archived bundles.
    Gap {
        /// The source.
        source: String,
        /// Last sequence before the gap.
        after: u64,
        /// First sequence after it.
        before: u64,
    },
    /// Two different bundles with one sequence number.
    Fork {
        /// The source.
        source: String,
        /// The sequence number.
        sequence: u64,
        /// Their SHA-256s.
        sha256: Vec<String>,
    },
    /// A bundle's `previous_sha256` does not name the archived previous bundle.
    BrokenLink {
        /// The source.
        source: String,
        /// The bundle's sequence.
        sequence: u64,
        /// What it names.
        names: Option<String>,
        /// The previous bundle's actual hash.
        previous: String,
    },
}

/// One row of a query answer.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Source id.
    pub source: String,
    /// Sequence number.
    pub sequence: u64,
    /// Snapshot time (the bundle's `created`).
    pub created: String,
    /// The entry (UPN, mail, sAMAccountName or DN).
    pub entry: String,
    /// The attribute.
    pub attribute: String,
    /// SHA-1 thumbprint (empty for a value that is no certificate).
    pub sha1: String,
    /// SHA-256 thumbprint.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// notAfter.
    pub not_after: String,
    /// The exporter's classification.
    pub class: String,
    /// The certificate's revocation status when the snapshot was made, from
    /// the CRLs the snapshot carries (`good`, `revoked`, `on-hold`,
    /// `undetermined`; empty without a certification path to check it on).
    pub revocation: String,
    /// The sentence behind it.
    pub revocation_detail: String,
}

/// Reads and verifies every snapshot in `dir`: each `*.zip` bundle file and
/// each `*.sha256` part index with its parts (SPEC.md §4.6), signature files
/// beside them. A part file is read through its index; one that no index
/// here names is rejected. The rows answering `query` are made while each
/// entry is verified, and only they are kept (nothing without a query):
/// memory holds one part and the answer, however large the archive.
pub fn load(
    dir: &Path,
    policy: &Policy,
    query: Option<&Query>,
) -> Result<(Vec<Snapshot>, Vec<Rejected>), String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zip" || x == "sha256"))
        .collect();
    files.sort();
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    // The part files the indexes here name (whatever their verdict).
    let named: std::collections::BTreeSet<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "sha256"))
        .filter_map(|p| std::fs::read(p).ok())
        .flat_map(|text| {
            String::from_utf8_lossy(&text)
                .lines()
                .filter_map(|l| l.get(66..).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    let is_part = |p: &Path| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.ends_with(".zip") && n.rsplit_once(".part").is_some_and(|(_, r)| r.len() == 8)
        })
    };
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if is_part(&path) {
            if !name.is_some_and(|n| named.contains(&n)) {
                rejected.push(Rejected {
                    path: path.display().to_string(),
                    reason: "a part of a snapshot in parts whose part index is not in this archive"
                        .into(),
                });
            }
            continue;
        }
        let mut rows = Vec::new();
        let verified = LoadedBundle::read(&path, &[], &Limits::default()).and_then(|b| {
            // An archive is judged by its signatures and contents; time and order
            // are checked across the archive below instead of against "now".
            b.verify_draining(
                policy,
                None,
                Timestamp::MIN,
                |t| {
                    t.replay = ReplayRules {
                        accepted_sources: None,
                        max_sequence_jump: None,
                        max_age_secs: None,
                        max_clock_skew_secs: i64::MAX,
                    };
                },
                |header, pki| {
                    // What the status was when the snapshot was made.
                    let judge = judge_by_ref(&policy.certificates, header, pki, header.created);
                    let at = SnapshotAt {
                        source: header.source.to_string(),
                        sequence: header.sequence,
                        created: header.created.to_string(),
                    };
                    let query = query.cloned();
                    move |parsed: ParsedEntry<'_>| match &query {
                        // Only an entry the query names is judged.
                        Some(q) if q.names(parsed.entry()) => {
                            rows_of(&at, parsed.entry(), &judge(&parsed), q)
                        }
                        _ => Vec::new(),
                    }
                },
                |part| rows.extend(part.into_iter().flatten()),
            )
        });
        match verified {
            Ok(bundle) => ok.push(Snapshot { path, bundle, rows }),
            Err(e) => rejected.push(Rejected {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
    ok.sort_by(|a, b| {
        let (ha, hb) = (a.bundle.header(), b.bundle.header());
        (&ha.source, ha.sequence, a.bundle.sha256()).cmp(&(
            &hb.source,
            hb.sequence,
            b.bundle.sha256(),
        ))
    });
    Ok((ok, rejected))
}

/// Gaps, forks and broken hash links per source.
pub fn chain_problems(snaps: &[Snapshot]) -> Vec<ChainProblem> {
    let mut by_source: BTreeMap<&SourceId, BTreeMap<u64, Vec<&Snapshot>>> = BTreeMap::new();
    for s in snaps {
        let h = s.bundle.header();
        by_source
            .entry(&h.source)
            .or_default()
            .entry(h.sequence)
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for (source, seqs) in by_source {
        let mut prev: Option<(u64, Sha256)> = None;
        for (seq, bundles) in seqs {
            if bundles.len() > 1 {
                out.push(ChainProblem::Fork {
                    source: source.to_string(),
                    sequence: seq,
                    sha256: bundles.iter().map(|b| b.bundle.sha256().to_hex()).collect(),
                });
            }
            if let Some((pseq, psha)) = prev {
                if seq > pseq + 1 {
                    out.push(ChainProblem::Gap {
                        source: source.to_string(),
                        after: pseq,
                        before: seq,
                    });
                } else {
                    for b in &bundles {
                        if b.bundle.header().previous_sha256 != Some(psha) {
                            out.push(ChainProblem::BrokenLink {
                                source: source.to_string(),
                                sequence: seq,
                                names: b.bundle.header().previous_sha256.map(|h| h.to_hex()),
                                previous: psha.to_hex(),
                            });
                        }
                    }
                }
            }
            if let Some(first) = bundles.first() {
                prev = Some((seq, first.bundle.sha256()));
            }
        }
    }
    out
}

/// What to look for.
#[derive(Debug, Clone)]
pub enum Query {
    /// The certificates an address had in each snapshot.
    Address(String),
    /// The snapshots and users that carried a certificate (SHA-1 or SHA-256 hex).
    Thumbprint(String),
}

/// Which snapshot a row comes from.
struct SnapshotAt {
    source: String,
    sequence: u64,
    created: String,
}

impl Query {
    /// Whether `entry` may hold a row of the answer.
    fn names(&self, entry: &Entry) -> bool {
        match self {
            Query::Address(a) => entry
                .smtp_addresses()
                .iter()
                .any(|x| x.eq_ignore_ascii_case(a)),
            Query::Thumbprint(t) => entry.values.iter().any(|v| {
                v.certificates.iter().any(|c| {
                    c.sha1.eq_ignore_ascii_case(t) || c.sha256.to_hex().eq_ignore_ascii_case(t)
                })
            }),
        }
    }
}

/// The rows of one entry that answer `q`.
fn rows_of(at: &SnapshotAt, entry: &Entry, verdict: &EntryVerdict, q: &Query) -> Vec<Row> {
    let mut rows = Vec::new();
    for v in &entry.values {
        for c in &v.certificates {
            if let Query::Thumbprint(t) = q {
                let t = t.to_ascii_lowercase();
                if c.sha1 != t && c.sha256.to_hex() != t {
                    continue;
                }
            }
            let revocation = verdict.revocation_of(&c.sha256.to_hex());
            rows.push(Row {
                source: at.source.clone(),
                sequence: at.sequence,
                created: at.created.clone(),
                entry: entry.label().to_owned(),
                attribute: v.attribute.as_str().to_owned(),
                sha1: c.sha1.clone(),
                sha256: c.sha256.to_hex(),
                subject: c.subject.clone(),
                not_after: c.not_after.to_string(),
                class: c.class.clone(),
                revocation: revocation.map(|r| r.status.to_owned()).unwrap_or_default(),
                revocation_detail: revocation.map(|r| r.detail.clone()).unwrap_or_default(),
            });
        }
    }
    rows
}

/// The answer to the query `load` was given, in source and sequence order.
pub fn answer(snaps: &[Snapshot]) -> Vec<Row> {
    snaps.iter().flat_map(|s| s.rows.iter().cloned()).collect()
}

/// The rows as CSV (formula injection neutralised).
pub fn to_csv(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    let head = [
        "source",
        "sequence",
        "created",
        "entry",
        "attribute",
        "sha1",
        "sha256",
        "subject",
        "not_after",
        "class",
        "revocation",
        "revocation_detail",
    ];
    let line = |out: &mut Vec<u8>, fields: &[&str]| {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            certferry_format::review_csv::push_field(out, f);
        }
        out.push(b'\n');
    };
    line(&mut out, &head);
    for r in rows {
        let seq = r.sequence.to_string();
        line(
            &mut out,
            &[
                &r.source,
                &seq,
                &r.created,
                &r.entry,
                &r.attribute,
                &r.sha1,
                &r.sha256,
                &r.subject,
                &r.not_after,
                &r.class,
                &r.revocation,
                &r.revocation_detail,
            ],
        );
    }
    out
}
