//! The import state: `status` and `history` after imports, and crash safety
//! (a process recording imports is killed with SIGKILL at random points; the
//! database must reopen intact, each import fully present or absent).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use certferry_format::{Sha256, Timestamp};
use certferry_import::state::{
    ImportHead, NewImport, RecipientRecord, SignerRecord, StateDb, ValueRecord,
};
use common::*;

#[test]
fn status_and_history_after_two_imports() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let empty = run(&["status", "--policy", s(&policy)]);
    assert_eq!(empty.code, 0, "{empty:?}");
    assert!(empty.stdout.contains("nothing imported yet"));
    assert!(
        !d.path().join("state.sqlite").exists(),
        "read-only commands do not create the state"
    );

    let one = tempfile::tempdir().unwrap();
    let b1 = write_signed(
        one.path(),
        &Spec::new(
            1,
            vec![user_cert("alice", "alice"), user_cert("carol", "carol-1")],
        ),
    );
    let review_hash = "ab".repeat(32);
    let m = run(&[
        "mark-imported",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--review-sha256",
        &review_hash,
        s(&b1),
    ]);
    assert_eq!(m.code, 0, "{m:?}");
    let two = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(2, vec![user_cert("carol", "carol-2")]);
    spec.previous_sha256 = Some(sha256_of(&b1));
    let b2 = write_signed(two.path(), &spec);
    let m = run(&[
        "mark-imported",
        "--policy",
        s(&policy),
        "--now",
        "2026-06-02T00:00:00Z",
        s(&b2),
    ]);
    assert_eq!(m.code, 0, "{m:?}");
    // Recording the same bundle twice is refused by the replay rules.
    let again = run(&[
        "mark-imported",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        s(&b2),
    ]);
    assert_eq!(again.code, 3, "{again:?}");

    let st = run(&["status", "--policy", s(&policy), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["sources"][0]["source"], SOURCE);
    assert_eq!(v["sources"][0]["last_sequence"], 2);
    assert_eq!(v["sources"][0]["last_sha256"], sha256_of(&b2).to_hex());
    assert_eq!(v["sources"][0]["last_imported_at"], "2026-06-02T00:00:00Z");

    let carol1 = certferry_format::cert::decode_value(&pki("certs/carol-1.der")).certificates[0]
        .sha1_hex()
        .to_uppercase();
    let carol2 = certferry_format::cert::decode_value(&pki("certs/carol-2.der")).certificates[0]
        .sha1_hex()
        .to_uppercase();
    let h = run(&[
        "history",
        "--policy",
        s(&policy),
        "--address",
        "Carol@Contoso.test",
        "--json",
    ]);
    assert_eq!(h.code, 0, "{h:?}");
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["import"]["review_sha256"], review_hash);
    assert_eq!(items[0]["recipients"][0]["values"][0]["cert_sha1"], carol1);
    assert_eq!(items[1]["recipients"][0]["values"][0]["cert_sha1"], carol2);

    let h = run(&[
        "history",
        "--policy",
        s(&policy),
        "--address",
        "alice@contoso.test",
    ]);
    assert!(
        h.stdout.contains("import 2") && h.stdout.contains("(not present)"),
        "{h:?}"
    );

    let h = run(&[
        "history",
        "--policy",
        s(&policy),
        "--thumbprint",
        &carol1.to_lowercase(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let with: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["recipients"].as_array().unwrap().is_empty())
        .map(|i| i["import"]["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(with, [1]);
}

const CHILD_ENV: &str = "CERTFERRY_TEST_CRASH_DB";

fn synthetic_import(seq: u64) -> NewImport {
    let n = 50 + (seq % 50) as usize;
    let t = Timestamp::from_unix(1_780_000_000 + seq as i64).unwrap();
    NewImport {
        head: ImportHead {
            source: "crash-test".into(),
            sequence: seq,
            bundle_sha256: Sha256::digest(format!("bundle {seq}").as_bytes()),
            created: t,
            expires: t.saturating_add(86_400),
            imported_at: t,
            review_sha256: Some(Sha256::digest(format!("review {seq}").as_bytes()).to_hex()),
            signers: vec![SignerRecord {
                name: "e".into(),
                role: "exporter".into(),
                key_id: EXPORTER_KEY_ID.into(),
            }],
        },
        recipients: (0..n)
            .map(|i| RecipientRecord {
                key: format!("guid-{i:04}"),
                kind: "user".into(),
                label: format!("user{i}@contoso.test"),
                dn: format!("CN=user{i},DC=contoso,DC=test"),
                addresses: vec![
                    format!("user{i}@contoso.test"),
                    format!("u{i}@contoso.test"),
                ],
                values: (0..2)
                    .map(|j| ValueRecord {
                        attribute: "userCertificate".into(),
                        value_sha256: Sha256::digest(format!("{seq}/{i}/{j}").as_bytes()).to_hex(),
                        cert_sha256: Some(
                            Sha256::digest(format!("c{seq}/{i}/{j}").as_bytes()).to_hex(),
                        ),
                        cert_sha1: Some(format!("{:040X}", seq * 1000 + i as u64)),
                        subject: Some(format!("CN=user{i}")),
                        issuer: Some("CN=CA".into()),
                        not_after: Some("2045-12-31T23:59:59Z".into()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Not a test on its own: the child process of
/// `state_survives_sigkill_during_writes`, which records imports until killed.
#[test]
fn crash_child_records_imports_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut db = StateDb::open(std::path::Path::new(&path)).unwrap();
    let src = certferry_format::SourceId::parse("crash-test").unwrap();
    let mut seq = db.source_state(&src).unwrap().map_or(1, |s| s.sequence + 1);
    loop {
        db.record_import(&synthetic_import(seq)).unwrap();
        seq += 1;
    }
}

#[test]
fn state_survives_sigkill_during_writes() {
    let d = tempfile::tempdir().unwrap();
    let db_path = d.path().join("state.sqlite");
    // A small deterministic generator for the kill delays (no rand dependency).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
    let mut last_count = 0;
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child_records_imports_until_killed",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_millis(150 + x % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // A reader (verify, review, status) opens it read-only after the crash.
        if let Some(ro) = StateDb::open_read_only(&db_path).unwrap() {
            assert!(
                ro.check().unwrap().is_empty(),
                "round {round}: read-only view"
            );
        }
        let db = StateDb::open(&db_path).unwrap();
        let problems = db.check().unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
        let imports = db.imports().unwrap();
        for (i, imp) in imports.iter().enumerate() {
            assert_eq!(
                imp.sequence,
                i as u64 + 1,
                "round {round}: sequences without gaps"
            );
            let want = synthetic_import(imp.sequence);
            assert_eq!(
                imp.entries,
                want.recipients.len() as u64,
                "round {round}: import {} complete",
                imp.sequence
            );
            assert_eq!(imp.values_written, 2 * want.recipients.len() as u64);
        }
        if let Some(last) = imports.last() {
            let recs = db.recipients(last.id).unwrap();
            assert_eq!(recs.len(), last.entries as usize);
            assert!(recs
                .iter()
                .all(|r| r.values.len() == 2 && r.addresses.len() == 2));
            let src = certferry_format::SourceId::parse("crash-test").unwrap();
            assert_eq!(
                db.source_state(&src).unwrap().unwrap().sequence,
                last.sequence
            );
        }
        assert!(imports.len() >= last_count, "nothing committed is lost");
        last_count = imports.len();
    }
    assert!(last_count > 0, "the child recorded imports");
    eprintln!("{last_count} imports recorded across 12 kills");
    // And the stock sqlite3 view agrees, when the tool is installed.
    if let Ok(out) = Command::new("sqlite3")
        .arg(&db_path)
        .arg("PRAGMA integrity_check;")
        .output()
    {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
        }
    }
}

#[test]
fn the_state_option_overrides_the_policy_path() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let other = d.path().join("other.sqlite");
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("alice", "alice")]));
    let m = run(&[
        "mark-imported",
        "--policy",
        s(&policy),
        "--state",
        s(&other),
        "--now",
        NOW,
        s(&b),
    ]);
    assert_eq!(m.code, 0, "{m:?}");
    assert!(other.exists() && !d.path().join("state.sqlite").exists());
    // The replay state comes from the database given.
    assert_eq!(
        run(&[
            "verify",
            "--policy",
            s(&policy),
            "--state",
            s(&other),
            "--now",
            NOW,
            s(&b)
        ])
        .code,
        3
    );
    assert_eq!(
        run(&["verify", "--policy", s(&policy), "--now", NOW, s(&b)]).code,
        0
    );
}

#[test]
fn an_import_read_one_entry_at_a_time_is_the_import_read_whole() {
    let d = tempfile::tempdir().unwrap();
    let mut db = StateDb::open(&d.path().join("state.sqlite")).unwrap();
    let first = db.record_import(&synthetic_import(1)).unwrap();
    let second = db.record_import(&synthetic_import(2)).unwrap();
    let whole = db.recipients(second).unwrap();
    assert!(whole.len() > 1);
    let entries = db.entries_of(second);
    for r in &whole {
        assert_eq!(entries.get(&r.key).unwrap().as_ref(), Some(r), "{}", r.key);
    }
    assert_eq!(entries.get("no-such-key").unwrap(), None);
    // The other import's entries are its own.
    assert_ne!(
        db.entries_of(first).get(&whole[0].key).unwrap().as_ref(),
        Some(&whole[0])
    );
    let mut heads = Vec::new();
    entries
        .for_each_head(|h| {
            heads.push(h);
            Ok::<(), certferry_import::state::StateError>(())
        })
        .unwrap();
    let keys = |v: &[RecipientRecord]| v.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&heads), keys(&whole), "in the order recorded");
    assert!(heads
        .iter()
        .zip(&whole)
        .all(
            |(h, w)| (&h.label, &h.dn, &h.kind) == (&w.label, &w.dn, &w.kind)
                && h.values.is_empty()
        ));
}

#[test]
fn the_last_import_read_for_pruning_is_each_entry_as_recorded_in_key_order() {
    use certferry_import::plan::{Previous, PreviousEntry};
    let d = tempfile::tempdir().unwrap();
    let mut db = StateDb::open(&d.path().join("state.sqlite")).unwrap();
    let imp = synthetic_import(3);
    let id = db.record_import(&imp).unwrap();
    let previous = db.entries_of(id);
    let mut keys = Vec::new();
    previous
        .for_each_key(&mut |k| {
            keys.push(k.to_owned());
            Ok(())
        })
        .unwrap();
    let mut want: Vec<String> = imp.recipients.iter().map(|r| r.key.clone()).collect();
    want.sort();
    assert_eq!(keys, want);
    for r in &imp.recipients {
        let got = Previous::get(&previous, &r.key).unwrap().unwrap();
        // The database keeps an entry's addresses sorted.
        let mut sorted = r.clone();
        sorted.addresses.sort();
        assert_eq!(got, PreviousEntry::of(&sorted).unwrap());
        assert_eq!(
            got.written.values().map(|w| w.len()).sum::<usize>(),
            r.values.len()
        );
    }
    assert!(Previous::get(&previous, "no-such-key").unwrap().is_none());
}
