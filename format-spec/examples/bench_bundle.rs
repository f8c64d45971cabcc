//! Benchmark helper for `scripts/bench-verify` (issue 2, item 7).
//!
//! ```text
//! bench_bundle write BUNDLE.zip ENTRIES [--same-cert] [--crl CRL.der] [--revision-1.3]
//!     Writes a bundle of ENTRIES users with one certificate each and signs it
//!     with the committed exporter test key (format-spec/vectors/keys/exporter.key);
//!     prints the signature file's path. --same-cert gives every user alice.der
//!     itself, so every certificate has a valid path to the issuing CA (and its
//!     revocation status is looked up); --crl carries CA material: the issuing
//!     CA's certificate and that CRL (`scripts/bench-revocation`);
//!     --revision-1.3 writes revision 1.3's forms (stored, described) instead
//!     of 1.4's, for paired comparisons.
//! bench_bundle verify BUNDLE SIG PUBKEY
//!     Reads BUNDLE into memory once, runs UnverifiedBundle::parse + verify (every
//!     signature, hash and certificate) with a policy trusting PUBKEY as exporter,
//!     and prints one line: wall seconds, peak RSS, sizes and counts.
//! bench_bundle verify-parts INDEX SIG PUBKEY
//!     The same for a snapshot in parts: the part index INDEX (`*.sha256`),
//!     its signature, then every part beside it, one at a time
//!     (`UnverifiedParts::verify_keeping_with`), keeping nothing per entry:
//!     the format's own cost, without an importer's certificate policy
//!     (`scripts/bench-scale`).
//! bench_bundle stages BUNDLE
//!     Times the parts of verification separately (for profiling): reading,
//!     both digests, decode_value + find_private_key_material over every value,
//!     and JSON parsing of every entry line.
//! ```
//!
//! The certificates are `fixtures/pki/certs/alice.der` (a 959-byte RSA-2048
//! S/MIME certificate) with the last 5 characters of its subject CN replaced by
//! the entry number in hex: 100,000 distinct certificates (distinct hashes and
//! subjects), every one parsed by the verifier. Their issuer signatures no
//! longer verify, which the verifier does not check (classification is the
//! exporter's; SPEC.md §6.4).

// A benchmark driver: a broken invariant should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The same allocator as both programs (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use certferry_format::cert::{self, ClassifyContext};
use certferry_format::keys::{PublicKey, SecretKey};
use certferry_format::model::{Attribute, Entry, ObjectKind, Software};
use certferry_format::replay::ReplayRules;
use certferry_format::{
    describe_value, parts_in, sign_bundle, signature_file_name, BundleDigests, BundleWriter,
    HashedBytes, HeaderDraft, Limits, Revision, Role, SourceId, Timestamp, TrustPolicy, TrustedKey,
    UnverifiedBundle, UnverifiedParts,
};
use x509_parser::prelude::{FromDer as _, X509Certificate};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const CREATED: &str = "2026-05-31T12:00:00Z";
const EXPIRES: &str = "2026-07-01T00:00:00Z";
const NOW: &str = "2026-06-01T00:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// The template certificate and where the 5 bytes to vary lie: the end of
/// the subject CN "Alice Anderson" (a PrintableString; hex digits keep it valid).
fn template() -> Res<(Vec<u8>, usize)> {
    let der = std::fs::read(root().join("fixtures/pki/certs/alice.der"))?;
    X509Certificate::from_der(&der).map_err(|e| format!("alice.der: {e}"))?;
    let cn = b"Alice Anderson";
    let mut hits = der.windows(cn.len()).enumerate().filter(|(_, w)| w == cn);
    let (at, _) = hits.next().ok_or("subject CN not found in alice.der")?;
    if hits.next().is_some() {
        return Err("subject CN found twice in alice.der".into());
    }
    Ok((der, at + cn.len() - 5))
}

fn write(
    out: &Path,
    entries: u32,
    same_cert: bool,
    crl: Option<&Path>,
    revision: Revision,
) -> Res<()> {
    let (mut der, vary) = template()?;
    if entries > 0xfffff {
        return Err("at most 1,048,575 entries".into());
    }
    let file = std::fs::File::create(out)?;
    let spool = tempfile::tempfile()?;
    let mut w = BundleWriter::with_revision(
        BufWriter::with_capacity(1 << 20, file),
        spool,
        std::io::Cursor::new(Vec::new()),
        revision,
    )?;
    let now = ts(NOW).unix();
    for i in 0..entries {
        if !same_cert {
            der[vary..vary + 5].copy_from_slice(format!("{i:05x}").as_bytes());
        }
        let who = format!("user{i:06}");
        let mail = format!("{who}@contoso.test");
        let mut entry = Entry {
            kind: ObjectKind::User,
            object_guid: Some(format!("5d0c9a3e-7b1f-4e2a-9c6d-{i:012x}")),
            object_sid: Some(format!(
                "S-1-5-21-1004336348-1177238915-682003330-{}",
                10_000 + i
            )),
            upn: Some(mail.clone()),
            sam_account_name: Some(who.clone()),
            mail: Some(mail.clone()),
            proxy_addresses: vec![
                format!("SMTP:{mail}"),
                format!("smtp:{who}@corp.contoso.test"),
            ],
            display_name: Some(format!("Bench User {i}")),
            dn: format!("CN=Bench User {i},OU=Bench,DC=contoso,DC=test"),
            disabled: false,
            values: Vec::new(),
        };
        let addrs = entry.smtp_addresses();
        let ctx = ClassifyContext {
            now,
            addresses: &addrs,
            trusted_issuers: None,
            intermediates: &[],
        };
        entry.values = vec![describe_value(Attribute::UserCertificate, &der, |v, c| {
            cert::classify(v, c, &ctx)
        })];
        w.add_entry(entry, &[&der])?;
    }
    if let Some(crl) = crl {
        use certferry_format::pki::{PkiOrigin, PkiRecord};
        w.carry_pki();
        for path in [
            root().join("fixtures/pki/ca/issuing-ca.der"),
            crl.to_path_buf(),
        ] {
            let bytes = std::fs::read(&path)?;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            w.add_pki(
                PkiRecord::describe(PkiOrigin::File, &name, None, &bytes),
                &bytes,
            )?;
        }
    }
    let (buf, header) = w.finish(HeaderDraft {
        source: SourceId::parse("contoso-ad")?,
        sequence: 1,
        created: ts(CREATED),
        expires: ts(EXPIRES),
        previous_sha256: None,
        exporter: Software {
            name: "certferry-bench".into(),
            version: "0.1.0".into(),
        },
        source_description: "bench_bundle: alice.der with varied subject CNs".into(),
        part: None,
    })?;
    buf.into_inner().map_err(|e| e.into_error())?.sync_all()?;

    let sk = SecretKey::from_file_bytes(
        &std::fs::read(root().join("format-spec/vectors/keys/exporter.key"))?,
        None,
    )?;
    let digests = BundleDigests::of_reader(std::fs::File::open(out)?)?;
    let sig = sign_bundle(
        &digests,
        &sk,
        Role::Exporter,
        &header.source,
        header.sequence,
    )?;
    let name = out
        .file_name()
        .ok_or("bundle path has no file name")?
        .to_string_lossy();
    let sig_path = out.with_file_name(signature_file_name(&name, Role::Exporter, &sk.key_id()));
    std::fs::write(&sig_path, sig.to_bytes())?;
    println!("{}", sig_path.display());
    Ok(())
}

/// Peak resident set size of this process, in bytes (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A policy trusting PUBKEY as the one exporter required, and the label of
/// the signature file SIG (its file name).
fn exporter_policy(sig: &Path, pubkey: &Path) -> Res<(TrustPolicy, String)> {
    let pk = PublicKey::parse_file(&std::fs::read_to_string(pubkey)?)?;
    let policy = TrustPolicy {
        keys: vec![TrustedKey {
            name: "exporter".into(),
            role: Role::Exporter,
            key: pk,
        }],
        required: BTreeMap::from([(Role::Exporter, 1)]),
        replay: ReplayRules::default(),
    };
    let label = sig
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((policy, label))
}

fn verify(bundle: &Path, sig: &Path, pubkey: &Path) -> Res<()> {
    let (policy, label) = exporter_policy(sig, pubkey)?;
    let sig_bytes = std::fs::read(sig)?;

    let start = Instant::now();
    // Read once into memory, hashed while read; these bytes are verified and
    // parsed (SPEC.md §8).
    let file = std::fs::File::open(bundle)?;
    let bytes = HashedBytes::read(&file, file.metadata()?.len())?;
    let size = bytes.bytes().len();
    let read_s = start.elapsed().as_secs_f64();
    // The verifier's own cost: every entry parsed, every value decoded and
    // compared, nothing kept per entry (a caller's keeper adds what it keeps).
    let verified = UnverifiedBundle::parse(bytes, vec![(label, sig_bytes)], &Limits::default())?
        .verify_keeping(&policy, ts(NOW), None, |_| ())?;
    let total_s = start.elapsed().as_secs_f64();

    let c = &verified.header().counts;
    println!(
        "verify_seconds={total_s:.3} read_seconds={read_s:.3} peak_rss_bytes={} bundle_bytes={size} entries={} values={} certificates={} signers={}",
        peak_rss().unwrap_or(0),
        c.entries,
        c.values,
        c.certificates,
        verified.signers().len()
    );
    Ok(())
}

fn verify_parts(index: &Path, sig: &Path, pubkey: &Path) -> Res<()> {
    let (policy, label) = exporter_policy(sig, pubkey)?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let start = Instant::now();
    let file = std::fs::File::open(index)?;
    let bytes = HashedBytes::read(&file, file.metadata()?.len())?;
    let verified = UnverifiedParts::parse(
        bytes,
        vec![(label, std::fs::read(sig)?)],
        &Limits::default(),
    )?
    .verify_keeping_with(&policy, ts(NOW), None, parts_in(dir), |_, _| |_| ())?;
    let total_s = start.elapsed().as_secs_f64();
    let c = &verified.header().counts;
    println!(
        "verify_seconds={total_s:.3} peak_rss_bytes={} parts={} entries={} values={} certificates={}",
        peak_rss().unwrap_or(0),
        verified.parts().len(),
        c.entries,
        c.values,
        c.certificates,
    );
    Ok(())
}

/// Times the main parts of verification one after the other, single-threaded
/// except where the library itself uses threads, to show where time goes.
fn stages(bundle: &Path) -> Res<()> {
    let mut out = std::io::stdout().lock();
    let t = Instant::now();
    let bytes = std::fs::read(bundle)?;
    writeln!(
        out,
        "read               {:8.3} s",
        t.elapsed().as_secs_f64()
    )?;

    let t = Instant::now();
    let d = BundleDigests::of_bytes(&bytes);
    writeln!(
        out,
        "sha256+blake2b     {:8.3} s   (two threads)",
        t.elapsed().as_secs_f64()
    )?;
    std::hint::black_box(d);

    let t = Instant::now();
    let s = certferry_format::Sha256::digest(&bytes);
    writeln!(
        out,
        "sha256 alone       {:8.3} s",
        t.elapsed().as_secs_f64()
    )?;
    std::hint::black_box(s);

    let t = Instant::now();
    let b = certferry_format::signature::blake2b512(&bytes);
    writeln!(
        out,
        "blake2b alone      {:8.3} s",
        t.elapsed().as_secs_f64()
    )?;
    std::hint::black_box(b);

    // Members, walked leniently (our own bundle).
    let mut values = Vec::new();
    let mut entries = 0..0;
    let mut pos = 0usize;
    while bytes.get(pos..pos + 4) == Some(b"PK\x03\x04") {
        let size = u32::from_le_bytes(bytes[pos + 18..pos + 22].try_into()?) as usize;
        let nlen = u16::from_le_bytes(bytes[pos + 26..pos + 28].try_into()?) as usize;
        let name = &bytes[pos + 30..pos + 30 + nlen];
        let start = pos + 30 + nlen;
        if name.starts_with(b"data/values/") {
            values.push(start..start + size);
        } else if name == b"data/entries.jsonl" {
            entries = start..start + size;
        }
        pos = start + size;
    }

    let t = Instant::now();
    let mut sum = 0usize;
    for r in &values {
        sum += usize::from(certferry_format::Sha256::digest(&bytes[r.clone()]).as_bytes()[0]);
    }
    writeln!(
        out,
        "sha256 per value   {:8.3} s   ({} values)",
        t.elapsed().as_secs_f64(),
        values.len()
    )?;
    std::hint::black_box(sum);

    let t = Instant::now();
    let mut parsed = 0usize;
    for r in &values {
        parsed += usize::from(X509Certificate::from_der(&bytes[r.clone()]).is_ok());
    }
    writeln!(
        out,
        "x509 from_der      {:8.3} s   ({parsed} certificates, one thread)",
        t.elapsed().as_secs_f64()
    )?;

    let t = Instant::now();
    let mut keys = 0usize;
    for r in &values {
        keys += usize::from(cert::find_private_key_material(&bytes[r.clone()]).is_some());
    }
    writeln!(
        out,
        "private-key scan   {:8.3} s   ({keys} found, one thread)",
        t.elapsed().as_secs_f64()
    )?;

    let t = Instant::now();
    let mut certs = 0usize;
    for r in &values {
        let v = &bytes[r.clone()];
        std::hint::black_box(cert::find_private_key_material(v));
        certs += cert::decode_value(v).certificates.len();
    }
    writeln!(
        out,
        "decode_value+pk    {:8.3} s   ({certs} certificates, one thread)",
        t.elapsed().as_secs_f64()
    )?;

    let t = Instant::now();
    let mut n = 0usize;
    for line in bytes[entries.clone()].split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let e: Entry = serde_json::from_slice(line)?;
        let again = serde_json::to_vec(&e)?;
        n += usize::from(again.len() == line.len());
    }
    writeln!(
        out,
        "entry JSON parse+reserialise {:8.3} s ({n} lines, one thread)",
        t.elapsed().as_secs_f64()
    )?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", out, n, rest @ ..] => {
            let same_cert = rest.contains(&"--same-cert");
            let crl = rest
                .iter()
                .position(|a| *a == "--crl")
                .and_then(|i| rest.get(i + 1))
                .map(Path::new);
            let revision = if rest.contains(&"--revision-1.3") {
                Revision::V1_3
            } else {
                Revision::V1_4
            };
            write(Path::new(out), n.parse()?, same_cert, crl, revision)
        }
        ["verify", bundle, sig, pk] => verify(Path::new(bundle), Path::new(sig), Path::new(pk)),
        ["verify-parts", index, sig, pk] => {
            verify_parts(Path::new(index), Path::new(sig), Path::new(pk))
        }
        ["stages", bundle] => stages(Path::new(bundle)),
        _ => Err(
            "usage: bench_bundle write OUT.zip ENTRIES | verify BUNDLE SIG PUBKEY | verify-parts INDEX SIG PUBKEY | stages BUNDLE"
                .into(),
        ),
    }
}
