//! Certificate values copied to a private temporary file, so that memory
//! holds where each value lies and its SHA-256, not its bytes: the values
//! of a snapshot in parts (each part's bytes are released once it is
//! verified) and the values the tenant holds now (read while it is listed).
//!
//! Writers may append concurrently; each value records where it went. A
//! value read back is checked against the SHA-256 its caller knows for it,
//! so a file changed behind the importer's back is an error, never other
//! bytes. The file is unlinked from the start (`tempfile`): it is gone when
//! the importer exits, however it exits; it lies in `TMPDIR`, which must be
//! private to the operator (as for any temporary file).

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::sync::Mutex;

use certferry_format::Sha256;

/// A spool being filled.
#[derive(Debug, Default)]
pub struct ValueSpoolWriter {
    sink: Mutex<ValueSink>,
}

#[derive(Debug, Default)]
struct ValueSink {
    out: Option<BufWriter<File>>,
    written: u64,
    error: Option<std::io::Error>,
}

impl ValueSpoolWriter {
    /// Appends `bytes`; returns where they lie. A write error is kept and
    /// returned by [`Self::finish`].
    pub fn put(&self, bytes: &[u8]) -> (u64, u32) {
        let mut sink = match self.sink.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let at = sink.written;
        sink.written += bytes.len() as u64;
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        if sink.error.is_none() {
            if sink.out.is_none() {
                match tempfile::tempfile() {
                    Ok(f) => sink.out = Some(BufWriter::with_capacity(1 << 20, f)),
                    Err(e) => sink.error = Some(e),
                }
            }
            if let Some(out) = &mut sink.out {
                if let Err(e) = out.write_all(bytes) {
                    sink.error = Some(e);
                }
            }
        }
        (at, len)
    }

    /// The spool, ready to be read (`None` when no value was put).
    pub fn finish(self) -> std::io::Result<Option<ValueSpool>> {
        let sink = match self.sink.into_inner() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(e) = sink.error {
            return Err(e);
        }
        match sink.out {
            None => Ok(None),
            Some(out) => Ok(Some(ValueSpool {
                file: out.into_inner().map_err(|e| e.into_error())?,
            })),
        }
    }
}

/// Values on disk, ready to be read.
#[derive(Debug)]
pub struct ValueSpool {
    file: File,
}

impl ValueSpool {
    /// The `len` bytes at `offset`, which must hash to `sha256`.
    pub fn read(&self, offset: u64, len: u32, sha256: &Sha256) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0; len as usize];
        self.file.read_exact_at(&mut bytes, offset)?;
        if Sha256::digest(&bytes) != *sha256 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a value read back from the importer's temporary file is not the value put there",
            ));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_value_reads_back_only_as_the_bytes_its_digest_names() {
        let w = ValueSpoolWriter::default();
        let (a_at, a_len) = w.put(b"first value");
        let (b_at, b_len) = w.put(b"second");
        let spool = w.finish().unwrap().unwrap();
        assert_eq!(
            spool.read(b_at, b_len, &Sha256::digest(b"second")).unwrap(),
            b"second"
        );
        assert_eq!(
            spool
                .read(a_at, a_len, &Sha256::digest(b"first value"))
                .unwrap(),
            b"first value"
        );
        let wrong = spool
            .read(a_at, a_len, &Sha256::digest(b"second"))
            .unwrap_err();
        assert_eq!(wrong.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            spool
                .read(b_at, b_len + 1, &Sha256::digest(b"second"))
                .is_err(),
            "past the end"
        );
    }

    #[test]
    fn a_spool_nothing_was_put_in_is_no_file() {
        assert!(ValueSpoolWriter::default().finish().unwrap().is_none());
    }
}
