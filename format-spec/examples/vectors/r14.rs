//! The vectors of revision 1.4 (SPEC.md §4.3 deflated members, §6.3 lean
//! certificate objects): what the reference writer writes now, each form on
//! its own and mixed, and every way a deflated member or a lean object can be
//! wrong.

use std::io::Write as _;
use std::path::Path;

use certferry_format::{layout, Revision, Sha256};

use super::{build_as, build_bundle_people, crc32, Gen, Res};

/// One member of a 1.4 bundle: its content, and whether it is deflated.
#[derive(Clone)]
struct M {
    name: String,
    content: Vec<u8>,
    deflate: bool,
}

/// How one deflated member departs from the profile.
#[derive(Clone, Default)]
struct Fault {
    /// The member it applies to.
    member: &'static str,
    /// Bytes stored instead of the member's own DEFLATE stream.
    stored: Option<Vec<u8>>,
    /// The uncompressed size declared instead of the content's length.
    declared: Option<u32>,
    /// CRC-32 declared instead of the content's.
    crc: Option<u32>,
    /// Version needed, version made by, method declared instead of 20, 0x0314, 8.
    versions: Option<(u16, u16, u16)>,
}

/// Raw DEFLATE at the default level, as the writer compresses.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn inflate(data: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .expect("the writer's stream inflates");
    out
}

/// Splits a bundle the writer produced (trusted input), inflating.
fn split14(zip: &[u8]) -> Vec<M> {
    let mut out = Vec::new();
    let mut pos = 0;
    let le16 = |at: usize| u16::from_le_bytes([zip[at], zip[at + 1]]);
    let le32 = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().expect("4 bytes"));
    while le32(pos) == 0x0403_4b50 {
        let method = le16(pos + 8);
        let size = le32(pos + 18) as usize;
        let nlen = usize::from(le16(pos + 26));
        let name = String::from_utf8(zip[pos + 30..pos + 30 + nlen].to_vec()).expect("ASCII");
        let start = pos + 30 + nlen;
        let data = &zip[start..start + size];
        out.push(M {
            name,
            content: if method == 8 {
                inflate(data)
            } else {
                data.to_vec()
            },
            deflate: method == 8,
        });
        pos = start + size;
    }
    out
}

/// The canonical 1.4 layout of `ms`, with `fault` applied to one member.
fn emit14(ms: &[M], fault: &Fault) -> Vec<u8> {
    emit14_faults(ms, std::slice::from_ref(fault))
}

/// [`emit14`] with a fault in each of several members.
fn emit14_faults(ms: &[M], faults: &[Fault]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in ms {
        let offset = out.len() as u32;
        let f = faults.iter().find(|f| m.name == f.member);
        let data = match (f.and_then(|f| f.stored.clone()), m.deflate) {
            (Some(stored), _) => stored,
            (None, true) => deflate(&m.content),
            (None, false) => m.content.clone(),
        };
        let deflated = m.deflate || f.is_some_and(|f| f.stored.is_some() || f.versions.is_some());
        let (need, made_by, method) = match (f.and_then(|f| f.versions), deflated) {
            (Some(v), _) => v,
            (None, true) => (20, 0x0314, 8),
            (None, false) => (10, 0x030a, 0),
        };
        let crc = f.and_then(|f| f.crc).unwrap_or_else(|| crc32(&m.content));
        let size = f.and_then(|f| f.declared).unwrap_or(m.content.len() as u32);
        let mut common = Vec::new();
        common.extend(0u16.to_le_bytes()); // flags
        common.extend(method.to_le_bytes());
        common.extend(0u16.to_le_bytes()); // time
        common.extend(0x0021u16.to_le_bytes());
        common.extend(crc.to_le_bytes());
        common.extend((data.len() as u32).to_le_bytes());
        common.extend(size.to_le_bytes());
        common.extend((m.name.len() as u16).to_le_bytes());
        common.extend(0u16.to_le_bytes()); // extra
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(need.to_le_bytes());
        out.extend(&common);
        out.extend(m.name.as_bytes());
        out.extend(&data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(made_by.to_le_bytes());
        central.extend(need.to_le_bytes());
        central.extend(&common);
        central.extend([0u8; 6]); // comment length, disk, internal attributes
        central.extend((0o100_644u32 << 16).to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(m.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((ms.len() as u16).to_le_bytes());
    out.extend((ms.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend([0u8; 2]);
    out
}

fn get<'a>(ms: &'a mut [M], name: &str) -> &'a mut M {
    ms.iter_mut()
        .find(|m| m.name == name)
        .expect("member exists")
}

/// Recomputes the manifests and bag-info from the members' content, as an
/// attacker who holds everything but the keys would.
fn rehash14(ms: &mut [M]) {
    let mut manifest = Vec::new();
    let (mut bytes, mut files) = (0u64, 0u64);
    for m in ms.iter().filter(|m| m.name.starts_with("data/")) {
        layout::manifest_line(&mut manifest, &Sha256::digest(&m.content), &m.name);
        bytes += m.content.len() as u64;
        files += 1;
    }
    get(ms, layout::MANIFEST).content = manifest;
    let json = get(ms, layout::BUNDLE_JSON).content.clone();
    let header: certferry_format::model::BundleHeader =
        serde_json::from_slice(&json).expect("the writer's header");
    get(ms, layout::BAG_INFO_TXT).content = layout::bag_info(&header, bytes, files).into_bytes();
    let mut tags = Vec::new();
    for n in [layout::BAGIT_TXT, layout::MANIFEST, layout::BAG_INFO_TXT] {
        let d = Sha256::digest(&get(ms, n).content);
        layout::manifest_line(&mut tags, &d, n);
    }
    get(ms, layout::TAG_MANIFEST).content = tags;
}

/// Replaces the first `from` in a text member's content.
fn edit(ms: &mut [M], name: &str, from: &str, to: &str) {
    let m = get(ms, name);
    let s = String::from_utf8(m.content.clone()).expect("text member");
    assert!(s.contains(from), "{from:?} not found in {name}");
    m.content = s.replacen(from, to, 1).into_bytes();
}

pub(super) fn vectors(g: &mut Gen, root: &Path) -> Res<()> {
    let people = build_bundle_people(root)?;
    let base = build_as(root, people.clone(), None, Revision::V1_4)?;
    let base_ms = split14(&base);
    assert!(
        emit14(&base_ms, &Fault::default()) == base,
        "the 1.4 emitter must reproduce the writer's bytes"
    );
    let described = build_as(root, people, None, Revision::V1_3)?;
    let described_ms = split14(&described);
    let text_members = [layout::MANIFEST, layout::ENTRIES_JSONL, layout::REVIEW_CSV];

    // --- valid ---------------------------------------------------------------------
    g.push(
        "r14-valid-lean-deflated",
        "success",
        "revision 1.4 as the reference writer writes it: lean certificate objects, the manifest, entries.jsonl and review.csv deflated",
        base.clone(),
    );
    {
        let mut ms = base_ms.clone();
        ms.iter_mut().for_each(|m| m.deflate = false);
        g.push(
            "r14-valid-lean-stored",
            "success",
            "lean certificate objects with every member stored: the two additions of 1.4 are independent",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        let mut ms = described_ms.clone();
        for m in &mut ms {
            m.deflate = text_members.contains(&m.name.as_str());
        }
        g.push(
            "r14-valid-described-deflated",
            "success",
            "described certificate objects (1.3's form) with the three text members deflated",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        let mut ms = base_ms.clone();
        for m in &mut ms {
            m.deflate = m.name == layout::ENTRIES_JSONL;
        }
        g.push(
            "r14-valid-only-entries-deflated",
            "success",
            "each of the three text members is stored or deflated on its own: here only entries.jsonl is deflated",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        // Entry 1 described (1.3's line), the others lean.
        let mut ms = base_ms.clone();
        let lean = String::from_utf8(get(&mut ms, layout::ENTRIES_JSONL).content.clone())?;
        let full = String::from_utf8(
            described_ms
                .iter()
                .find(|m| m.name == layout::ENTRIES_JSONL)
                .expect("entries")
                .content
                .clone(),
        )?;
        let first_full = full.lines().next().expect("an entry");
        let mixed: Vec<&str> = std::iter::once(first_full)
            .chain(lean.lines().skip(1))
            .collect();
        get(&mut ms, layout::ENTRIES_JSONL).content =
            format!("{}\n", mixed.join("\n")).into_bytes();
        rehash14(&mut ms);
        g.push(
            "r14-valid-mixed-forms",
            "success",
            "a described certificate object in entry 1, lean ones after it: each object has its own form (SPEC.md §6.3)",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        let empty = build_as(root, Vec::new(), None, Revision::V1_4)?;
        g.push(
            "r14-valid-empty",
            "success",
            "a 1.4 bundle with no entries: an empty entries.jsonl deflated is the two-byte stream 03 00",
            empty,
        );
    }

    // --- deflated members (SPEC.md §4.3) ------------------------------------------------
    {
        let mut ms = base_ms.clone();
        ms[1].deflate = true; // data/values/00000001.bin
        g.push(
            "r14-deflated-value-file",
            "zip-structure",
            "a value file is deflated: only the manifest, entries.jsonl and review.csv may be",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        let mut ms = base_ms.clone();
        get(&mut ms, layout::BUNDLE_JSON).deflate = true;
        g.push(
            "r14-deflated-bundle-json",
            "zip-structure",
            "bundle.json is deflated: only the manifest, entries.jsonl and review.csv may be",
            emit14(&ms, &Fault::default()),
        );
    }
    let entries = || {
        base_ms
            .iter()
            .find(|m| m.name == layout::ENTRIES_JSONL)
            .expect("entries")
            .content
            .clone()
    };
    let faults: Vec<(&str, &str, &str, Fault)> = vec![
        (
            "r14-deflate-trailing-bytes",
            "zip-structure",
            "entries.jsonl's DEFLATE stream is followed by two more bytes inside the member",
            Fault {
                stored: Some([deflate(&entries()), vec![0, 0]].concat()),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-truncated",
            "zip-structure",
            "entries.jsonl's DEFLATE stream is cut short: no final block within the member",
            Fault {
                stored: Some({
                    let d = deflate(&entries());
                    d[..d.len() / 2].to_vec()
                }),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-declares-fewer-bytes",
            "zip-structure",
            "entries.jsonl inflates to one byte more than its header declares",
            Fault {
                declared: Some(entries().len() as u32 - 1),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-declares-more-bytes",
            "zip-structure",
            "entries.jsonl inflates to one byte fewer than its header declares",
            Fault {
                declared: Some(entries().len() as u32 + 1),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-invalid-stream",
            "zip-structure",
            "entries.jsonl's data is a block of the reserved type 3: not DEFLATE",
            Fault {
                stored: Some(vec![0x07, 0x00]),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-zlib-wrapper",
            "zip-structure",
            "entries.jsonl is a zlib stream (RFC 1950 header and Adler-32), not raw DEFLATE",
            Fault {
                stored: Some({
                    let mut z = flate2::write::ZlibEncoder::new(
                        Vec::new(),
                        flate2::Compression::default(),
                    );
                    z.write_all(&entries()).expect("in memory");
                    z.finish().expect("in memory")
                }),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-crc-of-compressed-bytes",
            "zip-structure",
            "entries.jsonl's CRC-32 is of its compressed bytes, not of the inflated content",
            Fault {
                crc: Some(crc32(&deflate(&entries()))),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-declares-over-the-limit",
            "size-limit",
            "entries.jsonl declares 1 GiB + 1 bytes uncompressed (§9): refused before a byte is inflated",
            Fault {
                declared: Some(1024 * 1024 * 1024 + 1),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-declares-exactly-the-limit",
            "zip-structure",
            "entries.jsonl declares exactly 1 GiB uncompressed, which the limit allows; it then inflates to less",
            Fault {
                declared: Some(1024 * 1024 * 1024),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-version-needed-10",
            "zip-structure",
            "a deflated entries.jsonl declares version needed 1.0: deflate needs 2.0 (20)",
            Fault {
                versions: Some((10, 0x0314, 8)),
                ..Fault::default()
            },
        ),
        (
            "r14-deflate-made-by-1-0",
            "zip-structure",
            "a deflated entries.jsonl declares version made by 0x030a: the profile fixes 0x0314",
            Fault {
                versions: Some((20, 0x030a, 8)),
                ..Fault::default()
            },
        ),
        (
            "r14-method-bzip2",
            "zip-structure",
            "entries.jsonl uses compression method 12 (bzip2): only 0 and 8 exist in the profile",
            Fault {
                versions: Some((46, 0x032e, 12)),
                ..Fault::default()
            },
        ),
    ];
    for (name, expect, comment, mut fault) in faults {
        fault.member = layout::ENTRIES_JSONL;
        g.push(name, expect, comment, emit14(&base_ms, &fault));
    }
    // Two faults: the member met first decides, whatever the later one is.
    let not_deflate = |member| Fault {
        member,
        stored: Some(vec![0x07, 0x00]),
        ..Fault::default()
    };
    let over_the_limit = |member| Fault {
        member,
        declared: Some(1024 * 1024 * 1024 + 1),
        ..Fault::default()
    };
    g.push(
        "r14-deflate-invalid-stream-before-a-later-size-over-the-limit",
        "zip-structure",
        "entries.jsonl is not DEFLATE and the later manifest declares 1 GiB + 1 bytes: members are read in order, so the stream fails first",
        emit14_faults(
            &base_ms,
            &[not_deflate(layout::ENTRIES_JSONL), over_the_limit(layout::MANIFEST)],
        ),
    );
    g.push(
        "r14-deflate-size-over-the-limit-before-a-later-invalid-stream",
        "size-limit",
        "entries.jsonl declares 1 GiB + 1 bytes and the later review.csv is not DEFLATE: the size is refused first",
        emit14_faults(
            &base_ms,
            &[over_the_limit(layout::ENTRIES_JSONL), not_deflate(layout::REVIEW_CSV)],
        ),
    );
    {
        let mut ms = base_ms.clone();
        let at = ms
            .iter()
            .position(|m| m.name == layout::REVIEW_CSV)
            .expect("review.csv");
        let again = ms[at].clone();
        ms.insert(at + 1, again);
        g.push(
            "r14-deflated-member-repeated",
            "zip-name",
            "review.csv twice, both deflated and sound: a name may not repeat, deflated or not",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        // A writer that hashed the compressed bytes.
        let mut ms = base_ms.clone();
        let compressed = deflate(&entries());
        let text = String::from_utf8(get(&mut ms, layout::MANIFEST).content.clone())?;
        let line = format!(
            "{}  {}",
            Sha256::digest(&entries()).to_hex(),
            layout::ENTRIES_JSONL
        );
        let wrong = format!(
            "{}  {}",
            Sha256::digest(&compressed).to_hex(),
            layout::ENTRIES_JSONL
        );
        get(&mut ms, layout::MANIFEST).content = text.replacen(&line, &wrong, 1).into_bytes();
        let bag_info = get(&mut ms, layout::BAG_INFO_TXT).content.clone();
        let mut tags = Vec::new();
        for (n, d) in [
            (
                layout::BAGIT_TXT,
                get(&mut ms, layout::BAGIT_TXT).content.clone(),
            ),
            (
                layout::MANIFEST,
                get(&mut ms, layout::MANIFEST).content.clone(),
            ),
            (layout::BAG_INFO_TXT, bag_info),
        ] {
            layout::manifest_line(&mut tags, &Sha256::digest(&d), n);
        }
        get(&mut ms, layout::TAG_MANIFEST).content = tags;
        g.push(
            "r14-manifest-hashes-compressed-bytes",
            "manifest",
            "the manifest lists the SHA-256 of entries.jsonl's compressed bytes: it must be of the content, as after unzipping",
            emit14(&ms, &Fault::default()),
        );
    }
    {
        let mut ms = base_ms.clone();
        rehash14(&mut ms);
        let compressed: usize = ms
            .iter()
            .filter(|m| m.deflate && m.name.starts_with("data/"))
            .map(|m| m.content.len() - deflate(&m.content).len())
            .sum();
        let info = String::from_utf8(get(&mut ms, layout::BAG_INFO_TXT).content.clone())?;
        let oxum = info
            .lines()
            .find_map(|l| l.strip_prefix("Payload-Oxum: "))
            .expect("Payload-Oxum");
        let (bytes, files) = oxum.split_once('.').expect("bytes.files");
        let wrong = format!("{}.{files}", bytes.parse::<usize>()? - compressed);
        edit(&mut ms, layout::BAG_INFO_TXT, oxum, &wrong);
        let mut tags = Vec::new();
        for n in [layout::BAGIT_TXT, layout::MANIFEST, layout::BAG_INFO_TXT] {
            let d = Sha256::digest(&get(&mut ms, n).content);
            layout::manifest_line(&mut tags, &d, n);
        }
        get(&mut ms, layout::TAG_MANIFEST).content = tags;
        g.push(
            "r14-payload-oxum-counts-compressed-bytes",
            "bagit",
            "Payload-Oxum counts the compressed size of the deflated payload files: it counts their content",
            emit14(&ms, &Fault::default()),
        );
    }

    // --- lean certificate objects (SPEC.md §6.3) ----------------------------------------
    let lean_faults: [(&str, &str, &str, &str); 4] = [
        (
            "r14-lean-with-one-described-member",
            r#"{"class":"encryption","reasons":[]}"#,
            r#"{"is_ca":false,"class":"encryption","reasons":[]}"#,
            "a certificate object with is_ca, class and reasons: neither described (fifteen members) nor lean (two)",
        ),
        (
            "r14-lean-members-out-of-order",
            r#"{"class":"encryption","reasons":[]}"#,
            r#"{"reasons":[],"class":"encryption"}"#,
            "a lean object with reasons before class: not canonical",
        ),
        (
            "r14-lean-unknown-class",
            r#"{"class":"encryption","reasons":[]}"#,
            r#"{"class":"excellent","reasons":[]}"#,
            "a lean object whose class is not one of the three words (§6.4)",
        ),
        (
            "r14-lean-extra-certificate-object",
            r#""certificates":[{"class":"encryption","reasons":[]}]"#,
            r#""certificates":[{"class":"encryption","reasons":[]},{"class":"encryption","reasons":[]}]"#,
            "a lean value records two certificate objects for a value holding one certificate",
        ),
    ];
    for (name, from, to, comment) in lean_faults {
        let mut ms = base_ms.clone();
        edit(&mut ms, layout::ENTRIES_JSONL, from, to);
        rehash14(&mut ms);
        g.push(name, "content", comment, emit14(&ms, &Fault::default()));
    }
    {
        // review.csv derived from a description that is not the certificate's.
        let mut ms = base_ms.clone();
        edit(
            &mut ms,
            layout::REVIEW_CSV,
            "CN=Alice Anderson,",
            "CN=Alice Andersen,",
        );
        rehash14(&mut ms);
        g.push(
            "r14-lean-review-names-another-subject",
            "content",
            "with lean objects, review.csv must show the description the verifier derives: here alice's subject is altered in the table only",
            emit14(&ms, &Fault::default()),
        );
    }
    Ok(())
}
