//! Hashing the bundle file while it is being written.
//!
//! The bundle writer only ever appends, and every byte it hands to the file is
//! final (certferry-format's zip writer never seeks back). So the two file
//! digests the signature and the export state need can be computed by threads
//! that read the file behind the writer, instead of reading it all back after
//! the last byte: [`Publishing`] wraps the file for the writer and tells a
//! [`Progress`] how far the file is written; [`follow`] reads up to there,
//! waits for more, and returns once the writer has completed.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt as _;
use std::sync::{Condvar, Mutex, PoisonError};

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

/// Feeds `hash` every byte of `file` in order, reading each as soon as the
/// writer has published it, until the writer completes the file; returns the
/// number of bytes hashed. Fails if the file is abandoned or cannot be read.
///
/// While the writer is still going, the calling thread runs at the lowest CPU
/// priority (nice 19): the export pipeline and the directory server keep the
/// machine busy, and hashing should use the CPU time they leave idle rather
/// than take time from them. Once the file is complete the follower is what
/// the export waits for, so it asks for its old priority back (allowed for
/// root, or up to `RLIMIT_NICE`; otherwise it stays at nice 19, which only
/// matters on a machine busy with other work).
pub fn follow(file: &File, progress: &Progress, mut hash: impl FnMut(&[u8])) -> io::Result<u64> {
    let priority = Background::enter();
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    loop {
        let (len, complete) = progress.wait_beyond(pos)?;
        if complete {
            priority.leave();
        }
        while pos < len {
            let want = usize::try_from(len - pos).map_or(CHUNK, |left| left.min(CHUNK));
            file.read_exact_at(&mut buf[..want], pos)?;
            hash(&buf[..want]);
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
/// completed or abandoned the file.
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
    fn a_follower_hashes_exactly_what_the_writer_wrote() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let reader = tmp.reopen().unwrap();
        let progress = Progress::new();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let seen = std::thread::scope(|s| {
            let follower = s.spawn(|| {
                let mut seen = Vec::new();
                follow(&reader, &progress, |b| seen.extend_from_slice(b)).map(|n| (n, seen))
            });
            let mut w = Publishing::new(tmp.as_file(), &progress);
            for piece in data.chunks(300_001) {
                w.write_all(piece).unwrap();
                std::thread::yield_now();
            }
            w.complete();
            follower.join().unwrap().unwrap()
        });
        assert_eq!(seen.0, data.len() as u64);
        assert!(seen.1 == data, "the follower read other bytes");
    }

    #[test]
    fn an_abandoned_file_fails_its_follower() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let reader = tmp.reopen().unwrap();
        let progress = Progress::new();
        let err = std::thread::scope(|s| {
            let follower = s.spawn(|| follow(&reader, &progress, |_| {}));
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
