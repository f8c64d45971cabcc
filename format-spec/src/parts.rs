//! The part index of a snapshot in parts (SPEC.md §4.6, revision 1.4): one
//! `sha256sum` line per part file, in part-number order, each naming the
//! part under the one name the snapshot's source, sequence and the part's
//! number give it.

use crate::ids::{Sha256, SourceId};
use crate::layout;
use crate::{err, Result};

/// One line of a part index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedPart {
    /// The part number: 0 for the CA material part, then 1, 2, ….
    pub number: u32,
    /// The part file's name (no directory), as the index gives it.
    pub name: String,
    /// The part file's SHA-256.
    pub sha256: Sha256,
}

/// A parsed part index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartIndex {
    /// The snapshot's source, as the names give it.
    pub source: SourceId,
    /// The snapshot's sequence number, as the names give it.
    pub sequence: u64,
    /// The parts, in order.
    pub parts: Vec<IndexedPart>,
}

/// Whether a file to verify is a part index rather than a bundle file
/// (SPEC.md §8): it starts with 64 hex digits, of either case, and two
/// spaces. Everything else is read as a bundle file, so a damaged zip is
/// still named as one (`zip-structure`).
pub fn is_part_index(bytes: &[u8]) -> bool {
    bytes.len() >= 66 && bytes[..64].iter().all(u8::is_ascii_hexdigit) && &bytes[64..66] == b"  "
}

/// Reads `certferry-<source>-<sequence>.part<NNNN>.zip` into its three parts.
fn parse_name(name: &str) -> Option<(SourceId, u64, u32)> {
    let rest = name.strip_prefix("certferry-")?.strip_suffix(".zip")?;
    let (rest, number) = rest.rsplit_once(".part")?;
    let (source, sequence) = rest.rsplit_once('-')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if number.len() != 4 || !all_digits(number) || !all_digits(sequence) {
        return None;
    }
    Some((
        SourceId::parse(source).ok()?,
        sequence.parse().ok()?,
        number.parse().ok()?,
    ))
}

impl PartIndex {
    /// Parses a part index (SPEC.md §4.6). `claimed` is the source and
    /// sequence of the verified trusted comments, when any counted; the names
    /// must carry them. Every failure is `part-index`.
    pub fn parse(text: &[u8], claimed: Option<(&SourceId, u64)>) -> Result<Self> {
        let Some(body) = text.strip_suffix(b"\n") else {
            return Err(err!(
                PartIndex,
                "part index: empty, or its last line does not end with LF"
            ));
        };
        let mut parts: Vec<IndexedPart> = Vec::new();
        let mut snapshot: Option<(SourceId, u64)> = claimed.map(|(s, n)| (s.clone(), n));
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            let n = i + 1;
            let bad = |why: String| err!(PartIndex, "part index line {n}: {why}");
            if line.len() < 67 || &line[64..66] != b"  " {
                return Err(bad(
                    "expected 64 hex digits, two spaces and a part file name".into(),
                ));
            }
            let hex = std::str::from_utf8(&line[..64])
                .ok()
                .and_then(Sha256::parse_hex)
                .ok_or_else(|| bad("the SHA-256 is not 64 lowercase hex digits".into()))?;
            let name = std::str::from_utf8(&line[66..])
                .map_err(|_| bad("the name is not UTF-8".into()))?;
            let (source, sequence, number) = parse_name(name).ok_or_else(|| {
                bad(format!(
                    "{name:?} is not a part file name (certferry-<source>-<sequence>.partNNNN.zip)"
                ))
            })?;
            let (want_source, want_sequence) =
                snapshot.get_or_insert_with(|| (source.clone(), sequence));
            if source != *want_source || sequence != *want_sequence {
                return Err(bad(format!(
                    "{name} belongs to source {source} sequence {sequence}, the snapshot is source {want_source} sequence {want_sequence}"
                )));
            }
            let want_number = match parts.last() {
                Some(last) => last.number + 1,
                None if number == 0 => 0,
                None => 1,
            };
            if number != want_number || number > layout::MAX_PART {
                return Err(bad(format!(
                    "{name} is part {number}; the next part must be {want_number} (parts run 0 or 1, 2, … up to {}, in order, without a gap)",
                    layout::MAX_PART
                )));
            }
            if name != layout::part_file_name(&source, sequence, number) {
                return Err(bad(format!(
                    "{name} is not written in the one form of its name"
                )));
            }
            parts.push(IndexedPart {
                number,
                name: name.to_owned(),
                sha256: hex,
            });
        }
        if parts.len() < 2 {
            return Err(err!(
                PartIndex,
                "the part index names one part: a snapshot that fits in one file is a bundle file"
            ));
        }
        let (source, sequence) = snapshot.ok_or_else(|| err!(PartIndex, "part index is empty"))?;
        Ok(Self {
            source,
            sequence,
            parts,
        })
    }

    /// The index's text: one `sha256sum` line per part, in order.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.len() * 120);
        for p in &self.parts {
            layout::manifest_line(&mut out, &p.sha256, &p.name);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn index(numbers: &[u32]) -> Vec<u8> {
        let source = SourceId::parse("contoso-ad").unwrap();
        PartIndex {
            source: source.clone(),
            sequence: 42,
            parts: numbers
                .iter()
                .map(|&n| IndexedPart {
                    number: n,
                    name: layout::part_file_name(&source, 42, n),
                    sha256: Sha256::digest(&n.to_le_bytes()),
                })
                .collect(),
        }
        .render()
    }

    #[test]
    fn an_index_renders_and_parses_back() {
        for numbers in [&[1, 2][..], &[0, 1], &[0, 1, 2, 3]] {
            let text = index(numbers);
            let parsed = PartIndex::parse(&text, None).unwrap();
            assert_eq!(parsed.render(), text);
            assert_eq!(parsed.sequence, 42);
            let got: Vec<u32> = parsed.parts.iter().map(|p| p.number).collect();
            assert_eq!(got, numbers);
        }
    }

    #[test]
    fn gaps_reordering_single_parts_and_a_part_zero_later_are_part_index_errors() {
        for numbers in [
            &[1][..],
            &[0],
            &[2, 3],
            &[1, 3],
            &[2, 1],
            &[1, 0],
            &[0, 0, 1],
        ] {
            let e = PartIndex::parse(&index(numbers), None).unwrap_err();
            assert_eq!(e.class(), crate::ErrorClass::PartIndex, "{numbers:?}: {e}");
        }
    }

    #[test]
    fn names_must_carry_the_signed_source_and_sequence() {
        let other = SourceId::parse("fabrikam").unwrap();
        let e = PartIndex::parse(&index(&[1, 2]), Some((&other, 42))).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::PartIndex, "{e}");
        let source = SourceId::parse("contoso-ad").unwrap();
        let e = PartIndex::parse(&index(&[1, 2]), Some((&source, 43))).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::PartIndex, "{e}");
        PartIndex::parse(&index(&[1, 2]), Some((&source, 42))).unwrap();
    }

    #[test]
    fn a_name_with_a_directory_or_another_form_is_refused() {
        let text = String::from_utf8(index(&[1, 2])).unwrap();
        for (from, to) in [
            (
                "certferry-contoso-ad-0000000042.part0002.zip",
                "../certferry-contoso-ad-0000000042.part0002.zip",
            ),
            (
                "certferry-contoso-ad-0000000042.part0002.zip",
                "certferry-contoso-ad-42.part0002.zip",
            ),
            (
                "certferry-contoso-ad-0000000042.part0002.zip",
                "certferry-contoso-ad-0000000042.part02.zip",
            ),
            (
                "certferry-contoso-ad-0000000042.part0002.zip",
                "certferry-contoso-ad-0000000042.part0002.ZIP",
            ),
            (
                "  certferry-contoso-ad-0000000042.part0002",
                " *certferry-contoso-ad-0000000042.part0002",
            ),
            ("\n", "\r\n"),
        ] {
            let bad = text.replacen(from, to, 1);
            let e = PartIndex::parse(bad.as_bytes(), None).unwrap_err();
            assert_eq!(e.class(), crate::ErrorClass::PartIndex, "{to:?}: {e}");
        }
        let upper = text
            .to_uppercase()
            .replace("CERTFERRY-CONTOSO-AD", "certferry-contoso-ad")
            .replace(".PART", ".part")
            .replace(".ZIP", ".zip");
        assert!(PartIndex::parse(upper.as_bytes(), None).is_err());
        assert!(PartIndex::parse(text.trim_end().as_bytes(), None).is_err());
    }
}
