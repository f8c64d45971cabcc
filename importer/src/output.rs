//! Crash-safe output (the same rules as the exporter's): write to a temp file in the destination directory,
//! fsync, rename into place, fsync the directory. A temp file that is
//! dropped (error, Ctrl-C) is deleted, so no partial output is left behind.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Writes `data` to `path` atomically, replacing any existing file.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".certferry-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Writes `data` to a new file `path` crash-safely, refusing to replace an
/// existing file (`AlreadyExists`).
pub fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".certferry-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(dir)
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
