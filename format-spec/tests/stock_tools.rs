//! Real bundles against the stock tools (issue 2, item 5; SPEC.md §4.5, §7.2):
//!
//! - stock `minisign -V` verifies a bundle signed by our code and prints the
//!   certferry trusted comment;
//! - a reviewer signature made by stock `minisign -S` (key from `minisign -G -W`)
//!   counts as a reviewer approval in our verifier;
//! - after `unzip`, `sha256sum -c` passes on both manifests and `bagit.py
//!   --validate` accepts the bag; a tampered value makes `sha256sum -c` fail.
//!
//! When a tool is missing these tests FAIL with an install hint: a silently
//! skipped interop test proves nothing. `scripts/install-test-deps` installs
//! them all (`minisign`, `unzip`, coreutils' `sha256sum`, PyPI `bagit`).

// Test code: a broken invariant should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certferry_format::cert::{self, ClassifyContext};
use certferry_format::keys::{PublicKey, SecretKey};
use certferry_format::model::{Attribute, BundleHeader, Entry, ObjectKind, Software};
use certferry_format::replay::ReplayRules;
use certferry_format::trusted_comment::TrustedComment;
use certferry_format::{
    describe_value, layout, sign_bundle, signature_file_name, BundleDigests, BundleWriter,
    ErrorClass, HeaderDraft, Limits, Role, SourceId, Timestamp, TrustPolicy, TrustedKey,
    UnverifiedBundle,
};

const NOW: &str = "2026-06-01T00:00:00Z";
const BUNDLE_NAME: &str = "certferry-contoso-ad-0000000042.zip";

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// `tool` with `args` must run and succeed, else the test fails with `hint`.
fn require_tool(tool: &str, args: &[&str], hint: &str) -> Command {
    let found = Command::new(tool).args(args).stdin(Stdio::null()).output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "the stock `{tool}` tool is required by this interop test but does not run \
         ({:?}); install it: {hint} (scripts/install-test-deps installs every tool the \
         tests need)",
        found.map(|o| o.status)
    );
    Command::new(tool)
}

fn minisign() -> Command {
    let mut cmd = require_tool(
        "minisign",
        &["-v"],
        "Debian/Ubuntu: `apt-get install -y minisign`",
    );
    cmd.env_remove("MINISIGN_PASSWORD");
    cmd
}

fn unzip() -> Command {
    require_tool(
        "unzip",
        &["-v"],
        "Debian/Ubuntu: `apt-get install -y unzip`",
    )
}

fn sha256sum() -> Command {
    require_tool(
        "sha256sum",
        &["--version"],
        "Debian/Ubuntu: `apt-get install -y coreutils`",
    )
}

fn bagit_py() -> Command {
    require_tool(
        "bagit.py",
        &["--version"],
        "`python3 -m pip install bagit` (PyPI), and make sure `bagit.py` is on PATH",
    )
}

/// Runs `cmd` (stdin empty) and returns its output, whatever the status.
fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn show(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?} ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` and requires success.
fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "failed: {}", show(&cmd, &out));
    out
}

fn pki(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/pki")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn exporter_key() -> SecretKey {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/keys/exporter.key");
    SecretKey::from_file_bytes(&std::fs::read(p).unwrap(), None).unwrap()
}

/// A user name and its attribute values.
type Person<'a> = (&'a str, Vec<(Attribute, Vec<u8>)>);

/// A small real bundle: DER certificates, a PKCS#7 blob, a BER one and garbage.
fn build_bundle() -> (Vec<u8>, BundleHeader) {
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    let people: [Person<'_>; 4] = [
        (
            "alice",
            vec![(Attribute::UserCertificate, pki("certs/alice.der"))],
        ),
        (
            "bob",
            vec![
                (Attribute::UserCertificate, pki("certs/bob.der")),
                (Attribute::UserSmimeCertificate, pki("smime/heidi.p7b")),
            ],
        ),
        (
            "peggy",
            vec![(Attribute::UserSmimeCertificate, pki("smime/peggy-ber.p7s"))],
        ),
        (
            "trudy",
            vec![(
                Attribute::UserSmimeCertificate,
                pki("smime/trudy-garbage.bin"),
            )],
        ),
    ];
    for (i, (who, values)) in people.iter().enumerate() {
        let mail = format!("{who}@contoso.test");
        let mut entry = Entry {
            kind: ObjectKind::User,
            object_guid: Some(format!("3c1f7d2e-5a6b-4c8d-9e0f-{:012x}", i + 1)),
            object_sid: Some(format!("S-1-5-21-1-2-3-{}", 1100 + i)),
            upn: Some(mail.clone()),
            sam_account_name: Some((*who).to_owned()),
            mail: Some(mail.clone()),
            proxy_addresses: vec![format!("SMTP:{mail}")],
            display_name: Some(format!("{who} (stock tools)")),
            dn: format!("CN={who},OU=Users,DC=contoso,DC=test"),
            disabled: false,
            values: Vec::new(),
        };
        let addrs = entry.smtp_addresses();
        let ctx = ClassifyContext {
            now: ts(NOW).unix(),
            addresses: &addrs,
            trusted_issuers: None,
            intermediates: &[],
        };
        entry.values = values
            .iter()
            .map(|(a, v)| describe_value(*a, v, |val, c| cert::classify(val, c, &ctx)))
            .collect();
        let raw: Vec<&[u8]> = values.iter().map(|(_, v)| v.as_slice()).collect();
        w.add_entry(entry, &raw).unwrap();
    }
    let (out, header) = w
        .finish(HeaderDraft {
            source: SourceId::parse("contoso-ad").unwrap(),
            sequence: 42,
            created: ts("2026-05-31T12:00:00Z"),
            expires: ts("2026-07-01T00:00:00Z"),
            previous_sha256: None,
            exporter: Software {
                name: "certferry-export".into(),
                version: "0.1.0".into(),
            },
            source_description: "stock tools interop test".into(),
            part: None,
        })
        .unwrap();
    (out.into_inner(), header)
}

/// The bundle written to `dir` with our exporter signature beside it.
struct Signed {
    bundle: PathBuf,
    bytes: Vec<u8>,
    header: BundleHeader,
    exporter_sig: PathBuf,
    exporter: SecretKey,
}

fn signed_bundle(dir: &Path) -> Signed {
    let (bytes, header) = build_bundle();
    let exporter = exporter_key();
    let digests = BundleDigests::of_bytes(&bytes);
    let sig = sign_bundle(
        &digests,
        &exporter,
        Role::Exporter,
        &header.source,
        header.sequence,
    )
    .unwrap();
    let bundle = dir.join(BUNDLE_NAME);
    std::fs::write(&bundle, &bytes).unwrap();
    let exporter_sig = dir.join(signature_file_name(
        BUNDLE_NAME,
        Role::Exporter,
        &exporter.key_id(),
    ));
    std::fs::write(&exporter_sig, sig.to_bytes()).unwrap();
    Signed {
        bundle,
        bytes,
        header,
        exporter_sig,
        exporter,
    }
}

fn trusted_comment(s: &Signed, role: Role) -> String {
    TrustedComment {
        role,
        source: s.header.source.clone(),
        sequence: s.header.sequence,
        sha256: BundleDigests::of_bytes(&s.bytes).sha256,
    }
    .to_string()
}

#[test]
fn stock_minisign_verifies_our_bundle_signature_and_prints_trusted_comment() {
    let dir = tempfile::tempdir().unwrap();
    let s = signed_bundle(dir.path());
    let mut cmd = minisign();
    cmd.arg("-V")
        .arg("-P")
        .arg(s.exporter.public_key().to_base64())
        .arg("-m")
        .arg(&s.bundle)
        .arg("-x")
        .arg(&s.exporter_sig);
    let out = run_ok(cmd);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let tc = trusted_comment(&s, Role::Exporter);
    assert!(tc.starts_with("certferry-bundle:v1 role=exporter source=contoso-ad seq=42 sha256="));
    assert!(
        stdout.contains(&format!("Trusted comment: {tc}\n")),
        "minisign output: {stdout}"
    );

    // The same file with one byte changed fails with stock minisign too.
    let mut tampered = s.bytes.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    std::fs::write(&s.bundle, &tampered).unwrap();
    let mut cmd = minisign();
    cmd.arg("-V")
        .arg("-P")
        .arg(s.exporter.public_key().to_base64())
        .arg("-m")
        .arg(&s.bundle)
        .arg("-x")
        .arg(&s.exporter_sig);
    let out = run(&mut cmd);
    assert!(
        !out.status.success(),
        "stock minisign accepted a tampered bundle"
    );
}

#[test]
fn stock_minisign_reviewer_signature_counts_as_reviewer_approval() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = signed_bundle(d);

    // The reviewer's key pair, made by the stock tool without a password.
    let mut cmd = minisign();
    cmd.args(["-G", "-W", "-p"])
        .arg(d.join("reviewer.pub"))
        .arg("-s")
        .arg(d.join("reviewer.key"));
    run_ok(cmd);
    let reviewer_pk =
        PublicKey::parse_file(&std::fs::read_to_string(d.join("reviewer.pub")).unwrap()).unwrap();

    // The reviewer signs with stock minisign, as SPEC.md §7.2 tells them to.
    let sig_name = signature_file_name(BUNDLE_NAME, Role::Reviewer, &reviewer_pk.key_id());
    let tc = trusted_comment(&s, Role::Reviewer);
    let mut cmd = minisign();
    cmd.arg("-S")
        .arg("-s")
        .arg(d.join("reviewer.key"))
        .arg("-m")
        .arg(&s.bundle)
        .arg("-t")
        .arg(&tc)
        .arg("-x")
        .arg(d.join(&sig_name));
    run_ok(cmd);

    let policy = TrustPolicy {
        keys: vec![
            TrustedKey {
                name: "exporter".into(),
                role: Role::Exporter,
                key: s.exporter.public_key(),
            },
            TrustedKey {
                name: "stock reviewer".into(),
                role: Role::Reviewer,
                key: reviewer_pk.clone(),
            },
        ],
        required: BTreeMap::from([(Role::Exporter, 1), (Role::Reviewer, 1)]),
        replay: ReplayRules::default(),
    };
    let exporter_sig = (
        s.exporter_sig
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        std::fs::read(&s.exporter_sig).unwrap(),
    );
    let reviewer_sig = (sig_name.clone(), std::fs::read(d.join(&sig_name)).unwrap());
    // Read from disk, as an importer would.
    let bytes = std::fs::read(&s.bundle).unwrap();

    let v = UnverifiedBundle::parse(
        bytes.clone(),
        vec![exporter_sig.clone(), reviewer_sig],
        &Limits::default(),
    )
    .unwrap()
    .verify(&policy, ts(NOW), None)
    .unwrap_or_else(|e| panic!("stock reviewer signature not accepted: {e}"));
    let mut roles: Vec<(Role, String)> = v
        .signers()
        .iter()
        .map(|s| (s.role, s.file.clone()))
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            (Role::Exporter, exporter_sig.0.clone()),
            (Role::Reviewer, sig_name),
        ]
    );
    assert!(v
        .signers()
        .iter()
        .any(|s| s.role == Role::Reviewer && s.key_id == reviewer_pk.key_id()));

    // Without the reviewer's file, the same policy refuses the bundle.
    let e = UnverifiedBundle::parse(bytes, vec![exporter_sig], &Limits::default())
        .unwrap()
        .verify(&policy, ts(NOW), None)
        .expect_err("exporter alone meets an exporter+reviewer policy");
    assert_eq!(e.class(), ErrorClass::ThresholdNotMet, "{e}");
}

/// Unzips the bundle into `dir/bag` with stock `unzip` and returns that directory.
fn unzipped(dir: &Path, bundle: &Path) -> PathBuf {
    let bag = dir.join("bag");
    let mut cmd = unzip();
    cmd.arg("-q").arg(bundle).arg("-d").arg(&bag);
    run_ok(cmd);
    bag
}

fn sha256sum_check(bag: &Path, manifest: &str) -> Output {
    let mut cmd = sha256sum();
    cmd.current_dir(bag).arg("--strict").arg("-c").arg(manifest);
    run(&mut cmd)
}

#[test]
fn unzipped_bundle_passes_sha256sum_and_bagit_validation() {
    let dir = tempfile::tempdir().unwrap();
    let s = signed_bundle(dir.path());
    let bag = unzipped(dir.path(), &s.bundle);

    // Exactly the canonical files, nothing else.
    let mut found = Vec::new();
    for e in walk(&bag) {
        found.push(
            e.strip_prefix(&bag)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/"),
        );
    }
    found.sort();
    let mut want: Vec<String> = layout::member_names(s.header.counts.values).collect();
    want.sort();
    assert_eq!(found, want);

    for manifest in [layout::MANIFEST, layout::TAG_MANIFEST] {
        let out = sha256sum_check(&bag, manifest);
        assert!(
            out.status.success(),
            "sha256sum -c {manifest}: {}",
            String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
        );
        let ok_lines = String::from_utf8_lossy(&out.stdout)
            .matches(": OK\n")
            .count();
        let lines = std::fs::read_to_string(bag.join(manifest))
            .unwrap()
            .lines()
            .count();
        assert_eq!(
            ok_lines, lines,
            "sha256sum checked every line of {manifest}"
        );
    }

    let mut cmd = bagit_py();
    cmd.arg("--validate").arg(&bag);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "bagit.py --validate rejects our bag: {}",
        show(&cmd, &out)
    );
    let mut cmd = bagit_py();
    cmd.arg("--validate").arg("--fast").arg(&bag);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "bagit.py --validate --fast (Payload-Oxum) rejects our bag: {}",
        show(&cmd, &out)
    );
}

#[test]
fn tampered_extracted_value_fails_sha256sum_and_bagit() {
    let dir = tempfile::tempdir().unwrap();
    let s = signed_bundle(dir.path());
    let bag = unzipped(dir.path(), &s.bundle);
    let value = bag.join(layout::value_file_name(1));
    let mut bytes = std::fs::read(&value).unwrap();
    bytes[10] ^= 0x40; // same length: only the hash can tell
    std::fs::write(&value, &bytes).unwrap();

    let out = sha256sum_check(&bag, layout::MANIFEST);
    assert!(
        !out.status.success(),
        "sha256sum -c accepted a tampered value"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}: FAILED", layout::value_file_name(1))),
        "{stdout}"
    );
    // The tag manifest covers only tag files: it still passes.
    assert!(sha256sum_check(&bag, layout::TAG_MANIFEST).status.success());

    let mut cmd = bagit_py();
    cmd.arg("--validate").arg(&bag);
    let out = run(&mut cmd);
    assert!(!out.status.success(), "bagit.py accepted a tampered bag");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
