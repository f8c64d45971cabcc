//! The two digests of a bundle file: SHA-256 (named in trusted comments and
//! chained between bundles) and BLAKE2b-512 (what minisign `ED` signs); and
//! the one of a part file, its SHA-256 (what the part index names).

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
                let mut b2 = Blake2b512Hasher::new();
                for chunk in rx {
                    b2.update(&chunk);
                }
                b2.finalize()
            });
            let mut sha = Sha256Hasher::new();
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
                sha256: sha.finalize(),
                blake2b,
            })
        })
    }
}

/// The SHA-256 of a bundle file, computed incrementally. With
/// [`Blake2b512Hasher`], for a caller that hashes a file on two threads, for
/// example while it is being written; put the results in a [`BundleDigests`].
#[derive(Debug, Clone, Default)]
pub struct Sha256Hasher(sha2::Sha256);

impl Sha256Hasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> Sha256 {
        Sha256::from_bytes(self.0.finalize().into())
    }
}

/// The BLAKE2b-512 of a bundle file (what a minisign `ED` signature signs),
/// computed incrementally; see [`Sha256Hasher`].
#[derive(Debug, Clone)]
pub struct Blake2b512Hasher(blake2b_simd::State);

impl Default for Blake2b512Hasher {
    fn default() -> Self {
        Self(blake2b_simd::Params::new().hash_length(64).to_state())
    }
}

impl Blake2b512Hasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> [u8; 64] {
        *self.0.finalize().as_array()
    }
}

/// A bundle file's bytes together with their digests, computed by this
/// library from exactly these bytes: the only way to hand a verifier
/// precomputed digests (see [`crate::UnverifiedBundle::parse`]).
#[derive(Debug)]
pub struct HashedBytes {
    bytes: Vec<u8>,
    digests: BundleDigests,
}

impl HashedBytes {
    /// Hashes bytes already in memory (both digests, two threads).
    pub fn new(bytes: Vec<u8>) -> Self {
        let digests = BundleDigests::of_bytes(&bytes);
        Self { bytes, digests }
    }

    /// Reads exactly `len` bytes (the file's size, checked against the size
    /// limit by the caller first) into memory, hashing them while they
    /// arrive: the reading thread fills 4 MiB chunks, one thread hashes each
    /// filled chunk with SHA-256 and another with BLAKE2b-512, so reading and
    /// both digests overlap. The bytes kept are the bytes hashed.
    ///
    /// A stream that ends before `len` bytes or holds more than `len` (the
    /// file changed since its size was taken) is an error of kind
    /// `UnexpectedEof` or `InvalidData`.
    pub fn read(r: impl Read, len: u64) -> std::io::Result<Self> {
        let (bytes, sha256, blake2b) = read_hashing(r, len, true)?;
        let blake2b = blake2b.ok_or_else(|| std::io::Error::other("a hashing thread failed"))?;
        Ok(Self {
            bytes,
            digests: BundleDigests { sha256, blake2b },
        })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their digests.
    pub fn digests(&self) -> &BundleDigests {
        &self.digests
    }

    /// The bytes and their digests.
    pub(crate) fn into_parts(self) -> (Vec<u8>, BundleDigests) {
        (self.bytes, self.digests)
    }
}

/// A part file's bytes with their SHA-256 (SPEC.md §4.6), computed by this
/// library from exactly these bytes: the part index names a part by its
/// SHA-256 alone, so a part needs no BLAKE2b-512 (the signatures sign the
/// index).
#[derive(Debug)]
pub struct PartBytes {
    bytes: Vec<u8>,
    sha256: Sha256,
}

impl PartBytes {
    /// Hashes bytes already in memory.
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = Sha256::digest(&bytes);
        Self { bytes, sha256 }
    }

    /// Reads exactly `len` bytes, hashing them on another thread while they
    /// arrive; errors as [`HashedBytes::read`]'s.
    pub fn read(r: impl Read, len: u64) -> std::io::Result<Self> {
        let (bytes, sha256, _) = read_hashing(r, len, false)?;
        Ok(Self { bytes, sha256 })
    }

    /// The bytes and their SHA-256.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Sha256) {
        (self.bytes, self.sha256)
    }
}

/// Reads exactly `len` bytes into memory in 4 MiB chunks, each filled chunk
/// hashed with SHA-256 on one thread and, when `blake2b`, with BLAKE2b-512
/// on another, so that reading and hashing overlap.
fn read_hashing(
    mut r: impl Read,
    len: u64,
    blake2b: bool,
) -> std::io::Result<(Vec<u8>, Sha256, Option<[u8; 64]>)> {
    const CHUNK: usize = 4 << 20;
    let len = usize::try_from(len)
        .map_err(|_| std::io::Error::other("the file is too large for this machine"))?;
    // Zeroed memory comes from the allocator as untouched pages: they are
    // faulted in by the reads, not written twice.
    let mut bytes = vec![0u8; len];
    let (sha256, b2) = std::thread::scope(|s| {
        let (to_sha, for_sha) = std::sync::mpsc::channel::<&[u8]>();
        let (to_b2, for_b2) = std::sync::mpsc::channel::<&[u8]>();
        let sha = s.spawn(move || {
            let mut h = Sha256Hasher::new();
            for chunk in for_sha {
                h.update(chunk);
            }
            h.finalize()
        });
        let b2 = blake2b.then(|| {
            s.spawn(move || {
                let mut h = Blake2b512Hasher::new();
                for chunk in for_b2 {
                    h.update(chunk);
                }
                h.finalize()
            })
        });
        let to_b2 = blake2b.then_some(to_b2);
        let mut rest: &mut [u8] = &mut bytes;
        let filled = loop {
            if rest.is_empty() {
                break Ok(());
            }
            let n = CHUNK.min(rest.len());
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(n);
            if let Err(e) = r.read_exact(chunk) {
                break Err(e);
            }
            let chunk: &[u8] = chunk;
            // A hasher only stops early by panicking, reported at join.
            let _ = to_sha.send(chunk);
            if let Some(to_b2) = &to_b2 {
                let _ = to_b2.send(chunk);
            }
            rest = tail;
        };
        drop((to_sha, to_b2));
        let sha256 = sha.join();
        let b2 = b2.map(|h| h.join());
        filled?;
        let mut probe = [0u8; 1];
        if r.read(&mut probe)? != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the file grew past its size of {len} bytes while it was read"),
            ));
        }
        match (sha256, b2.transpose()) {
            (Ok(sha256), Ok(b2)) => Ok((sha256, b2)),
            _ => Err(std::io::Error::other("a hashing thread failed")),
        }
    })?;
    Ok((bytes, sha256, b2))
}

impl From<Vec<u8>> for HashedBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
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

    #[test]
    fn incremental_hashers_equal_the_one_shot_digests() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 11 % 251) as u8).collect();
        let (mut sha, mut b2) = (Sha256Hasher::new(), Blake2b512Hasher::new());
        for piece in data.chunks(65_537) {
            sha.update(piece);
            b2.update(piece);
        }
        let digests = BundleDigests {
            sha256: sha.finalize(),
            blake2b: b2.finalize(),
        };
        assert_eq!(digests, BundleDigests::of_bytes(&data));
    }

    #[test]
    fn read_while_hashing_keeps_and_hashes_exactly_the_stream() {
        // Several chunks and a partial last one.
        let data: Vec<u8> = (0..9_500_001u32).map(|i| (i * 13 % 251) as u8).collect();
        let h = HashedBytes::read(std::io::Cursor::new(&data), data.len() as u64).unwrap();
        assert_eq!(h.bytes(), data.as_slice());
        assert_eq!(*h.digests(), BundleDigests::of_bytes(&data));
        let empty = HashedBytes::read(std::io::Cursor::new(&[] as &[u8]), 0).unwrap();
        assert_eq!(*empty.digests(), BundleDigests::of_bytes(&[]));
    }

    #[test]
    fn read_while_hashing_refuses_a_stream_shorter_or_longer_than_its_size() {
        let data = vec![7u8; 5_000_000];
        let short = HashedBytes::read(std::io::Cursor::new(&data), 5_000_001).unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
        let long = HashedBytes::read(std::io::Cursor::new(&data), 4_999_999).unwrap_err();
        assert_eq!(long.kind(), std::io::ErrorKind::InvalidData);
        assert!(long.to_string().contains("grew"), "{long}");
    }

    #[test]
    fn a_part_read_while_hashing_is_its_bytes_and_their_sha256_and_nothing_else() {
        let data: Vec<u8> = (0..9_500_001u32).map(|i| (i * 17 % 251) as u8).collect();
        let (bytes, sha256) = PartBytes::read(std::io::Cursor::new(&data), data.len() as u64)
            .unwrap()
            .into_parts();
        assert_eq!(bytes, data);
        assert_eq!(sha256, Sha256::digest(&data));
        assert_eq!(PartBytes::new(data.clone()).into_parts().1, sha256);
        let short = PartBytes::read(std::io::Cursor::new(&data), data.len() as u64 + 1);
        assert_eq!(short.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        let long = PartBytes::read(std::io::Cursor::new(&data), data.len() as u64 - 1);
        assert_eq!(long.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    }
}
