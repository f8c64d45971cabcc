//! The vectors of SPEC.md §6.7 (revision 1.3): bundles that carry CA
//! certificates and CRLs, and every way their description can lie.

use std::path::Path;

use certferry_format::layout;
use certferry_format::pki::{PkiAttribute, PkiOrigin};

use super::{
    build_bundle_people, build_with_pki, fixture, member, rehash, replace, split, Emit, Gen,
    PkiInput, Res,
};

const CONFIG: &str = "CN=Public Key Services,CN=Services,CN=Configuration,DC=contoso,DC=test";

/// The CA material of the fixture PKI as an exporter reads it from AD: the
/// root from a file, the issuing CA from AIA, the base and delta CRLs from
/// CDP, and a one-byte placeholder in the root object's ARL.
fn material(root: &Path) -> Res<Vec<PkiInput<'static>>> {
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
    Ok(())
}
