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

    /// Hashes a stream in one pass (for signing a file being written).
    pub fn of_reader(mut r: impl Read) -> std::io::Result<Self> {
        let mut sha = sha2::Sha256::new();
        let mut b2 = blake2::Blake2b512::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            b2.update(&buf[..n]);
        }
        Ok(Self {
            sha256: Sha256::from_bytes(sha.finalize().into()),
            blake2b: b2.finalize().into(),
        })
    }
}
