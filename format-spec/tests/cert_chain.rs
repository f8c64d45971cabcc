//! Certification paths on the fixture PKI (`fixtures/pki`): root → issuing CA →
//! users; an impostor with the issuing CA's name and another key; an expired
//! issuing CA; a CA below the issuing CA, whose pathlen:0 forbids it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;

use certferry_format::cert::chain::{build_path, CaCertificate, Path as CertPath};
use certferry_format::cert::{self, classify, ClassifyContext, Reason, TrustedIssuer};

fn pki(rel: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki");
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("fixtures/pki/{rel}: {e}"))
}

fn anchor(rel: &str) -> TrustedIssuer {
    TrustedIssuer::from_der(&pki(rel)).unwrap()
}

fn helper(rel: &str) -> CaCertificate {
    CaCertificate::from_der(&pki(rel)).unwrap()
}

/// 2026-06-01: every fixture CA and user is valid then, except the expired ones.
const NOW: i64 = 1_780_272_000;

fn path(
    user: &str,
    anchors: &[TrustedIssuer],
    helpers: &[CaCertificate],
) -> Result<CertPath, String> {
    let value = pki(user);
    let info = cert::decode_value(&value).certificates.remove(0);
    build_path(&value, &info, anchors, helpers, NOW).map_err(|e| e.to_string())
}

#[test]
fn a_user_chains_to_the_pinned_root_through_the_issuing_ca() {
    let p = path(
        "certs/alice.der",
        &[anchor("ca/root-ca.der")],
        &[helper("ca/issuing-ca.der")],
    )
    .unwrap();
    assert_eq!(p.intermediates, vec![0]);
    assert_eq!(p.anchor, 0);
}

#[test]
fn a_pinned_issuing_ca_is_a_path_of_its_own() {
    // `--trusted-ca` with the issuing CA, as before chains existed.
    let p = path("certs/alice.der", &[anchor("ca/issuing-ca.der")], &[]).unwrap();
    assert!(p.intermediates.is_empty());
}

#[test]
fn without_the_intermediate_there_is_no_path_to_the_root() {
    let e = path("certs/alice.der", &[anchor("ca/root-ca.der")], &[]).unwrap_err();
    assert!(e.contains("no pinned or intermediate CA"), "{e}");
}

#[test]
fn an_intermediate_is_never_an_anchor() {
    // The root and the issuing CA offered as helpers only: nothing is pinned.
    let e = path(
        "certs/alice.der",
        &[],
        &[helper("ca/issuing-ca.der"), helper("ca/root-ca.der")],
    )
    .unwrap_err();
    assert!(e.contains("no pinned or intermediate CA"), "{e}");
}

#[test]
fn an_impostor_with_the_issuing_cas_name_does_not_chain() {
    let e = path(
        "certs/alice.der",
        &[anchor("ca/root-ca.der")],
        &[helper("ca/impostor-ca.der")],
    )
    .unwrap_err();
    assert!(e.contains("its key did not sign"), "{e}");
    // And the real one is still found behind it.
    let p = path(
        "certs/alice.der",
        &[anchor("ca/root-ca.der")],
        &[helper("ca/impostor-ca.der"), helper("ca/issuing-ca.der")],
    )
    .unwrap();
    assert_eq!(p.intermediates, vec![1]);
}

#[test]
fn an_expired_intermediate_breaks_the_path() {
    let e = path(
        "chain/ursula.der",
        &[anchor("ca/root-ca.der")],
        &[helper("chain/expired-issuing-ca.der")],
    )
    .unwrap_err();
    assert!(
        e.contains("Expired Issuing CA") && e.contains("expired on"),
        "{e}"
    );
}

#[test]
fn a_ca_below_a_pathlen_zero_ca_breaks_the_path() {
    // Under the pinned root: the issuing CA (pathlen:0) has the sub-CA below it.
    let e = path(
        "chain/petra.der",
        &[anchor("ca/root-ca.der")],
        &[helper("ca/issuing-ca.der"), helper("chain/sub-ca.der")],
    )
    .unwrap_err();
    assert!(e.contains("pathLenConstraint"), "{e}");
    // Pinning the issuing CA itself does not lift its own constraint.
    let e = path(
        "chain/petra.der",
        &[anchor("ca/issuing-ca.der")],
        &[helper("chain/sub-ca.der")],
    )
    .unwrap_err();
    assert!(e.contains("pathLenConstraint"), "{e}");
}

#[test]
fn an_end_entity_certificate_is_no_intermediate() {
    // The issuing CA's name and key, issued by the root as an end entity
    // (cA false): its key signed alice, but it may not act as a CA.
    let e = path(
        "certs/alice.der",
        &[anchor("ca/root-ca.der")],
        &[helper("chain/issuing-ca-as-end-entity.der")],
    )
    .unwrap_err();
    assert!(e.contains("is not a CA certificate"), "{e}");
}

#[test]
fn classify_uses_the_intermediates_it_is_given() {
    let value = pki("certs/alice.der");
    let info = cert::decode_value(&value).certificates.remove(0);
    let addresses = vec!["alice@contoso.test".to_owned()];
    let anchors = [anchor("ca/root-ca.der")];
    let helpers = [helper("ca/issuing-ca.der")];
    let ctx = |intermediates| ClassifyContext {
        now: NOW,
        addresses: &addresses,
        trusted_issuers: Some(&anchors),
        intermediates,
    };
    assert!(!classify(&value, &info, &ctx(&helpers))
        .reasons
        .contains(&Reason::UntrustedIssuer));
    assert!(classify(&value, &info, &ctx(&[]))
        .reasons
        .contains(&Reason::UntrustedIssuer));
}
