//! The writer's spools: `entries.jsonl` and `review.csv` are built entry by
//! entry while the values stream into the zip, so they wait in a spool (a temp
//! file, or memory) until the end. Each spool hashes and checksums its text as
//! it is pushed, and, for a revision 1.4 bundle, deflates it on the way in, so
//! that what it holds is what the zip member stores.

use std::io::{Read, Seek, SeekFrom, Write};

use flate2::{Compress, Compression, FlushCompress};
use sha2::Digest as _;

use crate::ids::Sha256;
use crate::{err, Error, Result};

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| err!(Write, "{what}: {e}")
}

/// Spooled text is handed to the spool in chunks of about this size.
pub(crate) const SPOOL_CHUNK: usize = 256 * 1024;

/// A spool with a write buffer (entries are small, spool writes should not
/// be) that hashes and checksums what it is given, so the member's digest
/// and CRC-32 are ready when the spool is copied out at the end.
/// When deflating, the spool holds the compressed bytes: the digest and
/// CRC-32 are of the text, as the manifest and the zip headers need.
pub(crate) struct Spool<S> {
    pub(crate) inner: S,
    buf: Vec<u8>,
    len: u64,
    sha: sha2::Sha256,
    crc: crc32fast::Hasher,
    deflate: Option<Deflater>,
}

/// What a spool holds, ready to be copied out.
pub(crate) struct Spooled {
    /// The text's length.
    pub(crate) len: u64,
    /// The compressed length, when deflated.
    pub(crate) compressed: Option<u64>,
    pub(crate) sha256: Sha256,
    pub(crate) crc: u32,
}

/// Raw DEFLATE at the default level, into a reused buffer.
pub(crate) struct Deflater {
    pub(crate) compress: Compress,
    pub(crate) out: Vec<u8>,
}

impl Deflater {
    pub(crate) fn new() -> Self {
        Self {
            compress: Compress::new(Compression::default(), false),
            out: Vec::new(),
        }
    }

    /// Compresses `input` (and ends the stream when `finish`) into `self.out`,
    /// which the caller empties.
    pub(crate) fn feed(&mut self, mut input: &[u8], finish: bool) -> Result<()> {
        let flush = if finish {
            FlushCompress::Finish
        } else {
            FlushCompress::None
        };
        loop {
            self.out.reserve(SPOOL_CHUNK / 4);
            let before = self.compress.total_in();
            let status = self
                .compress
                .compress_vec(input, &mut self.out, flush)
                .map_err(|e| err!(Write, "deflate: {e}"))?;
            let used = usize::try_from(self.compress.total_in() - before).unwrap_or(usize::MAX);
            input = &input[used..];
            let done = if finish {
                status == flate2::Status::StreamEnd
            } else {
                input.is_empty()
            };
            if done {
                return Ok(());
            }
        }
    }
}

impl<S: Read + Write + Seek> Spool<S> {
    pub(crate) fn new(mut inner: S, deflate: bool) -> Result<Self> {
        inner.seek(SeekFrom::Start(0)).map_err(io_err("spool"))?;
        Ok(Self {
            inner,
            buf: Vec::with_capacity(SPOOL_CHUNK),
            len: 0,
            sha: sha2::Sha256::new(),
            crc: crc32fast::Hasher::new(),
            deflate: deflate.then(Deflater::new),
        })
    }

    pub(crate) fn push(&mut self, data: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(data);
        self.len += data.len() as u64;
        if self.buf.len() >= SPOOL_CHUNK {
            self.spill(false)?;
        }
        Ok(())
    }

    /// About how many bytes the spool will store: what it wrote, and the
    /// buffered text at the ratio so far (a quarter, before anything is
    /// compressed).
    pub(crate) fn stored_so_far(&self) -> u64 {
        let pending = self.buf.len() as u64;
        match &self.deflate {
            Some(d) => {
                let (in_, out) = (d.compress.total_in(), d.compress.total_out());
                let ratio_pending = (pending * out).checked_div(in_).unwrap_or(pending / 4);
                out + ratio_pending
            }
            None => self.len,
        }
    }

    /// Hands the buffered text on to the spool, compressed when deflating.
    fn spill(&mut self, finish: bool) -> Result<()> {
        self.sha.update(&self.buf);
        self.crc.update(&self.buf);
        match &mut self.deflate {
            Some(d) => {
                d.feed(&self.buf, finish)?;
                self.inner.write_all(&d.out).map_err(io_err("spool"))?;
                d.out.clear();
            }
            None => self.inner.write_all(&self.buf).map_err(io_err("spool"))?,
        }
        self.buf.clear();
        Ok(())
    }

    /// Flushes and rewinds, ready to be copied out; returns the length,
    /// SHA-256 and CRC-32 of everything pushed.
    pub(crate) fn rewind(&mut self) -> Result<Spooled> {
        self.spill(true)?;
        self.buf = Vec::new();
        self.inner.flush().map_err(io_err("spool"))?;
        self.inner
            .seek(SeekFrom::Start(0))
            .map_err(io_err("spool"))?;
        let digest = std::mem::take(&mut self.sha).finalize();
        Ok(Spooled {
            len: self.len,
            compressed: self.deflate.take().map(|d| d.compress.total_out()),
            sha256: Sha256::from_bytes(digest.into()),
            crc: std::mem::take(&mut self.crc).finalize(),
        })
    }
}
