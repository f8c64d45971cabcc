//! Runs every test vector in `format-spec/vectors/` through the verifier
//! (SPEC.md §11). A vector that fails with another class than it expects, or
//! succeeds when it expects a failure, fails this test.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use certferry_format::keys::PublicKey;
use certferry_format::replay::{ReplayRules, SourceState};
use certferry_format::{
    Limits, Role, Sha256, SourceId, Timestamp, TrustPolicy, TrustedKey, UnverifiedBundle,
    VerifiedBundle,
};

struct Case {
    /// Pinned CAs for the status lines (revision 1.3, SPEC.md §6.8).
    anchors: Vec<Vec<u8>>,
    /// Each entry's expected path and revocation status.
    statuses: Vec<(usize, String)>,
    expect: String,
    now: Timestamp,
    policy: TrustPolicy,
    previous: Option<SourceState>,
    signatures: Vec<(String, Vec<u8>)>,
    /// Part files beside a part index (revision 1.4, SPEC.md §4.6).
    parts: BTreeMap<String, Vec<u8>>,
    bundle: Vec<u8>,
}

fn parse_vector(text: &str) -> Result<Case, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut expect = None;
    let mut now = None;
    let mut keys = Vec::new();
    let mut required = BTreeMap::new();
    let mut previous = None;
    let mut replay = ReplayRules::default();
    let mut signatures = Vec::new();
    let mut anchors = Vec::new();
    let mut statuses = Vec::new();
    let mut parts = BTreeMap::new();
    let mut lines = text.lines();
    let mut bundle_b64 = String::new();
    while let Some(line) = lines.next() {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        let value = value.trim_start();
        match key {
            "expect" => expect = Some(value.to_owned()),
            "comment" => {}
            "now" => now = Some(Timestamp::parse(value).ok_or("bad now")?),
            "trusted" => {
                let (role, pk) = value.split_once(' ').ok_or("bad trusted")?;
                let role: Role = role.parse().map_err(|_| "bad role")?;
                let key = PublicKey::from_base64(pk).map_err(|e| e.to_string())?;
                keys.push(TrustedKey {
                    name: format!("key{}", keys.len() + 1),
                    role,
                    key,
                });
            }
            "require" => {
                let (role, n) = value.split_once(' ').ok_or("bad require")?;
                required.insert(
                    role.parse::<Role>().map_err(|_| "bad role")?,
                    n.parse().map_err(|_| "bad count")?,
                );
            }
            "previous" => {
                let parts: Vec<&str> = value.split(' ').collect();
                previous = Some(SourceState {
                    sequence: parts[0].parse().map_err(|_| "bad seq")?,
                    sha256: Sha256::parse_hex(parts[1]).ok_or("bad sha")?,
                    created: Timestamp::parse(parts[2]).ok_or("bad created")?,
                });
            }
            "max-jump" => replay.max_sequence_jump = Some(value.parse().map_err(|_| "bad jump")?),
            "accept-source" => {
                replay.accepted_sources =
                    Some(vec![SourceId::parse(value).map_err(|e| e.to_string())?])
            }
            "anchor" => anchors.push(b64.decode(value).map_err(|e| e.to_string())?),
            "status" => {
                let (entry, status) = value.split_once(' ').ok_or("bad status")?;
                statuses.push((entry.parse().map_err(|_| "bad entry")?, status.to_owned()));
            }
            "signature" => {
                let (label, sig) = value.split_once(' ').ok_or("bad signature")?;
                signatures.push((
                    label.to_owned(),
                    b64.decode(sig).map_err(|e| e.to_string())?,
                ));
            }
            "part" => {
                let (name, part) = value.split_once(' ').ok_or("bad part")?;
                parts.insert(
                    name.to_owned(),
                    b64.decode(part).map_err(|e| e.to_string())?,
                );
            }
            "bundle" => {
                for l in lines.by_ref() {
                    bundle_b64.push_str(l);
                }
            }
            other => return Err(format!("unknown header {other:?}")),
        }
    }
    Ok(Case {
        anchors,
        statuses,
        expect: expect.ok_or("no expect")?,
        now: now.ok_or("no now")?,
        policy: TrustPolicy {
            keys,
            required,
            replay,
        },
        previous,
        signatures,
        parts,
        bundle: b64.decode(bundle_b64).map_err(|e| e.to_string())?,
    })
}

fn vectors_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

#[test]
fn every_vector_gives_exactly_its_expected_outcome() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .expect("format-spec/vectors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "vector"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "expected at least 40 vectors, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut successes = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let case = parse_vector(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if certferry_format::parts::is_part_index(&case.bundle) {
            let outcome = verify_parts(&case);
            record(&name, &case.expect, outcome, &mut failures, &mut successes);
            continue;
        }
        let outcome = UnverifiedBundle::parse(case.bundle, case.signatures, &Limits::default())
            .and_then(|u| u.verify(&case.policy, case.now, case.previous.as_ref()));
        if let Ok(b) = &outcome {
            for (entry, want) in &case.statuses {
                let got = status_of(b, &case.anchors, *entry, case.now);
                if &got != want {
                    failures.push(format!(
                        "{name}: entry {entry}: expected status {want}, got {got}"
                    ));
                }
            }
        }
        record(
            &name,
            &case.expect,
            outcome.map(|_| ()),
            &mut failures,
            &mut successes,
        );
    }
    assert!(successes >= 1, "no valid vector");
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// A snapshot in parts: the part index in `bundle`, its parts from the
/// vector's `part` lines (one it does not give cannot be read).
fn verify_parts(case: &Case) -> certferry_format::Result<()> {
    let reader = |name: &str, _max: u64| {
        case.parts
            .get(name)
            .map(|bytes| certferry_format::PartBytes::new(bytes.clone()))
            .ok_or_else(|| {
                certferry_format::Error::new(
                    certferry_format::ErrorClass::PartMissing,
                    format!("{name}: no such part beside the index"),
                )
            })
    };
    certferry_format::UnverifiedParts::parse(
        case.bundle.clone(),
        case.signatures.clone(),
        &Limits::default(),
    )?
    .verify_keeping_with(
        &case.policy,
        case.now,
        case.previous.as_ref(),
        reader,
        |_, _| |_: certferry_format::ParsedEntry<'_>| (),
    )
    .map(|_| ())
}

/// Compares one outcome with the vector's expectation.
fn record(
    name: &str,
    expect: &str,
    outcome: certferry_format::Result<()>,
    failures: &mut Vec<String>,
    successes: &mut usize,
) {
    let got = match &outcome {
        Ok(()) => "success".to_owned(),
        Err(e) => e.class().name().to_owned(),
    };
    if got == "success" {
        *successes += 1;
    }
    if std::env::var_os("CERTFERRY_VECTOR_MESSAGES").is_some() {
        if let Err(e) = &outcome {
            eprintln!("{name}: {e}");
        }
    }
    if got != expect {
        let detail = outcome.err().map(|e| e.to_string()).unwrap_or_default();
        failures.push(format!("{name}: expected {expect}, got {got} {detail}"));
    }
}

#[test]
fn every_error_class_of_verification_has_a_vector() {
    let mut seen = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(vectors_dir()).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "vector") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        if let Some(l) = text.lines().next().and_then(|l| l.strip_prefix("expect: ")) {
            seen.insert(l.to_owned());
        }
    }
    for class in certferry_format::ErrorClass::ALL {
        let name = class.name();
        if matches!(name, "key" | "write") {
            continue; // not verification outcomes (SPEC.md §10)
        }
        assert!(seen.contains(name), "no vector expects {name}");
    }
}

/// The path and revocation status of entry `entry`'s one certificate, as
/// SPEC.md §6.8 describes them: a path to one of `anchors` through the
/// bundle's CA certificates, then the status from the bundle's CRLs.
fn status_of(b: &VerifiedBundle, anchors: &[Vec<u8>], entry: usize, now: Timestamp) -> String {
    use certferry_format::cert::chain::{build_path, CaCertificate, TrustedIssuer};
    use certferry_format::pki::revocation::RevocationIndex;
    use certferry_format::pki::PkiKind;
    let anchors: Vec<TrustedIssuer> = anchors
        .iter()
        .map(|a| TrustedIssuer::from_der(a).expect("anchor"))
        .collect();
    let helpers: Vec<CaCertificate> = b
        .pki()
        .filter(|p| p.record().kind == PkiKind::Certificate)
        .map(|p| CaCertificate::from_der(p.bytes()).expect("CA certificate"))
        .collect();
    let e = b.entries().nth(entry - 1).expect("entry");
    let v = e.values().next().expect("value");
    let cert = &v.decoded().expect("decoded").certificates[0];
    let Ok(path) = build_path(v.bytes(), cert, &anchors, &helpers, now.unix()) else {
        return "no-path".to_owned();
    };
    let chain: Vec<&CaCertificate> = path
        .intermediates
        .iter()
        .map(|&i| &helpers[i])
        .chain([anchors[path.anchor].ca()])
        .collect();
    let crls: Vec<(&[u8], String)> = b
        .pki()
        .filter(|p| p.record().kind == PkiKind::Crl)
        .map(|p| (p.bytes(), p.record().file.clone()))
        .collect();
    RevocationIndex::build(crls, &anchors, &helpers, now.unix())
        .path_status(&cert.serial, &chain, b.header().created.unix(), now.unix())
        .code()
        .to_owned()
}
