//! `verify`: signatures and roles, replay rules, and the importer's own
//! certificate policy, through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use certferry_format::model::Attribute;
use certferry_format::Role;
use common::*;

fn verify(policy: &std::path::Path, bundle: &std::path::Path) -> Out {
    run(&["verify", "--policy", s(policy), "--now", NOW, s(bundle)])
}

fn mark(policy: &std::path::Path, bundle: &std::path::Path) -> Out {
    run(&[
        "mark-imported",
        "--policy",
        s(policy),
        "--now",
        NOW,
        s(bundle),
    ])
}

#[test]
fn accepted_when_signed_by_the_required_roles() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let b = write_signed(
        d.path(),
        &Spec::new(
            1,
            vec![user_cert("alice", "alice"), user_cert("bob", "bob")],
        ),
    );
    sign(&b, "reviewer", Role::Reviewer);
    let out = verify(&policy, &b);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("VALID"), "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("test exporter (exporter, key {EXPORTER_KEY_ID})")),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains(&format!("test reviewer (reviewer, key {REVIEWER_KEY_ID})")),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("2 entries, 2 values: 2 accepted, 0 refused"),
        "{out:?}"
    );

    let (json, v) = verify_json(&policy, &b);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(v["verdict"], "valid");
    assert_eq!(v["counts"]["accepted"], 2);
    assert_eq!(v["signers"].as_array().unwrap().len(), 2);
}

#[test]
fn refused_when_a_role_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("bundle invalid (threshold-not-met)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("reviewer"), "{out:?}");
    let (_, v) = verify_json(&policy, &b);
    assert_eq!(v["verdict"], "invalid");
    assert_eq!(v["class"], "threshold-not-met");
    // A reviewer signature by a key the policy does not list is named as ignored.
    sign(&b, "outsider", Role::Reviewer);
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr
            .contains("ignored, their keys are not in the policy"),
        "{out:?}"
    );
    assert!(out.stderr.contains("by key 0300000077FE27CE"), "{out:?}");
}

#[test]
fn a_duplicated_key_counts_once() {
    let d = tempfile::tempdir().unwrap();
    // Two exporter signatures required; the same key signs twice (two files).
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            exporter: 2,
            extra_signers: format!(
                "[[signers]]\nname = \"second exporter\"\nrole = \"exporter\"\npublic_key = \"{}\"\n",
                public_key_b64("outsider")
            ),
            ..PolicyOpts::default()
        },
    );
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let first = b.with_file_name(format!(
        "{}.exporter.{EXPORTER_KEY_ID}.minisig",
        b.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::copy(
        &first,
        b.with_file_name(format!(
            "{}.minisig",
            b.file_name().unwrap().to_str().unwrap()
        )),
    )
    .unwrap();
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("threshold-not-met"), "{out:?}");
    assert!(
        out.stderr
            .contains("2 distinct exporter signature(s) required, 1 valid"),
        "{out:?}"
    );
    // With the second key's signature it passes.
    sign(&b, "outsider", Role::Exporter);
    assert_eq!(verify(&policy, &b).code, 0);
}

#[test]
fn a_key_listed_twice_in_the_policy_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            extra_signers: format!(
                "[[signers]]\nname = \"same key again\"\nrole = \"exporter\"\npublic_key = \"{}\"\n",
                public_key_b64("exporter")
            ),
            ..PolicyOpts::default()
        },
    );
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let out = verify(&policy, &b);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("signers[2].public_key"), "{out:?}");
    assert!(
        out.stderr.contains("already listed as signers[0]"),
        "{out:?}"
    );
}

#[test]
fn sequence_going_back_or_repeating_with_another_hash_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b5 = write_signed(d.path(), &Spec::new(5, vec![user_cert("alice", "alice")]));
    assert_eq!(mark(&policy, &b5).code, 0);

    // The same bundle again: replay.
    let out = verify(&policy, &b5);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(replay)"), "{out:?}");

    // Sequence 4 after 5: replay.
    let older = tempfile::tempdir().unwrap();
    let b4 = write_signed(
        older.path(),
        &Spec::new(4, vec![user_cert("alice", "alice")]),
    );
    let out = verify(&policy, &b4);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("(replay)") && out.stderr.contains("goes back"),
        "{out:?}"
    );

    // Sequence 5 again with other contents: fork.
    let other = tempfile::tempdir().unwrap();
    let b5b = write_signed(other.path(), &Spec::new(5, vec![user_cert("bob", "bob")]));
    let out = verify(&policy, &b5b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(fork)"), "{out:?}");

    // Sequence 6 chained to 5 passes; jumping by 11 does not.
    let next = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(6, vec![user_cert("alice", "alice")]);
    spec.previous_sha256 = Some(sha256_of(&b5));
    assert_eq!(verify(&policy, &write_signed(next.path(), &spec)).code, 0);
    let far = write_signed(
        next.path(),
        &Spec::new(16, vec![user_cert("alice", "alice")]),
    );
    let out = verify(&policy, &far);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(fast-forward)"), "{out:?}");
}

#[test]
fn an_expired_or_stale_bundle_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            max_age: Some("1h"),
            ..PolicyOpts::default()
        },
    );
    let mut spec = Spec::new(1, vec![user_cert("alice", "alice")]);
    spec.created = "2026-05-01T00:00:00Z".into();
    spec.expires = "2026-05-02T00:00:00Z".into();
    let b = write_signed(d.path(), &spec);
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("bundle invalid (expired)"), "{out:?}");

    let d2 = tempfile::tempdir().unwrap();
    let policy2 = write_policy(
        d2.path(),
        &PolicyOpts {
            max_age: Some("1h"),
            ..PolicyOpts::default()
        },
    );
    let b2 = write_signed(d2.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let out = verify(&policy2, &b2);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(stale)"), "{out:?}");
}

#[test]
fn certificate_from_an_unpinned_ca_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = write_signed(
        d.path(),
        &Spec::new(
            1,
            vec![user_cert("alice", "alice"), user_cert("grace", "grace")],
        ),
    );
    let out = verify(&policy, &b);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("1 accepted, 1 refused"), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("refused"))
        .unwrap();
    assert!(
        line.contains("entry 2 grace@contoso.test userCertificate"),
        "{line}"
    );
    assert!(
        line.contains(
            "untrusted-issuer: The certificate has no certification path to a trusted CA"
        ) && line.contains("Here: no pinned or intermediate CA certificate is its issuer"),
        "{line}"
    );
}

#[test]
fn certificate_without_a_matching_address_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("frank", "frank")]));
    let out = verify(&policy, &b);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("no-matching-address"), "{out:?}");
    // Switching the rule off accepts it.
    let d2 = tempfile::tempdir().unwrap();
    let relaxed = write_policy(
        d2.path(),
        &PolicyOpts {
            certificates_extra: "require_matching_address = false\n".into(),
            ..PolicyOpts::default()
        },
    );
    assert_eq!(verify(&relaxed, &b).code, 0);
}

#[test]
fn expired_unparseable_and_oversized_attributes_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let oscar: Vec<(Attribute, Vec<u8>)> = (1..=16)
        .map(|i| {
            (
                Attribute::UserCertificate,
                pki(&format!("certs/oscar-{i:02}.der")),
            )
        })
        .collect();
    let b = write_signed(
        d.path(),
        &Spec::new(
            1,
            vec![
                user_cert("dave", "dave"),
                user(
                    "trudy",
                    vec![(
                        Attribute::UserSmimeCertificate,
                        pki("smime/trudy-garbage.bin"),
                    )],
                ),
                user("oscar", oscar),
                user(
                    "heidi",
                    vec![(Attribute::UserSmimeCertificate, pki("smime/heidi.p7b"))],
                ),
            ],
        ),
    );
    let (out, v) = verify_json(&policy, &b);
    assert_eq!(out.code, 1, "{out:?}");
    let codes = |i: usize| -> Vec<String> {
        v["entries"][i]["values"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|x| {
                x["refusals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["code"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    assert_eq!(codes(0), ["expired"]);
    assert_eq!(codes(1), ["unparseable"]);
    // 16 acceptable values, at most 15 published: one is left out (over-limit).
    assert_eq!(codes(2), ["over-limit"]);
    assert!(
        codes(3).is_empty(),
        "the PKCS#7 value's end-entity certificate is accepted"
    );
    assert_eq!(v["counts"]["accepted"], 16);
}

/// Unpacks a SPEC.md test vector (a bundle that another exporter could have
/// written, signed with the test exporter key) into `dir`.
fn unpack_vector(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    use base64::Engine as _;
    let text = std::fs::read_to_string(root().join(format!("format-spec/vectors/{name}.vector")))
        .expect("vector");
    let b64 = base64::engine::general_purpose::STANDARD;
    let (head, body) = text.split_once("bundle:\n").expect("bundle section");
    let bundle_bytes = b64
        .decode(body.split_whitespace().collect::<String>())
        .expect("bundle base64");
    let bundle = dir.join("certferry-contoso-ad-0000000042.zip");
    std::fs::write(&bundle, bundle_bytes).unwrap();
    for line in head.lines() {
        if let Some(sig) = line.strip_prefix("signature: ") {
            let (file, data) = sig.split_once(' ').expect("signature line");
            let file = file.replace("bundle.zip", "certferry-contoso-ad-0000000042.zip");
            std::fs::write(dir.join(file), b64.decode(data).unwrap()).unwrap();
        }
    }
    bundle
}

#[test]
fn another_exporters_bundle_holding_a_private_key_is_invalid() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = unpack_vector(d.path(), "private-key-in-value");
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("bundle invalid (private-key)"),
        "{out:?}"
    );
}

#[test]
fn a_withheld_private_key_is_refused_for_its_user_only() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let key = pki("keys/alice.key");
    let b = write_signed(
        d.path(),
        &Spec::new(
            1,
            vec![
                user("alice", vec![(Attribute::UserCertificate, key.clone())]),
                user_cert("bob", "bob"),
            ],
        ),
    );
    // Our writer never puts the key in the bundle.
    let bytes = std::fs::read(&b).unwrap();
    let pem_body = &key[30..90];
    assert!(
        !bytes.windows(pem_body.len()).any(|w| w == pem_body),
        "key bytes in the bundle"
    );
    let (out, v) = verify_json(&policy, &b);
    assert_eq!(out.code, 1, "{out:?}");
    let text = v.to_string();
    assert!(text.contains("withheld-private-key"), "{text}");
    assert_eq!(v["counts"]["accepted"], 1, "{text}");
}

#[test]
fn an_unlisted_source_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let mut spec = Spec::new(1, vec![user_cert("alice", "alice")]);
    spec.source = "fabrikam-ad".into();
    let b = write_signed(d.path(), &spec);
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(source-not-accepted)"), "{out:?}");
}

#[test]
fn a_tampered_bundle_is_refused_before_parsing() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&b, bytes).unwrap();
    let out = verify(&policy, &b);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(signature-invalid)"), "{out:?}");
}

#[test]
fn usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let missing = d.path().join("missing.zip");
    let out = verify(&policy, &missing);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("missing.zip"), "{out:?}");
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let out = run(&[
        "verify",
        "--policy",
        s(&policy),
        "--now",
        "yesterday",
        s(&b),
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--now"), "{out:?}");
    assert_eq!(run(&["frobnicate"]).code, 2);
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes"), "{help:?}");
}

#[test]
fn a_closed_standard_output_stops_quietly_with_141() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    sign(&b, "reviewer", Role::Reviewer);
    // The reader is gone before the command writes its first line.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certferry-import"))
        .args(["verify", "--policy", s(&policy), "--now", NOW, s(&b)])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "nothing is said about it: {stderr}");
}
