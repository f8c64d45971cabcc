//! The export-side state: per source, the last bundle written (sequence,
//! SHA-256, creation time), so the next bundle gets the next sequence number
//! and chains to the previous one. One small JSON file, replaced atomically.

use std::path::{Path, PathBuf};

use certferry_format::{Sha256, Timestamp};
use serde::{Deserialize, Serialize};

use crate::output::write_atomically;

/// The last bundle written for a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportState {
    /// The source id.
    pub source: String,
    /// Sequence number of the last bundle written.
    pub sequence: u64,
    /// SHA-256 of that bundle file.
    pub sha256: Sha256,
    /// Its creation time.
    pub created: Timestamp,
    /// Its file name.
    pub bundle: String,
    /// Its number of entries (absent in state files from before 0.2: the
    /// shrink guard then has nothing to compare with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Its number of usable certificates (as `entries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable_certificates: Option<u64>,
}

impl ExportState {
    /// The counts the shrink guard compares with, when recorded.
    pub fn counts(&self) -> Option<crate::guard::Counts> {
        Some(crate::guard::Counts {
            entries: self.entries?,
            usable: self.usable_certificates?,
        })
    }
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("export state {path}: {message}")]
pub struct StateError {
    /// The state file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The default state file for a source: `$XDG_STATE_HOME/certferry/export-<source>.json`
/// (or `~/.local/state/...`).
pub fn default_path(source: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("certferry").join(format!("export-{source}.json")))
}

/// Reads the state; `Ok(None)` when the file does not exist yet.
pub fn load(path: &Path, source: &str) -> Result<Option<ExportState>, StateError> {
    let err = |message: String| StateError {
        path: path.to_owned(),
        message,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let state: ExportState =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("not a valid state file: {e}")))?;
    if state.source != source {
        return Err(err(format!(
            "belongs to source {:?}, not {source:?}: use a separate state file per source",
            state.source
        )));
    }
    Ok(Some(state))
}

/// Fails early when the state file's folder cannot be written, so that an
/// export is not spent on a bundle whose state could not be saved.
pub fn check_writable(path: &Path) -> Result<(), StateError> {
    let err = |message: String| StateError {
        path: path.to_owned(),
        message,
    };
    let dir = crate::output::parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create its folder: {e}")))?;
    tempfile::Builder::new()
        .prefix(".certferry-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| err(format!("its folder cannot be written: {e}")))
}

/// Replaces the state file atomically (temp file, fsync, rename, fsync dir).
pub fn save(path: &Path, state: &ExportState) -> Result<(), StateError> {
    let err = |message: String| StateError {
        path: path.to_owned(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let mut json = serde_json::to_vec_pretty(state).map_err(|e| err(e.to_string()))?;
    json.push(b'\n');
    write_atomically(path, &json).map_err(|e| err(e.to_string()))
}
