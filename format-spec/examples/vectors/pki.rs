//! The vectors of SPEC.md §6.7 (revision 1.3): bundles that carry CA
//! certificates and CRLs, and every way their description can lie.

use std::path::Path;

use certferry_format::layout;
use certferry_format::pki::{PkiAttribute, PkiOrigin};

use certferry_format::model::{Attribute, ObjectKind};

use super::{
    build_bundle_people, build_with_pki, fixture, member, rehash, replace, split, Emit, Gen,
    Person, PkiInput, Res,
};

const CONFIG: &str = "CN=Public Key Services,CN=Services,CN=Configuration,DC=contoso,DC=test";

/// The CA material of the fixture PKI as an exporter reads it from AD: the
/// root from a file, the issuing CA from AIA, the base and delta CRLs from
/// CDP, and a one-byte placeholder in the root object's ARL.
pub(super) fn material(root: &Path) -> Res<Vec<PkiInput<'static>>> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let aia = leak(format!("CN=Contoso Test Issuing CA,CN=AIA,{CONFIG}"));
    let cdp = leak(format!("CN=Contoso Test Issuing CA,CN=DC1,CN=CDP,{CONFIG}"));
    let roots = leak(format!(
        "CN=Contoso Test Root CA,CN=Certification Authorities,{CONFIG}"
    ));
    Ok(vec![
        (
            PkiOrigin::File,
            "root-ca.der",
            None,
            fixture(root, "ca/root-ca.der")?,
        ),
        (
            PkiOrigin::Directory,
            aia,
            Some(PkiAttribute::CaCertificate),
            fixture(root, "ca/issuing-ca.der")?,
        ),
        (
            PkiOrigin::Directory,
            cdp,
            Some(PkiAttribute::CertificateRevocationList),
            fixture(root, "crl/issuing-ca.der")?,
        ),
        (
            PkiOrigin::Directory,
            cdp,
            Some(PkiAttribute::DeltaRevocationList),
            fixture(root, "crl/issuing-ca-delta.der")?,
        ),
        (
            PkiOrigin::Directory,
            roots,
            Some(PkiAttribute::AuthorityRevocationList),
            vec![0],
        ),
    ])
}

pub(super) fn vectors(g: &mut Gen, root: &Path) -> Res<()> {
    let objects = material(root)?;
    let base = build_with_pki(root, build_bundle_people(root)?, Some(&objects))?;
    let plain = Emit::default();
    g.push(
        "pki-carried",
        "success",
        "revision 1.3: a root from a file, an issuing CA from AIA, a base and a delta CRL from CDP, and a one-byte placeholder (unparseable), each described in data/pki.jsonl",
        base.clone(),
    );
    g.push(
        "pki-read-and-nothing-found",
        "success",
        "revision 1.3: an empty data/pki.jsonl and no data/pki/ file: the exporter read the directory's CA material and found none",
        build_with_pki(root, build_bundle_people(root)?, Some(&[]))?,
    );
    let edit = |g: &mut Gen, name: &str, expect: &str, comment: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut ms = split(&base);
        f(&mut member(&mut ms, layout::PKI_JSONL).data);
        rehash(&mut ms, false);
        g.push_members(name, expect, comment, &ms, &plain);
    };
    edit(
        g,
        "pki-crl-entry-count-lies",
        "content",
        "the base CRL lists 2 revoked certificates, pki.jsonl says 1",
        &|d| replace(d, "\"entries\":2", "\"entries\":1"),
    );
    edit(
        g,
        "pki-crl-number-lies",
        "content",
        "the base CRL's cRLNumber is 2, pki.jsonl says 3",
        &|d| replace(d, "\"number\":\"02\"", "\"number\":\"03\""),
    );
    edit(
        g,
        "pki-delta-recorded-as-complete",
        "content",
        "the delta CRL's deltaCRLIndicator (base 2) is recorded as null: a delta must not pass for a complete CRL",
        &|d| replace(d, "\"delta_base\":\"02\"", "\"delta_base\":null"),
    );
    edit(
        g,
        "pki-ca-path-length-lies",
        "content",
        "the issuing CA has pathLenConstraint 0, pki.jsonl says null (no limit)",
        &|d| replace(d, "\"path_len\":0", "\"path_len\":null"),
    );
    edit(
        g,
        "pki-placeholder-recorded-as-crl-kind",
        "content",
        "a one-byte placeholder recorded with kind crl",
        &|d| {
            let s = String::from_utf8(d.clone()).unwrap();
            let last = s.trim_end().rsplit('\n').next().unwrap().to_owned();
            *d = s
                .replacen(
                    &last,
                    &last.replace("\"kind\":\"unparseable\"", "\"kind\":\"crl\""),
                    1,
                )
                .into_bytes();
        },
    );
    edit(
        g,
        "pki-directory-object-without-attribute",
        "content",
        "a directory object whose attribute is null",
        &|d| replace(d, "\"attribute\":\"cACertificate\"", "\"attribute\":null"),
    );
    edit(
        g,
        "pki-file-with-a-directory-in-its-name",
        "content",
        "a file's location must be its name only",
        &|d| {
            replace(
                d,
                "\"location\":\"root-ca.der\"",
                "\"location\":\"/etc/pki/root-ca.der\"",
            )
        },
    );
    edit(
        g,
        "pki-unknown-member",
        "content",
        "a pki.jsonl line with a member revision 1.3 does not define",
        &|d| {
            replace(
                d,
                "\"origin\":\"file\",",
                "\"origin\":\"file\",\"trusted\":true,",
            )
        },
    );
    edit(
        g,
        "pki-line-without-lf",
        "content",
        "the last line of pki.jsonl does not end with LF",
        &|d| {
            d.pop();
        },
    );
    edit(
        g,
        "pki-files-named-out-of-order",
        "file-set",
        "the first two lines of pki.jsonl name each other's file",
        &|d| {
            replace(d, "data/pki/00000001.bin", "data/pki/0000000X.bin");
            replace(d, "data/pki/00000002.bin", "data/pki/00000001.bin");
            replace(d, "data/pki/0000000X.bin", "data/pki/00000002.bin");
        },
    );
    edit(
        g,
        "pki-line-over-limit",
        "size-limit",
        "a pki.jsonl line of more than 65,536 bytes",
        &|d| {
            let long = "x".repeat(70_000);
            replace(
                d,
                "\"location\":\"root-ca.der\"",
                &format!("\"location\":\"{long}\""),
            );
        },
    );
    {
        let mut ms = split(&base);
        member(&mut ms, "data/pki/00000005.bin").data = fixture(root, "hostile/key-pkcs8.der")?;
        rehash(&mut ms, false);
        g.push_members(
            "pki-private-key",
            "private-key",
            "a CA material file holding a PKCS#8 private key (recorded as unparseable)",
            &ms,
            &plain,
        );
    }
    {
        let mut ms = split(&base);
        ms.retain(|m| m.name != layout::PKI_JSONL);
        rehash(&mut ms, false);
        g.push_members(
            "pki-files-without-pki-jsonl",
            "manifest",
            "CA material files without data/pki.jsonl: the manifest does not list the payload of any bundle",
            &ms,
            &plain,
        );
    }
    {
        let mut ms = split(&base);
        let at = ms.iter().position(|m| m.name == layout::PKI_JSONL).unwrap();
        let jsonl = ms.remove(at);
        let review = ms
            .iter()
            .position(|m| m.name == layout::REVIEW_CSV)
            .unwrap();
        ms.insert(review, jsonl);
        rehash(&mut ms, false);
        g.push_members(
            "pki-jsonl-before-review",
            "manifest",
            "data/pki.jsonl placed before data/review.csv",
            &ms,
            &plain,
        );
    }
    status_vectors(g, root)?;
    Ok(())
}

/// The vectors of SPEC.md §6.8: each entry holds one certificate, the bundle
/// carries the CA material named, the root is the one anchor, and each
/// entry's expected status is given (`no-path` when no certification path
/// reaches the anchor through the bundle's CA certificates).
fn status_vectors(g: &mut Gen, root: &Path) -> Res<()> {
    let person = |who: &'static str, file: &str| -> Res<Person<'static>> {
        Ok((
            who,
            who,
            vec![(Attribute::UserCertificate, fixture(root, file)?)],
            ObjectKind::User,
        ))
    };
    let files = |list: &[&str]| -> Res<Vec<PkiInput<'static>>> {
        list.iter()
            .map(|f| {
                let name: &'static str = Box::leak(
                    f.rsplit('/')
                        .next()
                        .unwrap_or(f)
                        .to_owned()
                        .into_boxed_str(),
                );
                Ok((PkiOrigin::File, name, None, fixture(root, f)?))
            })
            .collect()
    };
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'static str, &'a str, &'static str)>,
        &'a [&'a str],
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "pki-status-revoked-and-on-hold",
            "the issuing CA's CRL lists rex (keyCompromise) and hana (certificateHold); alice is not on it",
            vec![
                ("alice", "certs/alice.der", "good"),
                ("rex", "chain/rex.der", "revoked"),
                ("hana", "chain/hana.der", "on-hold"),
            ],
            &["ca/issuing-ca.der", "crl/issuing-ca.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-delta-removes-from-crl-and-adds",
            "a delta CRL (base 2) on the complete CRL 2: removeFromCRL releases hana's hold, carol-1 is superseded, rex stays revoked",
            vec![
                ("hana", "chain/hana.der", "good"),
                ("carol", "certs/carol-1.der", "revoked"),
                ("rex", "chain/rex.der", "revoked"),
            ],
            &["ca/issuing-ca.der", "crl/issuing-ca.der", "crl/issuing-ca-delta.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-delta-without-its-base",
            "a delta CRL (BaseCRLNumber 2) without a complete CRL decides nothing",
            vec![("carol", "certs/carol-1.der", "undetermined")],
            &["ca/issuing-ca.der", "crl/issuing-ca-delta.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-delta-base-too-new",
            "the complete CRL 2 with a delta whose BaseCRLNumber is 9: the delta is not applied, carol-1 is not revoked",
            vec![("carol", "certs/carol-1.der", "good")],
            &["ca/issuing-ca.der", "crl/issuing-ca.der", "crl/issuing-ca-delta-orphan.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-stale-crl",
            "the only CRL's nextUpdate (2025-02-01) is before the bundle's creation: undetermined, never good",
            vec![
                ("alice", "certs/alice.der", "undetermined"),
                ("rex", "chain/rex.der", "undetermined"),
            ],
            &["ca/issuing-ca.der", "crl/issuing-ca-stale.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-crl-signed-by-another-key",
            "a CRL with the issuing CA's name signed by the impostor's key decides nothing",
            vec![("rex", "chain/rex.der", "undetermined")],
            &["ca/issuing-ca.der", "crl/issuing-ca-by-impostor.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-critical-unknown-crl-extension",
            "a CRL with a critical extension the checker does not process must not be used",
            vec![("alice", "certs/alice.der", "undetermined")],
            &["ca/issuing-ca.der", "crl/issuing-ca-critical-unknown.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-intermediate-does-not-chain",
            "the bundle's only intermediate has the issuing CA's name but another key: no path",
            vec![("alice", "certs/alice.der", "no-path")],
            &["ca/impostor-ca.der", "crl/issuing-ca.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-expired-intermediate",
            "ursula's issuing CA expired in 2021: no path, whatever the CRLs say",
            vec![("ursula", "chain/ursula.der", "no-path")],
            &["chain/expired-issuing-ca.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-path-length",
            "petra's CA is below the issuing CA, whose pathLenConstraint is 0: no path",
            vec![("petra", "chain/petra.der", "no-path")],
            &["ca/issuing-ca.der", "chain/sub-ca.der", "crl/issuing-ca.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-revoked-intermediate",
            "the root's CRL revokes the issuing CA (cACompromise): what it issued is revoked with it",
            vec![("alice", "certs/alice.der", "revoked")],
            &["ca/issuing-ca.der", "crl/issuing-ca.der", "crl/root-ca-revokes-issuing-ca.der"],
        ),
        (
            "pki-status-indirect-crl",
            "an indirect CRL by a CRL signer the root certified (cRLSign): its entry naming the issuing CA in certificateIssuer revokes rex; alice is not listed",
            vec![
                ("rex", "chain/rex.der", "revoked"),
                ("alice", "certs/alice.der", "good"),
            ],
            &["ca/issuing-ca.der", "chain/crl-signer.der", "crl/indirect-by-crl-signer.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-indirect-crl-signer-without-path",
            "the same indirect CRL without the CRL signer's certificate: its signer has no path, so it decides nothing",
            vec![("rex", "chain/rex.der", "undetermined")],
            &["ca/issuing-ca.der", "crl/indirect-by-crl-signer.der", "crl/root-ca.der"],
        ),
        (
            "pki-status-intermediate-undetermined",
            "no CRL of the root: the issuing CA's own status is undetermined, so alice's is too, although her issuer's CRL does not list her",
            vec![("alice", "certs/alice.der", "undetermined")],
            &["ca/issuing-ca.der", "crl/issuing-ca.der"],
        ),
    ];
    let anchor = fixture(root, "ca/root-ca.der")?;
    for (name, comment, people, material) in cases {
        let mut ps = Vec::new();
        let mut statuses = Vec::new();
        for (i, (who, file, status)) in people.iter().enumerate() {
            ps.push(person(who, file)?);
            statuses.push((i + 1, *status));
        }
        let bundle = build_with_pki(root, ps, Some(&files(material)?))?;
        let v = g.push(name, "success", comment, bundle);
        v.anchors = vec![anchor.clone()];
        v.statuses = statuses;
    }
    Ok(())
}
