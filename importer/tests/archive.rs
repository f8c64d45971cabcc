//! `archive DIR`: every archived bundle verified, each source's chain checked
//! (gaps, forks, broken links), and the address / thumbprint questions answered.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;

#[test]
fn archive_answers_who_had_which_certificate_and_reports_chain_problems() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let arch = d.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    let b1 = write_signed(
        &arch,
        &Spec::new(
            1,
            vec![user_cert("alice", "alice"), user_cert("bob", "bob")],
        ),
    );
    let mut s2 = Spec::new(
        2,
        vec![user_cert("alice", "alice"), user_cert("carol", "carol-1")],
    );
    s2.previous_sha256 = Some(sha256_of(&b1));
    let b2 = write_signed(&arch, &s2);
    // A gap: sequence 3 is missing, and 4 names a hash that is not bundle 2's.
    let mut s4 = Spec::new(4, vec![user_cert("carol", "carol-2")]);
    s4.previous_sha256 = Some(sha256_of(&b2));
    write_signed(&arch, &s4);

    let out = run(&[
        "archive",
        "--policy",
        s(&policy),
        s(&arch),
        "--address",
        "alice@contoso.test",
        "--json",
    ]);
    assert_eq!(out.code, 3, "a gap is a chain problem: {out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 3);
    let problems = v["chain_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["problem"], "gap");
    assert_eq!(
        (
            problems[0]["after"].as_u64(),
            problems[0]["before"].as_u64()
        ),
        (Some(2), Some(4))
    );
    let rows = v["rows"].as_array().unwrap();
    let seqs: Vec<u64> = rows
        .iter()
        .map(|r| r["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![1, 2],
        "alice had her certificate in snapshots 1 and 2 only"
    );
    let alice_sha1 = rows[0]["sha1"].as_str().unwrap().to_owned();

    // The thumbprint question, and CSV output.
    let csv = d.path().join("t.csv");
    let out = run(&[
        "archive",
        "--policy",
        s(&policy),
        s(&arch),
        "--thumbprint",
        &alice_sha1.to_uppercase(),
        "--csv",
        s(&csv),
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 3, "header + two snapshots: {text}");
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.contains("alice@contoso.test")),
        "{text}"
    );
}

#[test]
fn archive_rejects_a_tampered_bundle_and_reports_a_fork() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let arch = d.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    let b1 = write_signed(&arch, &Spec::new(1, vec![user_cert("alice", "alice")]));
    // Another bundle 1 (a fork), written under another name.
    let other = d.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let f = write_signed(&other, &Spec::new(1, vec![user_cert("bob", "bob")]));
    for p in std::fs::read_dir(&other).unwrap() {
        let p = p.unwrap().path();
        let name = p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace("0000000001.zip", "0000000001-fork.zip");
        std::fs::copy(&p, arch.join(name)).unwrap();
    }
    let _ = f;
    // A tampered copy: one byte flipped.
    let mut bytes = std::fs::read(&b1).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 1;
    let tampered = arch.join("certferry-contoso-ad-0000000001-tampered.zip");
    std::fs::write(&tampered, bytes).unwrap();
    for p in std::fs::read_dir(&arch).unwrap() {
        let p = p.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with("certferry-contoso-ad-0000000001.zip.") {
            std::fs::copy(
                &p,
                arch.join(name.replace("0000000001.zip", "0000000001-tampered.zip")),
            )
            .unwrap();
        }
    }
    let out = run(&["archive", "--policy", s(&policy), s(&arch), "--json"]);
    assert_eq!(out.code, 3, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("signature-invalid"),
        "{rejected:?}"
    );
    assert!(
        v["chain_problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["problem"] == "fork"),
        "{v}"
    );
}

/// "What was this certificate's revocation status in snapshot N?": each
/// snapshot answers from its own CRLs, as of its own creation time.
#[test]
fn archive_answers_each_snapshots_revocation_status_from_its_own_crls() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let arch = d.path().join("archive");
    std::fs::create_dir(&arch).unwrap();
    let rex = || {
        user(
            "rex",
            vec![(
                certferry_format::model::Attribute::UserCertificate,
                pki("chain/rex.der"),
            )],
        )
    };
    // 1: no CA material; 2: only the stale CRL (it lists rex too, but was no
    // longer current when the snapshot was made); 3: the current base CRL.
    let b1 = write_signed(&arch, &Spec::new(1, vec![rex()]));
    let mut s2 = Spec::new(2, vec![rex()]);
    s2.previous_sha256 = Some(sha256_of(&b1));
    s2.pki = Some(vec![ca_file("crl/issuing-ca-stale.der")]);
    let b2 = write_signed(&arch, &s2);
    let mut s3 = Spec::new(3, vec![rex()]);
    s3.previous_sha256 = Some(sha256_of(&b2));
    s3.pki = Some(vec![ca_file("crl/issuing-ca.der")]);
    write_signed(&arch, &s3);

    let csv = d.path().join("rex.csv");
    let out = run(&[
        "archive",
        "--policy",
        s(&policy),
        s(&arch),
        "--address",
        "rex@contoso.test",
        "--json",
        "--csv",
        s(&csv),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let statuses: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["sequence"].as_u64().unwrap(),
                r["revocation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [(1, "undetermined"), (2, "undetermined"), (3, "revoked")]
    );
    assert!(
        rows[2]["revocation_detail"]
            .as_str()
            .unwrap()
            .contains("keyCompromise"),
        "{rows:?}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(",revocation,revocation_detail"),
        "{text}"
    );
}
