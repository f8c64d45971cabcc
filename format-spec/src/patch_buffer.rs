//! A write buffer that also absorbs seeks.
//!
//! The zip writer finishes each stored member by seeking back to its local
//! header, patching the CRC and sizes, and seeking forward again. Through a
//! `BufWriter` every such seek flushes the buffer and costs system calls: with
//! 100,000 small members that was 500,000 `lseek` and 300,000 `write` calls.
//! [`PatchBuffer`] keeps a window of the most recent bytes in memory and
//! applies writes and seeks that fall inside it there; the output sees large
//! sequential writes, and a real seek only when a patch reaches back past the
//! window (about once per window for small members).

use std::io::{self, Seek, SeekFrom, Write};

/// Bytes kept in memory before they are handed to the output.
const WINDOW: usize = 1 << 20;

/// See the module documentation. Call [`PatchBuffer::into_inner`] to flush;
/// dropping the buffer discards what it holds.
pub(crate) struct PatchBuffer<W: Write + Seek> {
    inner: W,
    /// Bytes for the output offsets `base .. base + buf.len()`.
    buf: Vec<u8>,
    /// The output's own position; always where `buf` starts.
    base: u64,
    /// The logical position: where the next write goes.
    pos: u64,
}

impl<W: Write + Seek> PatchBuffer<W> {
    /// Wraps `inner`, starting at its current position.
    pub(crate) fn new(mut inner: W) -> io::Result<Self> {
        let base = inner.stream_position()?;
        Ok(Self {
            inner,
            buf: Vec::with_capacity(WINDOW),
            base,
            pos: base,
        })
    }

    /// Hands the window to the output; the window then starts at its end.
    fn flush_window(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.base += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Flushes everything and returns the output, positioned at the logical
    /// position.
    pub(crate) fn into_inner(mut self) -> io::Result<W> {
        self.flush_window()?;
        if self.pos != self.base {
            self.inner.seek(SeekFrom::Start(self.pos))?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write + Seek> Write for PatchBuffer<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let end = self.base + self.buf.len() as u64;
        if self.pos < self.base || self.pos > end {
            // Outside the window: start a new one where the write goes.
            self.flush_window()?;
            if self.pos != self.base {
                self.base = self.inner.seek(SeekFrom::Start(self.pos))?;
            }
        }
        if self.buf.is_empty() && data.len() >= WINDOW {
            // A large write goes straight through.
            self.inner.write_all(data)?;
            self.base += data.len() as u64;
            self.pos = self.base;
            return Ok(data.len());
        }
        // `pos - base` is at most `buf.len()`, so it fits in usize.
        let offset = usize::try_from(self.pos - self.base).unwrap_or(usize::MAX);
        let overlap = data.len().min(self.buf.len() - offset);
        self.buf[offset..offset + overlap].copy_from_slice(&data[..overlap]);
        self.buf.extend_from_slice(&data[overlap..]);
        self.pos += data.len() as u64;
        if self.buf.len() >= WINDOW {
            self.flush_window()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // The zip writer flushes only at the very end, where `into_inner`
        // flushes too; flushing the window here would cost nothing but
        // would not make anything more durable either.
        Ok(())
    }
}

impl<W: Write + Seek> Seek for PatchBuffer<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(_) => {
                // Rare: let the output resolve it.
                self.flush_window()?;
                self.pos = self.inner.seek(to)?;
                self.base = self.pos;
                return Ok(self.pos);
            }
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Runs the same writes and seeks on a plain cursor and through a
    /// PatchBuffer and returns both results.
    fn both(ops: &[(Option<u64>, Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
        let mut plain = Cursor::new(Vec::new());
        let mut buffered = PatchBuffer::new(Cursor::new(Vec::new())).unwrap();
        for (seek, data) in ops {
            if let Some(at) = seek {
                assert_eq!(
                    plain.seek(SeekFrom::Start(*at)).unwrap(),
                    buffered.seek(SeekFrom::Start(*at)).unwrap()
                );
            }
            plain.write_all(data).unwrap();
            buffered.write_all(data).unwrap();
            assert_eq!(
                plain.stream_position().unwrap(),
                buffered.stream_position().unwrap()
            );
        }
        let out = buffered.into_inner().unwrap();
        assert_eq!(plain.position(), out.position());
        (plain.into_inner(), out.into_inner())
    }

    #[test]
    fn patch_inside_the_window_matches_a_plain_writer() {
        let (a, b) = both(&[
            (None, vec![1; 30]),
            (None, vec![2; 1000]),
            (Some(14), vec![9; 12]),
            (Some(1030), vec![3; 30]),
        ]);
        assert_eq!(a, b);
    }

    #[test]
    fn patch_behind_a_flushed_window_matches_a_plain_writer() {
        // The second member's data crosses the window, so its header has been
        // handed to the output before the patch arrives.
        let (a, b) = both(&[
            (None, vec![1; 30]),
            (None, vec![2; WINDOW - 10]),
            (None, vec![3; 30]),
            (None, vec![4; 100]),
            (Some(WINDOW as u64 + 20 + 14), vec![9; 12]),
            (Some(0), vec![8; 4]),
            (Some(WINDOW as u64 + 150), vec![5; 7]),
        ]);
        assert_eq!(a, b);
    }

    #[test]
    fn large_writes_pass_through_and_still_patch_correctly() {
        let (a, b) = both(&[
            (None, vec![1; 30]),
            (None, vec![2; 3 * WINDOW + 5]),
            (Some(10), vec![7; 3]),
            (Some(3 * WINDOW as u64 + 35), vec![6; 2 * WINDOW]),
            (Some(3 * WINDOW as u64), vec![5; 100]),
        ]);
        assert_eq!(a, b);
    }

    #[test]
    fn seek_past_the_end_leaves_a_zero_filled_gap_like_a_plain_writer() {
        let (a, b) = both(&[(None, vec![1; 10]), (Some(20), vec![2; 5])]);
        assert_eq!(a, b);
    }

    #[test]
    fn seek_before_the_start_is_an_error() {
        let mut w = PatchBuffer::new(Cursor::new(Vec::new())).unwrap();
        w.write_all(b"abc").unwrap();
        assert!(w.seek(SeekFrom::Current(-4)).is_err());
        assert_eq!(w.seek(SeekFrom::Current(-3)).unwrap(), 0);
        assert_eq!(w.seek(SeekFrom::End(0)).unwrap(), 3);
    }
}
