//! The hostile fixture class (`fixtures/pki/hostile`, made by `fixtures/pki/generate`)
//! through the format library: private keys in every form are withheld (their bytes
//! reach no member of the bundle), certificates RFC 5280 makes invalid are unusable
//! with a reason of their own, trust follows the key and not the name, serials keep
//! their sign, and a PKCS#7 without certificates is described as what it is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::path::PathBuf;

use certferry_format::cert::{
    self, decode_value, find_private_key_material, ClassifyContext, Container, Reason,
    TrustedIssuer,
};
use certferry_format::model::{Attribute, Entry, ObjectKind, Software, WITHHELD_PRIVATE_KEY};
use certferry_format::{
    describe_value, BundleWriter, HeaderDraft, Limits, Sha256, SourceId, Timestamp,
    UnverifiedBundle,
};

fn pki(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/pki")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const KEYS: &[&str] = &[
    "hostile/key-pkcs8.pem",
    "hostile/key-pkcs8.der",
    "hostile/key-rsa-traditional.pem",
    "hostile/key-rsa.der",
    "hostile/key-ec-traditional.pem",
    "hostile/key-encrypted.pem",
    "hostile/key-encrypted.der",
    "hostile/key-openssh.pem",
    "hostile/key-pkcs12.pfx",
    "hostile/key-pkcs12-ber.pfx",
    "hostile/cert-and-key.pem",
];

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;

fn ctx<'a>(addrs: &'a [String], issuers: Option<&'a [TrustedIssuer]>) -> ClassifyContext<'a> {
    ClassifyContext {
        now: NOW,
        addresses: addrs,
        trusted_issuers: issuers,
        intermediates: &[],
    }
}

#[test]
fn private_key_material_in_every_form_is_found() {
    for k in KEYS {
        assert!(
            find_private_key_material(&pki(k)).is_some(),
            "{k} was not recognised as private key material"
        );
    }
    for clean in [
        "certs/alice.der",
        "smime/heidi.p7b",
        "smime/trudy-garbage.bin",
    ] {
        assert_eq!(find_private_key_material(&pki(clean)), None, "{clean}");
    }
}

fn entry(values: Vec<certferry_format::model::Value>) -> Entry {
    Entry {
        kind: ObjectKind::User,
        object_guid: Some("6f2d1b9a-0c3e-4d5f-8a7b-000000000001".into()),
        object_sid: None,
        upn: Some("mallory@contoso.test".into()),
        sam_account_name: Some("mallory".into()),
        mail: Some("mallory@contoso.test".into()),
        proxy_addresses: vec!["SMTP:mallory@contoso.test".into()],
        display_name: Some("Mallory".into()),
        dn: "CN=Mallory,OU=Users,DC=contoso,DC=test".into(),
        disabled: false,
        values,
    }
}

fn finish<W: std::io::Write, S: std::io::Read + std::io::Write + std::io::Seek>(
    w: BundleWriter<W, S>,
) -> W {
    w.finish(HeaderDraft {
        source: SourceId::parse("contoso-ad").unwrap(),
        sequence: 1,
        created: Timestamp::from_unix(NOW).unwrap(),
        expires: Timestamp::from_unix(NOW + 86_400).unwrap(),
        previous_sha256: None,
        exporter: Software {
            name: "certferry-test".into(),
            version: "0.1.0".into(),
        },
        source_description: "hostile values".into(),
        part: None,
    })
    .unwrap()
    .0
}

fn verify(bytes: Vec<u8>) -> certferry_format::VerifiedBundle {
    UnverifiedBundle::parse(bytes, Vec::new(), &Limits::default())
        .unwrap()
        .verify(
            &certferry_format::TrustPolicy {
                keys: Vec::new(),
                required: std::collections::BTreeMap::new(),
                replay: certferry_format::replay::ReplayRules::default(),
            },
            Timestamp::from_unix(NOW).unwrap(),
            None,
        )
        .unwrap()
}

/// A distinctive slice of each key's bytes: the bundle must not contain it anywhere.
fn fingerprint_of(key: &[u8]) -> &[u8] {
    let mid = key.len() / 2;
    &key[mid..(mid + 32).min(key.len())]
}

#[test]
fn withheld_values_leave_no_byte_in_the_bundle_and_the_bundle_verifies() {
    let alice = pki("certs/alice.der");
    let keys: Vec<Vec<u8>> = KEYS.iter().map(|k| pki(k)).collect();
    let mut values = vec![describe_value(
        Attribute::UserCertificate,
        &alice,
        |v, c| cert::classify(v, c, &ctx(&[], None)),
    )];
    let mut raws: Vec<&[u8]> = vec![&alice];
    for (i, k) in keys.iter().enumerate() {
        let attr = if i % 2 == 0 {
            Attribute::UserCertificate
        } else {
            Attribute::UserSmimeCertificate
        };
        let v = describe_value(attr, k, |_, _| panic!("a key is never classified"));
        assert_eq!(v.container, WITHHELD_PRIVATE_KEY, "{}", KEYS[i]);
        let w = v.withheld.expect("withheld record");
        assert_eq!(w.length, k.len() as u64);
        assert_eq!(w.sha256, Sha256::digest(k));
        values.push(v);
        raws.push(k);
    }
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    w.add_entry(entry(values), &raws).unwrap();
    let bytes = finish(w).into_inner();
    for (k, name) in keys.iter().zip(KEYS) {
        assert!(
            memchr::memmem::find(&bytes, fingerprint_of(k)).is_none(),
            "bytes of {name} reached the bundle"
        );
    }
    assert!(memchr::memmem::find(&bytes, b"PRIVATE KEY").is_none());
    let v = verify(bytes);
    let h = v.header();
    assert_eq!(h.counts.values, 1 + KEYS.len() as u64);
    assert_eq!(h.counts.unparseable_values, 0);
    assert_eq!(h.counts.certificates, 1);
    let e = v.entries().next().unwrap();
    assert_eq!(e.values().len(), 1 + KEYS.len());
    assert!(e.values().skip(1).all(|v| v.bytes().is_empty()
        && v.decoded().is_none()
        && Some(v.sha256()) == v.record().withheld.map(|w| w.sha256)));
    assert_eq!(
        e.entry().values[0].file.as_deref(),
        Some("data/values/00000001.bin")
    );
    let review = String::from_utf8(v.review_csv().to_vec()).unwrap();
    assert_eq!(
        review.matches(",withheld-private-key,").count(),
        KEYS.len(),
        "{review}"
    );
    assert!(review
        .lines()
        .skip(2)
        .all(|l| l.ends_with(",unusable,withheld-private-key")));
}

#[test]
fn a_pkcs7_without_certificates_is_a_pkcs7_that_holds_none() {
    let p7 = pki("smime/no-certificates.p7b");
    let d = decode_value(&p7);
    assert_eq!(d.container, Container::Pkcs7);
    assert!(d.certificates.is_empty());
    assert!(d.problem.unwrap().contains("no certificates"));
    let v = describe_value(Attribute::UserSmimeCertificate, &p7, |_, _| unreachable!());
    let mut w = BundleWriter::new(Cursor::new(Vec::new()), Cursor::new(Vec::new())).unwrap();
    w.add_entry(entry(vec![v]), &[&p7]).unwrap();
    let v = verify(finish(w).into_inner());
    assert_eq!(
        v.header().counts.unparseable_values,
        0,
        "it is not unparseable"
    );
    let review = String::from_utf8(v.review_csv().to_vec()).unwrap();
    assert!(
        review
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(",pkcs7,,,,,,,,,,,,,unusable,no-certificate"),
        "{review}"
    );
}

fn classify_one(rel: &str, issuers: Option<&[TrustedIssuer]>) -> Vec<Reason> {
    let der = pki(rel);
    let info = decode_value(&der).certificates.remove(0);
    let addrs = vec![
        "mallory@contoso.test".to_owned(),
        "alice@contoso.test".to_owned(),
    ];
    cert::classify(&der, &info, &ctx(&addrs, issuers)).reasons
}

#[test]
fn rfc_5280_invalid_certificates_are_unusable_each_with_its_reason() {
    assert_eq!(
        classify_one("hostile/critical-unknown-extension.der", None),
        [Reason::UnsupportedCriticalExtension]
    );
    assert_eq!(
        classify_one("hostile/signature-algorithm-mismatch.der", None),
        [Reason::SignatureAlgorithmMismatch]
    );
    // The same certificate with matching algorithms has neither reason.
    assert!(classify_one("certs/alice.der", None).is_empty());
}

#[test]
fn trust_follows_the_key_not_the_name() {
    let issuing = TrustedIssuer::from_der(&pki("ca/issuing-ca.der")).unwrap();
    let trusted = [issuing];
    assert!(classify_one("certs/alice.der", Some(&trusted)).is_empty());
    // The impostor CA has the issuing CA's exact name but another key.
    assert_eq!(
        classify_one("hostile/impostor-issued.der", Some(&trusted)),
        [Reason::UntrustedIssuer]
    );
}

#[test]
fn serials_keep_their_sign_and_their_size() {
    let serial = |rel: &str| decode_value(&pki(rel)).certificates.remove(0).serial;
    assert_eq!(serial("hostile/negative-serial.der"), "-2a");
    assert_eq!(serial("hostile/high-bit-serial.der"), "80");
    assert_eq!(
        serial("hostile/twenty-octet-serial.der"),
        "7f0102030405060708090a0b0c0d0e0f10111213"
    );
    let weak = decode_value(&pki("hostile/weak-rsa-1024.der"))
        .certificates
        .remove(0);
    assert_eq!(weak.key_bits, 1024);
}
