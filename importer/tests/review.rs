//! `review` between two successive bundles, after `mark-imported` of the first.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use certferry_format::model::{Attribute, ObjectKind};
use common::*;

#[test]
fn review_shows_the_changes_between_two_successive_bundles() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let first = tempfile::tempdir().unwrap();
    let b1 = write_signed(
        first.path(),
        &Spec::new(
            1,
            vec![
                user_cert("alice", "alice"),
                user_cert("bob", "bob"),
                user_cert("carol", "carol-1"),
            ],
        ),
    );
    // Before anything was imported, everything is new.
    let out = run(&["review", "--policy", s(&policy), "--now", NOW, s(&b1)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("compared  with nothing"), "{out:?}");
    assert!(
        out.stdout
            .contains("entries +3 -0; certificates +3 -0 replaced 0; refused 0"),
        "{out:?}"
    );

    let m = run(&[
        "mark-imported",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        s(&b1),
    ]);
    assert_eq!(m.code, 0, "{m:?}");

    let second = tempfile::tempdir().unwrap();
    let partner = Person {
        who: "partner".into(),
        kind: ObjectKind::Contact,
        guid: None,
        mail: "=HYPERLINK(\"http://x.test\")<b>@fabrikam.test".into(),
        values: vec![(Attribute::UserCertificate, pki("certs/partner.der"))],
    };
    let mut spec = Spec::new(
        2,
        vec![
            user_cert("alice", "alice"),
            // bob is gone; carol's certificate is replaced; heidi and grace are new.
            user_cert("carol", "carol-2"),
            user(
                "heidi",
                vec![(Attribute::UserSmimeCertificate, pki("smime/heidi.p7b"))],
            ),
            user_cert("grace", "grace"),
            partner,
        ],
    );
    spec.previous_sha256 = Some(sha256_of(&b1));
    spec.created = "2026-05-31T13:00:00Z".into();
    let b2 = write_signed(second.path(), &spec);
    let csv_path = d.path().join("review.csv");
    let html_path = d.path().join("review.html");
    let out = run(&[
        "review",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--csv",
        s(&csv_path),
        "--html",
        s(&html_path),
        s(&b2),
    ]);
    assert_eq!(out.code, 1, "grace and the partner are refused: {out:?}");
    assert!(out.stdout.contains("compared  with sequence 1"), "{out:?}");
    assert!(
        out.stdout
            .contains("entries +3 -1; certificates +1 -0 replaced 1; refused 2"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("- bob@contoso.test (user): no longer in the bundle"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("~ entry 2 carol@contoso.test (user) userCertificate"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("! entry 4 grace@contoso.test (user) userCertificate: REFUSED"),
        "{out:?}"
    );
    assert!(out.stdout.contains("untrusted-issuer"), "{out:?}");

    if let Some(keep) = std::env::var_os("CERTFERRY_KEEP_REVIEW") {
        // For looking at sample reports.
        let keep = std::path::Path::new(&keep);
        std::fs::write(keep.join("review.txt"), &out.stdout).unwrap();
        std::fs::copy(&csv_path, keep.join("review.csv")).unwrap();
        std::fs::copy(&html_path, keep.join("review.html")).unwrap();
    }
    let csv = std::fs::read(&csv_path).unwrap();
    let hash = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&csv)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(
        out.stdout.contains(&format!("review report sha256 {hash}")),
        "{out:?}"
    );
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("change,entry,key,kind,label,"));
    assert!(rows[1].starts_with("bundle,,contoso-ad,"), "{}", rows[1]);
    assert!(
        rows[1].contains(&sha256_of(&b2).to_hex()) && rows[1].contains(&sha256_of(&b1).to_hex())
    );
    let kinds: Vec<&str> = rows[2..]
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "certificate-replaced",
            "entry-added",
            "certificate-added",
            "entry-added",
            "refused",
            "entry-added",
            "refused",
            "entry-removed"
        ],
        "{csv}"
    );
    // Formula injection neutralised: the partner's label starts with '='.
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x.test\"\")<b>@fabrikam.test\""),
        "{csv}"
    );
    assert!(!csv.contains(",=HYPERLINK"), "{csv}");

    // The same inputs give the same report (its hash is what gets recorded).
    let again = run(&["review", "--policy", s(&policy), "--now", NOW, s(&b2)]);
    assert!(again.stdout.contains(&hash));

    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("&lt;b&gt;@fabrikam.test"), "escaped");
    assert!(!html.contains("<b>@fabrikam"), "not escaped");
    assert!(!html.to_lowercase().contains("<script"), "no scripts");
    for external in ["src=", "href=", "url(", "@import"] {
        assert!(
            !html.contains(external),
            "no external resources: {external}"
        );
    }
    assert!(html.contains(&hash));
}

#[test]
fn review_works_before_the_reviewer_has_approved() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let out = run(&["review", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(
        out.code, 0,
        "the reviewer reads the report before signing: {out:?}"
    );
    // verify still requires the reviewer's signature.
    let out = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(out.code, 3, "{out:?}");
}
