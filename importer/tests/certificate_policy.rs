//! The importer's own certificate policy on hostile and renewal data: RFC 5280
//! refusals, the pinned CA's key (not its name), certification paths through
//! intermediate CAs, weak RSA keys, the 15-value limit ("newest 15" by
//! default), and every certificate of a container shown.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use certferry_format::model::Attribute;
use common::*;
use serde_json::Value as Json;

/// `verify --json` of a bundle holding `people`, with extra `[certificates]` lines.
fn evaluate(people: Vec<Person>, certificates_extra: &str) -> (Out, Json) {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            certificates_extra: certificates_extra.to_owned(),
            ..PolicyOpts::default()
        },
    );
    let b = write_signed(d.path(), &Spec::new(1, people));
    verify_json(&policy, &b)
}

/// The refusal codes of value `v` of entry `e` (both from 0).
fn codes(j: &Json, e: usize, v: usize) -> Vec<String> {
    j["entries"][e]["values"][v]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

fn one(who: &str, file: &str) -> Person {
    user(who, vec![(Attribute::UserCertificate, pki(file))])
}

#[test]
fn rfc5280_invalid_certificates_are_refused_each_with_its_reason() {
    let (out, j) = evaluate(
        vec![
            one("mallory", "hostile/critical-unknown-extension.der"),
            one("alice", "hostile/signature-algorithm-mismatch.der"),
        ],
        "",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(codes(&j, 0, 0), ["unsupported-critical-extension"]);
    // Rewriting the outer algorithm also breaks the CA's signature over it.
    assert!(
        codes(&j, 1, 0).contains(&"signature-algorithm-mismatch".to_owned()),
        "{:?}",
        codes(&j, 1, 0)
    );
    assert_eq!(j["counts"]["accepted"], 0);
}

#[test]
fn a_ca_with_the_pinned_name_but_another_key_is_not_trusted() {
    // impostor-ca has the issuing CA's exact name; its signature does not
    // verify under the pinned key.
    let (_, j) = evaluate(vec![one("mallory", "hostile/impostor-issued.der")], "");
    assert_eq!(codes(&j, 0, 0), ["untrusted-issuer"]);
    // The same subject and address from the real issuing CA passes.
    let (_, j) = evaluate(vec![one("mallory", "hostile/high-bit-serial.der")], "");
    assert!(codes(&j, 0, 0).is_empty(), "{j}");
}

/// `verify --json` of `people` under a policy pinning only the root CA, with
/// `intermediates` (files under `fixtures/pki`) as `certificates.intermediate_ca`.
fn evaluate_under_root(people: Vec<Person>, intermediates: &[&str]) -> (Out, Json) {
    let d = tempfile::tempdir().unwrap();
    let extra = intermediate_ca_line(intermediates);
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            trusted_ca: "ca/root-ca.pem",
            certificates_extra: extra,
            ..PolicyOpts::default()
        },
    );
    let b = write_signed(d.path(), &Spec::new(1, people));
    verify_json(&policy, &b)
}

fn refusal_text(j: &Json, e: usize, v: usize) -> String {
    j["entries"][e]["values"][v]["refusals"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_pinned_root_accepts_what_chains_to_it_through_an_intermediate_ca() {
    let alice = || one("alice", "certs/alice.der");
    let (out, j) = evaluate_under_root(vec![alice()], &["ca/issuing-ca.pem"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(codes(&j, 0, 0).is_empty(), "{j}");
    // The same bundle without the intermediate: no path, and the reason says so.
    let (_, j) = evaluate_under_root(vec![alice()], &[]);
    assert_eq!(codes(&j, 0, 0), ["untrusted-issuer"]);
    let text = refusal_text(&j, 0, 0);
    assert!(text.contains("no pinned or intermediate CA"), "{text}");
}

#[test]
fn an_expired_intermediate_ca_refuses_what_it_issued_and_says_why() {
    let (_, j) = evaluate_under_root(
        vec![user(
            "ursula",
            vec![(Attribute::UserCertificate, pki("chain/ursula.der"))],
        )],
        &["chain/expired-issuing-ca.pem"],
    );
    assert_eq!(codes(&j, 0, 0), ["untrusted-issuer"]);
    let text = refusal_text(&j, 0, 0);
    assert!(
        text.contains("Contoso Expired Issuing CA") && text.contains("expired on 2021-01-01"),
        "{text}"
    );
}

#[test]
fn a_ca_below_the_pathlen_zero_issuing_ca_does_not_make_a_path() {
    let (_, j) = evaluate_under_root(
        vec![user(
            "petra",
            vec![(Attribute::UserCertificate, pki("chain/petra.der"))],
        )],
        &["ca/issuing-ca.pem", "chain/sub-ca.pem"],
    );
    assert_eq!(codes(&j, 0, 0), ["untrusted-issuer"]);
    assert!(refusal_text(&j, 0, 0).contains("pathLenConstraint"), "{j}");
}

#[test]
fn an_rsa_key_under_2048_bits_is_refused_unless_the_policy_lowers_the_minimum() {
    let (_, j) = evaluate(vec![one("mallory", "hostile/weak-rsa-1024.der")], "");
    assert_eq!(codes(&j, 0, 0), ["weak-rsa-key"]);
    let text = j["entries"][0]["values"][0]["refusals"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("1024 bits"), "{text}");
    let (_, j) = evaluate(
        vec![one("mallory", "hostile/weak-rsa-1024.der")],
        "min_rsa_bits = 1024\n",
    );
    assert!(codes(&j, 0, 0).is_empty(), "{j}");
}

#[test]
fn a_bad_min_rsa_bits_or_over_limit_is_a_policy_error() {
    let (out, _) = evaluate(
        vec![one("alice", "certs/alice.der")],
        "min_rsa_bits = 100\n",
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("certificates.min_rsa_bits"), "{out:?}");
    let (out, _) = evaluate(
        vec![one("alice", "certs/alice.der")],
        "over_limit = \"drop\"\n",
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("certificates.over_limit"), "{out:?}");
}

/// quinn with 17 renewals (notBefore 2025-01-01 … 2025-01-17), in a shuffled order.
fn quinn() -> (Person, Vec<usize>) {
    let order: Vec<usize> = vec![5, 17, 1, 9, 2, 13, 3, 16, 4, 8, 10, 6, 12, 7, 14, 11, 15];
    let values = order
        .iter()
        .map(|n| {
            (
                Attribute::UserCertificate,
                pki(&format!("renewal/quinn-{n:02}.der")),
            )
        })
        .collect();
    (user("quinn", values), order)
}

#[test]
fn seventeen_renewals_publish_the_newest_fifteen_and_name_the_two_left_out() {
    let (p, order) = quinn();
    let (out, j) = evaluate(vec![p], "");
    assert_eq!(out.code, 1, "{out:?}");
    for (i, n) in order.iter().enumerate() {
        let c = codes(&j, 0, i);
        if *n <= 2 {
            assert_eq!(c, ["over-limit"], "quinn-{n:02}");
            let text = j["entries"][0]["values"][i]["refusals"][0]["text"]
                .as_str()
                .unwrap();
            assert!(
                text.contains("17 acceptable values and at most 15")
                    && text.contains(&format!("notBefore 2025-01-{n:02}"))
                    && text.contains("(2025-01-03T00:00:00Z)"),
                "{text}"
            );
        } else {
            assert!(c.is_empty(), "quinn-{n:02}: {c:?}");
        }
    }
    assert_eq!(j["counts"]["accepted"], 15);
    // The plain-text verify names each one left out.
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = write_signed(d.path(), &Spec::new(1, vec![quinn().0]));
    let out = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(out.stdout.matches("over-limit").count(), 2, "{out:?}");
}

#[test]
fn refuse_attribute_refuses_all_seventeen_as_entra_connect_does() {
    let (p, _) = quinn();
    let (_, j) = evaluate(vec![p], "over_limit = \"refuse-attribute\"\n");
    for i in 0..17 {
        assert_eq!(codes(&j, 0, i), ["too-many-values"], "value {i}");
    }
    assert_eq!(j["counts"]["accepted"], 0);
}

#[test]
fn every_certificate_of_a_container_is_shown_and_encryption_is_preferred() {
    let p = user(
        "carol",
        vec![(
            Attribute::UserSmimeCertificate,
            pki("renewal/carol-sign-then-encrypt.p7b"),
        )],
    );
    let (out, j) = evaluate(vec![p.clone()], "");
    assert_eq!(out.code, 0, "{out:?}");
    let v = &j["entries"][0]["values"][0];
    let sha1 = |f: &str| {
        use sha1_of::digest;
        digest(&pki(f))
    };
    // The verdict names the encryption certificate, though it comes second.
    assert_eq!(
        v["certificate"]["sha1"].as_str().unwrap(),
        sha1("certs/carol-1.der")
    );
    let all = v["certificates"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{v}");
    assert_eq!(
        all[0]["sha1"].as_str().unwrap(),
        sha1("renewal/carol-sign.der")
    );
    assert_eq!(all[0]["verdict"], "accepted");
    assert_eq!(all[1]["verdict"], "accepted");

    // review names the other certificate too.
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let b = write_signed(d.path(), &Spec::new(1, vec![p]));
    let r = run(&["review", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert!(
        r.stdout.contains(&format!(
            "also in this value: CN=Carol Clark,OU=Users,DC=contoso,DC=test (thumbprint {}",
            sha1("renewal/carol-sign.der")
        )),
        "{r:?}"
    );

    // A PKCS#7 with its chain: the CA certificates are listed as such.
    let (_, j) = evaluate(
        vec![user(
            "heidi",
            vec![(Attribute::UserSmimeCertificate, pki("smime/heidi.p7b"))],
        )],
        "",
    );
    let verdicts: Vec<&str> = j["entries"][0]["values"][0]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["accepted", "ca", "ca"]);
}

/// SHA-1 thumbprints as the importer prints them (uppercase hex), via the
/// format library's certificate inspection.
mod sha1_of {
    pub(super) fn digest(der: &[u8]) -> String {
        let v = certferry_format::cert::decode_value(der);
        v.certificates[0].sha1_hex().to_ascii_uppercase()
    }
}

/// A policy, and a bundle holding alice twice: the second time with another
/// DN and address but the same objectGUID.
fn alice_twice(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let policy = write_policy(dir, &PolicyOpts::default());
    let mut again = user_cert("alice", "alice");
    again.who = "alice-again".into();
    again.mail = "alice-again@contoso.test".into();
    let b = write_signed(dir, &Spec::new(1, vec![user_cert("alice", "alice"), again]));
    (policy, b)
}

#[test]
fn an_entry_repeating_an_earlier_identity_is_refused_whole_in_every_report() {
    let d = tempfile::tempdir().unwrap();
    let (policy, b) = alice_twice(d.path());
    let (out, j) = verify_json(&policy, &b);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(codes(&j, 0, 0).is_empty(), "{:?}", codes(&j, 0, 0));
    assert!(codes(&j, 1, 0).contains(&"duplicate-entry".to_owned()));
    assert_eq!(j["counts"]["accepted"], 1);
    assert_eq!(j["counts"]["refused"], 1);
    assert_eq!(j["counts"]["entries_with_refusals"], 1);
    let text = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]);
    let refused: Vec<&str> = text
        .stdout
        .lines()
        .filter(|l| l.starts_with("refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{}", text.stdout);
    assert!(
        refused[0].starts_with("refused   entry 2 ")
            && refused[0].contains("duplicate-entry: entry 1 of the bundle"),
        "{}",
        refused[0]
    );
}

#[test]
fn an_import_records_a_repeated_identity_once_with_its_first_entrys_values() {
    let d = tempfile::tempdir().unwrap();
    let (policy, b) = alice_twice(d.path());
    let m = run(&["mark-imported", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(m.code, 0, "{m:?}");
    assert!(
        m.stdout.contains("(1 recipients, 1 values written)"),
        "{}",
        m.stdout
    );
    let h = run(&[
        "history",
        "--policy",
        s(&policy),
        "--address",
        "alice@contoso.test",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let recipients = v[0]["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1, "{v}");
    assert_eq!(recipients[0]["values"].as_array().unwrap().len(), 1);
    let h = run(&[
        "history",
        "--policy",
        s(&policy),
        "--address",
        "alice-again@contoso.test",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|i| i["recipients"].as_array().unwrap().is_empty()),
        "the repeat is not recorded: {v}"
    );
}
