//! The two digests of a bundle file: SHA-256 (named in trusted comments and
//! chained between bundles) and BLAKE2b-512 (what minisign `ED` signs).

use std::io::Read;

use sha2::Digest as _;

use crate::ids::Sha256;
use crate::signature::blake2b512;

/// Both digests of one bundle file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleDigests {
    /// SHA-256 of the file.
    pub sha256: Sha256,
    /// BLAKE2b-512 of the file.
    pub blake2b: [u8; 64],
}

impl BundleDigests {
    /// Hashes in-memory bytes, both digests in parallel on two threads.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        std::thread::scope(|s| {
            let b2 = s.spawn(|| blake2b512(bytes));
            let sha256 = Sha256::digest(bytes);
            let blake2b = match b2.join() {
                Ok(d) => d,
                // The thread only hashes; if it could not run, hash here.
                Err(_) => blake2b512(bytes),
            };
            Self { sha256, blake2b }
        })
    }

    /// Hashes a stream in one pass (for signing a file just written): the
    /// stream is read once, SHA-256 on this thread and BLAKE2b-512 on another.
    pub fn of_reader(mut r: impl Read) -> std::io::Result<Self> {
        const CHUNK: usize = 1024 * 1024;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        std::thread::scope(|s| {
            let b2 = s.spawn(move || {
                let mut b2 = blake2b_simd::Params::new().hash_length(64).to_state();
                for chunk in rx {
                    b2.update(&chunk);
                }
                *b2.finalize().as_array()
            });
            let mut sha = sha2::Sha256::new();
            let read = (|| -> std::io::Result<()> {
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    let mut filled = 0;
                    while filled < CHUNK {
                        let n = r.read(&mut buf[filled..])?;
                        if n == 0 {
                            break;
                        }
                        filled += n;
                    }
                    if filled == 0 {
                        return Ok(());
                    }
                    buf.truncate(filled);
                    sha.update(&buf);
                    if tx.send(buf).is_err() {
                        return Err(std::io::Error::other("hashing thread stopped"));
                    }
                }
            })();
            drop(tx);
            let blake2b = b2
                .join()
                .map_err(|_| std::io::Error::other("hashing thread panicked"))?;
            read?;
            Ok(Self {
                sha256: Sha256::from_bytes(sha.finalize().into()),
                blake2b,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_digests_equal_in_memory_digests() {
        let data: Vec<u8> = (0..3_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let a = BundleDigests::of_bytes(&data);
        let b = BundleDigests::of_reader(std::io::Cursor::new(&data)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256, Sha256::digest(&data));
    }
}
