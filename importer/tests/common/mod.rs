//! Test support: bundles built with the format library from the fixture PKI
//! and the committed test keys, policy files, and running the real binary.
#![allow(dead_code, unreachable_pub)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use certferry_format::cert::{self, ClassifyContext};
use certferry_format::keys::SecretKey;
use certferry_format::model::{Attribute, Entry, ObjectKind, Software};
use certferry_format::pki::{PkiAttribute, PkiOrigin, PkiRecord};
use certferry_format::replay::ReplayRules;
use certferry_format::{
    describe_value, sign_bundle, signature_file_name, BundleDigests, BundleWriter, HeaderDraft,
    Limits, ParsedEntry, Role, Sha256, SourceId, Timestamp, TrustPolicy, TrustedKey,
    UnverifiedBundle,
};

pub const NOW: &str = "2026-06-01T00:00:00Z";
pub const CREATED: &str = "2026-05-31T12:00:00Z";
pub const EXPIRES: &str = "2026-07-01T00:00:00Z";
pub const SOURCE: &str = "contoso-ad";
/// Key ids of the committed test keys (format-spec/vectors/keys/).
pub const EXPORTER_KEY_ID: &str = "0100000077FE27CE";
pub const REVIEWER_KEY_ID: &str = "0200000077FE27CE";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).expect("timestamp literal")
}

pub fn pki(rel: &str) -> Vec<u8> {
    std::fs::read(root().join("fixtures/pki").join(rel))
        .unwrap_or_else(|e| panic!("fixtures/pki/{rel}: {e}"))
}

pub fn key_path(name: &str) -> PathBuf {
    root()
        .join("format-spec/vectors/keys")
        .join(format!("{name}.key"))
}

pub fn secret_key(name: &str) -> SecretKey {
    SecretKey::from_file_bytes(&std::fs::read(key_path(name)).expect("test key"), None)
        .expect("test key parses")
}

pub fn public_key_b64(name: &str) -> String {
    secret_key(name).public_key().to_base64()
}

/// One directory object of a test bundle.
#[derive(Clone)]
pub struct Person {
    pub who: String,
    pub kind: ObjectKind,
    pub guid: Option<String>,
    pub mail: String,
    pub values: Vec<(Attribute, Vec<u8>)>,
}

/// A user `who@contoso.test` with a fixed GUID derived from the name.
pub fn user(who: &str, values: Vec<(Attribute, Vec<u8>)>) -> Person {
    let n: u64 = who.bytes().fold(0, |a, b| a * 31 + u64::from(b)) & 0xffff_ffff_ffff;
    Person {
        who: who.to_owned(),
        kind: ObjectKind::User,
        guid: Some(format!("6f2d1b9a-0c3e-4d5f-8a7b-{n:012x}")),
        mail: format!("{who}@contoso.test"),
        values,
    }
}

/// A user with one userCertificate from `fixtures/pki/certs/<cert>.der`.
pub fn user_cert(who: &str, cert: &str) -> Person {
    user(
        who,
        vec![(
            Attribute::UserCertificate,
            pki(&format!("certs/{cert}.der")),
        )],
    )
}

pub struct Spec {
    pub source: String,
    pub sequence: u64,
    pub created: String,
    pub expires: String,
    pub previous_sha256: Option<Sha256>,
    pub people: Vec<Person>,
    /// CA material the bundle carries (SPEC.md §6.7); `None` carries none.
    pub pki: Option<Vec<CaObject>>,
}

/// One CA certificate or CRL for [`Spec::pki`].
pub struct CaObject {
    pub origin: PkiOrigin,
    pub location: String,
    pub attribute: Option<PkiAttribute>,
    pub bytes: Vec<u8>,
}

/// The fixture file `fixtures/pki/<rel>` as CA material given to the exporter as a file.
pub fn ca_file(rel: &str) -> CaObject {
    CaObject {
        origin: PkiOrigin::File,
        location: rel.rsplit('/').next().unwrap_or(rel).to_owned(),
        attribute: None,
        bytes: pki(rel),
    }
}

impl Spec {
    pub fn new(sequence: u64, people: Vec<Person>) -> Self {
        Self {
            source: SOURCE.into(),
            sequence,
            created: CREATED.into(),
            expires: EXPIRES.into(),
            previous_sha256: None,
            people,
            pki: None,
        }
    }
}

/// The bundle bytes for `spec` (the exporter's classification is made with
/// no trusted CA at NOW; the importer must not rely on it anyway).
pub fn build(spec: &Spec) -> Vec<u8> {
    let mut w =
        BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).expect("writer");
    for p in &spec.people {
        let user = p.kind == ObjectKind::User;
        let mut entry = Entry {
            kind: p.kind,
            object_guid: p.guid.clone(),
            object_sid: None,
            upn: user.then(|| p.mail.clone()),
            sam_account_name: user.then(|| p.who.clone()),
            mail: Some(p.mail.clone()),
            proxy_addresses: vec![format!("SMTP:{}", p.mail)],
            display_name: Some(format!("Test {}", p.who)),
            dn: format!("CN={},OU=Users,DC=contoso,DC=test", p.who),
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
        entry.values = p
            .values
            .iter()
            .map(|(a, v)| describe_value(*a, v, |val, c| cert::classify(val, c, &ctx)))
            .collect();
        let raw: Vec<&[u8]> = p.values.iter().map(|(_, v)| v.as_slice()).collect();
        w.add_entry(entry, &raw).expect("add entry");
    }
    if let Some(objects) = &spec.pki {
        w.carry_pki();
        for o in objects {
            let record = PkiRecord::describe(o.origin, &o.location, o.attribute, &o.bytes);
            w.add_pki(record, &o.bytes).expect("add CA material");
        }
    }
    let (out, _) = w
        .finish(HeaderDraft {
            source: SourceId::parse(&spec.source).expect("source id"),
            sequence: spec.sequence,
            created: ts(&spec.created),
            expires: ts(&spec.expires),
            previous_sha256: spec.previous_sha256,
            exporter: Software {
                name: "certferry-test".into(),
                version: "0.1.0".into(),
            },
            source_description: "importer test bundle".into(),
            part: None,
        })
        .expect("finish");
    out.into_inner()
}

/// The bundle for `spec`, signed by the exporter key, parsed, with the trust
/// policy that accepts that key.
fn signed(spec: &Spec) -> (UnverifiedBundle, TrustPolicy) {
    let bytes = build(spec);
    let sk = secret_key("exporter");
    let source = SourceId::parse(&spec.source).expect("source id");
    let sig = sign_bundle(
        &BundleDigests::of_bytes(&bytes),
        &sk,
        Role::Exporter,
        &source,
        spec.sequence,
    )
    .expect("sign");
    let trust = TrustPolicy {
        keys: vec![TrustedKey {
            name: "exporter".into(),
            role: Role::Exporter,
            key: sk.public_key(),
        }],
        required: [(Role::Exporter, 1)].into(),
        replay: ReplayRules::default(),
    };
    let name = signature_file_name("bundle.zip", Role::Exporter, &sk.key_id());
    let unverified =
        UnverifiedBundle::parse(bytes, vec![(name, sig.to_bytes())], &Limits::default())
            .expect("a test bundle parses");
    (unverified, trust)
}

/// The bundle for `spec`, signed by the exporter key and verified in memory
/// at NOW, keeping what `keep` makes of each entry: the only way the
/// importer's core functions can be given entries.
pub fn verified_keeping<T: Send>(
    spec: &Spec,
    keep: impl Fn(ParsedEntry<'_>) -> T + Sync,
) -> certferry_import::verified::Verified<T> {
    let (unverified, trust) = signed(spec);
    certferry_import::verified::Verified::Bundle(
        unverified
            .verify_keeping(&trust, ts(NOW), None, keep)
            .expect("a test bundle verifies"),
    )
}

/// The bundle for `spec`, signed, verified and judged under `policy` at NOW
/// as the importer's commands do: with the bundle's CA material.
pub fn verified_judged(
    spec: &Spec,
    policy: &certferry_import::certpolicy::CertificatePolicy,
) -> certferry_import::certpolicy::JudgedBundle {
    let (unverified, trust) = signed(spec);
    certferry_import::certpolicy::judge_bundle_file(unverified, &trust, ts(NOW), None, policy)
        .expect("a test bundle verifies")
}

pub fn bundle_name(source: &str, sequence: u64) -> String {
    format!("certferry-{source}-{sequence:010}.zip")
}

/// Writes the bundle into `dir` and signs it with the exporter key; returns its path.
pub fn write_signed(dir: &Path, spec: &Spec) -> PathBuf {
    let bytes = build(spec);
    let name = bundle_name(&spec.source, spec.sequence);
    let path = dir.join(&name);
    std::fs::write(&path, &bytes).expect("write bundle");
    sign(&path, "exporter", Role::Exporter);
    path
}

/// Adds a signature by test key `key` in `role` beside the bundle.
pub fn sign(bundle: &Path, key: &str, role: Role) -> PathBuf {
    let bytes = std::fs::read(bundle).expect("bundle");
    let d = BundleDigests::of_bytes(&bytes);
    let sk = secret_key(key);
    let (source, seq) = header_of(&bytes);
    let sig = sign_bundle(
        &d,
        &sk,
        role,
        &SourceId::parse(&source).expect("source"),
        seq,
    )
    .expect("sign");
    let name = bundle.file_name().and_then(|n| n.to_str()).expect("name");
    let path = bundle.with_file_name(signature_file_name(name, role, &sk.key_id()));
    std::fs::write(&path, sig.to_bytes()).expect("write signature");
    path
}

/// Source and sequence from the bundle's `bundle.json` (test input is our own).
fn header_of(zip: &[u8]) -> (String, u64) {
    let needle = b"{\"format\":\"certferry-bundle\"";
    let start = zip
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("bundle.json");
    let end = start + zip[start..].iter().position(|&b| b == b'\n').expect("LF");
    let v: serde_json::Value = serde_json::from_slice(&zip[start..end]).expect("json");
    (
        v["source"].as_str().expect("source").to_owned(),
        v["sequence"].as_u64().expect("sequence"),
    )
}

pub fn sha256_of(path: &Path) -> Sha256 {
    Sha256::digest(&std::fs::read(path).expect("read"))
}

/// Policy knobs for [`write_policy`].
pub struct PolicyOpts {
    pub reviewer: usize,
    pub exporter: usize,
    pub max_age: Option<&'static str>,
    pub extra_signers: String,
    pub certificates_extra: String,
    /// `certificates.trusted_ca`, relative to `fixtures/pki`.
    pub trusted_ca: &'static str,
}

impl Default for PolicyOpts {
    fn default() -> Self {
        Self {
            reviewer: 0,
            exporter: 1,
            max_age: None,
            extra_signers: String::new(),
            certificates_extra: String::new(),
            trusted_ca: "ca/issuing-ca.pem",
        }
    }
}

/// [`write_policy`] for a policy that needs a reviewer's signature as well
/// as the exporter's.
pub fn write_review_policy(dir: &Path) -> PathBuf {
    write_policy(
        dir,
        &PolicyOpts {
            reviewer: 1,
            ..PolicyOpts::default()
        },
    )
}

/// Writes `policy.toml` into `dir` trusting the test exporter and reviewer keys
/// and the fixture issuing CA; state in `dir/state.sqlite`.
/// The `certificates.intermediate_ca` line for `files` (under `fixtures/pki`),
/// for [`PolicyOpts::certificates_extra`]; empty for no files.
pub fn intermediate_ca_line(files: &[&str]) -> String {
    if files.is_empty() {
        return String::new();
    }
    let list: Vec<String> = files
        .iter()
        .map(|f| {
            format!(
                "{:?}",
                root().join("fixtures/pki").join(f).display().to_string()
            )
        })
        .collect();
    format!("intermediate_ca = [{}]\n", list.join(", "))
}

pub fn write_policy(dir: &Path, o: &PolicyOpts) -> PathBuf {
    let ca = root().join("fixtures/pki").join(o.trusted_ca);
    let text = format!(
        r#"# test policy
[[signers]]
name = "test exporter"
role = "exporter"
public_key = "{exp}"

[[signers]]
name = "test reviewer"
role = "reviewer"
public_key = "{rev}"
{extra}
[require]
exporter = {ne}
reviewer = {nr}

[[sources]]
id = "{SOURCE}"
max_sequence_jump = 10
{age}

[certificates]
trusted_ca = ["{ca}"]
{cext}
[state]
path = "state.sqlite"
"#,
        exp = public_key_b64("exporter"),
        rev = public_key_b64("reviewer"),
        extra = o.extra_signers,
        ne = o.exporter,
        nr = o.reviewer,
        age = o
            .max_age
            .map(|a| format!("max_age = \"{a}\""))
            .unwrap_or_default(),
        ca = ca.display(),
        cext = o.certificates_extra,
    );
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).expect("write policy");
    p
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `verify --json` of `bundle` under `policy` at [`NOW`]: the run, and its
/// standard output parsed (`Null` when it is not JSON).
pub fn verify_json(policy: &Path, bundle: &Path) -> (Out, serde_json::Value) {
    let out = run(&[
        "verify",
        "--policy",
        s(policy),
        "--now",
        NOW,
        "--json",
        s(bundle),
    ]);
    let json = serde_json::from_str(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

/// Runs the real binary.
pub fn run(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_certferry-import"))
        .args(args)
        .env_remove("CERTFERRY_KEY_PASSWORD")
        .output()
        .expect("run certferry-import");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes `tenant.toml` into `dir` for the simulator `sim` (app certificate
/// from fixtures/tenant, plain HTTP on loopback allowed), with `extra` lines.
pub fn write_tenant(dir: &Path, sim: &exo_simulator::SimHandle, extra: &str) -> String {
    let p = dir.join("tenant.toml");
    std::fs::write(
        &p,
        format!(
            "tenant = \"{}\"\nclient_id = \"{}\"\ncertificate = \"{}\"\nkey = \"{}\"\n{extra}\n[endpoints]\nlogin = \"{b}\"\nexo = \"{b}\"\ndangerous_allow_http_loopback = true\n",
            sim.tenant_id(),
            sim.client_id(),
            root().join("fixtures/tenant/app.pem").display(),
            root().join("fixtures/tenant/app.key").display(),
            b = sim.base_url()
        ),
    )
    .unwrap();
    p.display().to_string()
}
