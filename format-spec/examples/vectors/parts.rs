//! The vectors of snapshots in parts (SPEC.md §4.6, revision 1.4): a part
//! index signed in the bundle file's place, the part files beside it, and
//! every way a part can be missing, extra, out of order, substituted or of
//! another snapshot.

use std::path::Path;

use certferry_format::parts::{IndexedPart, PartIndex};
use certferry_format::{layout, Revision, Sha256, SourceId};

use super::{
    build_bundle_people, build_part, pki, ts, Gen, Person, PkiInput, Previous, Res, SEQ, SOURCE,
};

/// The part files of a snapshot, by number, and its index.
struct Snapshot {
    parts: Vec<(u32, Vec<u8>)>,
}

impl Snapshot {
    fn name(n: u32) -> String {
        let source = SourceId::parse(SOURCE).expect("the vectors' source id");
        layout::part_file_name(&source, SEQ, n)
    }

    /// The index naming the parts, in the order given, with their hashes.
    fn index(&self) -> Vec<u8> {
        PartIndex {
            source: SourceId::parse(SOURCE).expect("the vectors' source id"),
            sequence: SEQ,
            parts: self
                .parts
                .iter()
                .map(|(n, bytes)| IndexedPart {
                    number: *n,
                    name: Self::name(*n),
                    sha256: Sha256::digest(bytes),
                })
                .collect(),
        }
        .render()
    }

    /// The part files under their names.
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.parts
            .iter()
            .map(|(n, bytes)| (Self::name(*n), bytes.clone()))
            .collect()
    }
}

/// Pushes a vector whose `bundle` is `index`, signed by the exporter, with
/// `files` beside it.
fn push(
    g: &mut Gen,
    name: &str,
    expect: &str,
    comment: &str,
    index: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
) {
    let v = g.push(name, expect, comment, index);
    v.parts = files;
}

pub(super) fn vectors(g: &mut Gen, root: &Path) -> Res<()> {
    let people = build_bundle_people(root)?;
    let (first, second): (Vec<Person<'_>>, Vec<Person<'_>>) = {
        let mut people = people.clone();
        let second = people.split_off(2);
        (people, second)
    };
    let material: Vec<PkiInput<'static>> = pki::material(root)?;
    let part = |people: &[Person<'_>], pki: Option<&[PkiInput<'_>]>, n: u32| {
        build_part(root, people.to_vec(), pki, Revision::V1_4, |d| {
            certferry_format::HeaderDraft { part: Some(n), ..d }
        })
    };
    let p1 = part(&first, None, 1)?;
    let p2 = part(&second, None, 2)?;
    let p0 = part(&[], Some(&material), 0)?;
    let two = Snapshot {
        parts: vec![(1, p1.clone()), (2, p2.clone())],
    };
    let with_ca = Snapshot {
        parts: vec![(0, p0.clone()), (1, p1.clone()), (2, p2.clone())],
    };

    // --- valid ---------------------------------------------------------------------
    push(
        g,
        "parts-valid-two",
        "success",
        "a snapshot in two parts (alice and bob, then heidi and the contact), the part index signed by the exporter",
        two.index(),
        two.files(),
    );
    push(
        g,
        "parts-valid-ca-material-part",
        "success",
        "part 0 holds the CA material and no entry, parts 1 and 2 the entries",
        with_ca.index(),
        with_ca.files(),
    );

    // --- the index ------------------------------------------------------------------
    {
        let text = String::from_utf8(two.index())?;
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(0, 1);
        push(
            g,
            "parts-index-reordered",
            "part-index",
            "the signed index lists part 2 before part 1",
            format!("{}\n", lines.join("\n")).into_bytes(),
            two.files(),
        );
    }
    {
        let gap = Snapshot {
            parts: vec![(1, p1.clone()), (3, p2.clone())],
        };
        push(
            g,
            "parts-index-gap",
            "part-index",
            "the index lists parts 1 and 3: a part number is missing",
            gap.index(),
            gap.files(),
        );
    }
    {
        let one = Snapshot {
            parts: vec![(1, p1.clone())],
        };
        push(
            g,
            "parts-index-one-part",
            "part-index",
            "an index of one part: a snapshot that fits in one file is a bundle file",
            one.index(),
            one.files(),
        );
    }
    for (name, from, to, comment) in [
        (
            "parts-index-other-source",
            "certferry-contoso-ad-0000000042.part0002.zip",
            "certferry-fabrikam-0000000042.part0002.zip",
            "a part name carries another source than the signed one",
        ),
        (
            "parts-index-path-in-name",
            "certferry-contoso-ad-0000000042.part0002.zip",
            "../certferry-contoso-ad-0000000042.part0002.zip",
            "a part name with a directory: a verifier opens no other path than the directory's own file",
        ),
        (
            "parts-index-uppercase-hex",
            "  certferry-contoso-ad-0000000042.part0001.zip",
            "  certferry-contoso-ad-0000000042.part0001.zip",
            "the index's first SHA-256 is in uppercase hex",
        ),
        (
            "parts-index-crlf",
            "zip\n",
            "zip\r\n",
            "the index's first line ends in CR LF",
        ),
    ] {
        let text = String::from_utf8(two.index())?;
        let bad = if name == "parts-index-uppercase-hex" {
            let (hex, rest) = text.split_at(64);
            format!("{}{rest}", hex.to_uppercase())
        } else {
            assert!(text.contains(from), "{from}");
            text.replacen(from, to, 1)
        };
        push(g, name, "part-index", comment, bad.into_bytes(), two.files());
    }
    {
        // Lines of the index's own form, up to one byte over the limit.
        let line = String::from_utf8(two.index())?
            .lines()
            .next()
            .map(|l| format!("{l}\n"))
            .expect("a line");
        let mut big = line.repeat(1024 * 1024 / line.len() + 1).into_bytes();
        big.truncate(1024 * 1024 + 1);
        push(
            g,
            "parts-index-over-the-limit",
            "size-limit",
            "a part index of 1 MiB + 1 bytes (§9), its first line in the index's form: refused before its signature is checked",
            big,
            Vec::new(),
        );
    }

    // --- the parts ------------------------------------------------------------------
    push(
        g,
        "parts-missing-part",
        "part-missing",
        "the index names parts 1 and 2; only part 1 lies beside it",
        two.index(),
        vec![(Snapshot::name(1), p1.clone())],
    );
    {
        let other = part(&second[..1], None, 2)?;
        let mut files = two.files();
        files[1].1 = other;
        push(
            g,
            "parts-substituted-part",
            "part-mismatch",
            "part 2 is replaced by another valid part 2 (heidi alone): its SHA-256 is not the index's",
            two.index(),
            files,
        );
    }
    {
        // Every part is checked completely before the next is looked for.
        let other = part(&first[..1], None, 1)?;
        push(
            g,
            "parts-substituted-part-before-a-missing-part",
            "part-mismatch",
            "part 1 is replaced by another valid part 1 (alice alone) and part 2 is missing: part 1 fails first",
            two.index(),
            vec![(Snapshot::name(1), other)],
        );
    }
    {
        let mut files = two.files();
        let (a, b) = (files[0].1.clone(), files[1].1.clone());
        files[0].1 = b;
        files[1].1 = a;
        push(
            g,
            "parts-files-swapped",
            "part-mismatch",
            "the two part files have each other's content",
            two.index(),
            files,
        );
    }
    let shaped = |label: &str, parts: Vec<(u32, Vec<u8>)>| (label.to_owned(), Snapshot { parts });
    for (expect, comment, (name, snapshot)) in [
        (
            "part-mismatch",
            "the second part of the index says in its bundle.json that it is part 3",
            shaped(
                "parts-part-number-differs",
                vec![(1, p1.clone()), (2, part(&second, None, 3)?)],
            ),
        ),
        (
            "part-mismatch",
            "part 2 was created at another time than part 1: it belongs to another snapshot",
            shaped(
                "parts-header-differs",
                vec![
                    (1, p1.clone()),
                    (
                        2,
                        build_part(root, second.clone(), None, Revision::V1_4, |d| {
                            certferry_format::HeaderDraft {
                                part: Some(2),
                                created: ts("2026-05-31T12:00:01Z"),
                                ..d
                            }
                        })?,
                    ),
                ],
            ),
        ),
        (
            "part-mismatch",
            "part 1 carries CA material: only part 0 may",
            shaped(
                "parts-ca-material-in-part-1",
                vec![(1, part(&first, Some(&material), 1)?), (2, p2.clone())],
            ),
        ),
        (
            "part-mismatch",
            "part 0 holds entries beside the CA material",
            shaped(
                "parts-entries-in-part-0",
                vec![(0, part(&first, Some(&material), 0)?), (1, p2.clone())],
            ),
        ),
        (
            "part-mismatch",
            "part 0 carries no CA material",
            shaped(
                "parts-part-0-without-ca-material",
                vec![(0, part(&[], None, 0)?), (1, p1.clone()), (2, p2.clone())],
            ),
        ),
    ] {
        push(
            g,
            &name,
            expect,
            comment,
            snapshot.index(),
            snapshot.files(),
        );
    }
    g.push(
        "parts-part-alone",
        "content",
        "part 1 signed and given as a whole snapshot: a part is never imported alone",
        p1.clone(),
    );

    // --- replay: the snapshot's identity is the index's SHA-256 -------------------------
    {
        let index = two.index();
        let v = g.push(
            "parts-replay-same-index",
            "replay",
            "the same snapshot (the same part index) was accepted before",
            index.clone(),
        );
        v.parts = two.files();
        v.previous = Some(Previous {
            sequence: SEQ,
            sha256: Sha256::digest(&index),
            created: ts(super::CREATED),
        });
        let v = g.push(
            "parts-fork-other-index",
            "fork",
            "sequence 42 was accepted with another SHA-256 than this part index's",
            index,
        );
        v.parts = two.files();
        v.previous = Some(Previous {
            sequence: SEQ,
            sha256: Sha256::digest(&p1),
            created: ts(super::CREATED),
        });
    }
    Ok(())
}
