//! Hashing the bundle file while it is being written.
//!
//! The bundle writer only ever appends, and every byte it hands to the file is
//! final (certferry-format's zip writer never seeks back). So the two file
//! digests the signature and the export state need can be computed by threads
//! that read the file behind the writer, instead of reading it all back after
//! the last byte: [`Publishing`] wraps the file for the writer and tells a
//! [`Progress`] how far the file is written; [`digests_behind`] reads up to
//! there, waits for more, and returns the digests once the writer has
//! completed the file. [`sync_behind`] likewise starts the file's writeback
//! while it grows, so the final fsync is short.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt as _;
use std::sync::{mpsc, Condvar, Mutex, PoisonError};

use certferry_format::{Blake2b512Hasher, BundleDigests, Sha256Hasher};

/// Bytes a follower reads at a time.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The writer may still append.
    Open,
    /// The writer has completed the file.
    Complete,
    /// The writer stopped without completing the file (an error, Ctrl-C).
    Abandoned,
}

/// How far the file is written, shared between the writer and its followers.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<(u64, End)>,
    changed: Condvar,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            state: Mutex::new((0, End::Open)),
            changed: Condvar::new(),
        }
    }
}

impl Progress {
    /// Nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, f: impl FnOnce(&mut (u64, End))) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state);
        drop(state);
        self.changed.notify_all();
    }

    /// Waits until more than `pos` bytes are written or the writer has ended;
    /// returns the length written and whether it is final. An abandoned file
    /// is an error: its digests would describe nothing.
    fn wait_beyond(&self, pos: u64) -> io::Result<(u64, bool)> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .changed
            .wait_while(state, |(len, end)| *len <= pos && *end == End::Open)
            .unwrap_or_else(PoisonError::into_inner);
        match *state {
            (_, End::Abandoned) => Err(io::Error::other("the bundle was not completed")),
            (len, end) => Ok((len, end == End::Complete)),
        }
    }
}

/// The writer's side: writes to the file and publishes each write. Call
/// [`Publishing::complete`] after the last byte; dropping it before that tells
/// the followers the file was abandoned.
#[derive(Debug)]
pub struct Publishing<'a> {
    file: &'a File,
    progress: &'a Progress,
    completed: bool,
}

impl<'a> Publishing<'a> {
    /// Appends to `file` (positioned at its end) and reports to `progress`.
    pub fn new(file: &'a File, progress: &'a Progress) -> Self {
        Self {
            file,
            progress,
            completed: false,
        }
    }

    /// Says the file is complete: followers finish once they have read it all.
    pub fn complete(mut self) {
        self.completed = true;
        self.progress.update(|s| s.1 = End::Complete);
    }
}

impl Write for Publishing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (&mut &*self.file).write(buf)?;
        self.progress.update(|s| s.0 += n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&mut &*self.file).flush()
    }
}

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        if !self.completed {
            self.progress.update(|s| s.1 = End::Abandoned);
        }
    }
}

/// Both digests of `file`, read once, each chunk as soon as the writer has
/// published it: this thread reads and computes the SHA-256, a second one the
/// BLAKE2b-512 of the same buffers. Returns once the writer has completed the
/// file; fails if it is abandoned or cannot be read.
///
/// While the writer is still going, both threads run at the lowest CPU
/// priority (nice 19): the export pipeline and the directory server keep the
/// machine busy, and hashing should use the CPU time they leave idle rather
/// than take time from them. Once the file is complete the hashing is what the
/// export waits for, so the threads ask for their old priority back (allowed
/// for root, or up to `RLIMIT_NICE`; otherwise they stay at nice 19, which
/// only matters on a machine busy with other work).
pub fn digests_behind(file: &File, progress: &Progress) -> io::Result<BundleDigests> {
    /// Buffers circulating between the two threads.
    const POOL: usize = 4;
    let (to_blake2b, chunks) = mpsc::sync_channel::<(Vec<u8>, usize, bool)>(POOL);
    let (give_back, returned) = mpsc::channel::<Vec<u8>>();
    for _ in 0..POOL {
        let _ = give_back.send(vec![0u8; CHUNK]);
    }
    std::thread::scope(|s| {
        let blake2b = s.spawn(move || {
            let priority = Background::enter();
            let mut h = Blake2b512Hasher::new();
            for (buf, len, complete) in chunks {
                if complete {
                    priority.leave();
                }
                h.update(&buf[..len]);
                let _ = give_back.send(buf);
            }
            h.finalize()
        });
        let stopped = || io::Error::other("the BLAKE2b thread stopped");
        let mut sha256 = Sha256Hasher::new();
        let read = follow(progress, |pos, len, complete| {
            let mut buf = returned.recv().map_err(|_| stopped())?;
            file.read_exact_at(&mut buf[..len], pos)?;
            sha256.update(&buf[..len]);
            to_blake2b.send((buf, len, complete)).map_err(|_| stopped())
        });
        drop(to_blake2b);
        let blake2b = blake2b.join().map_err(|_| stopped())?;
        read?;
        Ok(BundleDigests {
            sha256: sha256.finalize(),
            blake2b,
        })
    })
}

/// Calls `chunk(offset, length, complete)` for consecutive pieces of at most
/// [`CHUNK`] bytes of the file as the writer publishes them, at nice 19 until
/// the file is complete (see [`digests_behind`]); returns the length.
fn follow(
    progress: &Progress,
    mut chunk: impl FnMut(u64, usize, bool) -> io::Result<()>,
) -> io::Result<u64> {
    let priority = Background::enter();
    let mut pos = 0u64;
    loop {
        let (len, complete) = progress.wait_beyond(pos)?;
        if complete {
            priority.leave();
        }
        while pos < len {
            let want = usize::try_from(len - pos).map_or(CHUNK, |left| left.min(CHUNK));
            chunk(pos, want, complete)?;
            pos += want as u64;
        }
        if complete {
            return Ok(pos);
        }
    }
}

/// Starts writing `file` back to disk while it is being written: each time
/// another `every` bytes are published, their data is synced (on the calling
/// thread, so neither the writer nor the hashing waits). The final sync after
/// the last byte then has little left to do. Returns when the writer has
/// completed the file (an error if it abandons it, or a sync fails).
pub fn sync_behind(file: &File, progress: &Progress, every: u64) -> io::Result<()> {
    let mut synced = 0u64;
    loop {
        let (len, complete) = progress.wait_beyond(synced + every.max(1) - 1)?;
        if complete {
            return Ok(());
        }
        file.sync_data()?;
        synced = len;
    }
}

/// The calling thread's CPU priority lowered to nice 19, best effort.
struct Background {
    old: Option<i32>,
}

impl Background {
    fn enter() -> Self {
        let old = rustix::process::getpriority_process(None).ok();
        // On Linux the nice value of "this process" (pid 0) is the calling
        // thread's own: only this follower is lowered.
        let lowered = rustix::process::setpriority_process(None, 19).is_ok();
        Self {
            old: old.filter(|_| lowered),
        }
    }

    fn leave(&self) {
        if let Some(old) = self.old {
            let _ = rustix::process::setpriority_process(None, old);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_digests_behind_the_writer_are_the_digests_of_the_file() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let reader = tmp.reopen().unwrap();
        let progress = Progress::new();
        // Several chunks and a partial last one, written in pieces that
        // straddle the chunk boundaries.
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let digests = std::thread::scope(|s| {
            let follower = s.spawn(|| digests_behind(&reader, &progress));
            let mut w = Publishing::new(tmp.as_file(), &progress);
            for piece in data.chunks(300_001) {
                w.write_all(piece).unwrap();
                std::thread::yield_now();
            }
            w.complete();
            follower.join().unwrap().unwrap()
        });
        assert_eq!(digests, BundleDigests::of_bytes(&data));
    }

    #[test]
    fn an_abandoned_file_has_no_digests() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let reader = tmp.reopen().unwrap();
        let progress = Progress::new();
        let err = std::thread::scope(|s| {
            let follower = s.spawn(|| digests_behind(&reader, &progress));
            let mut w = Publishing::new(tmp.as_file(), &progress);
            w.write_all(b"partial").unwrap();
            drop(w);
            follower.join().unwrap().unwrap_err()
        });
        assert!(err.to_string().contains("not completed"), "{err}");
    }

    #[test]
    fn sync_behind_returns_when_the_file_is_complete_or_abandoned() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        for complete in [true, false] {
            let progress = Progress::new();
            let result = std::thread::scope(|s| {
                let syncer = s.spawn(|| sync_behind(tmp.as_file(), &progress, 1000));
                let mut w = Publishing::new(tmp.as_file(), &progress);
                for _ in 0..10 {
                    w.write_all(&[1u8; 700]).unwrap();
                }
                if complete {
                    w.complete();
                } else {
                    drop(w);
                }
                syncer.join().unwrap()
            });
            assert_eq!(result.is_ok(), complete, "{result:?}");
        }
    }
}
