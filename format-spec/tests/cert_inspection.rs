//! Certificate inspection against the openssl-made test data in
//! `tests/data/certs` (see the `generate` script there).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Everything lives in this module so that the test names contain "cert"
/// (`cargo test -p certferry-format cert` runs them all).
mod cert_inspection {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use certferry_format::cert::{
        classify, decode_value, find_private_key_material, CertClass, CertInfo, Classification,
        ClassifyContext, Container, DecodedValue, KeyType, KeyUsage, Reason, TrustedIssuer,
        MAX_CERTIFICATES,
    };
    use certferry_format::ErrorClass;

    /// 2026-06-01T00:00:00Z, inside the validity of the "current" test certificates.
    const NOW: i64 = 1_780_272_000;
    /// 2026-01-01T00:00:00Z and 2028-01-01T00:00:00Z.
    const V0: i64 = 1_767_225_600;
    const V1: i64 = 1_830_297_600;

    const EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";

    fn data(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/certs")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `fingerprints.txt`: file -> (sha256, sha1, serial), as openssl computed them.
    fn fingerprints() -> HashMap<String, (String, String, String)> {
        String::from_utf8(data("fingerprints.txt"))
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                assert_eq!(f.len(), 4, "{l}");
                (
                    f[0].to_owned(),
                    (f[1].to_owned(), f[2].to_owned(), f[3].to_owned()),
                )
            })
            .collect()
    }

    fn bare(name: &str) -> CertInfo {
        let bytes = data(name);
        let d = decode_value(&bytes);
        assert_eq!(d.container, Container::X509, "{name}: {:?}", d.problem);
        assert_eq!(d.problem, None);
        assert_eq!(d.certificates.len(), 1);
        let c = d.certificates.into_iter().next().unwrap();
        assert_eq!(c.der_range, 0..bytes.len());
        c
    }

    fn trusted() -> Vec<TrustedIssuer> {
        TrustedIssuer::from_pem(&data("ca-bundle.pem")).unwrap()
    }

    fn rogue_trusted() -> Vec<TrustedIssuer> {
        TrustedIssuer::from_pem(&data("rogue-ca-bundle.pem")).unwrap()
    }

    fn addrs(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Classifies the bare certificate in file `name`.
    fn class_of(
        name: &str,
        now: i64,
        addresses: &[&str],
        issuers: Option<&[TrustedIssuer]>,
    ) -> Classification {
        let bytes = data(name);
        let info = bare(name);
        let addresses = addrs(addresses);
        classify(
            &bytes,
            &info,
            &ClassifyContext {
                now,
                addresses: &addresses,
                trusted_issuers: issuers,
                intermediates: &[],
            },
        )
    }

    fn usable(class: CertClass) -> Classification {
        Classification {
            class,
            reasons: vec![],
        }
    }

    fn unusable(reasons: &[Reason]) -> Classification {
        Classification {
            class: CertClass::Unusable,
            reasons: reasons.to_vec(),
        }
    }

    fn der_of(bytes: &[u8], c: &CertInfo) -> Vec<u8> {
        bytes[c.der_range.clone()].to_vec()
    }

    fn assert_certs(value_name: &str, d: &DecodedValue, bytes: &[u8], files: &[&str]) {
        let got: Vec<Vec<u8>> = d.certificates.iter().map(|c| der_of(bytes, c)).collect();
        let want: Vec<Vec<u8>> = files.iter().map(|f| data(f)).collect();
        assert_eq!(
            got, want,
            "{value_name}: certificates differ from {files:?}"
        );
        let fp = fingerprints();
        for (c, f) in d.certificates.iter().zip(files) {
            assert_eq!(c.sha256.to_hex(), fp[*f].0, "{value_name}/{f}");
            assert_eq!(c.sha1_hex(), fp[*f].1, "{value_name}/{f}");
        }
    }

    // ---------------------------------------------------------------- CertInfo fields

    #[test]
    fn rsa_certificate_every_field() {
        let c = bare("alice-rsa.der");
        let fp = &fingerprints()["alice-rsa.der"];
        assert_eq!(c.sha256.to_hex(), fp.0);
        assert_eq!(
            c.sha256.to_hex(),
            "7120f34c05df32b19b7008adced773d9521b6339cdeb0f8c111bf1e615afb380"
        );
        assert_eq!(c.sha1_hex(), "2c1cfd4202340e74f74c61f857dbe3fbf5424abc");
        assert_eq!(
            c.subject,
            "1.2.840.113549.1.9.1=alice@contoso.test,CN=Alice Example,O=Contoso Test"
        );
        assert_eq!(c.issuer, "CN=Certferry Test Issuing CA,O=Contoso Test");
        // DER serial 00 80 a1 b2 c3 d4: the sign octet is not part of the magnitude.
        assert_eq!(c.serial, "80a1b2c3d4");
        assert_eq!(c.serial, fp.2);
        assert_eq!((c.not_before, c.not_after), (V0, V1));
        assert_eq!(c.key_type, KeyType::Rsa);
        assert_eq!(c.key_type.as_str(), "rsa");
        assert_eq!(c.key_bits, 2048);
        assert_eq!(
            c.key_usage,
            Some(vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment])
        );
        assert_eq!(
            c.extended_key_usage,
            Some(vec![EMAIL_PROTECTION.to_owned()])
        );
        assert!(c.has_email_protection());
        assert_eq!(c.rfc822_names, vec!["alice@contoso.test".to_owned()]);
        assert!(!c.is_ca);
    }

    #[test]
    fn ec_certificate_every_field() {
        let c = bare("bob-ec.der");
        let fp = &fingerprints()["bob-ec.der"];
        assert_eq!(
            c.sha256.to_hex(),
            "a0eb003851e9472ddaea7402ee47ede356bba2e6f5feeb9422c74b0b2c9e4918"
        );
        assert_eq!(c.sha256.to_hex(), fp.0);
        assert_eq!(c.sha1_hex(), fp.1);
        assert_eq!(c.subject, "CN=Bob Example,O=Contoso Test");
        assert_eq!(c.issuer, "CN=Certferry Test Issuing CA,O=Contoso Test");
        assert_eq!(c.serial, "1002");
        assert_eq!((c.not_before, c.not_after), (V0, V1));
        assert_eq!(c.key_type, KeyType::Ec);
        assert_eq!(c.key_type.as_str(), "ec");
        assert_eq!(c.key_bits, 256);
        assert_eq!(
            c.key_usage,
            Some(vec![KeyUsage::DigitalSignature, KeyUsage::KeyAgreement])
        );
        assert_eq!(
            c.extended_key_usage,
            Some(vec![EMAIL_PROTECTION.to_owned()])
        );
        assert_eq!(c.rfc822_names, vec!["bob@contoso.test".to_owned()]);
        assert!(!c.is_ca);
    }

    #[test]
    fn other_certificate_fields() {
        let ed = bare("carol-ed25519.der");
        assert_eq!((ed.key_type, ed.key_bits), (KeyType::Ed25519, 256));
        assert_eq!(ed.key_type.as_str(), "ed25519");

        let root = bare("root-ca.der");
        assert_eq!(root.subject, "CN=Certferry Test Root CA,O=Contoso Test");
        assert_eq!(root.issuer, root.subject);
        assert_eq!(root.serial, "01");
        assert!(root.is_ca);
        assert_eq!(root.extended_key_usage, None);
        assert!(!root.has_email_protection());
        assert!(root.rfc822_names.is_empty());
        assert_eq!(
            root.key_usage,
            Some(vec![KeyUsage::KeyCertSign, KeyUsage::CrlSign])
        );
        // 2020-01-01 .. 2045-01-01
        assert_eq!(
            (root.not_before, root.not_after),
            (1_577_836_800, 2_366_841_600)
        );

        // GeneralizedTime (after 2049).
        let future = bare("not-yet-valid.der");
        assert_eq!(
            (future.not_before, future.not_after),
            (3_786_912_000, 3_818_448_000)
        );

        let none = bare("no-key-usage.der");
        assert_eq!(none.key_usage, None);
        // EKU OIDs in encoding order; SAN addresses as written.
        assert_eq!(
            none.extended_key_usage,
            Some(vec![
                EMAIL_PROTECTION.to_owned(),
                "1.3.6.1.5.5.7.3.2".to_owned()
            ])
        );
        assert_eq!(
            none.rfc822_names,
            vec![
                "alice@contoso.test".to_owned(),
                "Alice.Example@Contoso.TEST".to_owned()
            ]
        );

        assert_eq!(
            bare("any-eku.der").extended_key_usage,
            Some(vec!["2.5.29.37.0".to_owned()])
        );
        assert_eq!(bare("no-eku.der").extended_key_usage, None);
        assert_eq!(
            bare("data-enc.der").key_usage,
            Some(vec![KeyUsage::DataEncipherment])
        );
        assert!(bare("ca-email.der").is_ca);
    }

    #[test]
    fn every_certificate_matches_openssl_fingerprints() {
        let fp = fingerprints();
        assert!(fp.len() >= 18);
        for (file, (sha256, sha1, serial)) in &fp {
            let c = bare(file);
            assert_eq!(&c.sha256.to_hex(), sha256, "{file}");
            assert_eq!(&c.sha1_hex(), sha1, "{file}");
            assert_eq!(&c.serial, serial, "{file}");
            assert_eq!(find_private_key_material(&data(file)), None, "{file}");
        }
    }

    #[test]
    fn enum_names() {
        assert_eq!(
            Container::ALL.map(Container::as_str),
            ["x509", "pkcs7", "unparseable"]
        );
        assert_eq!(
            KeyType::ALL.map(KeyType::as_str),
            ["rsa", "ec", "ed25519", "ed448", "dsa", "other"]
        );
        assert_eq!(
            KeyUsage::ALL.map(KeyUsage::as_str),
            [
                "digitalSignature",
                "nonRepudiation",
                "keyEncipherment",
                "dataEncipherment",
                "keyAgreement",
                "keyCertSign",
                "cRLSign",
                "encipherOnly",
                "decipherOnly"
            ]
        );
        assert_eq!(
            CertClass::ALL.map(CertClass::as_str),
            ["encryption", "signing-only", "unusable"]
        );
        assert_eq!(
            Reason::ALL.map(Reason::as_str),
            [
                "expired",
                "not-yet-valid",
                "no-email-protection",
                "no-matching-address",
                "untrusted-issuer",
                "ca-certificate",
                "no-usable-key-usage",
                "unsupported-critical-extension",
                "signature-algorithm-mismatch"
            ]
        );
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
            assert!(!r.description().is_empty());
        }
        assert!("unknown".parse::<Reason>().is_err());
    }

    // ---------------------------------------------------------------- containers

    #[test]
    fn certs_only_pkcs7() {
        let bytes = data("p7-certs-only.p7b");
        let d = decode_value(&bytes);
        assert_eq!(d.container, Container::Pkcs7);
        assert_eq!(d.problem, None);
        assert_certs(
            "p7-certs-only.p7b",
            &d,
            &bytes,
            &["alice-rsa.der", "issuing-ca.der", "root-ca.der"],
        );
        assert_eq!(d.certificates[0], {
            let mut c = bare("alice-rsa.der");
            c.der_range = d.certificates[0].der_range.clone();
            c
        });
    }

    #[test]
    fn outlook_style_detached_cms_signature() {
        let bytes = data("cms-detached.p7s");
        let d = decode_value(&bytes);
        assert_eq!(d.container, Container::Pkcs7);
        assert_eq!(d.problem, None);
        assert_certs(
            "cms-detached.p7s",
            &d,
            &bytes,
            &["root-ca.der", "issuing-ca.der", "alice-rsa.der"],
        );

        let bytes = data("cms-ec.p7s");
        let d = decode_value(&bytes);
        assert_eq!(d.container, Container::Pkcs7);
        assert_certs(
            "cms-ec.p7s",
            &d,
            &bytes,
            &["bob-ec.der", "root-ca.der", "issuing-ca.der"],
        );
    }

    #[test]
    fn indefinite_length_ber_cms() {
        let bytes = data("cms-ber.p7s");
        assert_eq!(
            &bytes[..2],
            &[0x30, 0x80],
            "the value must use indefinite lengths"
        );
        let d = decode_value(&bytes);
        assert_eq!(d.container, Container::Pkcs7, "{:?}", d.problem);
        assert_eq!(d.problem, None);
        assert_certs(
            "cms-ber.p7s",
            &d,
            &bytes,
            &["root-ca.der", "issuing-ca.der", "alice-rsa.der"],
        );
    }

    const OID_SIGNED_DATA: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    const OID_DATA: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];

    /// DER TLV with a definite length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = content.len();
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend([0x81, n as u8]);
        } else if n < 0x10000 {
            out.extend([0x82, (n >> 8) as u8, n as u8]);
        } else {
            out.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    /// A certs-only ContentInfo/SignedData with this `certificates` content, DER.
    fn signed_data_der(certificates: Option<&[u8]>) -> Vec<u8> {
        let mut sd = Vec::new();
        sd.extend(tlv(0x02, &[1]));
        sd.extend(tlv(0x31, &[]));
        sd.extend(tlv(0x30, &OID_DATA));
        if let Some(c) = certificates {
            sd.extend(tlv(0xa0, c));
        }
        sd.extend(tlv(0x31, &[]));
        let mut ci = OID_SIGNED_DATA.to_vec();
        ci.extend(tlv(0xa0, &tlv(0x30, &sd)));
        tlv(0x30, &ci)
    }

    #[test]
    fn indefinite_length_certificate_set() {
        // Every constructed element up to the certificates uses the indefinite form.
        let alice = data("alice-rsa.der");
        let issuing = data("issuing-ca.der");
        let mut v = vec![0x30, 0x80];
        v.extend(OID_SIGNED_DATA);
        v.extend([
            0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x01, 0x31, 0x80, 0x00, 0x00,
        ]);
        v.extend([0x30, 0x80]);
        v.extend(OID_DATA);
        v.extend([0x00, 0x00, 0xa0, 0x80]);
        let start = v.len();
        v.extend(&alice);
        v.extend(&issuing);
        v.extend([0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        let d = decode_value(&v);
        assert_eq!(d.container, Container::Pkcs7, "{:?}", d.problem);
        assert_eq!(d.problem, None);
        assert_eq!(d.certificates.len(), 2);
        assert_eq!(d.certificates[0].der_range, start..start + alice.len());
        assert_certs(
            "hand-made BER",
            &d,
            &v,
            &["alice-rsa.der", "issuing-ca.der"],
        );

        // A missing end-of-contents makes it unparseable.
        let d = decode_value(&v[..v.len() - 2]);
        assert_eq!(d.container, Container::Unparseable);
    }

    #[test]
    fn other_certificate_choices_are_skipped_and_noted() {
        let alice = data("alice-rsa.der");
        let mut certs = Vec::new();
        certs.extend(tlv(0xa1, &[0x30, 0x00])); // v1AttrCert [1]
        certs.extend(&alice);
        certs.extend(tlv(0x30, &tlv(0x02, &[0]))); // a SEQUENCE that is no certificate
        let mut ber_cert = vec![0x30, 0x80];
        ber_cert.extend(tlv(0x02, &[1]));
        ber_cert.extend([0, 0]);
        certs.extend(&ber_cert); // indefinite length: not DER
        let v = signed_data_der(Some(&certs));
        let d = decode_value(&v);
        assert_eq!(d.container, Container::Pkcs7);
        assert_certs("mixed choices", &d, &v, &["alice-rsa.der"]);
        let problem = d.problem.unwrap();
        assert!(
            problem.contains("non-X.509 certificate choice"),
            "{problem}"
        );
        assert!(problem.contains("not a DER X.509 certificate"), "{problem}");
        assert!(problem.contains("indefinite length"), "{problem}");

        for v in [signed_data_der(None), signed_data_der(Some(&[]))] {
            let d = decode_value(&v);
            assert_eq!(d.container, Container::Pkcs7);
            assert!(d.certificates.is_empty());
            assert!(d.problem.unwrap().contains("no certificates"));
        }
    }

    #[test]
    fn at_most_64_certificates() {
        let root = data("root-ca.der");
        let many = |n: usize| -> Vec<u8> {
            let certs: Vec<u8> = std::iter::repeat_n(root.as_slice(), n)
                .flatten()
                .copied()
                .collect();
            signed_data_der(Some(&certs))
        };
        let d = decode_value(&many(MAX_CERTIFICATES));
        assert_eq!(d.container, Container::Pkcs7);
        assert_eq!(d.certificates.len(), 64);
        let d = decode_value(&many(MAX_CERTIFICATES + 1));
        assert_eq!(d.container, Container::Unparseable);
        assert!(d.certificates.is_empty());
        assert!(d.problem.unwrap().contains("more than 64"));
    }

    #[test]
    fn unparseable_values() {
        let mut other_type = signed_data_der(Some(&data("root-ca.der")));
        other_type[14] = 0x01; // contentType data instead of signedData
        let mut trailing_p7 = data("p7-certs-only.p7b");
        trailing_p7.push(0);
        for (name, bytes, needle) in [
            (
                "garbage.bin",
                data("garbage.bin"),
                "not a DER X.509 certificate",
            ),
            ("p7-truncated.p7b", data("p7-truncated.p7b"), "past the end"),
            (
                "cert-trailing.bin",
                data("cert-trailing.bin"),
                "1 trailing bytes",
            ),
            ("empty", vec![], "empty"),
            (
                "PEM certificate",
                data("alice-rsa.pem"),
                "not a DER X.509 certificate",
            ),
            ("type data", other_type, "not signedData"),
            (
                "p7 + trailing",
                trailing_p7,
                "trailing bytes after the ContentInfo",
            ),
            ("PKCS#12", data("alice.p12"), "not a DER X.509 certificate"),
        ] {
            let d = decode_value(&bytes);
            assert_eq!(d.container, Container::Unparseable, "{name}");
            assert!(d.certificates.is_empty(), "{name}");
            let problem = d.problem.unwrap_or_default();
            assert!(problem.contains(needle), "{name}: {problem}");
        }
    }

    // ---------------------------------------------------------------- classification

    #[test]
    fn usable_certificates() {
        let t = trusted();
        assert_eq!(
            class_of("alice-rsa.der", NOW, &["alice@contoso.test"], Some(&t)),
            usable(CertClass::Encryption)
        );
        assert_eq!(
            class_of("bob-ec.der", NOW, &["bob@contoso.test"], Some(&t)),
            usable(CertClass::Encryption)
        );
        // Boundaries: valid from notBefore through notAfter inclusive.
        assert_eq!(
            class_of("alice-rsa.der", V0, &["alice@contoso.test"], Some(&t)),
            usable(CertClass::Encryption)
        );
        assert_eq!(
            class_of("alice-rsa.der", V1, &["alice@contoso.test"], Some(&t)),
            usable(CertClass::Encryption)
        );
    }

    #[test]
    fn validity_period() {
        let a = &["alice@contoso.test"];
        assert_eq!(
            class_of("expired.der", NOW, a, None),
            unusable(&[Reason::Expired])
        );
        assert_eq!(
            class_of("not-yet-valid.der", NOW, a, None),
            unusable(&[Reason::NotYetValid])
        );
        assert_eq!(
            class_of("alice-rsa.der", V1 + 1, a, None),
            unusable(&[Reason::Expired])
        );
        assert_eq!(
            class_of("alice-rsa.der", V0 - 1, a, None),
            unusable(&[Reason::NotYetValid])
        );
    }

    #[test]
    fn extended_key_usage_must_include_email_protection() {
        let a = &["alice@contoso.test"];
        for name in ["client-auth.der", "any-eku.der", "no-eku.der"] {
            assert_eq!(
                class_of(name, NOW, a, None),
                unusable(&[Reason::NoEmailProtection]),
                "{name}"
            );
        }
        // emailProtection among other purposes is enough.
        assert_eq!(
            class_of("no-key-usage.der", NOW, a, None),
            usable(CertClass::Encryption)
        );
    }

    #[test]
    fn san_address_must_match_case_insensitively() {
        assert_eq!(
            class_of("wrong-san.der", NOW, &["alice@contoso.test"], None),
            unusable(&[Reason::NoMatchingAddress])
        );
        assert_eq!(
            class_of(
                "alice-rsa.der",
                NOW,
                &["bob@contoso.test", "ALICE@Contoso.Test"],
                None
            ),
            usable(CertClass::Encryption)
        );
        assert_eq!(
            class_of("alice-rsa.der", NOW, &[], None),
            unusable(&[Reason::NoMatchingAddress])
        );
        // Any of several SAN addresses may match.
        assert_eq!(
            class_of(
                "no-key-usage.der",
                NOW,
                &["alice.example@contoso.test"],
                None
            ),
            usable(CertClass::Encryption)
        );
        // Only the exact address: no substring or domain match.
        assert_eq!(
            class_of(
                "alice-rsa.der",
                NOW,
                &["lice@contoso.test", "contoso.test"],
                None
            ),
            unusable(&[Reason::NoMatchingAddress])
        );
    }

    #[test]
    fn issuer_must_verify_the_signature_not_just_match_the_name() {
        let a = &["alice@contoso.test"];
        let good = trusted();
        let rogue = rogue_trusted();
        assert_eq!(good.len(), 2);
        assert_eq!(rogue.len(), 1);

        // The rogue CA has exactly the issuing CA's name: a name-only check
        // would take one for the other.
        assert_eq!(rogue[0].subject(), good[1].subject());
        assert_eq!(rogue[0].subject(), bare("alice-rsa.der").issuer);
        assert_eq!(rogue[0].subject(), bare("rogue-issued.der").issuer);
        assert_ne!(rogue[0].sha256(), good[1].sha256());

        // Self-published certificate from the rogue CA: not trusted.
        assert_eq!(
            class_of("rogue-issued.der", NOW, a, Some(&good)),
            unusable(&[Reason::UntrustedIssuer])
        );
        // The genuine certificate is not trusted under the rogue CA either.
        assert_eq!(
            class_of("alice-rsa.der", NOW, a, Some(&rogue)),
            unusable(&[Reason::UntrustedIssuer])
        );
        // Each verifies under its real issuer.
        assert_eq!(
            class_of("rogue-issued.der", NOW, a, Some(&rogue)),
            usable(CertClass::Encryption)
        );
        // Both CAs trusted: the one whose key verifies counts.
        let both: Vec<TrustedIssuer> = rogue.iter().chain(good.iter()).cloned().collect();
        assert_eq!(
            class_of("alice-rsa.der", NOW, a, Some(&both)),
            usable(CertClass::Encryption)
        );
        // Only the root trusted: the issuer must be in the list (no chain building).
        let root_only = vec![TrustedIssuer::from_der(&data("root-ca.der")).unwrap()];
        assert_eq!(
            class_of("alice-rsa.der", NOW, a, Some(&root_only)),
            unusable(&[Reason::UntrustedIssuer])
        );
        // ... while the issuing CA itself verifies under the root.
        assert!(!class_of("issuing-ca.der", NOW, a, Some(&root_only))
            .reasons
            .contains(&Reason::UntrustedIssuer));
        // No trusted list configured: no issuer check.
        assert_eq!(
            class_of("rogue-issued.der", NOW, a, None),
            usable(CertClass::Encryption)
        );
        // An empty list trusts nobody.
        assert_eq!(
            class_of("alice-rsa.der", NOW, a, Some(&[])),
            unusable(&[Reason::UntrustedIssuer])
        );
    }

    #[test]
    fn issuer_check_inside_pkcs7_values() {
        let good = trusted();
        let addresses = addrs(&["alice@contoso.test"]);
        let ctx = ClassifyContext {
            now: NOW,
            addresses: &addresses,
            trusted_issuers: Some(&good),
            intermediates: &[],
        };
        for name in ["p7-certs-only.p7b", "cms-detached.p7s", "cms-ber.p7s"] {
            let bytes = data(name);
            let d = decode_value(&bytes);
            let alice = d
                .certificates
                .iter()
                .find(|c| c.rfc822_names == ["alice@contoso.test"])
                .unwrap();
            assert_eq!(
                classify(&bytes, alice, &ctx),
                usable(CertClass::Encryption),
                "{name}"
            );
            let root = d
                .certificates
                .iter()
                .find(|c| c.subject.contains("Root"))
                .unwrap();
            assert_eq!(
                classify(&bytes, root, &ctx).reasons,
                vec![
                    Reason::NoEmailProtection,
                    Reason::NoMatchingAddress,
                    Reason::CaCertificate,
                    Reason::NoUsableKeyUsage
                ],
                "{name}"
            );
        }
        // A range that is not a certificate of the value cannot be verified.
        let bytes = data("p7-certs-only.p7b");
        let mut info = decode_value(&bytes).certificates[0].clone();
        for range in [0..10, 5000..6000, 45..979] {
            info.der_range = range;
            assert_eq!(
                classify(&bytes, &info, &ctx),
                unusable(&[Reason::UntrustedIssuer])
            );
        }
    }

    #[test]
    fn ca_certificates_are_unusable() {
        assert_eq!(
            class_of(
                "ca-email.der",
                NOW,
                &["alice@contoso.test"],
                Some(&trusted())
            ),
            unusable(&[Reason::CaCertificate])
        );
    }

    #[test]
    fn key_usage_rules() {
        let a = &["alice@contoso.test"];
        assert_eq!(
            class_of("sign-only.der", NOW, a, None),
            usable(CertClass::SigningOnly)
        );
        assert_eq!(
            class_of("data-enc.der", NOW, a, None),
            unusable(&[Reason::NoUsableKeyUsage])
        );
        assert_eq!(
            class_of("no-key-usage.der", NOW, a, None),
            usable(CertClass::Encryption)
        );
        // EC keys encrypt by key agreement: keyEncipherment does not count.
        assert_eq!(
            class_of("bob-ec-keyenc.der", NOW, &["bob@contoso.test"], None),
            usable(CertClass::SigningOnly)
        );
        assert_eq!(
            class_of("carol-ed25519.der", NOW, &["carol@contoso.test"], None),
            usable(CertClass::SigningOnly)
        );

        // The rules per key type, on edited copies of alice's CertInfo.
        let bytes = data("alice-rsa.der");
        let base = bare("alice-rsa.der");
        let addresses = addrs(a);
        let ctx = ClassifyContext {
            now: NOW,
            addresses: &addresses,
            trusted_issuers: None,
            intermediates: &[],
        };
        use KeyUsage::*;
        for (kt, ku, want) in [
            (
                KeyType::Rsa,
                vec![NonRepudiation],
                usable(CertClass::SigningOnly),
            ),
            (
                KeyType::Rsa,
                vec![KeyEncipherment],
                usable(CertClass::Encryption),
            ),
            (
                KeyType::Rsa,
                vec![KeyAgreement],
                unusable(&[Reason::NoUsableKeyUsage]),
            ),
            (
                KeyType::Rsa,
                vec![KeyAgreement, DigitalSignature],
                usable(CertClass::SigningOnly),
            ),
            (KeyType::Rsa, vec![], unusable(&[Reason::NoUsableKeyUsage])),
            (
                KeyType::Ec,
                vec![KeyAgreement],
                usable(CertClass::Encryption),
            ),
            (
                KeyType::Ec,
                vec![KeyEncipherment],
                unusable(&[Reason::NoUsableKeyUsage]),
            ),
            (
                KeyType::Ec,
                vec![KeyCertSign, CrlSign],
                unusable(&[Reason::NoUsableKeyUsage]),
            ),
            (
                KeyType::Other,
                vec![KeyAgreement],
                usable(CertClass::Encryption),
            ),
            (
                KeyType::Dsa,
                vec![KeyEncipherment],
                usable(CertClass::Encryption),
            ),
            (
                KeyType::Ed25519,
                vec![DigitalSignature],
                usable(CertClass::SigningOnly),
            ),
        ] {
            let mut c = base.clone();
            c.key_type = kt;
            c.key_usage = Some(ku.clone());
            assert_eq!(classify(&bytes, &c, &ctx), want, "{kt:?} {ku:?}");
        }
    }

    #[test]
    fn reasons_are_sorted_and_combined() {
        // Expired, wrong address, rogue issuer, all at once, in enum order.
        let c = class_of(
            "expired.der",
            NOW,
            &["bob@contoso.test"],
            Some(&rogue_trusted()),
        );
        assert_eq!(
            c,
            unusable(&[
                Reason::Expired,
                Reason::NoMatchingAddress,
                Reason::UntrustedIssuer
            ])
        );
        let c = class_of(
            "issuing-ca.der",
            NOW,
            &["alice@contoso.test"],
            Some(&trusted()),
        );
        assert_eq!(
            c.reasons,
            vec![
                Reason::NoEmailProtection,
                Reason::NoMatchingAddress,
                Reason::CaCertificate,
                Reason::NoUsableKeyUsage
            ]
        );
        let mut sorted = c.reasons.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, c.reasons);
    }

    // ---------------------------------------------------------------- trusted issuers

    #[test]
    fn trusted_issuer_loading() {
        let t = trusted();
        let fp = fingerprints();
        assert_eq!(t[0].subject(), "CN=Certferry Test Root CA,O=Contoso Test");
        assert_eq!(t[0].sha256().to_hex(), fp["root-ca.der"].0);
        assert_eq!(
            t[1].subject(),
            "CN=Certferry Test Issuing CA,O=Contoso Test"
        );
        assert_eq!(t[1].sha256().to_hex(), fp["issuing-ca.der"].0);
        assert_eq!(
            TrustedIssuer::from_der(&data("issuing-ca.der")).unwrap(),
            t[1]
        );

        for bad in [data("garbage.bin"), data("cert-trailing.bin"), vec![]] {
            assert_eq!(
                TrustedIssuer::from_der(&bad).unwrap_err().class(),
                ErrorClass::Key
            );
        }
        for bad in [
            data("alice.key"),   // a PRIVATE KEY block
            data("garbage.bin"), // no block
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec(),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            vec![],
        ] {
            assert_eq!(
                TrustedIssuer::from_pem(&bad).unwrap_err().class(),
                ErrorClass::Key
            );
        }
        // Text around blocks is ignored.
        let mut commented = b"# Contoso CAs\n".to_vec();
        commented.extend(data("root-ca.pem"));
        commented.extend(b"\nsome trailing words\n");
        assert_eq!(TrustedIssuer::from_pem(&commented).unwrap().len(), 1);
        // Windows line endings.
        let crlf = String::from_utf8(data("ca-bundle.pem"))
            .unwrap()
            .replace('\n', "\r\n");
        assert_eq!(TrustedIssuer::from_pem(crlf.as_bytes()).unwrap(), t);
    }

    // ---------------------------------------------------------------- private keys

    #[test]
    fn private_key_material_is_found() {
        for (name, want) in [
            ("alice.key", "PEM private key (PKCS#8 PRIVATE KEY)"),
            ("bob.key", "PEM private key (PKCS#8 PRIVATE KEY)"),
            ("alice-rsa-key.pem", "PEM RSA private key (RSA PRIVATE KEY)"),
            ("alice-key.der", "DER PKCS#8 PrivateKeyInfo"),
            ("alice-enc-key.der", "DER PKCS#8 EncryptedPrivateKeyInfo"),
            (
                "alice-rsa-key.der",
                "DER RSAPrivateKey (PKCS#1) or DSA private key",
            ),
            ("bob-ec-key.der", "DER ECPrivateKey (SEC 1)"),
            ("alice.p12", "PKCS#12/PFX file"),
        ] {
            let bytes = data(name);
            assert_eq!(find_private_key_material(&bytes), Some(want), "{name}");
            // Truncated DER keys are still recognised.
            if name.ends_with(".der") || name.ends_with(".p12") {
                assert_eq!(
                    find_private_key_material(&bytes[..64]),
                    Some(want),
                    "{name}"
                );
            }
        }
        // A PEM key inside other bytes.
        let mut mixed = data("alice-rsa.der");
        mixed.extend(data("bob.key"));
        assert!(find_private_key_material(&mixed).is_some());
        let mut mixed = data("alice-rsa.pem");
        mixed.extend(b"-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n");
        assert_eq!(
            find_private_key_material(&mixed),
            Some("PEM EC private key (EC PRIVATE KEY)")
        );
        assert_eq!(
            find_private_key_material(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"),
            Some("OpenSSH private key (OPENSSH PRIVATE KEY)")
        );
        assert_eq!(
            find_private_key_material(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            Some("PEM encrypted private key (PKCS#8 ENCRYPTED PRIVATE KEY)")
        );
    }

    #[test]
    fn public_values_have_no_private_key_material() {
        for name in [
            "p7-certs-only.p7b",
            "p7-truncated.p7b",
            "cms-detached.p7s",
            "cms-ber.p7s",
            "cms-ec.p7s",
            "cert-trailing.bin",
            "garbage.bin",
            "alice-rsa.pem",
            "ca-bundle.pem",
        ] {
            assert_eq!(find_private_key_material(&data(name)), None, "{name}");
        }
        assert_eq!(
            find_private_key_material(b"the PRIVATE KEY is not here"),
            None
        );
        assert_eq!(find_private_key_material(&[]), None);
        // A large public value is scanned quickly and without a hit.
        let big: Vec<u8> = data("cms-detached.p7s")
            .iter()
            .cycle()
            .take(8 << 20)
            .copied()
            .collect();
        assert_eq!(find_private_key_material(&big), None);
    }

    // ---------------------------------------------------------------- robustness

    fn check_invariants(bytes: &[u8], d: &DecodedValue) {
        match d.container {
            Container::Unparseable => {
                assert!(d.certificates.is_empty());
                assert!(d.problem.is_some());
            }
            Container::X509 => {
                assert_eq!(d.certificates.len(), 1);
                assert_eq!(d.certificates[0].der_range, 0..bytes.len());
            }
            Container::Pkcs7 => assert!(d.certificates.len() <= MAX_CERTIFICATES),
        }
        for c in &d.certificates {
            assert!(c.der_range.start < c.der_range.end && c.der_range.end <= bytes.len());
        }
    }

    /// Decodes (and classifies, and scans for keys) every truncation of the
    /// value in file `name` and, with `flips`, every single-bit flip of it.
    fn exhaust(name: &str, flips: bool) {
        let good = trusted();
        let addresses = addrs(&["alice@contoso.test"]);
        let ctx = ClassifyContext {
            now: NOW,
            addresses: &addresses,
            trusted_issuers: Some(&good),
            intermediates: &[],
        };
        let value = data(name);
        for len in 0..value.len() {
            let v = &value[..len];
            let d = decode_value(v);
            check_invariants(v, &d);
            assert_ne!(d.container, Container::X509, "{name}[..{len}]");
            for c in &d.certificates {
                let _ = classify(v, c, &ctx);
            }
            let _ = find_private_key_material(v);
        }
        if !flips {
            return;
        }
        let mut v = value.clone();
        for bit in 0..value.len() * 8 {
            v[bit / 8] ^= 1 << (bit % 8);
            let d = decode_value(&v);
            check_invariants(&v, &d);
            if bit % 61 == 0 {
                for c in &d.certificates {
                    let _ = classify(&v, c, &ctx);
                }
            }
            let _ = find_private_key_material(&v);
            v[bit / 8] ^= 1 << (bit % 8);
        }
    }

    #[test]
    fn no_panic_certs_only_pkcs7_truncations_and_bit_flips() {
        exhaust("p7-certs-only.p7b", true);
    }

    #[test]
    fn no_panic_detached_cms_truncations_and_bit_flips() {
        exhaust("cms-detached.p7s", true);
    }

    #[test]
    fn no_panic_ber_cms_truncations_and_bit_flips() {
        exhaust("cms-ber.p7s", true);
    }

    #[test]
    fn no_panic_ec_cms_truncations_and_bit_flips() {
        exhaust("cms-ec.p7s", true);
    }

    #[test]
    fn no_panic_bare_certificate_and_pkcs12() {
        exhaust("alice-rsa.der", true);
        exhaust("alice.p12", false);
    }

    /// Random multi-byte mutations (overwrites, insertions, deletions,
    /// splices) of every value. 5,000 rounds in the suite; set
    /// `CERT_MUTATIONS` for more (5 million passed in release mode).
    #[test]
    fn random_mutations_never_panic() {
        let rounds: usize = std::env::var("CERT_MUTATIONS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5_000);
        let seeds: Vec<Vec<u8>> = [
            "p7-certs-only.p7b",
            "cms-detached.p7s",
            "cms-ber.p7s",
            "cms-ec.p7s",
            "alice-rsa.der",
            "bob-ec.der",
            "alice.p12",
            "alice-key.der",
            "alice-enc-key.der",
            "alice-rsa-key.der",
            "bob-ec-key.der",
        ]
        .iter()
        .map(|n| data(n))
        .collect();
        let good = trusted();
        let addresses = addrs(&["alice@contoso.test"]);
        let ctx = ClassifyContext {
            now: NOW,
            addresses: &addresses,
            trusted_issuers: Some(&good),
            intermediates: &[],
        };
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move |n: usize| -> usize {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (n.max(1) as u64)) as usize
        };
        for _ in 0..rounds {
            let mut v = seeds[rnd(seeds.len())].clone();
            for _ in 0..1 + rnd(4) {
                let at = rnd(v.len());
                match rnd(5) {
                    0 => {
                        let b = rnd(256) as u8;
                        if let Some(x) = v.get_mut(at) {
                            *x = b;
                        }
                    }
                    1 => v.insert(at, [0x00, 0x80, 0xff, 0x30, 0xa0][rnd(5)]),
                    2 => {
                        let end = (at + rnd(64)).min(v.len());
                        v.drain(at..end);
                    }
                    3 => {
                        let from = seeds[rnd(seeds.len())].clone();
                        let s = rnd(from.len());
                        let e = (s + rnd(256)).min(from.len());
                        v.splice(at..at, from[s..e].iter().copied());
                    }
                    _ => v.truncate(at),
                }
            }
            let d = decode_value(&v);
            check_invariants(&v, &d);
            for c in &d.certificates {
                let _ = classify(&v, c, &ctx);
            }
            let _ = find_private_key_material(&v);
        }
    }

    #[test]
    fn no_panic_on_hostile_structures() {
        // Deeply nested indefinite lengths, inside and outside the certificate set.
        let mut deep = vec![0x30, 0x80];
        deep.extend(OID_SIGNED_DATA);
        deep.extend([0xa0, 0x80]);
        for _ in 0..10_000 {
            deep.extend([0x30, 0x80]);
        }
        deep.extend(std::iter::repeat_n(0u8, 20_004));
        let d = decode_value(&deep);
        assert_eq!(d.container, Container::Unparseable);
        assert!(find_private_key_material(&deep).is_none());

        // Lengths that point far past the end, huge tag numbers, zero-length
        // everything, 0xff runs.
        for v in [
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00],
            vec![0x30, 0x00],
            vec![0x30, 0x80, 0x00, 0x00],
            vec![0xff; 4096],
            vec![0x00; 4096],
            signed_data_der(Some(&[0x30, 0x80, 0x00, 0x00])),
            signed_data_der(Some(&[0xa0, 0x80])),
        ] {
            let d = decode_value(&v);
            check_invariants(&v, &d);
            let _ = find_private_key_material(&v);
        }
    }
}
