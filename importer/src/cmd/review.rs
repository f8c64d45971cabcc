//! `review`: what the bundle would change compared with the last import, as
//! text, CSV and HTML.
//!
//! The changes are never all in memory: the policy's verdicts are read back
//! from their spool one entry at a time, twice. The first pass writes the CSV
//! (the report of record) and finds its hash and the totals; the second writes
//! the HTML page and the terminal report (or JSON), which show both first.

use std::io::Write as _;

use serde_json::Value;
use sha2::Digest as _;

use crate::certpolicy::{for_each_entry, JudgedBundle};
use crate::cli::ReviewArgs;
use crate::context::{load_before_review, now, Config};
use crate::failure::{Failure, Outcome};
use crate::output::AtomicFile;
use crate::report;
use crate::review::{self, Change, Comparison, ReviewCounts};
use crate::state::RecordedEntries;

pub(crate) fn run(a: &ReviewArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    // The reviewer reads this report before approving: every check but the
    // reviewer threshold must pass (as for `approve`).
    let verified = load_before_review(&a.bundle, policy, state.as_ref(), now)?;
    let st = |e: crate::state::StateError| Failure::Output(e.to_string());
    let previous = match &state {
        Some(db) => db
            .last_import(&verified.header().source)
            .map_err(st)?
            .map(|imp| (db.entries_of(imp.id), imp)),
        None => None,
    };
    let recipients = previous.as_ref().map(|(entries, _)| *entries);
    let head = review::head(&verified, previous.as_ref().map(|(_, i)| i), now);
    let io = |what: &str, e: std::io::Error| Failure::Output(format!("{what}: {e}"));

    // Pass 1: the CSV, its hash, the totals.
    let mut csv_file = match &a.csv {
        Some(p) => Some(AtomicFile::create(p).map_err(|e| io(&p.display().to_string(), e))?),
        None => None,
    };
    let mut hasher = sha2::Sha256::new();
    let mut csv = |text: &str| -> Result<(), Failure> {
        hasher.update(text.as_bytes());
        if let (Some(f), Some(p)) = (&mut csv_file, &a.csv) {
            f.write_all(text.as_bytes())
                .map_err(|e| io(&p.display().to_string(), e))?;
        }
        Ok(())
    };
    csv(&report::csv_head(&head))?;
    let mut rows = 0usize;
    let counts = compare_all(&verified, recipients, &mut |c| {
        rows += 1;
        csv(&report::csv_row(&c))
    })?;
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let (Some(f), Some(p)) = (csv_file, &a.csv) {
        f.commit().map_err(|e| io(&p.display().to_string(), e))?;
    }

    // Pass 2: the HTML page and the terminal report (or JSON).
    let mut html = match &a.html {
        Some(p) => {
            let mut f = AtomicFile::create(p).map_err(|e| io(&p.display().to_string(), e))?;
            f.write_all(report::html_head(&head, &counts, &hash, rows > 0).as_bytes())
                .map_err(|e| io(&p.display().to_string(), e))?;
            Some((f, p))
        }
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let out_err = |e: std::io::Error| io("standard output", e);
    if a.common.json {
        write!(
            out,
            "{{\"report_sha256\":{},\"review\":{{\"bundle\":{},\"changes\":[",
            Value::from(hash.as_str()),
            json_value(&head.bundle)?
        )
        .map_err(out_err)?;
    } else {
        out.write_all(report::text_head(&head, &counts).as_bytes())
            .map_err(out_err)?;
    }
    let mut first = true;
    compare_all(&verified, recipients, &mut |c: Change| {
        if let Some((f, p)) = &mut html {
            f.write_all(report::html_row(&c).as_bytes())
                .map_err(|e| io(&p.display().to_string(), e))?;
        }
        if a.common.json {
            let v = json_value(&c)?;
            write!(out, "{}{v}", if first { "" } else { "," }).map_err(out_err)?;
        } else {
            out.write_all(report::text_change(&c).as_bytes())
                .map_err(out_err)?;
        }
        first = false;
        Ok(())
    })?;
    if let Some((mut f, p)) = html {
        f.write_all(report::html_tail(rows > 0).as_bytes())
            .and_then(|()| f.commit())
            .map_err(|e| io(&p.display().to_string(), e))?;
    }
    if a.common.json {
        writeln!(
            out,
            "],\"counts\":{},\"now\":{},\"previous\":{}}}}}",
            json_value(&counts)?,
            Value::from(head.now.as_str()),
            json_value(&head.previous)?
        )
        .map_err(out_err)?;
    } else {
        out.write_all(report::text_tail(&hash).as_bytes())
            .map_err(out_err)?;
    }
    out.flush().map_err(out_err)?;
    Ok(Outcome::of_counts(verified.counts()))
}

/// Compares every entry of `bundle` (read back one at a time) with the last
/// import's `recipients`, then the entries gone since, handing each change
/// to `emit`; returns the totals.
fn compare_all(
    bundle: &JudgedBundle,
    recipients: Option<RecordedEntries<'_>>,
    emit: &mut impl FnMut(Change) -> Result<(), Failure>,
) -> Result<ReviewCounts, Failure> {
    let mut comparison = Comparison::new(recipients, bundle.carries_pki());
    for_each_entry(bundle, |e| comparison.entry(e, emit))?;
    comparison.finish(emit)
}

/// A serialisable value as a JSON value (members sorted by name, as the
/// other JSON outputs write them), for the pieces of the streamed report.
fn json_value<T: serde::Serialize>(v: &T) -> Result<Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure::Output(e.to_string()))
}
