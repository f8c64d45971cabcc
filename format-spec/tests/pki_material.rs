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

mod revocation {
    use super::pki;
    use certferry_format::cert::chain::{CaCertificate, TrustedIssuer};
    use certferry_format::cert::decode_value;
    use certferry_format::pki::revocation::{RevocationIndex, Status};
    use certferry_format::Timestamp;

    fn t(s: &str) -> i64 {
        Timestamp::parse(s).unwrap().unix()
    }

    const CREATED: &str = "2026-06-01T00:00:00Z";
    const NOW: &str = "2026-06-02T00:00:00Z";

    fn serial(rel: &str) -> String {
        decode_value(&pki(rel)).certificates[0].serial.clone()
    }

    fn index(crls: &[&str]) -> RevocationIndex {
        let ders: Vec<(Vec<u8>, String)> = crls
            .iter()
            .map(|c| (pki(&format!("crl/{c}.der")), (*c).to_owned()))
            .collect();
        let root = TrustedIssuer::from_der(&pki("ca/root-ca.der")).unwrap();
        let helpers: Vec<CaCertificate> = [
            "ca/issuing-ca.der",
            "ca/impostor-ca.der",
            "chain/crl-signer.der",
        ]
        .iter()
        .map(|f| CaCertificate::from_der(&pki(f)).unwrap())
        .collect();
        RevocationIndex::build(
            ders.iter().map(|(d, l)| (d.as_slice(), l.clone())),
            &[root],
            &helpers,
            t(NOW),
        )
    }

    fn status_at(crls: &[&str], who: &str, created: &str, now: &str) -> Status {
        let issuing = CaCertificate::from_der(&pki("ca/issuing-ca.der")).unwrap();
        index(crls).status(&serial(who), &issuing, t(created), t(now))
    }

    fn status(crls: &[&str], who: &str) -> Status {
        status_at(crls, who, CREATED, NOW)
    }

    #[test]
    fn a_revoked_certificate_is_refused_with_its_reason_and_date() {
        match status(&["issuing-ca"], "chain/rex.der") {
            Status::Revoked { reason, date, by } => {
                assert_eq!(reason, Some("keyCompromise"));
                assert_eq!(date, t("2025-05-01T00:00:00Z"));
                assert_eq!(
                    by,
                    "CRL 02 of CN=Contoso Test Issuing CA,DC=contoso,DC=test"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_certificate_on_hold_is_on_hold_until_a_delta_removes_it_from_the_crl() {
        assert_eq!(status(&["issuing-ca"], "chain/hana.der").code(), "on-hold");
        assert_eq!(
            status(&["issuing-ca", "issuing-ca-delta"], "chain/hana.der").code(),
            "good"
        );
    }

    #[test]
    fn a_delta_crl_adds_revocations_to_its_base() {
        assert_eq!(status(&["issuing-ca"], "certs/carol-1.der").code(), "good");
        match status(&["issuing-ca-delta", "issuing-ca"], "certs/carol-1.der") {
            Status::Revoked { reason, by, .. } => {
                assert_eq!(reason, Some("superseded"));
                assert!(by.starts_with("delta CRL 03"), "{by}");
            }
            other => panic!("{other:?}"),
        }
        // rex stays revoked through the base.
        assert_eq!(
            status(&["issuing-ca", "issuing-ca-delta"], "chain/rex.der").code(),
            "revoked"
        );
    }

    #[test]
    fn a_delta_without_its_base_decides_nothing() {
        let s = status(&["issuing-ca-delta"], "certs/carol-1.der");
        assert_eq!(s.code(), "undetermined", "{s}");
        // Base 9 does not fit the complete CRL number 2: the orphan is ignored.
        assert_eq!(
            status(
                &["issuing-ca", "issuing-ca-delta-orphan"],
                "certs/carol-1.der"
            )
            .code(),
            "good"
        );
    }

    #[test]
    fn a_stale_crl_gives_undetermined_never_good() {
        let s = status(&["issuing-ca-stale"], "certs/alice.der");
        assert_eq!(s.code(), "undetermined");
        assert!(s.to_string().contains("not current"), "{s}");
        // Fresh at import time but not yet issued when the bundle was made.
        let s = status_at(
            &["issuing-ca"],
            "certs/alice.der",
            "2025-05-15T00:00:00Z",
            NOW,
        );
        assert_eq!(s.code(), "undetermined", "{s}");
        // Expired by now, although fresh when the bundle was made.
        let s = status_at(
            &["issuing-ca"],
            "certs/alice.der",
            CREATED,
            "2046-01-01T00:00:00Z",
        );
        assert_eq!(s.code(), "undetermined", "{s}");
    }

    #[test]
    fn a_crl_signed_by_another_key_with_the_issuers_name_decides_nothing() {
        let s = status(&["issuing-ca-by-impostor"], "chain/rex.der");
        assert_eq!(s.code(), "undetermined");
        assert!(s.to_string().contains("not signed by the key"), "{s}");
    }

    #[test]
    fn a_crl_with_an_unknown_critical_extension_decides_nothing() {
        let s = status(&["issuing-ca-critical-unknown"], "certs/alice.der");
        assert_eq!(s.code(), "undetermined");
        assert!(s.to_string().contains("1.3.6.1.4.1.55555.1.2"), "{s}");
    }

    #[test]
    fn without_a_crl_of_the_issuer_the_status_is_undetermined() {
        let s = status(&["root-ca"], "certs/alice.der");
        assert_eq!(s.code(), "undetermined");
        assert!(s.to_string().contains("carries no CRL of"), "{s}");
        assert_eq!(status(&["issuing-ca"], "certs/alice.der").code(), "good");
    }

    #[test]
    fn an_indirect_crl_by_a_certified_crl_signer_decides_for_the_ca_it_names() {
        match status(&["indirect-by-crl-signer"], "chain/rex.der") {
            Status::Revoked { reason, by, .. } => {
                assert_eq!(reason, Some("keyCompromise"));
                assert!(by.contains("Contoso Test CRL Signer"), "{by}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            status(&["indirect-by-crl-signer"], "certs/alice.der").code(),
            "good"
        );
        // A CA the entries do not name is not decided by it.
        let root = CaCertificate::from_der(&pki("ca/root-ca.der")).unwrap();
        let issuing_serial = CaCertificate::from_der(&pki("ca/issuing-ca.der"))
            .unwrap()
            .serial()
            .to_owned();
        let s =
            index(&["indirect-by-crl-signer"]).status(&issuing_serial, &root, t(CREATED), t(NOW));
        assert_eq!(s.code(), "undetermined", "{s}");
    }

    #[test]
    fn an_indirect_crl_whose_signer_has_no_path_decides_nothing() {
        let ders = [(pki("crl/indirect-by-crl-signer.der"), "indirect".to_owned())];
        let root = TrustedIssuer::from_der(&pki("ca/root-ca.der")).unwrap();
        let issuing = CaCertificate::from_der(&pki("ca/issuing-ca.der")).unwrap();
        // The signer's certificate is not among the helpers: no path for it.
        let idx = RevocationIndex::build(
            ders.iter().map(|(d, l)| (d.as_slice(), l.clone())),
            &[root],
            std::slice::from_ref(&issuing),
            t(NOW),
        );
        let s = idx.status(&serial("chain/rex.der"), &issuing, t(CREATED), t(NOW));
        assert_eq!(s.code(), "undetermined", "{s}");
    }
}

/// A bundle carrying `objects` (fixture files), signed with a fresh key, and
/// verified under `limits`.
fn verify_with_limits(
    objects: &[&str],
    limits: &certferry_format::Limits,
) -> certferry_format::Result<()> {
    use certferry_format::keys::generate_keypair;
    use certferry_format::model::Software;
    use certferry_format::replay::ReplayRules;
    use certferry_format::{
        sign_bundle, BundleDigests, HeaderDraft, Role, SourceId, Timestamp, TrustPolicy,
        TrustedKey, UnverifiedBundle,
    };
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    w.carry_pki();
    for f in objects {
        let bytes = pki(f);
        let record = PkiRecord::describe(PkiOrigin::File, "x.der", None, &bytes);
        w.add_pki(record, &bytes).unwrap();
    }
    let t = |s: &str| Timestamp::parse(s).unwrap();
    let source = SourceId::parse("contoso-ad").unwrap();
    let (out, _) = w
        .finish(HeaderDraft {
            source: source.clone(),
            sequence: 1,
            created: t("2026-05-31T12:00:00Z"),
            expires: t("2026-07-01T00:00:00Z"),
            previous_sha256: None,
            exporter: Software {
                name: "test".into(),
                version: "1".into(),
            },
            source_description: "limits".into(),
            part: None,
        })
        .unwrap();
    let bytes = out.into_inner();
    let (pk, sk) = generate_keypair().unwrap();
    let sig = sign_bundle(
        &BundleDigests::of_bytes(&bytes),
        &sk,
        Role::Exporter,
        &source,
        1,
    )
    .unwrap();
    let policy = TrustPolicy {
        keys: vec![TrustedKey {
            name: "e".into(),
            role: Role::Exporter,
            key: pk,
        }],
        required: [(Role::Exporter, 1)].into(),
        replay: ReplayRules::default(),
    };
    UnverifiedBundle::parse(bytes, vec![("s".into(), sig.to_bytes())], limits)?
        .verify(&policy, t("2026-06-01T00:00:00Z"), None)
        .map(|_| ())
}

#[test]
fn ca_material_over_a_lowered_limit_is_a_size_limit_failure() {
    let objects = ["ca/root-ca.der", "crl/issuing-ca.der"];
    let defaults = certferry_format::Limits::default();
    verify_with_limits(&objects, &defaults).unwrap();
    let small_files = certferry_format::Limits {
        max_pki_value_bytes: 600,
        ..defaults.clone()
    };
    let e = verify_with_limits(&objects, &small_files).unwrap_err();
    assert_eq!(e.class().name(), "size-limit", "{e}");
    let one_object = certferry_format::Limits {
        max_pki_objects: 1,
        ..defaults.clone()
    };
    let e = verify_with_limits(&objects, &one_object).unwrap_err();
    assert_eq!(e.class().name(), "size-limit", "{e}");
    let short_lines = certferry_format::Limits {
        max_pki_line_bytes: 100,
        ..defaults
    };
    let e = verify_with_limits(&objects, &short_lines).unwrap_err();
    assert_eq!(e.class().name(), "size-limit", "{e}");
}
