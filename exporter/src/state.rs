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
