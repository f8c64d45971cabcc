//! The files of a bundle, their names and order, and the BagIt tag files
//! (SPEC.md §4.3 and §5.1). Pure text in, text out.

use crate::ids::Sha256;
use crate::model::BundleHeader;
use crate::{err, Result};

/// `bagit.txt`, the BagIt declaration (RFC 8493 §2.1.1).
pub const BAGIT_TXT: &str = "bagit.txt";
/// `bag-info.txt`, the bag metadata.
pub const BAG_INFO_TXT: &str = "bag-info.txt";
/// The payload manifest.
pub const MANIFEST: &str = "manifest-sha256.txt";
/// The tag manifest.
pub const TAG_MANIFEST: &str = "tagmanifest-sha256.txt";
/// The bundle header.
pub const BUNDLE_JSON: &str = "data/bundle.json";
/// The entries, one JSON object per line.
pub const ENTRIES_JSONL: &str = "data/entries.jsonl";
/// The review table.
pub const REVIEW_CSV: &str = "data/review.csv";
/// Prefix of the raw attribute value files.
pub const VALUES_DIR: &str = "data/values/";
/// The CA material's descriptions, one JSON object per line (revision 1.3).
pub const PKI_JSONL: &str = "data/pki.jsonl";
/// Prefix of the raw CA material files (revision 1.3).
pub const PKI_DIR: &str = "data/pki/";

/// The exact content of `bagit.txt`.
pub const BAGIT_CONTENT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// Most values one bundle can hold: value file numbers have 8 digits.
pub const MAX_VALUES: u64 = 99_999_999;

/// The highest part number of a snapshot in parts (SPEC.md §4.6).
pub const MAX_PART: u32 = 9_999;

/// The name of part `n` of a snapshot in parts (SPEC.md §4.6).
pub fn part_file_name(source: &crate::SourceId, sequence: u64, n: u32) -> String {
    format!("certferry-{source}-{sequence:010}.part{n:04}.zip")
}

/// The most part files one part index may name for a snapshot of `source`
/// and `sequence` (SPEC.md §4.6 and §9): the index holds one line per part
/// file, as long as the part's name makes it, within `max_index_bytes`; and
/// the four-digit part numbers allow part 0 and parts 1 to 9,999 at most.
/// Long names make the index the tighter bound: 9,446 files for
/// `contoso-ad` and a 10-digit sequence, 6,026 for a 64-byte source id and
/// a 19-digit sequence, at the default limit of 1 MiB.
pub fn most_part_files(source: &crate::SourceId, sequence: u64, max_index_bytes: u64) -> u32 {
    // 64 hex digits, two spaces, the name and LF.
    let line = 64 + 2 + part_file_name(source, sequence, 0).len() as u64 + 1;
    u32::try_from(max_index_bytes / line)
        .unwrap_or(u32::MAX)
        .min(MAX_PART + 1)
}

/// The conventional name of a part index (SPEC.md §4.6).
pub fn part_index_name(source: &crate::SourceId, sequence: u64) -> String {
    format!("certferry-{source}-{sequence:010}.sha256")
}

/// The name of the `n`th value file (1-based): `data/values/00000001.bin`.
pub fn value_file_name(n: u64) -> String {
    format!("{VALUES_DIR}{n:08}.bin")
}

/// The name of the `n`th CA material file (1-based): `data/pki/00000001.bin`.
pub fn pki_file_name(n: u64) -> String {
    format!("{PKI_DIR}{n:08}.bin")
}

/// The member names of a bundle with `values` value files and no CA
/// material, in canonical order.
pub fn member_names(values: u64) -> impl Iterator<Item = String> {
    bundle_members(values, None)
}

/// The member names of a bundle with `values` value files and, when it
/// carries CA material (`pki` is `Some`), that many CA material files and
/// `data/pki.jsonl`, in canonical order (SPEC.md §4.1).
pub fn bundle_members(values: u64, pki: Option<u64>) -> impl Iterator<Item = String> {
    std::iter::once(BAGIT_TXT.to_owned())
        .chain((1..=values).map(value_file_name))
        .chain((1..=pki.unwrap_or(0)).map(pki_file_name))
        .chain(
            [ENTRIES_JSONL, REVIEW_CSV]
                .into_iter()
                .chain(pki.map(|_| PKI_JSONL))
                .chain([BUNDLE_JSON, MANIFEST, BAG_INFO_TXT, TAG_MANIFEST])
                .map(str::to_owned),
        )
}

/// The number of a value file (`data/values/NNNNNNNN.bin`) or CA material
/// file (`data/pki/NNNNNNNN.bin`) named `name` under `dir`, if it is one.
pub fn numbered_file(name: &str, dir: &str) -> Option<u64> {
    let num = name.strip_prefix(dir)?.strip_suffix(".bin")?;
    (num.len() == 8 && num.bytes().all(|b| b.is_ascii_digit()) && num != "00000000")
        .then(|| num.parse().ok())
        .flatten()
}

/// Whether `name` is one of the member names v1 can ever contain (SPEC.md §4.2).
/// Anything else (`..`, absolute paths, `\`, directories, other files) is refused.
pub fn is_allowed_name(name: &str) -> bool {
    if numbered_file(name, VALUES_DIR).is_some() || numbered_file(name, PKI_DIR).is_some() {
        return true;
    }
    [
        BAGIT_TXT,
        BAG_INFO_TXT,
        MANIFEST,
        TAG_MANIFEST,
        BUNDLE_JSON,
        ENTRIES_JSONL,
        REVIEW_CSV,
        PKI_JSONL,
    ]
    .contains(&name)
}

/// One manifest line: `<64 lowercase hex>␣␣<path>\n` (valid for BagIt and `sha256sum -c`).
pub fn manifest_line(out: &mut Vec<u8>, digest: &Sha256, path: &str) {
    out.extend_from_slice(digest.to_hex().as_bytes());
    out.extend_from_slice(b"  ");
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
}

/// Parses a manifest strictly: every line `<hex>␣␣<path>\n`, nothing else.
/// `class` selects the error class (manifest or tag manifest).
pub fn parse_manifest(
    text: &[u8],
    file: &str,
    class: crate::ErrorClass,
) -> Result<Vec<(Sha256, String)>> {
    let bad =
        |line: usize, why: &str| crate::Error::new(class, format!("{file} line {line}: {why}"));
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix(b"\n") else {
        return Err(bad(
            text.split(|&b| b == b'\n').count(),
            "last line does not end with LF",
        ));
    };
    let mut out = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if line.len() < 67 || &line[64..66] != b"  " {
            return Err(bad(n, "expected 64 hex digits, two spaces and a path"));
        }
        let hex = std::str::from_utf8(&line[..64]).map_err(|_| bad(n, "digest is not ASCII"))?;
        let digest = Sha256::parse_hex(hex)
            .ok_or_else(|| bad(n, "digest is not 64 lowercase hex digits"))?;
        let path = std::str::from_utf8(&line[66..]).map_err(|_| bad(n, "path is not UTF-8"))?;
        if !is_allowed_name(path) {
            return Err(bad(
                n,
                &format!("path {path:?} is not a name a bundle may hold"),
            ));
        }
        out.push((digest, path.to_owned()));
    }
    Ok(out)
}

/// The exact content of `bag-info.txt` for a header and payload totals.
pub fn bag_info(header: &BundleHeader, payload_bytes: u64, payload_files: u64) -> String {
    format!(
        "Bag-Software-Agent: {} {}\nBagging-Date: {}\nExternal-Identifier: {}/{}\nPayload-Oxum: {}.{}\n",
        header.exporter.name,
        header.exporter.version,
        header.created.date_string(),
        header.source,
        header.sequence,
        payload_bytes,
        payload_files
    )
}

/// Checks a software name or version: `[A-Za-z0-9._+-]{1,64}`.
pub fn check_software_token(s: &str, what: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(err!(
            Content,
            "{what} {s:?} must be 1-64 characters of [A-Za-z0-9._+-]"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The index a snapshot of `files` part files (part 0 first) renders.
    fn index_bytes(source: &crate::SourceId, sequence: u64, files: u32) -> usize {
        crate::parts::PartIndex {
            source: source.clone(),
            sequence,
            parts: (0..files)
                .map(|n| crate::parts::IndexedPart {
                    number: n,
                    name: part_file_name(source, sequence, n),
                    sha256: Sha256::digest(&n.to_le_bytes()),
                })
                .collect(),
        }
        .render()
        .len()
    }

    #[test]
    fn the_most_part_files_is_the_last_count_whose_index_fits_its_limit() {
        let limit = crate::Limits::default().max_part_index_bytes;
        let long = "s".repeat(64);
        for (source, sequence, want) in [
            ("contoso-ad", 1, 9_446),
            (long.as_str(), i64::MAX as u64, 6_026),
            (long.as_str(), 1, 6_355),
        ] {
            let source = crate::SourceId::parse(source).unwrap();
            let most = most_part_files(&source, sequence, limit);
            assert_eq!(most, want, "{source} {sequence}");
            assert!(index_bytes(&source, sequence, most) as u64 <= limit);
            assert!(index_bytes(&source, sequence, most + 1) as u64 > limit);
        }
    }

    #[test]
    fn short_names_leave_the_part_numbers_as_the_bound() {
        let a = crate::SourceId::parse("a").unwrap();
        let limit = crate::Limits::default().max_part_index_bytes;
        assert_eq!(most_part_files(&a, 1, limit), MAX_PART + 1);
        assert!(index_bytes(&a, 1, MAX_PART + 1) as u64 <= limit);
    }

    #[test]
    fn names_follow_the_whitelist_grammar() {
        for ok in [
            "bagit.txt",
            "data/values/00000001.bin",
            "data/values/99999999.bin",
            "data/entries.jsonl",
            "data/pki.jsonl",
            "data/pki/00000001.bin",
        ] {
            assert!(is_allowed_name(ok), "{ok}");
        }
        for bad in [
            "../bagit.txt",
            "/bagit.txt",
            "data\\bundle.json",
            "data/",
            "data/values/00000000.bin",
            "data/values/0000001.bin",
            "data/values/000000001.bin",
            "data/values/0000000a.bin",
            "DATA/bundle.json",
            "c:/x",
            "data/values/00000001.bin/",
            "data/./bundle.json",
            "data/pki/00000000.bin",
            "data/pki/",
            "data/pki.json",
        ] {
            assert!(!is_allowed_name(bad), "{bad}");
        }
    }

    #[test]
    fn canonical_member_order() {
        let names: Vec<String> = member_names(2).collect();
        assert_eq!(
            names,
            [
                "bagit.txt",
                "data/values/00000001.bin",
                "data/values/00000002.bin",
                "data/entries.jsonl",
                "data/review.csv",
                "data/bundle.json",
                "manifest-sha256.txt",
                "bag-info.txt",
                "tagmanifest-sha256.txt"
            ]
        );
    }

    #[test]
    fn ca_material_sits_between_the_values_and_the_entries_and_before_the_header() {
        let names: Vec<String> = bundle_members(1, Some(2)).collect();
        assert_eq!(
            names,
            [
                "bagit.txt",
                "data/values/00000001.bin",
                "data/pki/00000001.bin",
                "data/pki/00000002.bin",
                "data/entries.jsonl",
                "data/review.csv",
                "data/pki.jsonl",
                "data/bundle.json",
                "manifest-sha256.txt",
                "bag-info.txt",
                "tagmanifest-sha256.txt"
            ]
        );
        let empty: Vec<String> = bundle_members(0, Some(0)).collect();
        assert!(empty.contains(&PKI_JSONL.to_owned()));
        assert!(!member_names(0).any(|n| n == PKI_JSONL));
    }

    #[test]
    fn manifest_parser_rejects_non_canonical_text() {
        let d = Sha256::digest(b"x").to_hex();
        let good = format!("{d}  data/bundle.json\n");
        assert_eq!(
            parse_manifest(good.as_bytes(), "m", crate::ErrorClass::Manifest)
                .unwrap()
                .len(),
            1
        );
        for bad in [
            format!("{d}  data/bundle.json"),
            format!("{d}  data/bundle.json\r\n"),
            format!("{d} data/bundle.json\n"),
            format!("{d}  data/bundle.json \n"),
            format!("{}  data/bundle.json\n", d.to_uppercase()),
            format!("\u{feff}{d}  data/bundle.json\n"),
            format!("{d}  ../etc/passwd\n"),
            format!("{d}  data/bundle.json\n\n"),
        ] {
            assert!(
                parse_manifest(bad.as_bytes(), "m", crate::ErrorClass::Manifest).is_err(),
                "{bad:?}"
            );
        }
    }
}
