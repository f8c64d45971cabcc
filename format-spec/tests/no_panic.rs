//! No panic on any input (issue 2, item 6), pinned deterministically on stable
//! Rust: every test vector's bundle and signature files, and every fixture
//! certificate, go through thousands of random mutations (bit flips, byte
//! overwrites with boundary values, truncations, insertions, deletions, chunk
//! duplication) from a fixed-seed xorshift generator, and each mutant runs
//! through `UnverifiedBundle::parse` + `verify`, `cert::decode_value` and
//! `cert::find_private_key_material`. The test asserts only that nothing panics;
//! whether a mutant is accepted or rejected is the vectors' business.
//!
//! Most bundle mutants are re-signed with the committed exporter test key
//! (trusted comment and all), so that they pass steps 2 and 3 of SPEC.md §8 and
//! reach the zip reader; member-level mutants are also re-emitted as zips with
//! correct CRCs and (mostly) recomputed manifests, so that they reach the
//! manifest, JSON, certificate and count checks.
//!
//! A panic fails the test naming the case and saving the input under the temp
//! directory (`certferry-no-panic-*`); copy it to
//! `format-spec/tests/data/fuzz-regressions/` when fixing the bug.
//! `cargo fuzz` (see `fuzz/README.md`) explores far more; this test keeps what
//! it found from coming back and runs in every `cargo test`.

// Test code: a broken invariant should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use base64::Engine as _;

#[path = "support/zip_members.rs"]
mod zip_members;
use certferry_format::cert;
use certferry_format::keys::{PublicKey, SecretKey};
use certferry_format::replay::{ReplayRules, SourceState};
use certferry_format::{
    sign_bundle, BundleDigests, Limits, Role, Sha256, SourceId, Timestamp, TrustPolicy, TrustedKey,
    UnverifiedBundle,
};
use zip_members::{emit, rehash, split_members};

// Every mutant that reaches a trusted key costs one Ed25519 verification, which
// takes ~10-25 ms in an unoptimised build: these counts keep the test near 15 s
// in debug while still covering every vector and every verification step.
/// Per vector: mutants of the raw bytes, kept with the vector's own signatures.
const RAW_MUTANTS: usize = 1;
/// Per distinct vector bundle: raw mutants re-signed (they reach the zip reader).
const RAW_RESIGNED_MUTANTS: usize = 2;
/// Per distinct vector bundle: member-level mutants, re-emitted as a zip with
/// correct CRCs, mostly with recomputed manifests, and re-signed (they reach
/// the manifests, the JSON and certificate checks).
const MEMBER_MUTANTS: usize = 6;
/// Per signature file of every vector.
const SIGNATURE_MUTANTS: usize = 2;
/// Per distinct value (vector members and fixture certificates): decode only, cheap.
const VALUE_MUTANTS: usize = 60;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Applies one to four random mutations.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(8) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            // Overwrite a byte, or a 16/32-bit little-endian field, with a boundary value.
            1 if len > 0 => {
                let i = rng.below(len);
                let v = [0x00u8, 0x01, 0x7f, 0x80, 0xfe, 0xff][rng.below(6)];
                let width = [1, 2, 4][rng.below(3)];
                for b in data.iter_mut().skip(i).take(width) {
                    *b = v;
                }
            }
            // Truncate.
            2 => {
                let at = rng.below(len + 1);
                data.truncate(at);
            }
            // Insert random bytes.
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            // Delete a chunk.
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                data.drain(at..at + n);
            }
            // Duplicate a chunk somewhere (repeats headers, members, lines).
            5 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(256));
                let chunk = data[at..at + n].to_vec();
                let to = rng.below(len + 1);
                data.splice(to..to, chunk);
            }
            // Random byte.
            6 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            // Append junk.
            _ => {
                let n = rng.below(8);
                data.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
}

struct Case {
    name: String,
    now: Timestamp,
    policy: TrustPolicy,
    previous: Option<SourceState>,
    signatures: Vec<(String, Vec<u8>)>,
    bundle: Vec<u8>,
}

/// The vector format of SPEC.md §11 (as `tests/vectors.rs` reads it).
fn parse_vector(name: String, text: &str) -> Case {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut now = None;
    let mut keys = Vec::new();
    let mut required = BTreeMap::new();
    let mut previous = None;
    let mut replay = ReplayRules::default();
    let mut signatures = Vec::new();
    let mut bundle_b64 = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (key, value) = line.split_once(':').unwrap();
        let value = value.trim_start();
        match key {
            "now" => now = Timestamp::parse(value),
            "trusted" => {
                let (role, pk) = value.split_once(' ').unwrap();
                keys.push(TrustedKey {
                    name: format!("key{}", keys.len() + 1),
                    role: role.parse().ok().unwrap(),
                    key: PublicKey::from_base64(pk).unwrap(),
                });
            }
            "require" => {
                let (role, n) = value.split_once(' ').unwrap();
                required.insert(role.parse::<Role>().ok().unwrap(), n.parse().unwrap());
            }
            "previous" => {
                let p: Vec<&str> = value.split(' ').collect();
                previous = Some(SourceState {
                    sequence: p[0].parse().unwrap(),
                    sha256: Sha256::parse_hex(p[1]).unwrap(),
                    created: Timestamp::parse(p[2]).unwrap(),
                });
            }
            "max-jump" => replay.max_sequence_jump = Some(value.parse().unwrap()),
            "accept-source" => {
                replay.accepted_sources = Some(vec![SourceId::parse(value).unwrap()]);
            }
            "signature" => {
                let (label, sig) = value.split_once(' ').unwrap();
                signatures.push((label.to_owned(), b64.decode(sig).unwrap()));
            }
            "bundle" => lines.by_ref().for_each(|l| bundle_b64.push_str(l)),
            _ => {}
        }
    }
    Case {
        name,
        now: now.unwrap(),
        policy: TrustPolicy {
            keys,
            required,
            replay,
        },
        previous,
        signatures,
        bundle: b64.decode(bundle_b64).unwrap(),
    }
}

fn vectors() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vector"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "vectors missing in {}", dir.display());
    files
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            parse_vector(name, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

fn exporter_key() -> SecretKey {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/keys/exporter.key");
    SecretKey::from_file_bytes(&std::fs::read(p).unwrap(), None).unwrap()
}

/// Runs `f`; on a panic, saves `input` and returns a description.
fn guarded(what: &str, input: &[u8], f: impl FnOnce()) -> Option<String> {
    if catch_unwind(AssertUnwindSafe(f)).is_ok() {
        return None;
    }
    let path = std::env::temp_dir().join(format!(
        "certferry-no-panic-{}.bin",
        what.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let saved = std::fs::write(&path, input)
        .map(|()| path.display().to_string())
        .unwrap_or_else(|e| format!("(not saved: {e})"));
    Some(format!("{what}: panicked; input saved to {saved}"))
}

/// parse + verify: `"success"` or the error class's name.
fn verify(case: &Case, bundle: Vec<u8>, signatures: Vec<(String, Vec<u8>)>) -> &'static str {
    let u = match UnverifiedBundle::parse(bundle, signatures, &Limits::default()) {
        Ok(u) => u,
        Err(e) => return e.class().name(),
    };
    let v = match u.verify(&case.policy, case.now, case.previous.as_ref()) {
        Ok(v) => v,
        Err(e) => return e.class().name(),
    };
    // A mutant that still verifies: walking its entries must not panic either.
    for e in v.entries() {
        std::hint::black_box(e.values().len());
    }
    std::hint::black_box(v.review_csv().len());
    "success"
}

fn decode(value: &[u8]) {
    let d = cert::decode_value(value);
    std::hint::black_box((d.container, d.certificates.len()));
    std::hint::black_box(cert::find_private_key_material(value));
}

/// One to three member-level mutations.
fn mutate_members(rng: &mut Rng, ms: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    for _ in 0..1 + rng.below(2) {
        let n = ms.len();
        if n == 0 {
            return;
        }
        let i = rng.below(n);
        match rng.below(12) {
            // Contents, most often: JSON, values, manifests, text files.
            0..=6 => mutate(rng, &mut ms[i].1),
            7 => mutate(rng, &mut ms[i].0),
            8 => {
                let m = ms[i].clone();
                let to = rng.below(n + 1);
                ms.insert(to, m);
            }
            9 => {
                ms.remove(i);
            }
            10 => {
                let j = rng.below(n);
                ms.swap(i, j);
            }
            _ => {
                // Mix and match: one member's bytes under another's name.
                let j = rng.below(n);
                ms[i].1 = ms[j].1.clone();
            }
        }
    }
}

/// A policy trusting the committed exporter key, for re-signed mutants.
fn exporter_policy(exporter: &SecretKey) -> TrustPolicy {
    TrustPolicy {
        keys: vec![TrustedKey {
            name: "exporter".into(),
            role: Role::Exporter,
            key: exporter.public_key(),
        }],
        required: BTreeMap::from([(Role::Exporter, 1)]),
        replay: ReplayRules::default(),
    }
}

fn resign(exporter: &SecretKey, bundle: &[u8], seq: u64) -> Vec<(String, Vec<u8>)> {
    let d = BundleDigests::of_bytes(bundle);
    let source = SourceId::parse("contoso-ad").unwrap();
    let sig = sign_bundle(&d, exporter, Role::Exporter, &source, seq).unwrap();
    vec![("exporter.minisig".to_owned(), sig.to_bytes())]
}

#[test]
fn random_mutations_of_vectors_and_values_never_panic() {
    let cases = vectors();
    let exporter = exporter_key();
    let mut rng = Rng(0x243f_6a88_85a3_08d3);
    let mut panics = Vec::new();
    let mut runs = 0usize;
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut seen_bundles = BTreeSet::new();

    for case in &cases {
        for i in 0..RAW_MUTANTS {
            let mut bundle = case.bundle.clone();
            mutate(&mut rng, &mut bundle);
            runs += 1;
            panics.extend(guarded(
                &format!("{} raw mutant {i}", case.name),
                &bundle,
                || {
                    verify(case, bundle.clone(), case.signatures.clone());
                },
            ));
        }
        for (s, (label, sig)) in case.signatures.iter().enumerate() {
            for i in 0..SIGNATURE_MUTANTS {
                let mut sig = sig.clone();
                mutate(&mut rng, &mut sig);
                let mut signatures = case.signatures.clone();
                signatures[s] = (label.clone(), sig.clone());
                runs += 1;
                panics.extend(guarded(
                    &format!("{} signature {s} mutant {i}", case.name),
                    &sig,
                    || {
                        verify(case, case.bundle.clone(), signatures);
                    },
                ));
            }
        }

        // Re-signed mutants, once per distinct bundle.
        if !seen_bundles.insert(Sha256::digest(&case.bundle)) {
            continue;
        }
        let resigned = Case {
            name: case.name.clone(),
            now: case.now,
            policy: exporter_policy(&exporter),
            previous: None,
            signatures: Vec::new(),
            bundle: Vec::new(),
        };
        for i in 0..RAW_RESIGNED_MUTANTS {
            let mut bundle = case.bundle.clone();
            mutate(&mut rng, &mut bundle);
            let sigs = resign(&exporter, &bundle, 42);
            runs += 1;
            panics.extend(guarded(
                &format!("{} re-signed raw mutant {i}", case.name),
                &bundle,
                || {
                    *outcomes
                        .entry(verify(&resigned, bundle.clone(), sigs))
                        .or_default() += 1
                },
            ));
        }
        let members = split_members(&case.bundle);
        if members.is_empty() {
            continue;
        }
        for i in 0..MEMBER_MUTANTS {
            let mut ms = members.clone();
            mutate_members(&mut rng, &mut ms);
            if rng.below(4) != 0 {
                rehash(&mut ms);
            }
            let bundle = emit(&ms);
            let sigs = resign(&exporter, &bundle, 42);
            runs += 1;
            panics.extend(guarded(
                &format!("{} member mutant {i}", case.name),
                &bundle,
                || {
                    *outcomes
                        .entry(verify(&resigned, bundle.clone(), sigs))
                        .or_default() += 1
                },
            ));
        }
    }

    // Every distinct member of the vectors (values, and text files: interesting
    // input for the decoders too), and every fixture certificate and S/MIME blob.
    let mut values: BTreeSet<Vec<u8>> = BTreeSet::new();
    for case in &cases {
        values.extend(split_members(&case.bundle).into_iter().map(|(_, d)| d));
    }
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki");
    for sub in ["certs", "smime", "ca"] {
        for e in std::fs::read_dir(pki.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension()
                .is_some_and(|x| x == "der" || x == "p7b" || x == "p7s" || x == "bin")
            {
                values.insert(std::fs::read(p).unwrap());
            }
        }
    }
    assert!(values.len() > 40, "too few values: {}", values.len());
    for (n, value) in values.iter().enumerate() {
        for i in 0..VALUE_MUTANTS {
            let mut v = value.clone();
            mutate(&mut rng, &mut v);
            runs += 1;
            panics.extend(guarded(&format!("value {n} mutant {i}"), &v, || decode(&v)));
        }
    }

    eprintln!("{runs} mutants; outcomes of the re-signed bundle mutants: {outcomes:?}");
    assert!(runs > 3000, "only {runs} runs");
    // The re-signed mutants must keep reaching the later verification steps.
    for class in [
        "zip-structure",
        "zip-name",
        "manifest",
        "file-set",
        "content",
    ] {
        assert!(
            outcomes.contains_key(class),
            "no re-signed mutant reached a {class} failure: {outcomes:?}"
        );
    }
    assert!(
        panics.is_empty(),
        "{} of {runs} inputs panicked:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

/// The input format of `fuzz/fuzz_targets/verify.rs` (keep the two in step):
/// byte 0 is a mode (bit 0: ignore the given signature and sign the bundle
/// with the committed exporter key, so that the input reaches the zip reader;
/// bits 0 and 1: first re-emit the members with correct CRCs and recomputed
/// manifests, so that it reaches the content checks), bytes 1-2 a
/// little-endian split point, then the signature file bytes up to
/// the split and the bundle bytes after it. Returns `"success"` or the class.
fn fuzz_verify_input(data: &[u8], exporter: &SecretKey) -> &'static str {
    let Some((&[mode, a, b], rest)) = data.split_first_chunk::<3>() else {
        return "too-short";
    };
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
        resign(exporter, bundle, 42)
    } else {
        vec![("fuzz.minisig".to_owned(), sig.to_vec())]
    };
    let case = Case {
        name: String::new(),
        now: Timestamp::parse("2026-06-01T00:00:00Z").unwrap(),
        policy: exporter_policy(exporter),
        previous: None,
        signatures: Vec::new(),
        bundle: Vec::new(),
    };
    verify(&case, bundle.to_vec(), signatures)
}

/// Inputs that once panicked (saved by cargo fuzz or by the test above, in
/// `tests/data/fuzz-regressions/`) must not panic again. Each file goes through
/// every entry point: as a `verify` fuzz input, as a raw bundle, as a signature
/// file and as an attribute value.
#[test]
fn saved_fuzz_regressions_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return; // none saved yet
    };
    let cases = vectors();
    let case = cases
        .iter()
        .find(|c| c.name == "valid-basic.vector")
        .unwrap();
    let exporter = exporter_key();
    let mut panics = Vec::new();
    for e in entries {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let input = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        panics.extend(guarded(&name, &input, || {
            decode(&input);
            fuzz_verify_input(&input, &exporter);
            verify(case, input.clone(), case.signatures.clone());
            verify(case, case.bundle.clone(), vec![("x".into(), input.clone())]);
        }));
    }
    assert!(panics.is_empty(), "{}", panics.join("\n"));
}

#[test]
fn fuzz_seed_format_reaches_a_verified_bundle() {
    // The seed format of fuzz/seed-corpus: a valid vector verifies both with its
    // own signature (mode 0) and re-signed (mode 1).
    let case = vectors()
        .into_iter()
        .find(|c| c.name == "valid-basic.vector")
        .unwrap();
    let exporter = exporter_key();
    let sig = &case.signatures[0].1;
    let mut seed = vec![0u8];
    seed.extend_from_slice(&u16::try_from(sig.len()).unwrap().to_le_bytes());
    seed.extend_from_slice(sig);
    seed.extend_from_slice(&case.bundle);
    for mode in [0, 1, 3] {
        seed[0] = mode;
        assert_eq!(
            fuzz_verify_input(&seed, &exporter),
            "success",
            "mode {mode}"
        );
    }
    // Mode 3 repairs what mode 1 cannot: an edit inside bundle.json (the
    // source description, which nothing else repeats) breaks the CRC and the
    // manifest, but after repair and re-signing the bundle verifies again.
    let needle = b"(test vector)";
    let at = seed
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    seed[at + 1] = b'T';
    seed[0] = 1;
    assert_eq!(fuzz_verify_input(&seed, &exporter), "zip-structure");
    seed[0] = 3;
    assert_eq!(fuzz_verify_input(&seed, &exporter), "success");
    // The member splitter and emitter reproduce the writer's bytes.
    assert!(emit(&split_members(&case.bundle)) == case.bundle);
}
