//! Arbitrary bytes as a bundle and a signature file through
//! `UnverifiedBundle::parse` and `verify`, with a fixed policy that trusts the
//! committed exporter test key (`format-spec/vectors/keys/exporter.key`).
//!
//! Input format (the same as `fuzz_verify_input` in
//! `format-spec/tests/no_panic.rs`, which replays saved crashes; keep in step):
//!
//! - byte 0: mode. Bit 0 set: ignore the signature bytes and sign the bundle
//!   with the exporter key (trusted comment for contoso-ad, sequence 42), so
//!   that the input passes SPEC.md §8 steps 2-3 and reaches the zip reader.
//!   Bit 1 also set ("repair"): first split the bundle into members by walking
//!   its local headers leniently, recompute both manifests and re-emit it as a
//!   canonical zip with correct CRCs, so that mutated contents pass steps 4-7 and
//!   reach the JSON, certificate, count and review checks. Bit 0 clear: use the
//!   signature bytes as they are.
//! - bytes 1-2: little-endian split point (clamped to the rest's length);
//! - then the signature file bytes up to the split, the bundle bytes after it.
//!
//! `fuzz/seed-corpus` writes every vector in this format in both modes.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use certferry_format::keys::SecretKey;
use certferry_format::replay::ReplayRules;
use certferry_format::{
    sign_bundle, BundleDigests, Limits, Role, Sha256, SourceId, Timestamp, TrustPolicy, TrustedKey,
    UnverifiedBundle,
};
use libfuzzer_sys::fuzz_target;

struct Fixed {
    exporter: SecretKey,
    policy: TrustPolicy,
    source: SourceId,
    now: Timestamp,
    limits: Limits,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let exporter = SecretKey::from_file_bytes(
        include_bytes!("../../format-spec/vectors/keys/exporter.key"),
        None,
    )
    .expect("committed exporter test key loads");
    let policy = TrustPolicy {
        keys: vec![TrustedKey {
            name: "exporter".into(),
            role: Role::Exporter,
            key: exporter.public_key(),
        }],
        required: BTreeMap::from([(Role::Exporter, 1)]),
        replay: ReplayRules::default(),
    };
    Fixed {
        exporter,
        policy,
        source: SourceId::parse("contoso-ad").expect("source id"),
        now: Timestamp::parse("2026-06-01T00:00:00Z").expect("timestamp"),
        limits: Limits::default(),
    }
});

type Members = Vec<(Vec<u8>, Vec<u8>)>;

/// Members found by walking local headers leniently: stops at the first thing
/// that is not a whole local header with its name, extra field and data.
fn split_members(zip: &[u8]) -> Members {
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
/// `tagmanifest-sha256.txt` (the three tag files) from the members.
fn rehash(members: &mut Members) {
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

/// Emits members as a zip in the canonical profile of SPEC.md §4.3 (zip32 only).
fn emit(members: &Members) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let off = out.len() as u32;
        let crc = crc32fast::hash(data);
        let fixed = |v: &mut Vec<u8>| {
            v.extend(10u16.to_le_bytes());
            v.extend([0u8; 6]); // flags, method, time
            v.extend(0x0021u16.to_le_bytes());
            v.extend(crc.to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes());
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

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, a, b], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let f = &*FIXED;
    let split = usize::from(u16::from_le_bytes([a, b])).min(rest.len());
    let (sig, bundle) = rest.split_at(split);
    let repaired;
    let bundle = if mode & 3 == 3 {
        let mut members = split_members(bundle);
        rehash(&mut members);
        repaired = emit(&members);
        &repaired[..]
    } else {
        bundle
    };
    let signatures = if mode & 1 == 1 {
        let d = BundleDigests::of_bytes(bundle);
        let s = sign_bundle(&d, &f.exporter, Role::Exporter, &f.source, 42)
            .expect("signing in memory cannot fail");
        vec![("exporter.minisig".to_owned(), s.to_bytes())]
    } else {
        vec![("fuzz.minisig".to_owned(), sig.to_vec())]
    };
    let Ok(u) = UnverifiedBundle::parse(bundle.to_vec(), signatures, &f.limits) else {
        return;
    };
    if let Ok(v) = u.verify(&f.policy, f.now, None) {
        // Accepted: reading the entries back must not panic either.
        for e in v.entries() {
            std::hint::black_box(e.values.len());
        }
        std::hint::black_box(v.review_csv().len());
    }
});
