//! Trust and revocation from the CA material a bundle carries (SPEC.md §6.7):
//! the bundle's intermediates help build paths to the policy's pinned root
//! (never anchors themselves), and each certificate's status comes from its
//! issuer's current CRLs: revoked and held certificates are refused with
//! their reason and date, a delta CRL applies to its base, and a status no
//! CRL decides is the policy's choice (`certificates.revocation`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use certferry_format::model::Attribute;
use common::*;
use serde_json::Value as Json;

fn one(who: &str, file: &str) -> Person {
    user(who, vec![(Attribute::UserCertificate, pki(file))])
}

/// alice (good), rex (revoked), hana (on hold), carol (superseded by the delta).
fn people() -> Vec<Person> {
    vec![
        one("alice", "certs/alice.der"),
        one("rex", "chain/rex.der"),
        one("hana", "chain/hana.der"),
        one("carol", "certs/carol-1.der"),
    ]
}

/// `verify --json` of `people` carrying `ca` (files under fixtures/pki;
/// `None`: no CA material), under a policy pinning only the root, with
/// `revocation` as `certificates.revocation` (`None`: the default).
fn verify(people: Vec<Person>, ca: Option<&[&str]>, revocation: Option<&str>) -> (Out, Json) {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            trusted_ca: "ca/root-ca.pem",
            certificates_extra: revocation
                .map(|r| format!("revocation = \"{r}\"\n"))
                .unwrap_or_default(),
            ..PolicyOpts::default()
        },
    );
    let mut spec = Spec::new(1, people);
    spec.pki = ca.map(|files| files.iter().map(|f| ca_file(f)).collect());
    let b = write_signed(d.path(), &spec);
    verify_json(&policy, &b)
}

fn value(j: &Json, e: usize) -> &Json {
    &j["entries"][e]["values"][0]
}

fn codes(j: &Json, e: usize) -> Vec<String> {
    value(j, e)["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

fn status(j: &Json, e: usize) -> String {
    value(j, e)["certificates"][0]["revocation"]["status"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

/// The issuing CA, its CRL, and the root's CRL (which decides the issuing CA's own status).
const BASE: &[&str] = &["ca/issuing-ca.der", "crl/issuing-ca.der", "crl/root-ca.der"];

#[test]
fn the_bundles_intermediate_makes_the_path_to_the_pinned_root() {
    let (out, j) = verify(vec![one("alice", "certs/alice.der")], Some(BASE), None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(codes(&j, 0).is_empty(), "{j}");
    let chain: Vec<&str> = value(&j, 0)["certificates"][0]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        [
            "CN=Contoso Test Issuing CA,DC=contoso,DC=test",
            "CN=Contoso Test Root CA,DC=contoso,DC=test"
        ]
    );
    assert_eq!(status(&j, 0), "good");
    // Without the bundle's intermediate there is no path.
    let (_, j) = verify(
        vec![one("alice", "certs/alice.der")],
        Some(&["crl/issuing-ca.der"]),
        None,
    );
    assert_eq!(codes(&j, 0), ["untrusted-issuer"]);
}

#[test]
fn a_revoked_intermediate_revokes_what_it_issued_and_an_undecided_one_leaves_it_undetermined() {
    let revoked: &[&str] = &[
        "ca/issuing-ca.der",
        "crl/issuing-ca.der",
        "crl/root-ca-revokes-issuing-ca.der",
    ];
    let (_, j) = verify(vec![one("alice", "certs/alice.der")], Some(revoked), None);
    assert_eq!(codes(&j, 0), ["revoked"], "{j}");
    let text = value(&j, 0)["refusals"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("cACompromise") && text.contains("its issuing CA CN=Contoso Test Issuing CA"),
        "{text}"
    );
    // Without the root's CRL the issuing CA's own status is undecided.
    let (_, j) = verify(
        vec![one("alice", "certs/alice.der")],
        Some(&["ca/issuing-ca.der", "crl/issuing-ca.der"]),
        Some("require"),
    );
    assert_eq!(codes(&j, 0), ["revocation-undetermined"], "{j}");
    assert!(
        value(&j, 0)["refusals"][0]["text"]
            .as_str()
            .unwrap()
            .contains("for its issuing CA CN=Contoso Test Issuing CA"),
        "{j}"
    );
}

#[test]
fn a_ca_certificate_in_the_bundle_is_never_an_anchor() {
    // grace is issued by the rogue CA; the bundle carrying the rogue CA's
    // self-signed certificate does not make it trusted.
    let (_, j) = verify(
        vec![one("grace", "certs/grace.der")],
        Some(&["ca/rogue-ca.der", "ca/issuing-ca.der"]),
        None,
    );
    assert_eq!(codes(&j, 0), ["untrusted-issuer"]);
}

#[test]
fn revoked_and_held_certificates_are_refused_with_reason_and_date() {
    let (out, j) = verify(people(), Some(BASE), None);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(codes(&j, 0).is_empty(), "alice: {j}");
    assert_eq!(codes(&j, 1), ["revoked"]);
    let text = value(&j, 1)["refusals"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("2025-05-01T00:00:00Z") && text.contains("keyCompromise"),
        "{text}"
    );
    assert_eq!(codes(&j, 2), ["on-hold"]);
    assert_eq!(status(&j, 3), "good", "carol is not on the base CRL");
    assert_eq!(j["counts"]["revocation_undetermined"], 0);
}

#[test]
fn a_delta_crl_releases_a_hold_and_adds_a_revocation() {
    let mut ca = BASE.to_vec();
    ca.push("crl/issuing-ca-delta.der");
    let (_, j) = verify(people(), Some(&ca), None);
    assert!(
        codes(&j, 2).is_empty(),
        "hana released by removeFromCRL: {j}"
    );
    assert_eq!(codes(&j, 3), ["revoked"]);
    assert!(
        value(&j, 3)["refusals"][0]["text"]
            .as_str()
            .unwrap()
            .contains("superseded"),
        "{j}"
    );
    assert_eq!(
        codes(&j, 1),
        ["revoked"],
        "rex stays revoked through the base"
    );
}

#[test]
fn an_undetermined_status_is_the_policys_choice_and_never_good() {
    let stale: &[&str] = &[
        "ca/issuing-ca.der",
        "crl/issuing-ca-stale.der",
        "crl/root-ca.der",
    ];
    let alice = || vec![one("alice", "certs/alice.der")];
    // warn (the default): accepted, counted, and the reason kept.
    let (out, j) = verify(alice(), Some(stale), None);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(status(&j, 0), "undetermined");
    assert_eq!(j["counts"]["revocation_undetermined"], 1);
    let detail = value(&j, 0)["certificates"][0]["revocation"]["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("not current"), "{detail}");
    // require: refused.
    let (out, j) = verify(alice(), Some(stale), Some("require"));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(codes(&j, 0), ["revocation-undetermined"]);
    // ignore: accepted; the status is still shown.
    let (out, j) = verify(alice(), Some(stale), Some("ignore"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(status(&j, 0), "undetermined");
}

#[test]
fn a_crl_signed_by_another_key_or_with_an_unknown_critical_extension_decides_nothing() {
    for crl in [
        "crl/issuing-ca-by-impostor.der",
        "crl/issuing-ca-critical-unknown.der",
    ] {
        let (_, j) = verify(
            vec![one("rex", "chain/rex.der")],
            Some(&["ca/issuing-ca.der", crl, "crl/root-ca.der"]),
            Some("require"),
        );
        assert_eq!(codes(&j, 0), ["revocation-undetermined"], "{crl}: {j}");
    }
}

#[test]
fn a_bundle_without_ca_material_leaves_the_status_undetermined() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = write_signed(d.path(), &Spec::new(1, vec![one("rex", "chain/rex.der")]));
    let (out, j) = verify_json(&policy, &b);
    assert_eq!(out.code, 0, "warn is the default: {out:?}");
    assert_eq!(status(&j, 0), "undetermined");
    assert!(
        value(&j, 0)["certificates"][0]["revocation"]["detail"]
            .as_str()
            .unwrap()
            .contains("exported without --pki"),
        "{j}"
    );
}

#[test]
fn a_bad_revocation_setting_is_a_policy_error_naming_the_key() {
    let (out, _) = verify(
        vec![one("alice", "certs/alice.der")],
        Some(BASE),
        Some("maybe"),
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("certificates.revocation"), "{out:?}");
}

#[test]
fn review_shows_each_chain_and_revocation_status_and_every_undetermined_one() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            trusted_ca: "ca/root-ca.pem",
            ..PolicyOpts::default()
        },
    );
    let mut spec = Spec::new(
        1,
        vec![
            one("alice", "certs/alice.der"),
            one("rex", "chain/rex.der"),
            user(
                "ursula",
                vec![(Attribute::UserCertificate, pki("chain/ursula.der"))],
            ),
        ],
    );
    // The base CRL of the issuing CA; no CRL at all of the expired issuing CA.
    spec.pki = Some(vec![
        ca_file("ca/issuing-ca.der"),
        ca_file("crl/issuing-ca.der"),
        ca_file("crl/root-ca.der"),
    ]);
    let b = write_signed(d.path(), &spec);
    let csv = d.path().join("review.csv");
    let out = run(&[
        "review",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--csv",
        s(&csv),
        s(&b),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let text = &out.stdout;
    assert!(
        text.contains("revocation checked against the bundle's CRLs"),
        "{text}"
    );
    assert!(
        text.contains("chain CN=Contoso Test Issuing CA,DC=contoso,DC=test < CN=Contoso Test Root CA,DC=contoso,DC=test; not revoked (CRL 02 of CN=Contoso Test Issuing CA"),
        "{text}"
    );
    assert!(
        text.contains(
            "revoked: The certificate is revoked on 2025-05-01T00:00:00Z (keyCompromise)"
        ),
        "{text}"
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",new_chain,new_revocation"),
        "{csv}"
    );
    // ursula's issuing CA expired: no path, so no status and no undetermined row.
    assert!(!csv.contains("revocation-undetermined"), "{csv}");

    // The same bundle with only the stale CRL: alice is accepted and shown as undetermined.
    let mut spec = Spec::new(1, vec![one("alice", "certs/alice.der")]);
    spec.pki = Some(vec![
        ca_file("ca/issuing-ca.der"),
        ca_file("crl/issuing-ca-stale.der"),
    ]);
    let d2 = tempfile::tempdir().unwrap();
    let policy = write_policy(d2.path(), &PolicyOpts::default());
    let b = write_signed(d2.path(), &spec);
    let out = run(&["review", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("accepted, revocation undetermined")
            && out.stdout.contains("not current"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("1 accepted value(s) undetermined"),
        "{out:?}"
    );
}

#[test]
fn an_indirect_crl_by_a_certified_crl_signer_refuses_what_it_lists() {
    let material: &[&str] = &[
        "ca/issuing-ca.der",
        "chain/crl-signer.der",
        "crl/indirect-by-crl-signer.der",
        "crl/root-ca.der",
    ];
    let (_, j) = verify(
        vec![one("rex", "chain/rex.der"), one("alice", "certs/alice.der")],
        Some(material),
        Some("require"),
    );
    assert_eq!(codes(&j, 0), ["revoked"], "{j}");
    assert!(
        value(&j, 0)["refusals"][0]["text"]
            .as_str()
            .unwrap()
            .contains("CRL 01 of CN=Contoso Test CRL Signer"),
        "{j}"
    );
    assert!(codes(&j, 1).is_empty(), "alice is not listed: {j}");
}
