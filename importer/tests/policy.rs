//! Policy file errors name the file, the line and the key; the example policy loads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;

use certferry_import::policy::Policy;
use common::*;

fn good(dir: &Path) -> String {
    let ca = root().join("fixtures/pki/ca/issuing-ca.pem");
    format!(
        "[[signers]]\nname = \"exporter\"\nrole = \"exporter\"\npublic_key = \"{}\"\n\n\
[[signers]]\nname = \"reviewer\"\nrole = \"reviewer\"\npublic_key = \"{}\"\n\n\
[require]\nexporter = 1\nreviewer = 1\n\n\
[[sources]]\nid = \"contoso-ad\"\nmax_age = \"30d\"\n\n\
[certificates]\ntrusted_ca = [\"{}\"]\n\n\
[state]\npath = \"{}\"\n",
        public_key_b64("exporter"),
        public_key_b64("reviewer"),
        ca.display(),
        dir.join("state.sqlite").display()
    )
}

fn error_for(text: &str) -> String {
    Policy::parse(text, Path::new("policy.toml"))
        .expect_err("the policy must be refused")
        .to_string()
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect("needle")]
        .matches('\n')
        .count()
        + 1
}

#[test]
fn the_test_policy_loads() {
    let d = tempfile::tempdir().unwrap();
    let p = Policy::parse(&good(d.path()), Path::new("policy.toml")).unwrap();
    assert_eq!(p.signers.len(), 2);
    assert_eq!(p.sources[0].max_age_secs, Some(30 * 86_400));
    assert_eq!(p.certificates.max_values_per_attribute, 15);
    assert!(p.certificates.reject_unparseable && p.certificates.require_matching_address);
}

#[test]
fn a_bad_public_key_names_the_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let text = good(d.path()).replace(&public_key_b64("reviewer"), "not-a-key");
    let e = error_for(&text);
    let line = line_of(&text, "not-a-key");
    assert!(
        e.starts_with(&format!(
            "policy.toml line {line}: signers[1].public_key: not a minisign public key"
        )),
        "{e}"
    );
}

#[test]
fn an_unknown_key_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let text = good(d.path()).replace("[certificates]\n", "[certificates]\nreject_expird = true\n");
    let e = error_for(&text);
    let line = line_of(&text, "reject_expird");
    assert!(
        e.starts_with(&format!(
            "policy.toml line {line}: certificates.reject_expird: "
        )),
        "{e}"
    );
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn a_value_of_the_wrong_type_names_the_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let text = good(d.path()).replace("reviewer = 1\n", "reviewer = \"one\"\n");
    let e = error_for(&text);
    let line = line_of(&text, "reviewer = \"one\"");
    assert!(
        e.starts_with(&format!("policy.toml line {line}: require.reviewer: ")),
        "{e}"
    );
}

#[test]
fn semantic_errors_name_the_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let base = good(d.path());
    let cases: Vec<(String, &str, &str)> = vec![
        (
            base.replace("role = \"reviewer\"", "role = \"auditor\""),
            "role = \"auditor\"",
            "signers[1].role: \"auditor\" is not a role",
        ),
        (
            base.replace("max_age = \"30d\"", "max_age = \"30 days\""),
            "max_age",
            "sources[0].max_age: \"30 days\" is not a duration",
        ),
        (
            base.replace("id = \"contoso-ad\"", "id = \"Contoso AD\""),
            "id = ",
            "sources[0].id: invalid source id",
        ),
        (
            base.replace("issuing-ca.pem", "missing-ca.pem"),
            "missing-ca.pem",
            "certificates.trusted_ca[0]: cannot read",
        ),
        (
            base.replace(
                "[certificates]\n",
                &format!(
                    "[certificates]\nintermediate_ca = [{:?}]\n",
                    root()
                        .join("fixtures/pki/keys/alice.key")
                        .display()
                        .to_string()
                ),
            ),
            "intermediate_ca",
            "certificates.intermediate_ca[0]: ",
        ),
        (
            base.replace("reviewer = 1\n", "reviewer = 2\n"),
            "reviewer = 2",
            "require.reviewer: 2 distinct reviewer key(s) required, but only 1",
        ),
        (
            base.replace(
                "[certificates]\n",
                "[certificates]\nmax_values_per_attribute = 0\n",
            ),
            "max_values_per_attribute",
            "certificates.max_values_per_attribute: must be a number",
        ),
    ];
    for (text, needle, want) in cases {
        let e = error_for(&text);
        let line = if want.starts_with("require.") {
            line_of(&text, "[require]")
        } else {
            line_of(&text, needle)
        };
        assert!(
            e.starts_with(&format!("policy.toml line {line}: {want}")),
            "want line {line} {want:?}, got {e}"
        );
    }
}

#[test]
fn the_binary_reports_policy_errors_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("policy.toml");
    std::fs::write(&p, good(d.path()).replace("[state]", "[stat]")).unwrap();
    let out = run(&["status", "--policy", s(&p)]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(&format!("{} line ", p.display())),
        "{out:?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
}

#[test]
fn the_example_policy_loads() {
    let p = Policy::load(&root().join("fixtures/policy/example-policy.toml")).unwrap();
    assert_eq!(p.signers.len(), 2);
    assert_eq!(p.required.len(), 2);
    assert_eq!(p.sources[0].max_sequence_jump, 10);
    assert!(p.state_path.ends_with("import-state.sqlite"));
}
