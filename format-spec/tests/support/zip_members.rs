//! Taking a bundle apart and putting it back together, for tests and fuzz
//! targets that mutate members: shared by `format-spec/tests/no_panic.rs` and
//! `fuzz/fuzz_targets/verify.rs` (which includes this file by path).

use certferry_format::Sha256;

/// A bundle's members in order: name and data.
pub(crate) type Members = Vec<(Vec<u8>, Vec<u8>)>;

/// Members found by walking local headers leniently: stops at the first thing
/// that is not a whole local header with its name, extra field and data (a
/// vector that is not a canonical zip simply yields fewer members).
pub(crate) fn split_members(zip: &[u8]) -> Members {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let le = |a: usize, n: usize| -> Option<usize> {
        let b = zip.get(a..a.checked_add(n)?)?;
        Some(
            b.iter()
                .rev()
                .fold(0usize, |acc, &x| acc << 8 | usize::from(x)),
        )
    };
    while zip.get(pos..pos + 4) == Some(b"PK\x03\x04") {
        let (Some(size), Some(nlen), Some(xlen)) =
            (le(pos + 18, 4), le(pos + 26, 2), le(pos + 28, 2))
        else {
            break;
        };
        let name_at = pos + 30;
        let start = name_at + nlen + xlen;
        let (Some(name), Some(data)) = (
            zip.get(name_at..name_at + nlen),
            zip.get(start..start + size),
        ) else {
            break;
        };
        out.push((name.to_vec(), data.to_vec()));
        pos = start + size;
    }
    out
}

/// Recomputes `manifest-sha256.txt` (every `data/` member in order) and
/// `tagmanifest-sha256.txt` (the three tag files) from the members, as an
/// attacker who controls everything but the keys would, so that content
/// mutants pass verification steps 5-7.
pub(crate) fn rehash(members: &mut [(Vec<u8>, Vec<u8>)]) {
    let line = |out: &mut Vec<u8>, name: &[u8], data: &[u8]| {
        out.extend(Sha256::digest(data).to_hex().as_bytes());
        out.extend(b"  ");
        out.extend(name);
        out.push(b'\n');
    };
    let mut manifest = Vec::new();
    for (n, d) in members.iter().filter(|(n, _)| n.starts_with(b"data/")) {
        line(&mut manifest, n, d);
    }
    if let Some(m) = members
        .iter_mut()
        .find(|(n, _)| n == b"manifest-sha256.txt")
    {
        m.1 = manifest;
    }
    let mut tags = Vec::new();
    for want in [&b"bagit.txt"[..], b"manifest-sha256.txt", b"bag-info.txt"] {
        if let Some((n, d)) = members.iter().find(|(n, _)| n == want) {
            line(&mut tags, n, d);
        }
    }
    if let Some(m) = members
        .iter_mut()
        .find(|(n, _)| n == b"tagmanifest-sha256.txt")
    {
        m.1 = tags;
    }
}

/// Emits members as a zip in the canonical profile of SPEC.md §4.3 (zip32
/// only), with correct CRCs and sizes whatever the names and contents.
pub(crate) fn emit(members: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let off = out.len() as u32;
        let crc = crc32fast::hash(data);
        let fixed = |v: &mut Vec<u8>| {
            v.extend(10u16.to_le_bytes());
            v.extend(0u16.to_le_bytes()); // flags
            v.extend(0u16.to_le_bytes()); // stored
            v.extend(0u16.to_le_bytes()); // time
            v.extend(0x0021u16.to_le_bytes()); // date
            v.extend(crc.to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra
        };
        out.extend(b"PK\x03\x04");
        fixed(&mut out);
        out.extend(name);
        out.extend(data);
        central.extend(b"PK\x01\x02");
        central.extend(0x030au16.to_le_bytes());
        fixed(&mut central);
        central.extend([0u8; 6]); // comment length, disk, internal attributes
        central.extend(0x81a4_0000u32.to_le_bytes());
        central.extend(off.to_le_bytes());
        central.extend(name);
    }
    let cd = out.len() as u32;
    out.extend(&central);
    out.extend(b"PK\x05\x06");
    out.extend([0u8; 4]);
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}
