//! The CA material an export carries (SPEC.md §6.7): from an LDIF dump of the
//! configuration partition, from a real slapd with an AD-like configuration
//! container and from a real Samba AD DC whose configuration partition the
//! test script published the fixture PKI into, the bundle holds exactly those
//! values, byte for byte (fixtures/directory/expected-pki.json); files given
//! with --pki-ca-file/--pki-crl-file travel as DER; private key material
//! never does.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Output;

use certferry_format::pki::{PkiKind, PkiOrigin};
use certferry_format::{Sha256, VerifiedBundle};
use common::work::{alice_class, assert_failed_cleanly, bin, ok_json, Work};
use common::{repo_root, TestServer};

/// (DN in lowercase, attribute, SHA-256) of every CA value the fixture
/// directory holds.
fn expected_directory_pki() -> BTreeSet<(String, String, String)> {
    let rows: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/directory/expected-pki.json")).unwrap(),
    )
    .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["dn"].as_str().unwrap().to_ascii_lowercase(),
                r["attribute"].as_str().unwrap().to_owned(),
                r["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The same, of what a verified bundle carries from the directory; each
/// value's digest computed here from the carried bytes.
fn carried_directory_pki(b: &VerifiedBundle) -> BTreeSet<(String, String, String)> {
    b.pki()
        .filter(|p| p.record().origin == PkiOrigin::Directory)
        .map(|p| {
            let r = p.record();
            (
                r.location.to_ascii_lowercase(),
                r.attribute.unwrap().as_str().to_owned(),
                Sha256::digest(p.bytes()).to_hex(),
            )
        })
        .collect()
}

fn fixture(rel: &str) -> String {
    repo_root().join(rel).display().to_string()
}

fn export_ldif_files(w: &Work, files: &[&str], extra: &[&str]) -> Output {
    bin()
        .arg("ldif")
        .args(files.iter().map(|f| fixture(f)))
        .args(w.output_args())
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_ldif_dump_of_the_configuration_partition_travels_byte_for_byte() {
    let w = Work::new();
    let summary = ok_json(&export_ldif_files(
        &w,
        &[
            "fixtures/directory/ad-dump.ldif",
            "fixtures/directory/pki-ad-dump.ldif",
        ],
        &["--pki"],
    ));
    let b = w.verify(&summary);
    assert!(b.carries_pki());
    assert_eq!(carried_directory_pki(&b), expected_directory_pki());
    let ca = &summary["summary"]["ca_material"];
    assert_eq!(ca["certificates"], 5, "{ca}");
    assert_eq!(ca["crls"], 11, "{ca}");
    // The users are exported as without --pki.
    assert_eq!(b.header().counts.entries, 14);
    assert!(
        b.header().source_description.contains("pki-ad-dump.ldif"),
        "{}",
        b.header().source_description
    );
}

#[test]
fn without_pki_nothing_is_carried_and_the_bundle_is_a_revision_1_2_bundle() {
    let w = Work::new();
    let b = w.verify(&ok_json(&export_ldif_files(
        &w,
        &[
            "fixtures/directory/ad-dump.ldif",
            "fixtures/directory/pki-ad-dump.ldif",
        ],
        &[],
    )));
    assert!(!b.carries_pki());
    assert_eq!(b.pki().len(), 0);
}

#[test]
fn files_given_as_pem_travel_as_der_one_object_per_block_before_the_directory() {
    let w = Work::new();
    let b = w.verify(&ok_json(&export_ldif_files(
        &w,
        &["fixtures/directory/ad-dump.ldif"],
        &[
            "--pki-ca-file",
            &fixture("fixtures/pki/ca/chain.pem"),
            "--pki-crl-file",
            &fixture("fixtures/pki/crl/issuing-ca.pem"),
            "--pki-crl-file",
            &fixture("fixtures/pki/crl/issuing-ca-delta.der"),
        ],
    )));
    let got: Vec<(PkiOrigin, String, PkiKind, Vec<u8>)> = b
        .pki()
        .map(|p| {
            let r = p.record();
            (r.origin, r.location.clone(), r.kind, p.bytes().to_vec())
        })
        .collect();
    let der = |rel: &str| std::fs::read(repo_root().join("fixtures/pki").join(rel)).unwrap();
    assert_eq!(
        got,
        [
            (
                PkiOrigin::File,
                "chain.pem".into(),
                PkiKind::Certificate,
                der("ca/issuing-ca.der")
            ),
            (
                PkiOrigin::File,
                "chain.pem".into(),
                PkiKind::Certificate,
                der("ca/root-ca.der")
            ),
            (
                PkiOrigin::File,
                "issuing-ca.pem".into(),
                PkiKind::Crl,
                der("crl/issuing-ca.der")
            ),
            (
                PkiOrigin::File,
                "issuing-ca-delta.der".into(),
                PkiKind::Crl,
                der("crl/issuing-ca-delta.der")
            ),
        ]
    );
}

#[test]
fn a_ca_file_holding_a_private_key_exits_2_and_writes_nothing() {
    let w = Work::new();
    let key = fixture("fixtures/pki/hostile/cert-and-key.pem");
    let out = export_ldif_files(
        &w,
        &["fixtures/directory/ad-dump.ldif"],
        &["--pki-ca-file", &key],
    );
    assert_failed_cleanly(&out, 2, "holds private key material", &w);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("MII"), "key bytes printed: {err}");
}

#[test]
fn a_crl_file_that_is_a_certificate_exits_2_naming_the_file() {
    let w = Work::new();
    let out = export_ldif_files(
        &w,
        &["fixtures/directory/ad-dump.ldif"],
        &["--pki-crl-file", &fixture("fixtures/pki/ca/root-ca.pem")],
    );
    assert_failed_cleanly(&out, 2, "root-ca.pem PEM block 1", &w);
}

/// A directory CA value holding private key material is reported like a
/// user's (exit 1, named on standard error) and never written.
#[test]
fn a_private_key_in_the_configuration_partition_is_withheld_and_named() {
    let w = Work::new();
    let dump =
        std::fs::read_to_string(repo_root().join("fixtures/directory/pki-ad-dump.ldif")).unwrap();
    let key = std::fs::read(repo_root().join("fixtures/pki/hostile/key-pkcs8.der")).unwrap();
    use base64::Engine as _;
    let leak = format!(
        "\ndn: CN=Leaky CA,CN=AIA,CN=Public Key Services,CN=Services,CN=Configuration,DC=contoso,DC=test\nobjectClass: certificationAuthority\ncACertificate:: {}\n",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    let path = w.path("pki-with-key.ldif");
    std::fs::write(&path, format!("{dump}{leak}")).unwrap();
    let out = bin()
        .arg("ldif")
        .arg(fixture("fixtures/directory/ad-dump.ldif"))
        .arg(&path)
        .args(w.output_args())
        .arg("--pki")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CN=Leaky CA"), "{err}");
    let b = w.verify(&serde_json::from_slice(&out.stdout).unwrap());
    assert!(b.pki().all(|p| p.bytes() != key.as_slice()));
    assert_eq!(carried_directory_pki(&b), expected_directory_pki());
}

fn ldap_export_pki(w: &Work, server: &TestServer, bind: &str, password_file: &str) -> Output {
    w.export_ldap(server, bind, password_file, &["--pki"])
}

#[test]
fn slapd_configuration_container_travels_byte_for_byte() {
    let server = TestServer::slapd();
    let w = Work::new();
    let b = w.verify(&ok_json(&ldap_export_pki(
        &w,
        &server,
        server.var("READER_DN"),
        server.var("READER_PASSWORD_FILE"),
    )));
    assert_eq!(carried_directory_pki(&b), expected_directory_pki());
}

#[test]
fn samba_configuration_partition_travels_byte_for_byte() {
    let server = TestServer::samba();
    let w = Work::new();
    let b = w.verify(&ok_json(&ldap_export_pki(
        &w,
        &server,
        server.var("BIND_UPN"),
        server.var("ADMIN_PASSWORD_FILE"),
    )));
    assert_eq!(carried_directory_pki(&b), expected_directory_pki());
}

/// The common output arguments with only the root pinned (no --intermediate-ca).
fn root_pinned_args(w: &Work) -> Vec<String> {
    let mut args = w.output_args();
    let i = args.iter().position(|a| a == "--trusted-ca").unwrap();
    args[i + 1] = fixture("fixtures/pki/ca/root-ca.pem");
    args
}

#[test]
fn a_ca_file_helps_the_exporter_build_paths_to_a_pinned_root() {
    let w = Work::new();
    let out = bin()
        .arg("ldif")
        .arg(fixture("fixtures/directory/ad-dump.ldif"))
        .args(root_pinned_args(&w))
        .args(["--pki-ca-file", &fixture("fixtures/pki/ca/issuing-ca.pem")])
        .output()
        .unwrap();
    let b = w.verify(&ok_json(&out));
    assert_eq!(alice_class(&b), ("encryption".to_owned(), vec![]));
}

#[test]
fn slapd_public_key_services_help_the_exporter_build_paths_to_a_pinned_root() {
    let server = TestServer::slapd();
    let w = Work::new();
    let out = bin()
        .args([
            "ldap",
            "-H",
            server.var("LDAPS_URI"),
            "--ca-file",
            server.var("CA_FILE"),
            "-D",
            server.var("READER_DN"),
            "-y",
            server.var("READER_PASSWORD_FILE"),
            "--pki",
        ])
        .args(root_pinned_args(&w))
        .output()
        .unwrap();
    let b = w.verify(&ok_json(&out));
    assert_eq!(alice_class(&b), ("encryption".to_owned(), vec![]));
    // Read once, carried once.
    assert_eq!(carried_directory_pki(&b), expected_directory_pki());
    assert_eq!(
        b.pki().count(),
        expected_directory_pki().len(),
        "every directory value once"
    );
}
