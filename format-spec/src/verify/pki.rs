//! Step 8.6 of SPEC.md §8: the CA material a bundle carries (revision 1.3).
//! Each line of `data/pki.jsonl` is canonical and well formed, the lines name
//! the CA material files in order, each exactly once, and each file is within
//! its limit, holds no private key material and is what its line says.

use std::ops::Range;

use super::bag::PkiContents;
use super::header::parse_canonical;
use crate::layout;
use crate::limits::Limits;
use crate::pki::{describe_pki, PkiDescription, PkiRecord};
use crate::{err, Result};

/// One CA material object, checked: its record and where its bytes lie.
#[derive(Debug, Clone)]
pub(super) struct StoredPki {
    pub(super) record: PkiRecord,
    pub(super) range: Range<usize>,
}

/// Step 8.6, in its order: lines (size, canonical form, grammar), file
/// references, then each file (size, private key material, description).
pub(super) fn check_pki(
    bytes: &[u8],
    pki: &PkiContents<'_>,
    limits: &Limits,
) -> Result<Vec<StoredPki>> {
    let text = pki.jsonl;
    let mut records = Vec::new();
    let mut start = 0usize;
    while start < text.len() {
        let n = records.len() + 1;
        let Some(len) = text[start..].iter().position(|&b| b == b'\n') else {
            return Err(err!(Content, "pki.jsonl: line {n} does not end with LF"));
        };
        if len as u64 + 1 > limits.max_pki_line_bytes {
            return Err(err!(
                SizeLimit,
                "pki.jsonl line {n}: {} bytes with its LF, the limit is {}",
                len + 1,
                limits.max_pki_line_bytes
            ));
        }
        if n as u64 > limits.max_pki_objects {
            return Err(err!(
                SizeLimit,
                "more than {} CA material objects",
                limits.max_pki_objects
            ));
        }
        let line = &text[start..start + len + 1];
        let record: PkiRecord = parse_canonical(line, || format!("pki.jsonl line {n}"))?;
        record
            .check_grammar()
            .map_err(|e| err!(Content, "pki.jsonl line {n}: {}", e.message()))?;
        records.push(record);
        start += len + 1;
    }
    for (i, record) in records.iter().enumerate() {
        let want = layout::pki_file_name(i as u64 + 1);
        if record.file != want {
            return Err(err!(
                FileSet,
                "pki.jsonl line {}: names {:?}, but the next CA material file is {want} (each is named once, in order)",
                i + 1,
                record.file
            ));
        }
    }
    if records.len() != pki.files.len() {
        return Err(err!(
            FileSet,
            "pki.jsonl names {} CA material files, the bundle holds {}",
            records.len(),
            pki.files.len()
        ));
    }
    let mut out = Vec::with_capacity(records.len());
    for (record, range) in records.into_iter().zip(&pki.files) {
        let raw = &bytes[range.clone()];
        if raw.len() as u64 > limits.max_pki_value_bytes {
            return Err(err!(
                SizeLimit,
                "{}: {} bytes, the limit is {}",
                record.file,
                raw.len(),
                limits.max_pki_value_bytes
            ));
        }
        if let Some(what) = crate::cert::find_private_key_material(raw) {
            return Err(err!(
                PrivateKey,
                "{} ({}): holds private key material ({what})",
                record.file,
                record.location
            ));
        }
        let found: PkiDescription = describe_pki(raw);
        if !record.describes(&found) {
            return Err(err!(
                Content,
                "{} ({}): its pki.jsonl line differs from what the bytes give (recorded {}, found {}; SPEC.md §6.7)",
                record.file,
                record.location,
                record.kind.as_str(),
                found.kind.as_str()
            ));
        }
        out.push(StoredPki {
            record,
            range: range.clone(),
        });
    }
    Ok(out)
}
