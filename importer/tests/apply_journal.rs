//! `apply` killed with SIGKILL at random points: the reruns finish the job, and
//! the audit log holds every change the tenant received exactly once (compared
//! with the simulator's own record of the writes it applied), with no journal
//! row left in doubt.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use exo_simulator::{SimConfig, SimHandle, Simulator, Tenant};
use serde_json::Value;

const USERS: usize = 30;

fn tenant_toml(dir: &Path, sim: &SimHandle) -> String {
    write_tenant(dir, sim, "concurrency = 4")
}

/// A small deterministic generator for the kill points.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn sigkill_at_random_points_leaves_every_change_in_the_audit_log_exactly_once() {
    for round in 0..5u64 {
        let mut rng = Lcg(round + 1);
        let d = tempfile::tempdir().unwrap();
        let sim = Simulator::start(Tenant::synthetic(USERS), SimConfig::default()).unwrap();
        sim.set_latency(Duration::from_millis(25));
        let tenant = tenant_toml(d.path(), &sim);
        let policy = write_policy(
            d.path(),
            &PolicyOpts {
                certificates_extra: "require_matching_address = false\n".into(),
                ..PolicyOpts::default()
            },
        );
        let people: Vec<Person> = (1..=USERS)
            .map(|i| {
                let mut p = user_cert(&format!("bulk{i:06}"), "bob");
                p.mail = format!("bulk{i:06}@contoso.test");
                p
            })
            .collect();
        let bundle = write_signed(d.path(), &Spec::new(1, people));
        let apply = || {
            Command::new(env!("CARGO_BIN_EXE_certferry-import"))
                .args([
                    "apply",
                    "--policy",
                    s(&policy),
                    "--tenant",
                    &tenant,
                    "--now",
                    NOW,
                ])
                .arg(&bundle)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut kills = Vec::new();
        let mut finished = false;
        for _ in 0..4 {
            let mut child = apply();
            let at = 30 + rng.below(700);
            std::thread::sleep(Duration::from_millis(at));
            match child.try_wait().unwrap() {
                Some(status) => {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
                    }
                    // A kill that landed after the import was recorded, just
                    // before the process exited: the rerun rightly calls it a replay.
                    let replay = status.code() == Some(3) && err.contains("already imported");
                    assert!(
                        status.success() || (replay && !kills.is_empty()),
                        "round {round}: apply ended {status}: {err}"
                    );
                    finished = true;
                    break;
                }
                None => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills.push(at);
                }
            }
        }
        if !finished {
            let last = apply().wait_with_output().unwrap();
            assert!(
                last.status.success(),
                "round {round} (killed at {kills:?} ms): {}",
                String::from_utf8_lossy(&last.stderr)
            );
        }
        assert!(
            !kills.is_empty(),
            "round {round}: never killed; make the run longer"
        );

        // Every recipient holds bob's certificate.
        let bob = pki("certs/bob.der");
        for i in 1..=USERS {
            let r = sim.recipient(&format!("bulk{i:06}@contoso.test")).unwrap();
            assert_eq!(
                r.user_certificate,
                vec![bob.clone()],
                "round {round} bulk{i:06}"
            );
        }
        // The simulator's record: the recipients that received an applied Set-*.
        let applied: BTreeSet<String> = sim
            .log()
            .iter()
            .filter(|e| e.applied && e.cmdlet.as_deref() == Some("Set-Mailbox"))
            .filter_map(|e| e.target.clone())
            .collect();
        assert_eq!(applied.len(), USERS, "round {round}");
        // The audit log: exactly one line saying each of them changed, and one line per journal row.
        let log = std::fs::read_to_string(d.path().join("state.sqlite.audit.jsonl")).unwrap();
        let lines: Vec<Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut changes: BTreeMap<String, usize> = BTreeMap::new();
        let mut per_row: BTreeMap<i64, usize> = BTreeMap::new();
        for l in &lines {
            *per_row.entry(l["journal"].as_i64().unwrap()).or_default() += 1;
            if matches!(
                l["outcome"].as_str(),
                Some("written" | "confirmed-by-read-back" | "confirmed-on-rerun")
            ) {
                *changes
                    .entry(l["recipient"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        assert_eq!(
            changes.keys().cloned().collect::<BTreeSet<_>>(),
            applied,
            "round {round} (killed at {kills:?} ms): the audit log names exactly the recipients written"
        );
        assert!(
            changes.values().all(|&n| n == 1),
            "round {round} (killed at {kills:?} ms): each change once: {changes:?}"
        );
        assert!(
            per_row.values().all(|&n| n == 1),
            "round {round}: {per_row:?}"
        );
        let db = certferry_import::state::StateDb::open_read_only(&d.path().join("state.sqlite"))
            .unwrap()
            .unwrap();
        let outcomes = db.journal_outcomes().unwrap();
        assert!(
            outcomes.iter().all(|(o, _)| o != "in-doubt"),
            "round {round}: {outcomes:?}"
        );
        let rows: i64 = outcomes.iter().map(|(_, n)| n).sum();
        assert_eq!(
            rows as usize,
            per_row.len(),
            "round {round}: one audit line per journal row"
        );
    }
}
