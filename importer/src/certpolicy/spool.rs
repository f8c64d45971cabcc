//! The verdicts of a snapshot, spooled to a private temporary file while it
//! is verified, so that memory holds one part of a snapshot and not every
//! entry's verdict.
//!
//! Each worker encodes its entries' verdicts ([`Encoded::of`], in parallel);
//! after each part is checked they are appended here in snapshot order, the
//! one rule that needs every entry (a repeated identity is refused after its
//! first entry) is applied, and the totals are kept. Nothing here may be
//! acted on until the whole snapshot is verified: the caller owns the spool
//! only then. The file is unlinked from the start (`tempfile`), so it is
//! gone when the importer exits, however it exits; it lies in `TMPDIR`,
//! which must be private to the operator (as for any temporary file).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;

use super::codec::{self, CodecError};
use super::{EntryVerdict, EvaluationCounts};

/// One entry's verdict, encoded by a worker, with what the totals need.
#[derive(Debug)]
pub(super) struct Encoded {
    key: Box<str>,
    bytes: Box<[u8]>,
    values: usize,
    refused: usize,
    undetermined: usize,
}

impl Encoded {
    /// Encodes `v` for the spool.
    pub(super) fn of(v: &EntryVerdict) -> Self {
        // Encoded into a scratch buffer per thread, then copied at its exact
        // size: a part's encoded verdicts wait in memory until the part is
        // checked, so slack would add up.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let bytes = SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.clear();
            codec::encode(v, &mut s);
            Box::from(s.as_slice())
        });
        Self {
            key: v.key.as_str().into(),
            bytes,
            values: v.values.len(),
            refused: v.values.iter().filter(|x| !x.accepted()).count(),
            undetermined: v
                .values
                .iter()
                .filter(|x| x.accepted() && x.revocation_undetermined())
                .count(),
        }
    }
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The temporary file could not be created, written or read.
    #[error("the temporary file holding the verdicts: {0}")]
    Io(#[from] std::io::Error),
    /// What was read back is not what was written.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// The spool being filled, part by part, in snapshot order.
pub(super) struct SpoolWriter {
    out: Option<BufWriter<File>>,
    written: u64,
    entries: Vec<SpooledEntry>,
    seen: HashMap<Box<str>, u32>,
    counts: EvaluationCounts,
    error: Option<std::io::Error>,
}

/// Where one entry lies in the spool, and the earlier entry with the same
/// identity, if any (1-based).
#[derive(Debug, Clone, Copy)]
struct SpooledEntry {
    offset: u64,
    len: u32,
    duplicate_of: Option<u32>,
}

impl SpoolWriter {
    /// A new, empty spool in `TMPDIR`. The file is created at the first
    /// entry, so that a snapshot that fails early writes nothing.
    pub(super) fn new() -> Self {
        Self {
            out: None,
            written: 0,
            entries: Vec::new(),
            seen: HashMap::new(),
            counts: EvaluationCounts::default(),
            error: None,
        }
    }

    /// Appends the entries of one part (or of a whole bundle file), in order.
    /// A write error is kept and returned by [`Self::finish`].
    pub(super) fn append(&mut self, part: Vec<Encoded>) {
        for e in part {
            self.push(e);
        }
    }

    fn push(&mut self, e: Encoded) {
        let index = u32::try_from(self.entries.len() + 1).unwrap_or(u32::MAX);
        let duplicate_of = match self.seen.get(&e.key) {
            Some(&first) => Some(first),
            None => {
                self.seen.insert(e.key, index);
                None
            }
        };
        let c = &mut self.counts;
        c.entries += 1;
        c.values += e.values;
        let refused = if duplicate_of.is_some() {
            e.values
        } else {
            e.refused
        };
        c.refused += refused;
        c.accepted += e.values - refused;
        if duplicate_of.is_none() {
            c.revocation_undetermined += e.undetermined;
        }
        if refused > 0 {
            c.entries_with_refusals += 1;
        }
        let len = u32::try_from(e.bytes.len()).unwrap_or(u32::MAX);
        self.entries.push(SpooledEntry {
            offset: self.written,
            len,
            duplicate_of,
        });
        self.written += e.bytes.len() as u64;
        if self.error.is_some() {
            return;
        }
        if self.out.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.out = Some(BufWriter::with_capacity(1 << 20, f)),
                Err(err) => {
                    self.error = Some(err);
                    return;
                }
            }
        }
        if let Some(out) = &mut self.out {
            if let Err(err) = out.write_all(&e.bytes) {
                self.error = Some(err);
            }
        }
    }

    /// The spool, ready to be read: every entry written and flushed.
    pub(super) fn finish(self) -> Result<VerdictSpool, SpoolError> {
        if let Some(err) = self.error {
            return Err(err.into());
        }
        let file = match self.out {
            Some(out) => Some(out.into_inner().map_err(|e| e.into_error())?),
            None => None,
        };
        Ok(VerdictSpool {
            file,
            entries: self.entries,
            counts: self.counts,
        })
    }
}

impl Default for SpoolWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// The verdicts of a verified snapshot, in snapshot order, on disk.
#[derive(Debug)]
pub(super) struct VerdictSpool {
    file: Option<File>,
    entries: Vec<SpooledEntry>,
    counts: EvaluationCounts,
}

impl VerdictSpool {
    /// The totals, the repeated-identity rule applied.
    pub(super) fn counts(&self) -> &EvaluationCounts {
        &self.counts
    }

    /// Reads the entries back in order: each verdict with the index (1-based)
    /// of the earlier entry with the same identity, if any. Reads ahead in
    /// blocks; holds one block and one entry.
    pub(super) fn entries(
        &self,
    ) -> impl Iterator<Item = Result<(EntryVerdict, Option<usize>), SpoolError>> + '_ {
        let mut window = Window {
            file: self.file.as_ref(),
            buf: Vec::new(),
            buf_offset: 0,
        };
        self.entries.iter().map(move |e| {
            let bytes = window.get(e.offset, e.len as usize)?;
            let verdict = codec::decode(bytes)?;
            Ok((verdict, e.duplicate_of.map(|i| i as usize)))
        })
    }
}

/// A block of the spool file, read at its offset (no shared file cursor).
struct Window<'a> {
    file: Option<&'a File>,
    buf: Vec<u8>,
    buf_offset: u64,
}

impl Window<'_> {
    const BLOCK: usize = 4 << 20;

    /// The `len` bytes at `offset`, reading a new block when they are not
    /// in the one held.
    fn get(&mut self, offset: u64, len: usize) -> Result<&[u8], SpoolError> {
        let held = offset >= self.buf_offset
            && offset + len as u64 <= self.buf_offset + self.buf.len() as u64;
        if !held {
            let file = self.file.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no spool file")
            })?;
            self.buf.resize(len.max(Self::BLOCK), 0);
            let mut filled = 0;
            while filled < self.buf.len() {
                match file.read_at(&mut self.buf[filled..], offset + filled as u64)? {
                    0 => break,
                    n => filled += n,
                }
            }
            if filled < len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the spool file is shorter than what was written to it",
                )
                .into());
            }
            self.buf.truncate(filled);
            self.buf_offset = offset;
        }
        let at = (offset - self.buf_offset) as usize;
        Ok(&self.buf[at..at + len])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_entries_across_block_boundaries_and_larger_than_a_block() {
        let mut f = tempfile::tempfile().unwrap();
        let sizes = [10usize, Window::BLOCK - 15, 20, Window::BLOCK + 7, 3];
        let mut all = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            all.extend(std::iter::repeat_n(i as u8, *n));
        }
        f.write_all(&all).unwrap();
        let mut w = Window {
            file: Some(&f),
            buf: Vec::new(),
            buf_offset: 0,
        };
        let mut at = 0u64;
        for (i, n) in sizes.iter().enumerate() {
            let got = w.get(at, *n).unwrap();
            assert_eq!(got.len(), *n);
            assert!(got.iter().all(|b| *b == i as u8), "entry {i}");
            at += *n as u64;
        }
        assert!(w.get(at, 1).is_err(), "past the end");
    }

    #[test]
    fn a_snapshot_without_entries_spools_nothing_and_reads_back_nothing() {
        let spool = SpoolWriter::new().finish().unwrap();
        assert!(spool.file.is_none(), "no file for no entry");
        assert_eq!(spool.entries().count(), 0);
        assert_eq!(*spool.counts(), EvaluationCounts::default());
    }
}
