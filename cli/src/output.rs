//! Crash-safe output, the same for both programs: write to a temp file in the
//! destination directory,
//! fsync, rename into place, fsync the directory. A temp file that is
//! dropped (error, Ctrl-C) is deleted, so no partial output is left behind.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffixes of the temp files an export writes into the output directory.
/// Each is locked (`flock`) while its writer lives, so a leftover one (after
/// SIGKILL or a power cut) is one that can be locked.
const TEMP_SUFFIXES: [&str; 2] = [".zip.tmp", ".minisig.tmp"];

/// Makes an output temp file in `dir` and locks it for the life of the process.
pub fn locked_temp(dir: &Path, suffix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(".certferry-")
        .suffix(suffix)
        .tempfile_in(dir)?;
    tmp.as_file().try_lock().map_err(std::io::Error::other)?;
    Ok(tmp)
}

/// Removes the temp files that an export killed without a chance to clean
/// up (SIGKILL, power cut) left in `dir`: those whose lock is free. A temp
/// file that another export running now holds is left alone. Returns what was
/// removed (path and size); a file that cannot be removed is returned with
/// the error so that the caller can say so.
pub fn remove_leftovers(dir: &Path) -> Vec<(PathBuf, std::io::Result<u64>)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in read.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(".certferry-") || !TEMP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // a live export's
        }
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        found.push((path.clone(), std::fs::remove_file(&path).map(|()| size)));
    }
    found
}

/// Writes `data` to `path` atomically, replacing any existing file.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut out = AtomicFile::create(path)?;
    out.write_all(data)?;
    out.commit()
}

/// A file written piece by piece into a temp file beside `path`, which
/// [`AtomicFile::commit`] fsyncs and renames over `path` (replacing any
/// existing file). Dropped without a commit (an error, Ctrl-C), the temp
/// file is deleted and `path` is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    out: std::io::BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix(".certferry-")
            .suffix(".tmp")
            .tempfile_in(parent_dir(path))?;
        Ok(Self {
            out: std::io::BufWriter::with_capacity(1 << 16, tmp),
            path: path.to_path_buf(),
        })
    }

    /// Puts the file in place: flush, fsync, rename, fsync the directory.
    pub fn commit(self) -> std::io::Result<()> {
        let tmp = self.out.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        sync_dir(parent_dir(&self.path))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Writes `data` to a new file `path` crash-safely, refusing to replace an
/// existing file (`AlreadyExists`).
pub fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    persist_new(filled_temp(path, data)?, path).map(drop)
}

/// A temp file beside `path` holding `data` (not yet synced).
fn filled_temp(path: &Path, data: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".certferry-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(path))?;
    tmp.write_all(data)?;
    Ok(tmp)
}

/// Moves a finished temp file to `path`, refusing to replace an existing file.
pub fn persist_new(tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<File> {
    tmp.as_file().sync_all()?;
    let file = tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(parent_dir(path))?;
    Ok(file)
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
