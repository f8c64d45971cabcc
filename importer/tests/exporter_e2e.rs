//! End to end with bundles made by the real exporter from the fixture LDIF.
//!
//! The exporter binary is the one `cargo test --workspace` builds beside the
//! importer's; when it is missing (e.g. `cargo test -p certferry-import`
//! alone), the test builds it with the same cargo first.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn exporter() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_certferry-import"))
        .parent()
        .unwrap()
        .to_path_buf();
    let exe = dir.join("certferry-export");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "certferry-export"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p certferry-export");
        assert!(status.success(), "cargo build -p certferry-export failed");
    }
    assert!(
        exe.exists(),
        "{} is missing: cargo build -p certferry-export",
        exe.display()
    );
    exe
}

fn export(out: &Path, created: &str) -> PathBuf {
    export_with(out, created, &[])
}

/// An export of the fixture directory into `out` with `extra` options; the
/// newest snapshot's file: its bundle file, or its part index.
fn export_with(out: &Path, created: &str, extra: &[&str]) -> PathBuf {
    let st = Command::new(exporter())
        .args([
            "ldif",
            "--source-id",
            SOURCE,
            "--out",
            s(out),
            "--key",
            s(&key_path("exporter")),
            "--key-unencrypted",
        ])
        .args([
            "--state",
            s(&out.join("export-state.json")),
            "--contacts",
            "--include-disabled",
            "--quiet",
        ])
        .args([
            "--trusted-ca",
            s(&root().join("fixtures/pki/ca/issuing-ca.pem")),
            "--created",
            created,
            "--expires-in",
            "30d",
        ])
        .args(extra)
        .arg(root().join("fixtures/directory/ad-dump.ldif"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut snapshots: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name.ends_with(".zip") && !name.contains(".part")) || name.ends_with(".sha256")
        })
        .collect();
    // certferry-SOURCE-SEQUENCE.{zip,sha256}: by sequence.
    snapshots.sort_by_key(|p| p.file_stem().unwrap().to_string_lossy().into_owned());
    snapshots.pop().unwrap()
}

/// Reviews `bundle` (some values refused: exit 1) and records it as imported
/// with the review's hash, as an operator publishing by script would.
fn review_and_record(policy: &Path, bundle: &Path) {
    let r = run(&["review", "--policy", s(policy), "--now", NOW, s(bundle)]);
    assert_eq!(r.code, 1, "{r:?}");
    let hash = r
        .stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_owned();
    let m = run(&[
        "mark-imported",
        "--policy",
        s(policy),
        "--now",
        NOW,
        "--review-sha256",
        &hash,
        s(bundle),
    ]);
    assert_eq!(m.code, 0, "{m:?}");
}

/// The value refusals of a `verify --json` answer by entry label and code.
fn refusals(j: &serde_json::Value) -> Vec<(String, String)> {
    j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            let label = e["label"].as_str().unwrap().to_owned();
            e["values"].as_array().unwrap().iter().flat_map(move |x| {
                let label = label.clone();
                x["refusals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |r| (label.clone(), r["code"].as_str().unwrap().to_owned()))
            })
        })
        .collect()
}

#[test]
fn a_snapshot_in_parts_is_verified_approved_reviewed_imported_and_archived_as_one() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let (out, whole_out) = (d.path().join("out"), d.path().join("whole"));
    std::fs::create_dir(&out).unwrap();
    std::fs::create_dir(&whole_out).unwrap();
    let index = export_with(&out, CREATED, &["--part-size", "16K"]);
    assert!(
        index.to_string_lossy().ends_with("0000000001.sha256"),
        "{index:?}"
    );

    // Exporter signature only: the reviewer is missing, as for a bundle file.
    let v = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&index)]);
    assert_eq!(v.code, 3, "{v:?}");
    assert!(v.stderr.contains("threshold-not-met"), "{v:?}");
    // The reviewer co-signs the part index.
    let a = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&key_path("reviewer")),
        s(&index),
    ]);
    assert_eq!(a.code, 0, "{a:?}");
    let (v, j) = verify_json(&policy, &index);
    assert_eq!(v.code, 1, "{v:?}");
    assert!(j["parts"].as_array().unwrap().len() >= 3, "{}", j["parts"]);

    // The same directory in one file gives the same verdicts.
    let whole = export_with(&whole_out, CREATED, &[]);
    sign(&whole, "reviewer", certferry_format::Role::Reviewer);
    let (_, jw) = verify_json(&policy, &whole);
    assert_eq!(j["counts"], jw["counts"]);
    assert_eq!(refusals(&j), refusals(&jw));

    // Reviewed and recorded as one import; the same snapshot again is a replay.
    review_and_record(&policy, &index);
    let again = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&index)]);
    assert_eq!(again.code, 3, "{again:?}");
    assert!(again.stderr.contains("(replay)"), "{again:?}");

    // The archive reads the snapshot through its index, parts and all.
    let ar = run(&["archive", "--policy", s(&policy), "--json", s(&out)]);
    let aj: serde_json::Value = serde_json::from_str(&ar.stdout).unwrap();
    assert_eq!(aj["rejected"], serde_json::json!([]), "{ar:?}");
    assert_eq!(aj["snapshots"].as_array().unwrap().len(), 1, "{ar:?}");
    assert_eq!(aj["snapshots"][0]["entries"], j["counts"]["entries"]);

    // A part gone missing is named; a part alone is no snapshot.
    let part2 = out.join(format!("certferry-{SOURCE}-0000000001.part0002.zip"));
    let moved = d.path().join("part2.zip");
    std::fs::rename(&part2, &moved).unwrap();
    let ar = run(&["archive", "--policy", s(&policy), "--json", s(&out)]);
    assert!(ar.stdout.contains("part-missing"), "{ar:?}");
    std::fs::rename(&moved, &part2).unwrap();
    std::fs::remove_file(&index).unwrap();
    let ar = run(&["archive", "--policy", s(&policy), "--json", s(&out)]);
    assert!(
        ar.stdout
            .contains("whose part index is not in this archive"),
        "{ar:?}"
    );
}

#[test]
fn exporter_bundles_verify_review_approve_and_import() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_review_policy(d.path());
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let b1 = export(&out, CREATED);

    // Exporter signature only: the reviewer is missing.
    let v = run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b1)]);
    assert_eq!(v.code, 3, "{v:?}");
    assert!(v.stderr.contains("threshold-not-met"), "{v:?}");

    let a = run(&[
        "approve",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--key",
        s(&key_path("reviewer")),
        s(&b1),
    ]);
    assert_eq!(a.code, 0, "{a:?}");
    let (v, j) = verify_json(&policy, &b1);
    assert_eq!(v.code, 1, "{v:?}");
    let refused = refusals(&j);
    let has = |who: &str, code: &str| refused.iter().any(|(l, c)| l.starts_with(who) && c == code);
    assert!(has("dave@", "expired"));
    assert!(has("erin@", "no-email-protection"));
    assert!(has("frank@", "no-matching-address"));
    assert!(has("grace@", "untrusted-issuer"));
    assert!(has("trudy@", "unparseable"));
    assert!(has("victor@", "not-yet-valid"));
    // 16 acceptable values: the newest 15 are published (equal notBefore: the
    // first 15 in bundle order), the 16th is refused as over the limit.
    assert_eq!(
        refused
            .iter()
            .filter(|(l, c)| l.starts_with("oscar@") && c == "over-limit")
            .count(),
        1
    );
    for ok in [
        "alice@", "bob@", "carol@", "heidi@", "ivan@", "peggy@", "walter@", "partner@",
    ] {
        assert!(
            !refused.iter().any(|(l, _)| l.starts_with(ok)),
            "{ok} has no refusal"
        );
    }

    review_and_record(&policy, &b1);

    // The next export of the same directory changes nothing.
    let b2 = export(&out, "2026-05-31T18:00:00Z");
    sign(&b2, "reviewer", certferry_format::Role::Reviewer);
    let r = run(&["review", "--policy", s(&policy), "--now", NOW, s(&b2)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("entries +0 -0; certificates +0 -0 replaced 0; refused 7"),
        "{r:?}"
    );

    let ps1 = d.path().join("publish.ps1");
    let sc = run(&[
        "script",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--out",
        s(&ps1),
        s(&b2),
    ]);
    assert_eq!(sc.code, 1, "{sc:?}");
    let script = std::fs::read_to_string(&ps1).unwrap();
    assert!(script.contains("Set-CertferryUserCertificates -Identity 'alice@contoso.test'"));
    assert!(!script.contains("Identity 'grace@contoso.test'"));
}
