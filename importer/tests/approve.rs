//! `approve`: a reviewer signature by certferry and by stock minisign both
//! make an accepted approval; a bundle that fails verification is not approved.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::process::Command;

use certferry_format::Role;
use common::*;

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    (d, policy, b)
}

#[test]
fn approve_with_our_key_gives_an_accepted_approval() {
    let (_d, policy, b) = setup();
    assert_eq!(
        run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]).code,
        3
    );
    let key = key_path("reviewer");
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&key),
        s(&b),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let sig = b.with_file_name(format!(
        "{}.reviewer.{REVIEWER_KEY_ID}.minisig",
        b.file_name().unwrap().to_str().unwrap()
    ));
    assert!(sig.exists(), "{out:?}");
    assert!(out.stdout.contains(s(&sig)), "{out:?}");
    let v = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(v.code, 0, "{v:?}");
    assert!(v.stdout.contains("test reviewer (reviewer"), "{v:?}");

    // Never overwritten.
    let again = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&key),
        s(&b),
    ]);
    assert_eq!(again.code, 5, "{again:?}");
    assert!(again.stderr.contains("already approved"), "{again:?}");
}

#[test]
fn approve_with_stock_minisign_gives_an_accepted_approval() {
    let (_d, policy, b) = setup();
    let sha = sha256_of(&b);
    let comment = format!("certferry-bundle:v1 role=reviewer source={SOURCE} seq=1 sha256={sha}");
    let sig = b.with_file_name(format!(
        "{}.reviewer.{REVIEWER_KEY_ID}.minisig",
        b.file_name().unwrap().to_str().unwrap()
    ));
    let st = Command::new("minisign")
        .args([
            "-S",
            "-s",
            s(&key_path("reviewer")),
            "-m",
            s(&b),
            "-t",
            &comment,
            "-x",
            s(&sig),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the stock minisign binary (apt-get install minisign)");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let v = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]);
    assert_eq!(v.code, 0, "{v:?}");
    assert!(v.stdout.contains("test reviewer (reviewer"), "{v:?}");
}

#[test]
fn a_bundle_that_fails_verification_is_not_approved() {
    let (_d, policy, b) = setup();
    // Expired at the time of approval.
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        "2026-08-01T00:00:00Z",
        "--key",
        s(&key_path("reviewer")),
        s(&b),
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("(expired)"), "{out:?}");
    let approvals = std::fs::read_dir(b.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .contains(".reviewer.")
        })
        .count();
    assert_eq!(approvals, 0);
}

#[test]
fn only_a_reviewer_key_of_the_policy_may_approve() {
    let (_d, policy, b) = setup();
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&key_path("exporter")),
        s(&b),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("trusted as exporter"), "{out:?}");
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&key_path("outsider")),
        s(&b),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("not a reviewer key"), "{out:?}");
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        "/nonexistent/key",
        s(&b),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
}

#[test]
fn an_encrypted_reviewer_key_reads_its_password_from_a_file() {
    let (d, policy, b) = setup();
    let pw = "correct horse battery staple";
    let enc = d.path().join("reviewer-enc.key");
    std::fs::write(
        &enc,
        secret_key("reviewer").to_file_string(Some(pw)).unwrap(),
    )
    .unwrap();
    let pwfile = d.path().join("pw");
    std::fs::write(&pwfile, "wrong\n").unwrap();
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&enc),
        "--key-password-file",
        s(&pwfile),
        s(&b),
    ]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        !out.stderr.contains("wrong\n") && out.stderr.contains("wrong password"),
        "{out:?}"
    );
    std::fs::write(&pwfile, format!("{pw}\n")).unwrap();
    let out = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&enc),
        "--key-password-file",
        s(&pwfile),
        s(&b),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains(pw) && !out.stderr.contains(pw));
    let _ = Role::Reviewer;
}
