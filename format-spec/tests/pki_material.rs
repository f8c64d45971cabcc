//! CA material (SPEC.md §6.7): what certferry reads out of the fixture CRLs
//! and CA certificates, and what the writer refuses to carry.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::Path;

use certferry_format::cert::chain::CaCertificate;
use certferry_format::pki::{describe_pki, CrlInfo, PkiAttribute, PkiKind, PkiOrigin, PkiRecord};
use certferry_format::BundleWriter;

fn pki(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/pki")
            .join(rel),
    )
    .unwrap()
}

fn crl(name: &str) -> CrlInfo {
    CrlInfo::parse(&pki(&format!("crl/{name}.der"))).unwrap()
}

#[test]
fn the_base_crl_names_the_revoked_user_and_the_one_on_hold_with_their_reasons_and_dates() {
    let c = crl("issuing-ca");
    assert_eq!(c.issuer, "CN=Contoso Test Issuing CA,DC=contoso,DC=test");
    assert_eq!(c.number.as_deref(), Some("02"));
    assert_eq!(c.delta_base, None);
    assert_eq!(c.unusable, None);
    let by = c.by_serial();
    assert_eq!(by["1011"].reason, Some(1), "rex: keyCompromise");
    assert_eq!(by["1011"].date, 1_746_057_600, "2025-05-01T00:00:00Z");
    assert_eq!(by["1012"].reason, Some(6), "hana: certificateHold");
    assert_eq!(c.revoked.len(), 2);
}

#[test]
fn a_delta_crl_names_its_base_and_can_take_a_hold_back() {
    let d = crl("issuing-ca-delta");
    assert_eq!(d.delta_base.as_deref(), Some("02"));
    assert_eq!(d.number.as_deref(), Some("03"));
    assert_eq!(d.by_serial()["1012"].reason, Some(8), "removeFromCRL");
    assert_eq!(
        crl("issuing-ca-delta-orphan").delta_base.as_deref(),
        Some("09")
    );
}

#[test]
fn a_crl_with_a_critical_extension_nobody_recognises_is_unusable() {
    let why = crl("issuing-ca-critical-unknown").unusable.unwrap();
    assert!(why.contains("1.3.6.1.4.1.55555.1.2"), "{why}");
}

#[test]
fn a_crl_is_signed_by_its_issuer_key_and_not_by_a_key_with_the_same_name() {
    let issuing = CaCertificate::from_der(&pki("ca/issuing-ca.der")).unwrap();
    let impostor = CaCertificate::from_der(&pki("ca/impostor-ca.der")).unwrap();
    let good = pki("crl/issuing-ca.der");
    let forged = pki("crl/issuing-ca-by-impostor.der");
    assert!(CrlInfo::signed_by(&good, issuing.spki()));
    assert!(!CrlInfo::signed_by(&good, impostor.spki()));
    assert!(!CrlInfo::signed_by(&forged, issuing.spki()));
    assert!(CrlInfo::signed_by(&forged, impostor.spki()));
    assert_eq!(
        crl("issuing-ca-by-impostor").issuer,
        crl("issuing-ca").issuer
    );
}

#[test]
fn pki_bytes_are_a_certificate_a_crl_or_unparseable_and_nothing_else() {
    assert_eq!(
        describe_pki(&pki("ca/root-ca.der")).kind,
        PkiKind::Certificate
    );
    assert_eq!(describe_pki(&pki("crl/root-ca.der")).kind, PkiKind::Crl);
    assert_eq!(describe_pki(&[0]).kind, PkiKind::Unparseable);
    assert_eq!(describe_pki(&[]).kind, PkiKind::Unparseable);
    assert_eq!(
        describe_pki(&pki("crl/root-ca.pem")).kind,
        PkiKind::Unparseable,
        "PEM is not DER"
    );
    let mut trailing = pki("crl/root-ca.der");
    trailing.push(0);
    assert_eq!(describe_pki(&trailing).kind, PkiKind::Unparseable);
    let ca = describe_pki(&pki("ca/issuing-ca.der")).certificate.unwrap();
    assert_eq!(ca.path_len, Some(0));
    assert!(ca.is_ca);
    assert_eq!(
        ca.authority_key_id,
        describe_pki(&pki("ca/root-ca.der"))
            .certificate
            .unwrap()
            .subject_key_id
    );
}

#[test]
fn attribute_names_are_read_in_any_case_and_with_the_binary_option() {
    assert_eq!(
        PkiAttribute::from_name("cACertificate;binary"),
        Some(PkiAttribute::CaCertificate)
    );
    assert_eq!(
        PkiAttribute::from_name("CERTIFICATEREVOCATIONLIST"),
        Some(PkiAttribute::CertificateRevocationList)
    );
    assert_eq!(PkiAttribute::from_name("userCertificate"), None);
}

#[test]
fn the_writer_never_carries_private_key_material_as_ca_material() {
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    let key = pki("hostile/key-pkcs8.pem");
    let record = PkiRecord::describe(PkiOrigin::File, "root-ca.pem", None, &key);
    let e = w.add_pki(record, &key).unwrap_err();
    assert!(e.message().contains("private key"), "{e}");
}

#[test]
fn the_writer_refuses_an_entry_after_the_ca_material() {
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    w.carry_pki();
    let entry: certferry_format::model::Entry = serde_json::from_str(
        r#"{"kind":"user","object_guid":null,"object_sid":null,"upn":"a@b","sam_account_name":null,"mail":null,"proxy_addresses":[],"display_name":null,"dn":"CN=a","disabled":false,"values":[{"attribute":"userCertificate","file":null,"container":"unparseable","certificates":[]}]}"#,
    )
    .unwrap();
    let e = w.add_entry(entry, &[b"x"]).unwrap_err();
    assert!(e.message().contains("before the CA material"), "{e}");
}
