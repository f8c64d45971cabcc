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
    sign_bundle, BundleDigests, Limits, Role, SourceId, Timestamp, TrustPolicy, TrustedKey,
    UnverifiedBundle,
};
use libfuzzer_sys::fuzz_target;

#[path = "../../format-spec/tests/support/zip_members.rs"]
mod zip_members;
use zip_members::{emit, rehash, split_members};

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
            std::hint::black_box(e.values().len());
        }
        std::hint::black_box(v.review_csv().len());
    }
});
