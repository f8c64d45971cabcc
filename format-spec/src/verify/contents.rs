//! Steps 8.2 to 8.5 of SPEC.md §8 over the whole bundle: the entry lines on
//! all cores (each entry by [`super::entry`]), the value file references,
//! the counts, `review.csv` and `bag-info.txt`.

use std::ops::Range;

use super::bag::Contents;
use super::entry::{check_values, parse_entry};
use super::verified::ParsedEntry;
use crate::ids::Sha256;
use crate::layout;
use crate::limits::Limits;
use crate::model::{BundleHeader, Counts};
use crate::review_csv;
use crate::zip_read::Member;
use crate::{err, Error, Result};

/// Step 8.2 to 8.5 (SPEC.md §8): the entry lines, the value file references,
/// every value against its description, then the counts, the review table and
/// bag-info.txt. Each sub-step runs over the whole bundle before the next.
/// Each entry, once its values match their descriptions, is handed with its
/// decoded values to `keep`; what `keep` returns is kept, in entry order.
pub(super) fn check_contents<T: Send>(
    bytes: &[u8],
    members: &[Member],
    contents: &Contents<'_>,
    header: &BundleHeader,
    limits: &Limits,
    keep: &(dyn Fn(ParsedEntry<'_>) -> T + Sync),
) -> Result<Vec<T>> {
    let value_ranges: Vec<Range<usize>> = members
        .iter()
        .skip(1)
        .take(usize::try_from(contents.values).unwrap_or(usize::MAX))
        .map(|m| m.data.clone())
        .collect();
    // 8.2: split entries.jsonl into lines (ranges in its text); a line
    // counts with its LF.
    let text = contents.entries;
    let mut entry_lines = Vec::new();
    let mut start = 0usize;
    while start < text.len() {
        let Some(len) = text[start..].iter().position(|&b| b == b'\n') else {
            return Err(err!(
                Content,
                "entries.jsonl: line {} does not end with LF",
                entry_lines.len() + 1
            ));
        };
        if len as u64 + 1 > limits.max_entry_line_bytes {
            return Err(err!(
                SizeLimit,
                "entries.jsonl line {}: {} bytes with its LF, the limit is {}",
                entry_lines.len() + 1,
                len + 1,
                limits.max_entry_line_bytes
            ));
        }
        entry_lines.push(start..start + len + 1);
        start += len + 1;
        if entry_lines.len() as u64 > limits.max_entries {
            return Err(err!(SizeLimit, "more than {} entries", limits.max_entries));
        }
    }
    let review = contents.review;
    let checked = parse_entries_parallel(
        bytes,
        text,
        &entry_lines,
        &value_ranges,
        &contents.value_digests,
        review,
        limits,
        keep,
    )?;
    // 8.3: the values that are not withheld name the value files in order,
    // each exactly once.
    let mut next_value = 0u64;
    for (i, files) in checked.files.iter().enumerate() {
        for f in files {
            next_value += 1;
            if *f != next_value {
                return Err(err!(
                    FileSet,
                    "entry {}: names value file {}, but the next value file is {} (each is named once, in order)",
                    i + 1,
                    layout::value_file_name(*f),
                    layout::value_file_name(next_value)
                ));
            }
        }
    }
    if next_value != contents.values {
        return Err(err!(
            FileSet,
            "entries name {next_value} value files, the bundle holds {}",
            contents.values
        ));
    }
    // 8.4: each value against its description, in order.
    if let Some(e) = checked.value_error {
        return Err(e);
    }
    // 8.5: counts, review.csv, bag-info.txt.
    let mut counts = Counts {
        entries: entry_lines.len() as u64,
        ..Counts::default()
    };
    for c in &checked.counts {
        counts.add(c);
    }
    if counts != header.counts {
        return Err(err!(
            Content,
            "bundle.json counts {:?} differ from the entries {:?}",
            header.counts,
            counts
        ));
    }
    // review.csv: the workers compared their rows with it; here the pieces
    // must tile it exactly, after the header.
    let mut header_line = Vec::new();
    review_csv::header_line(&mut header_line);
    let mut pos = header_line.len();
    let tiles = checked.review_matches
        && review.starts_with(&header_line)
        && checked.spans.iter().flatten().all(|&(start, end)| {
            let ok = start == pos;
            pos = end;
            ok
        })
        && pos == review.len();
    if !tiles {
        return Err(err!(
            Content,
            "review.csv differs from the table the entries give (SPEC.md §6.5)"
        ));
    }
    let (pki_bytes, pki_files) = contents.pki.as_ref().map_or((0, 0), |p| {
        let files = p.files.iter().map(|r| r.len() as u64).sum::<u64>();
        (files + p.jsonl.len() as u64, p.files.len() as u64 + 1)
    });
    let payload_bytes = value_ranges.iter().map(|r| r.len() as u64).sum::<u64>()
        + contents.entries.len() as u64
        + contents.review.len() as u64
        + contents.bundle_json.len() as u64
        + pki_bytes;
    let want_bag_info = layout::bag_info(header, payload_bytes, contents.values + 3 + pki_files);
    if contents.bag_info != want_bag_info.as_bytes() {
        return Err(err!(
            Bagit,
            "bag-info.txt differs from what bundle.json and the payload give (SPEC.md §4.4)"
        ));
    }
    Ok(checked.entries)
}

/// Where one worker's review rows lie in `review.csv`: `None` if its entries
/// have no rows.
type Span = Option<(usize, usize)>;

/// What the entry workers found, in entry order.
struct Checked<T> {
    /// Per entry, the value file numbers it names (8.3 checks them).
    files: Vec<Vec<u64>>,
    /// What the caller keeps of each entry (complete only when
    /// `value_error` is `None`).
    entries: Vec<T>,
    /// Per entry, its counts (complete only when `value_error` is `None`).
    counts: Vec<Counts>,
    /// The first value that does not match its description (8.4), in order.
    value_error: Option<Error>,
    /// Per worker, where its review rows lie.
    spans: Vec<Span>,
    /// Every worker's rows matched review.csv where they must lie.
    review_matches: bool,
}

/// Parses and checks every entry line on all cores. A line that is not a
/// valid entry (8.2) stops the check; a value that does not match its
/// description (8.4) is kept as the chunk's first such error while the
/// remaining lines are still parsed, so that every 8.2 and 8.3 failure is
/// reported before any 8.4 failure, as SPEC.md §8 orders them. Each worker
/// also renders its entries' review rows and compares them with
/// `review.csv` where they must lie: a row of entry N starts a line with
/// `N,` (no field holds a line break: control characters are refused in
/// every text field), and the caller checks that the spans tile the file.
#[allow(clippy::too_many_arguments)]
fn parse_entries_parallel<T: Send>(
    bytes: &[u8],
    text: &[u8],
    lines: &[Range<usize>],
    values: &[Range<usize>],
    digests: &[Sha256],
    review: &[u8],
    limits: &Limits,
    keep: &(dyn Fn(ParsedEntry<'_>) -> T + Sync),
) -> Result<Checked<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let chunk = lines.len().div_ceil(threads).max(1);
    let results: Vec<Result<ChunkResult<T>>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    check_chunk(
                        bytes,
                        text,
                        part,
                        c * chunk,
                        values,
                        digests,
                        review,
                        limits,
                        keep,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(err!(Content, "entry checker thread failed")))
            })
            .collect()
    });
    let mut out = Checked {
        files: Vec::with_capacity(lines.len()),
        entries: Vec::with_capacity(lines.len()),
        counts: Vec::with_capacity(lines.len()),
        value_error: None,
        spans: Vec::new(),
        review_matches: true,
    };
    for r in results {
        let c = r?;
        out.files.extend(c.files);
        out.entries.extend(c.entries);
        out.counts.extend(c.counts);
        if out.value_error.is_none() {
            out.value_error = c.value_error;
        }
        out.spans.push(c.span);
        out.review_matches &= c.review_matches;
    }
    Ok(out)
}

/// One worker's findings (see [`Checked`]).
struct ChunkResult<T> {
    files: Vec<Vec<u64>>,
    entries: Vec<T>,
    counts: Vec<Counts>,
    value_error: Option<Error>,
    span: Span,
    review_matches: bool,
}

/// One worker: the entries `first + 1 ..` of `part` (lines of `text`, the
/// entries; value ranges lie in `bytes`, the bundle file).
#[allow(clippy::too_many_arguments)]
fn check_chunk<T>(
    bytes: &[u8],
    text: &[u8],
    part: &[Range<usize>],
    first: usize,
    values: &[Range<usize>],
    digests: &[Sha256],
    review: &[u8],
    limits: &Limits,
    keep: &(dyn Fn(ParsedEntry<'_>) -> T + Sync),
) -> Result<ChunkResult<T>> {
    let mut out = ChunkResult {
        files: Vec::with_capacity(part.len()),
        entries: Vec::with_capacity(part.len()),
        counts: Vec::with_capacity(part.len()),
        value_error: None,
        span: None,
        review_matches: true,
    };
    let mut rows = Vec::new();
    for (j, line) in part.iter().enumerate() {
        let n = first + j + 1;
        let (entry, files) = parse_entry(&text[line.clone()], n, limits)?;
        out.files.push(files);
        if out.value_error.is_some() {
            continue; // only 8.2 and 8.3 matter after the first 8.4 failure
        }
        let (entry, stored) = match check_values(bytes, entry, n, values, digests, limits) {
            Ok((entry, c, stored)) => {
                out.counts.push(c);
                (entry, stored)
            }
            Err(e) => {
                out.value_error = Some(e);
                continue;
            }
        };
        if out.review_matches {
            rows.clear();
            review_csv::entry_rows(&mut rows, n as u64, &entry);
            out.review_matches = review_rows_follow(review, &rows, n, &mut out.span);
        }
        let values = entry
            .values
            .iter()
            .zip(&stored)
            .map(|(record, stored)| stored.view(record, bytes))
            .collect();
        out.entries.push(keep(ParsedEntry {
            index: n,
            entry: &entry,
            values,
        }));
    }
    Ok(out)
}

/// Whether entry `n`'s review `rows` lie in `review` where they must: right
/// after the rows of the worker's previous entry (`span`), or, for its first
/// entry with rows, at the start of a line beginning `n,`. Extends `span`.
fn review_rows_follow(review: &[u8], rows: &[u8], n: usize, span: &mut Span) -> bool {
    if rows.is_empty() {
        return true;
    }
    let start = match *span {
        Some((_, end)) => Some(end),
        None => {
            let needle = format!("\n{n},");
            memchr::memmem::find(review, needle.as_bytes()).map(|p| p + 1)
        }
    };
    match start {
        Some(s) if review.get(s..s + rows.len()) == Some(rows) => {
            *span = Some((span.map_or(s, |(s0, _)| s0), s + rows.len()));
            true
        }
        _ => false,
    }
}
