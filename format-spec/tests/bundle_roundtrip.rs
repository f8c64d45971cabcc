//! Round trips through the whole library: fixture certificates → `BundleWriter`
//! → `sign_bundle` → `UnverifiedBundle::parse(..).verify(..)` → `VerifiedBundle`,
//! which must give back exactly the entries and the byte-identical values written.
//!
//! Also pinned here: the writer is deterministic (same input, same bytes, whatever
//! the spool; a golden SHA-256 notices a `zip` crate upgrade that changes bytes),
//! our bundles are ordinary zips (the `zip` crate, an independent reader, lists the
//! canonical members with the same contents), a bundle of more than 65,535 members
//! (ZIP64 end records, SPEC.md §4.3) round-trips and is read by the `zip` crate and
//! by `unzip -t`, and the writer refuses bad input.

// Test code: a broken invariant should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use certferry_format::cert::{self, ClassifyContext, TrustedIssuer};
use certferry_format::keys::SecretKey;
use certferry_format::layout;
use certferry_format::model::{Attribute, BundleHeader, Entry, ObjectKind, Software, Value};
use certferry_format::replay::ReplayRules;
use certferry_format::{
    describe_value, sign_bundle, BundleDigests, BundleWriter, ErrorClass, HeaderDraft, Limits,
    Revision, Role, Sha256, SourceId, Timestamp, TrustPolicy, TrustedKey, UnverifiedBundle,
    VerifiedBundle,
};

/// SHA-256 of the bundle [`golden_input`] gives. If this changes, the bytes the
/// writer emits changed (a `zip` or `serde_json` upgrade, or a writer change):
/// that breaks the "byte-identical bundles" promise across versions and the
/// committed vectors, so it must be a deliberate, reviewed change.
const GOLDEN_SHA256: &str = "c5f9c49e94f836ff83ffccd025d1d746e6d7b32471ed5ed8358075ec3178b29c";
/// The same input written in revision 1.3's forms: unchanged since 1.3.
const GOLDEN_SHA256_V1_3: &str = "a28c199e50a16aab74f3aab8c29ae5438b481a3d93480e1638f3d63e530a4001";

const NOW: &str = "2026-06-01T00:00:00Z";
const CREATED: &str = "2026-05-31T12:00:00Z";
const EXPIRES: &str = "2026-07-01T00:00:00Z";
const SOURCE: &str = "contoso-ad";
const SEQ: u64 = 42;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn pki(rel: &str) -> Vec<u8> {
    let p = workspace_root().join("fixtures/pki").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sorted_files(dir: &str, ext: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let dir = workspace_root().join("fixtures/pki").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn exporter_key() -> SecretKey {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/keys/exporter.key");
    SecretKey::from_file_bytes(&std::fs::read(p).unwrap(), None).unwrap()
}

fn policy(sk: &SecretKey) -> TrustPolicy {
    TrustPolicy {
        keys: vec![TrustedKey {
            name: "exporter".into(),
            role: Role::Exporter,
            key: sk.public_key(),
        }],
        required: BTreeMap::from([(Role::Exporter, 1)]),
        replay: ReplayRules::default(),
    }
}

fn draft() -> HeaderDraft {
    HeaderDraft {
        source: SourceId::parse(SOURCE).unwrap(),
        sequence: SEQ,
        created: ts(CREATED),
        expires: ts(EXPIRES),
        previous_sha256: Some(Sha256::digest(b"the bundle before")),
        exporter: Software {
            name: "certferry-export".into(),
            version: "0.1.0".into(),
        },
        source_description: "ldaps://dc1.contoso.test/ DC=contoso,DC=test (round trip)".into(),
        part: None,
    }
}

/// One entry to write: the entry (values described, `file` empty) and its raw values.
struct Input {
    entry: Entry,
    raw: Vec<Vec<u8>>,
}

fn person(i: usize, who: &str, kind: ObjectKind, values: Vec<(Attribute, Vec<u8>)>) -> Input {
    let mail = format!("{who}@contoso.test");
    let user = kind == ObjectKind::User;
    let mut entry = Entry {
        kind,
        object_guid: Some(format!("0b7e4a2c-91d3-4f60-8e1a-{:012x}", i + 1)),
        object_sid: user.then(|| format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1100 + i)),
        upn: user.then(|| mail.clone()),
        sam_account_name: user.then(|| who.to_owned()),
        mail: Some(mail.clone()),
        proxy_addresses: vec![
            format!("SMTP:{mail}"),
            format!("smtp:{who}@old.contoso.test"),
        ],
        display_name: Some(format!("Fixture {who} — ünïcode \"quoted\"")),
        dn: format!("CN={who},OU=Users,DC=contoso,DC=test"),
        disabled: user && i % 5 == 3,
        values: Vec::new(),
    };
    let issuers = vec![TrustedIssuer::from_der(&pki("ca/issuing-ca.der")).unwrap()];
    let addrs = entry.smtp_addresses();
    let ctx = ClassifyContext {
        now: ts(NOW).unix(),
        addresses: &addrs,
        trusted_issuers: Some(&issuers),
        intermediates: &[],
    };
    entry.values = values
        .iter()
        .map(|(a, v)| describe_value(*a, v, |val, c| cert::classify(val, c, &ctx)))
        .collect();
    Input {
        entry,
        raw: values.into_iter().map(|(_, v)| v).collect(),
    }
}

/// Every fixture certificate: one user per `certs/*.der`, one per `smime/*`
/// (userSMIMECertificate), a user with both carol certificates and a garbage
/// value, and a contact without values.
fn fixture_inputs() -> Vec<Input> {
    let mut out = Vec::new();
    for (stem, der) in sorted_files("certs", Some("der")) {
        let i = out.len();
        out.push(person(
            i,
            &stem,
            ObjectKind::User,
            vec![(Attribute::UserCertificate, der)],
        ));
    }
    for (stem, blob) in sorted_files("smime", None) {
        let i = out.len();
        out.push(person(
            i,
            &format!("smime-{stem}"),
            ObjectKind::User,
            vec![(Attribute::UserSmimeCertificate, blob)],
        ));
    }
    let i = out.len();
    out.push(person(
        i,
        "carol",
        ObjectKind::User,
        vec![
            (Attribute::UserCertificate, pki("certs/carol-1.der")),
            (Attribute::UserCertificate, pki("certs/carol-2.der")),
            (
                Attribute::UserSmimeCertificate,
                b"not a certificate".to_vec(),
            ),
        ],
    ));
    assert!(out.len() >= 38, "fixture PKI is smaller than expected");
    out
}

/// Writes `inputs` and returns the output, the header and the entries with
/// their value file names as the writer assigns them.
fn write_bundle<W: Write + Seek, S: std::io::Read + Write + Seek>(
    out: W,
    spool: S,
    inputs: &[Input],
) -> (W, BundleHeader, Vec<Entry>) {
    write_bundle_as(out, spool, inputs, Revision::default())
}

fn write_bundle_as<W: Write + Seek, S: std::io::Read + Write + Seek>(
    out: W,
    spool: S,
    inputs: &[Input],
    revision: Revision,
) -> (W, BundleHeader, Vec<Entry>) {
    let mut w = BundleWriter::with_revision(out, spool, Cursor::new(Vec::new()), revision).unwrap();
    let mut expected = Vec::new();
    let mut n = 0u64;
    for input in inputs {
        let raw: Vec<&[u8]> = input.raw.iter().map(Vec::as_slice).collect();
        w.add_entry(input.entry.clone(), &raw).unwrap();
        let mut e = input.entry.clone();
        for v in &mut e.values {
            n += 1;
            v.file = Some(layout::value_file_name(n));
        }
        expected.push(e);
    }
    let (out, header) = w.finish(draft()).unwrap();
    (out, header, expected)
}

fn write_in_memory(inputs: &[Input]) -> (Vec<u8>, BundleHeader, Vec<Entry>) {
    let (out, header, expected) =
        write_bundle(Cursor::new(Vec::new()), Cursor::new(Vec::new()), inputs);
    (out.into_inner(), header, expected)
}

fn sign_and_verify(bytes: Vec<u8>, header: &BundleHeader) -> VerifiedBundle {
    sign_and_try_verify(bytes, header)
        .unwrap_or_else(|e| panic!("our own bundle does not verify: {e}"))
}

/// Signs with the exporter key, parses and verifies.
fn sign_and_try_verify(
    bytes: Vec<u8>,
    header: &BundleHeader,
) -> Result<VerifiedBundle, certferry_format::Error> {
    let sk = exporter_key();
    let digests = BundleDigests::of_bytes(&bytes);
    let sig = sign_bundle(
        &digests,
        &sk,
        Role::Exporter,
        &header.source,
        header.sequence,
    )
    .unwrap();
    let name = certferry_format::signature_file_name("bundle.zip", Role::Exporter, &sk.key_id());
    UnverifiedBundle::parse(bytes, vec![(name, sig.to_bytes())], &Limits::default())
        .unwrap()
        .verify(&policy(&sk), ts(NOW), None)
}

/// The verified bundle gives back exactly what was written.
fn assert_gives_back(
    v: &VerifiedBundle,
    header: &BundleHeader,
    expected: &[Entry],
    inputs: &[Input],
) {
    assert_eq!(v.header(), header);
    assert_eq!(v.entry_count(), expected.len());
    assert_eq!(v.signers().len(), 1);
    assert_eq!(v.signers()[0].role, Role::Exporter);
    let got: Vec<_> = v.entries().collect();
    assert_eq!(got.len(), expected.len(), "entries() lost entries");
    for ((g, want), input) in got.iter().zip(expected).zip(inputs) {
        assert_eq!(g.entry(), want);
        assert_eq!(g.values().len(), input.raw.len());
        for (a, b) in g.values().zip(&input.raw) {
            assert!(
                a.bytes() == b.as_slice(),
                "value bytes differ for {}",
                want.label()
            );
            assert_eq!(
                a.sha256(),
                Sha256::digest(b),
                "{}: manifest digest",
                want.label()
            );
            // The decoding kept from verification is the value's own.
            let kept = a
                .decoded()
                .unwrap_or_else(|| panic!("{}: not decoded", want.label()));
            assert_eq!(kept, &cert::decode_value(b), "{}", want.label());
        }
    }
    assert_eq!(v.sha256(), Sha256::digest(v.bytes()));
}

#[test]
fn fixture_bundle_round_trips_with_memory_spool() {
    let inputs = fixture_inputs();
    let (bytes, header, expected) = write_in_memory(&inputs);
    assert_eq!(header.counts.entries, inputs.len() as u64);
    assert!(header.counts.certificates >= 36, "{:?}", header.counts);
    assert!(header.counts.unparseable_values >= 2, "{:?}", header.counts);
    let v = sign_and_verify(bytes, &header);
    assert_gives_back(&v, &header, &expected, &inputs);
}

#[test]
fn fixture_bundle_round_trips_with_tempfile_spool_and_output() {
    let inputs = fixture_inputs();
    let out = tempfile::tempfile().unwrap();
    let spool = tempfile::tempfile().unwrap();
    let (mut out, header, expected) = write_bundle(out, spool, &inputs);
    out.seek(SeekFrom::Start(0)).unwrap();
    let mut bytes = Vec::new();
    out.read_to_end(&mut bytes).unwrap();
    // The same bytes as with in-memory spool and output.
    assert!(
        bytes == write_in_memory(&inputs).0,
        "spool kind changed the bytes"
    );
    let v = sign_and_verify(bytes, &header);
    assert_gives_back(&v, &header, &expected, &inputs);
}

/// A caller's keeper is handed each entry once, with the decoding verification
/// made of its values, and what it keeps comes back in bundle order; when a
/// later step fails (here the replay rule, step 9, after every entry was
/// handed over) nothing kept comes back.
#[test]
fn a_keeper_sees_every_entry_once_and_keeps_only_from_a_bundle_that_verifies() {
    let inputs = fixture_inputs();
    let (bytes, header, expected) = write_in_memory(&inputs);
    let sk = exporter_key();
    let signed = |bytes: Vec<u8>| {
        let sig = sign_bundle(
            &BundleDigests::of_bytes(&bytes),
            &sk,
            Role::Exporter,
            &header.source,
            header.sequence,
        )
        .unwrap();
        let name =
            certferry_format::signature_file_name("bundle.zip", Role::Exporter, &sk.key_id());
        UnverifiedBundle::parse(bytes, vec![(name, sig.to_bytes())], &Limits::default()).unwrap()
    };
    let keep = |p: certferry_format::ParsedEntry<'_>| {
        let decoded: Vec<_> = p.values().iter().map(|v| v.decoded().cloned()).collect();
        (p.index(), p.entry().dn.clone(), decoded)
    };
    let v = signed(bytes.clone())
        .verify_keeping(&policy(&sk), ts(NOW), None, keep)
        .unwrap();
    assert_eq!(v.kept().len(), expected.len());
    for (i, ((index, dn, decoded), (want, input))) in v
        .kept()
        .iter()
        .zip(expected.iter().zip(&inputs))
        .enumerate()
    {
        assert_eq!((*index, dn), (i + 1, &want.dn));
        let again: Vec<_> = input
            .raw
            .iter()
            .map(|b| Some(cert::decode_value(b)))
            .collect();
        assert_eq!(
            decoded, &again,
            "{dn}: the keeper's decoding is the value's own"
        );
    }
    // The same bundle again, after it was imported: step 9 (replay) refuses
    // it after every entry was handed to the keeper, and nothing comes back.
    let imported = certferry_format::replay::SourceState {
        sequence: header.sequence,
        sha256: Sha256::digest(&bytes),
        created: header.created,
    };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let r = signed(bytes).verify_keeping(&policy(&sk), ts(NOW), Some(&imported), |_| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(r.map(|_| ()).unwrap_err().class(), ErrorClass::Replay);
    assert_eq!(calls.into_inner(), expected.len());
}

#[test]
fn bare_certificate_value_is_listed_under_its_own_sha256_in_the_manifest() {
    // The writer reuses a bare certificate's thumbprint as the value file's
    // manifest digest: it must be the SHA-256 of the raw bytes.
    let der = pki("certs/alice.der");
    let inputs = vec![person(
        0,
        "alice",
        ObjectKind::User,
        vec![(Attribute::UserCertificate, der.clone())],
    )];
    assert_eq!(inputs[0].entry.values[0].container, "x509");
    let (bytes, _, _) = write_in_memory(&inputs);
    let members = walk_local_headers(&bytes);
    let manifest = &members
        .iter()
        .find(|(n, _)| n == layout::MANIFEST)
        .unwrap()
        .1;
    let want = format!(
        "{}  data/values/00000001.bin\n",
        Sha256::digest(&der).to_hex()
    );
    assert!(
        String::from_utf8_lossy(manifest).contains(&want),
        "manifest does not list the value under the SHA-256 of its bytes"
    );
}

#[test]
fn a_bare_certificate_description_that_lies_about_its_thumbprint_is_refused() {
    let der = pki("certs/alice.der");
    let mut inputs = vec![person(
        0,
        "alice",
        ObjectKind::User,
        vec![(Attribute::UserCertificate, der)],
    )];
    inputs[0].entry.values[0].certificates[0].sha256 = Sha256::digest(b"something else");
    let (bytes, header, _) = write_in_memory(&inputs);
    let err = sign_and_try_verify(bytes, &header).unwrap_err();
    assert!(err.to_string().contains("00000001.bin"), "{err}");
}

#[test]
fn same_input_written_twice_gives_byte_identical_bundles() {
    let inputs = fixture_inputs();
    let a = write_in_memory(&inputs).0;
    let b = write_in_memory(&fixture_inputs()).0;
    assert_eq!(a.len(), b.len());
    assert!(a == b, "two writes of the same input differ");
}

/// A small fixed bundle whose bytes depend only on the writer, the `zip` crate
/// and `serde_json`: raw values that are no certificate (so no certificate
/// parsing or classification code enters the golden bytes), and one entry
/// without values.
fn golden_input() -> Vec<Input> {
    let entry = |i: usize, who: &str, values: &[&[u8]]| {
        let mut e = person(i, who, ObjectKind::User, Vec::new()).entry;
        e.values = values
            .iter()
            .map(|_| Value {
                attribute: Attribute::UserCertificate,
                file: None,
                container: "unparseable".into(),
                certificates: Vec::new(),
                withheld: None,
            })
            .collect();
        Input {
            entry: e,
            raw: values.iter().map(|v| v.to_vec()).collect(),
        }
    };
    vec![
        entry(0, "golden-a", &[b"golden value one", b"golden value two\n"]),
        entry(1, "golden-b", &[b"golden value three"]),
        entry(2, "golden-c", &[&[0u8, 1, 2, 3, 0xff, 0xfe]]),
    ]
}

#[test]
fn zip_crate_upgrade_changing_bundle_bytes_breaks_golden_sha256() {
    for (revision, golden) in [
        (Revision::V1_4, GOLDEN_SHA256),
        (Revision::V1_3, GOLDEN_SHA256_V1_3),
    ] {
        golden_bundle_is(revision, golden);
    }
}

fn golden_bundle_is(revision: Revision, golden: &str) {
    let inputs = golden_input();
    let (out, header, expected) = write_bundle_as(
        Cursor::new(Vec::new()),
        Cursor::new(Vec::new()),
        &inputs,
        revision,
    );
    let bytes = out.into_inner();
    let got = Sha256::digest(&bytes).to_hex();
    assert_eq!(
        got,
        golden,
        "the writer's bytes changed for a fixed input ({} bytes). If this is a \
         deliberate change (zip/serde_json upgrade, writer change), check that the \
         output still follows SPEC.md §4.3, regenerate the vectors, and update GOLDEN_SHA256.",
        bytes.len()
    );
    // And the golden bundle is a valid one.
    let v = sign_and_verify(bytes, &header);
    assert_gives_back(&v, &header, &expected, &inputs);
}

/// Members found by walking the local headers (an independent, test-only parse
/// of a bundle we trust to be canonical), deflated ones inflated.
fn walk_local_headers(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while zip[pos..pos + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let method = u16::from_le_bytes(zip[pos + 8..pos + 10].try_into().unwrap());
        let size = u32::from_le_bytes(zip[pos + 18..pos + 22].try_into().unwrap()) as usize;
        let nlen = u16::from_le_bytes(zip[pos + 26..pos + 28].try_into().unwrap()) as usize;
        let name = String::from_utf8(zip[pos + 30..pos + 30 + nlen].to_vec()).unwrap();
        let start = pos + 30 + nlen;
        let data = &zip[start..start + size];
        let data = match method {
            0 => data.to_vec(),
            8 => {
                let mut text = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut text)
                    .unwrap();
                text
            }
            m => panic!("{name}: method {m}"),
        };
        out.push((name, data));
        pos = start + size;
    }
    out
}

/// Reads every member with the `zip` crate, in central-directory order.
fn read_with_zip_crate(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("the zip crate cannot open our bundle: {e}"));
    assert_eq!(archive.comment(), b"");
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let deflatable = [layout::MANIFEST, layout::ENTRIES_JSONL, layout::REVIEW_CSV];
        if f.compression() != zip::CompressionMethod::Stored {
            assert_eq!(f.compression(), zip::CompressionMethod::Deflated, "{name}");
            assert!(deflatable.contains(&name.as_str()), "{name} is deflated");
        }
        assert!(f.is_file(), "{name} is not a regular file");
        assert_eq!(f.unix_mode(), Some(0o100_644), "{name}");
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert_eq!(data.len() as u64, f.size());
        out.push((name, data));
    }
    out
}

/// Cross-checks a bundle with the `zip` crate: exactly the canonical member
/// names, in order, with the contents the local headers and the writer's inputs give.
fn assert_ordinary_zip(bytes: &[u8], inputs: &[Input], values: u64) {
    let by_zip = read_with_zip_crate(bytes);
    let names: Vec<String> = by_zip.iter().map(|(n, _)| n.clone()).collect();
    let canonical: Vec<String> = layout::member_names(values).collect();
    assert_eq!(names, canonical, "the zip crate lists other members");
    let by_walk = walk_local_headers(bytes);
    assert!(by_zip == by_walk, "the zip crate reads other contents");
    // Values in order are the raw inputs.
    let raw: Vec<&Vec<u8>> = inputs.iter().flat_map(|i| &i.raw).collect();
    assert_eq!(raw.len() as u64, values);
    for (i, r) in raw.iter().enumerate() {
        assert!(&by_zip[i + 1].1 == *r, "value {} differs", i + 1);
    }
    // The manifests describe the contents the zip crate read.
    let index: std::collections::HashMap<&str, &Vec<u8>> =
        by_zip.iter().map(|(n, d)| (n.as_str(), d)).collect();
    let content = |n: &str| index[n];
    for (manifest, files) in [
        (layout::MANIFEST, canonical[1..canonical.len() - 3].to_vec()),
        (
            layout::TAG_MANIFEST,
            vec![
                layout::BAGIT_TXT.to_owned(),
                layout::MANIFEST.to_owned(),
                layout::BAG_INFO_TXT.to_owned(),
            ],
        ),
    ] {
        let mut want = Vec::new();
        for f in &files {
            layout::manifest_line(&mut want, &Sha256::digest(content(f)), f);
        }
        assert!(
            content(manifest) == &want,
            "{manifest} does not match the contents"
        );
    }
}

#[test]
fn zip_crate_reads_our_bundle_as_an_ordinary_zip_with_canonical_members() {
    let inputs = fixture_inputs();
    let (bytes, header, _) = write_in_memory(&inputs);
    assert_ordinary_zip(&bytes, &inputs, header.counts.values);
    // The verified view agrees with the zip crate on review.csv.
    let by_zip = read_with_zip_crate(&bytes);
    let review = by_zip
        .iter()
        .find(|(n, _)| n == layout::REVIEW_CSV)
        .unwrap()
        .1
        .clone();
    let v = sign_and_verify(bytes, &header);
    assert!(v.review_csv() == review.as_slice());
}

/// `unzip` (Info-ZIP), or a failure telling how to install it.
fn unzip() -> Command {
    let ok = Command::new("unzip")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the stock `unzip` binary is required but was not found on PATH; \
         install it (Debian/Ubuntu: `apt-get install -y unzip`, or run scripts/install-test-deps)"
    );
    Command::new("unzip")
}

/// xorshift64: deterministic garbage without a dependency.
fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[test]
fn zip64_bundle_with_70000_values_round_trips_and_reads_with_zip_crate_and_unzip() {
    const VALUES: usize = 70_000;
    const PER_ENTRY: usize = 250;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut inputs = Vec::new();
    let mut left = VALUES;
    while left > 0 {
        let n = left.min(PER_ENTRY);
        left -= n;
        let i = inputs.len();
        let mut input = person(i, &format!("bulk{i:04}"), ObjectKind::User, Vec::new());
        for _ in 0..n {
            // 16 bytes of garbage, starting with a byte no DER structure starts with.
            let mut v = Vec::with_capacity(16);
            v.extend_from_slice(&xorshift(&mut rng).to_le_bytes());
            v.extend_from_slice(&xorshift(&mut rng).to_le_bytes());
            v[0] = b'G';
            input.entry.values.push(Value {
                attribute: Attribute::UserCertificate,
                file: None,
                container: "unparseable".into(),
                certificates: Vec::new(),
                withheld: None,
            });
            input.raw.push(v);
        }
        inputs.push(input);
    }
    let (bytes, header, expected) = write_in_memory(&inputs);
    assert_eq!(header.counts.values, VALUES as u64);
    assert_eq!(header.counts.unparseable_values, VALUES as u64);
    let members = VALUES + 7;
    assert!(members > 65_535);

    // The ZIP64 records of SPEC.md §4.3 are there: EOCD counts 0xffff and size
    // 0xffffffff, preceded by the ZIP64 record (56 bytes) and locator (20 bytes).
    let n = bytes.len();
    let eocd = &bytes[n - 22..];
    assert_eq!(&eocd[..4], b"PK\x05\x06");
    assert_eq!(&eocd[8..12], &[0xff; 4]);
    assert_eq!(&eocd[12..16], &[0xff; 4]);
    let locator = &bytes[n - 42..n - 22];
    assert_eq!(&locator[..4], b"PK\x06\x07");
    let record = &bytes[n - 98..n - 42];
    assert_eq!(&record[..4], b"PK\x06\x06");
    assert_eq!(
        u64::from_le_bytes(record[24..32].try_into().unwrap()),
        members as u64
    );
    assert_eq!(
        u64::from_le_bytes(locator[8..16].try_into().unwrap()),
        (n - 98) as u64
    );

    // The zip crate reads it as an ordinary zip.
    assert_ordinary_zip(&bytes, &inputs, VALUES as u64);

    // unzip -t tests every member's CRC.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.zip");
    std::fs::write(&path, &bytes).unwrap();
    let out = unzip().arg("-tqq").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "unzip -t rejects our ZIP64 bundle ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = unzip().arg("-Z1").arg(&path).output().unwrap();
    assert!(out.status.success());
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listed,
        layout::member_names(VALUES as u64).collect::<Vec<_>>()
    );

    // And our strict reader accepts and returns it.
    let v = sign_and_verify(bytes, &header);
    assert_gives_back(&v, &header, &expected, &inputs);
}

fn write_err(inputs: &[(Entry, Vec<Vec<u8>>)], draft: HeaderDraft) -> certferry_format::Error {
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    for (e, raw) in inputs {
        let raw: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
        if let Err(e) = w.add_entry(e.clone(), &raw) {
            return e;
        }
    }
    match w.finish(draft) {
        Ok(_) => panic!("the writer accepted invalid input"),
        Err(e) => e,
    }
}

#[test]
fn writer_refuses_mismatched_value_counts() {
    let alice = person(
        0,
        "alice",
        ObjectKind::User,
        vec![(Attribute::UserCertificate, pki("certs/alice.der"))],
    );
    // More raw values than value records, and fewer.
    for raw in [vec![alice.raw[0].clone(), alice.raw[0].clone()], Vec::new()] {
        let e = write_err(&[(alice.entry.clone(), raw)], draft());
        assert_eq!(e.class(), ErrorClass::Write, "{e}");
        assert!(e.to_string().contains("raw values"), "{e}");
    }
}

#[test]
fn writer_refuses_sequence_zero() {
    let e = write_err(
        &[],
        HeaderDraft {
            sequence: 0,
            ..draft()
        },
    );
    assert_eq!(e.class(), ErrorClass::Write, "{e}");
    // And beyond 2^63-1 (SPEC.md §3.2).
    let e = write_err(
        &[],
        HeaderDraft {
            sequence: i64::MAX as u64 + 1,
            ..draft()
        },
    );
    assert_eq!(e.class(), ErrorClass::Write, "{e}");
}

#[test]
fn writer_refuses_expiry_not_after_creation() {
    for expires in ["2026-05-31T11:59:59Z", CREATED, "2020-01-01T00:00:00Z"] {
        let e = write_err(
            &[],
            HeaderDraft {
                expires: ts(expires),
                ..draft()
            },
        );
        assert_eq!(e.class(), ErrorClass::Write, "expires {expires}: {e}");
    }
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &Path, rel: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir.join(rel)).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            files_under(dir, &r, out);
        } else {
            out.push(r.to_string_lossy().into_owned());
        }
    }
    out.sort();
}

/// SPEC.md §4.3 and the README's stock-tool recipe: a value whose bytes are a
/// complete zip local header (name `evil`) is valid; `unzip`, which reads the
/// central directory, extracts exactly the bundle's members with the value's
/// true bytes, and the manifests check.
#[test]
fn unzip_extracts_the_true_members_of_a_bundle_whose_value_holds_a_zip_header() {
    use base64::Engine as _;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("vectors/value-holding-a-zip-local-header.vector"),
    )
    .unwrap();
    let (_, body) = text.split_once("bundle:\n").unwrap();
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(body.split_whitespace().collect::<String>())
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let zip = d.path().join("b.zip");
    std::fs::write(&zip, &bundle).unwrap();
    let out = d.path().join("x");
    let st = unzip()
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let mut files = Vec::new();
    files_under(&out, Path::new(""), &mut files);
    let mut want: Vec<String> = layout::member_names(1).collect();
    want.sort();
    assert_eq!(
        files, want,
        "unzip saw other members than the central directory's"
    );
    let value = std::fs::read(out.join("data/values/00000001.bin")).unwrap();
    assert!(value.starts_with(b"PK\x03\x04"), "the value's own bytes");
    assert!(value.ends_with(b"evilnot the real value"));
    for manifest in ["tagmanifest-sha256.txt", "manifest-sha256.txt"] {
        let st = Command::new("sha256sum")
            .args(["-c", "--quiet", manifest])
            .current_dir(&out)
            .status()
            .unwrap();
        assert!(st.success(), "{manifest}");
    }
}

/// SPEC.md §7.4: one key under two roles is a policy error, found before the
/// bundle is looked at; under one role twice it is fine (it counts once).
#[test]
fn a_policy_listing_one_key_under_two_roles_is_refused() {
    let (bytes, header, _) = write_in_memory(&fixture_inputs());
    let sk = exporter_key();
    let digests = BundleDigests::of_bytes(&bytes);
    let sig = sign_bundle(
        &digests,
        &sk,
        Role::Exporter,
        &header.source,
        header.sequence,
    )
    .unwrap();
    let mut p = policy(&sk);
    p.keys.push(TrustedKey {
        name: "the same key as a reviewer".into(),
        role: Role::Reviewer,
        key: sk.public_key(),
    });
    let e = UnverifiedBundle::parse(
        bytes,
        vec![("s".into(), sig.to_bytes())],
        &Limits::default(),
    )
    .unwrap()
    .verify(&p, ts(NOW), None)
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Key, "{e}");
    assert!(e.message().contains("a key has one role"), "{e}");
}
