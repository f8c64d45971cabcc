//! Step 8.1 of SPEC.md §8 (`bundle.json`) and the canonical JSON and text
//! rules that every JSON member of a bundle follows.

use crate::canonical_json::CanonicalJson;
use crate::layout;
use crate::model::{BundleHeader, FORMAT_NAME, FORMAT_VERSION};
use crate::{err, Result};

/// Parses canonical JSON: the bytes must equal the re-serialisation of the value plus LF.
/// `what` names the text in messages.
pub(super) fn parse_canonical<T: serde::de::DeserializeOwned + CanonicalJson>(
    line: &[u8],
    what: impl Fn() -> String,
) -> Result<T> {
    let value: T = serde_json::from_slice(line).map_err(|e| err!(Content, "{}: {e}", what()))?;
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    // Re-serialise into this thread's scratch buffer and compare once.
    let canonical = CANONICAL.with_borrow_mut(|buf| {
        buf.clear();
        value.write_json(buf);
        buf.as_slice() == body
    });
    if !canonical || body.len() == line.len() {
        return Err(err!(
            Content,
            "{} is not in canonical form (SPEC.md §5.2)",
            what()
        ));
    }
    Ok(value)
}

thread_local! {
    /// Scratch space for [`parse_canonical`]'s re-serialisation.
    static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) fn parse_header(bytes: &[u8]) -> Result<BundleHeader> {
    // Look at the version first so that a future version is named as such.
    #[derive(serde::Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| err!(Content, "bundle.json: {e}"))?;
    if probe.format.as_ref().and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(err!(Content, "bundle.json: format is not {FORMAT_NAME:?}"));
    }
    match probe.version.as_ref().and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(err!(
                UnsupportedVersion,
                "bundle format version {v}; this verifier knows only {FORMAT_VERSION}"
            ))
        }
        None => {
            return Err(err!(
                Content,
                "bundle.json: version is missing or not a number"
            ))
        }
    }
    let header: BundleHeader = parse_canonical(bytes, || "bundle.json".to_owned())?;
    layout::check_software_token(&header.exporter.name, "exporter name")?;
    layout::check_software_token(&header.exporter.version, "exporter version")?;
    check_text(&header.source_description, || {
        "bundle.json source_description".to_owned()
    })?;
    if header.sequence == 0 || header.sequence > i64::MAX as u64 {
        return Err(err!(
            Content,
            "bundle.json: sequence {} is out of range",
            header.sequence
        ));
    }
    if header.expires <= header.created {
        return Err(err!(Content, "bundle.json: expires is not after created"));
    }
    if let Some(part) = header.part {
        if part > layout::MAX_PART {
            return Err(err!(
                Content,
                "bundle.json: part {part} is out of range (0 to {})",
                layout::MAX_PART
            ));
        }
    }
    Ok(header)
}

/// Text fields hold no control characters (C0, DEL, C1): a display name must
/// not be able to move a reviewer's cursor or hide a line.
pub(super) fn check_text(s: &str, what: impl FnOnce() -> String) -> Result<()> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(err!(
            Content,
            "{} contains control character U+{:04X}",
            what(),
            u32::from(c)
        )),
        None => Ok(()),
    }
}
