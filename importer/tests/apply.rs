//! `plan` and `apply` end to end: a bundle made by the real exporter from the
//! fixture directory, approved, planned and applied into the Exchange Online
//! simulator (a real HTTP server on 127.0.0.1), whose final state is checked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use exo_simulator::{FaultRule, SimConfig, SimHandle, Simulator, Tenant};

const CREATED: &str = "2026-06-01T00:00:00Z";
const NOW: &str = "2026-06-01T01:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn exporter() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_certferry-import"))
        .parent()
        .unwrap()
        .to_path_buf();
    let exe = dir.join("certferry-export");
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        assert!(Command::new(cargo)
            .args(["build", "-q", "-p", "certferry-export"])
            .status()
            .unwrap()
            .success());
    }
    exe
}

struct World {
    dir: tempfile::TempDir,
    sim: SimHandle,
    bundle: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `tenant.toml` for the simulator `sim`: the fixture app certificate, plain
/// HTTP on loopback, at most `concurrency` writes in flight.
fn tenant_toml(sim: &SimHandle, concurrency: usize) -> String {
    format!(
        "tenant = \"{}\"\nclient_id = \"{}\"\ncertificate = \"{}\"\nkey = \"{}\"\nconcurrency = {concurrency}\n[endpoints]\nlogin = \"{base}\"\nexo = \"{base}\"\ndangerous_allow_http_loopback = true\n",
        sim.tenant_id(),
        sim.client_id(),
        s(&root().join("fixtures/tenant/app.pem")),
        s(&root().join("fixtures/tenant/app.key")),
        base = sim.base_url(),
    )
}

impl World {
    fn new() -> Self {
        Self::exported(&[], "certferry-contoso-ad-0000000001.zip")
    }

    /// A world whose snapshot the exporter wrote with `extra` options, read
    /// from the file `name` (a bundle file or a part index).
    fn exported(extra: &[&str], name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::start(
            Tenant::load(root().join("fixtures/tenant/contoso.json")).unwrap(),
            SimConfig::default(),
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let o = Command::new(exporter())
            .arg("ldif")
            .arg(root().join("fixtures/directory/ad-dump.ldif"))
            .args([
                "--source-id",
                "contoso-ad",
                "--contacts",
                "--created",
                CREATED,
                "--quiet",
                "--key-unencrypted",
            ])
            .arg("--key")
            .arg(root().join("format-spec/vectors/keys/exporter.key"))
            .arg("--state")
            .arg(dir.path().join("export-state.json"))
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let bundle = out.join(name);
        std::fs::write(dir.path().join("tenant.toml"), tenant_toml(&sim, 4)).unwrap();
        let w = Self { dir, sim, bundle };
        let o = w.run(&[
            "approve",
            "--key",
            s(&root().join("format-spec/vectors/keys/reviewer.key")),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        w
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certferry-import"));
        cmd.arg(args[0])
            .arg(&self.bundle)
            .args(&args[1..])
            .args([
                "--policy",
                s(&root().join("fixtures/policy/example-policy.toml")),
            ])
            .args(["--state", s(&self.dir.path().join("state.sqlite"))])
            .args(["--now", NOW]);
        if matches!(args[0], "plan" | "apply") {
            cmd.args(["--tenant", s(&self.dir.path().join("tenant.toml"))]);
        }
        cmd.output().unwrap()
    }

    fn certs(&self, address: &str) -> Vec<Vec<u8>> {
        self.sim.recipient(address).unwrap().user_certificate
    }
}

fn pki(rel: &str) -> Vec<u8> {
    std::fs::read(root().join("fixtures/pki").join(rel)).unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn plan_shows_changes_and_writes_nothing() {
    let w = World::new();
    let before = w.sim.state_json();
    let o = w.run(&["plan"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("change") && t.contains("alice@contoso.test"),
        "{t}"
    );
    assert!(
        t.contains("ambiguous") && t.contains("carol@contoso.test"),
        "{t}"
    );
    assert_eq!(w.sim.state_json(), before, "plan must not write");
}

#[test]
fn apply_writes_accepted_certificates_once_and_records_the_import() {
    applied_once_and_recorded(World::new());
}

#[test]
fn a_snapshot_in_parts_is_applied_as_one_bundle_file_is() {
    let w = World::exported(
        &["--part-size", "16K"],
        "certferry-contoso-ad-0000000001.sha256",
    );
    let parts = std::fs::read_dir(w.bundle.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".part")
        })
        .count();
    assert!(parts >= 3, "{parts} parts");
    applied_once_and_recorded(w);
}

#[test]
fn a_snapshot_in_parts_scripts_every_value_a_bundle_file_scripts() {
    // The parts' values are copied to the value spool as each part is
    // verified, and read back (checked against their digests) for the script.
    let script = |w: &World| {
        let out = w.dir.path().join("publish.ps1");
        let o = w.run(&["script", "--out", s(&out)]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let text = std::fs::read_to_string(&out).unwrap();
        let values: Vec<String> = text
            .lines()
            .filter(|l| l.contains("FromBase64String"))
            .map(str::to_owned)
            .collect();
        values
    };
    let whole = World::exported(&[], "certferry-contoso-ad-0000000001.zip");
    let parts = World::exported(
        &["--part-size", "16K"],
        "certferry-contoso-ad-0000000001.sha256",
    );
    let (a, b) = (script(&whole), script(&parts));
    assert!(a.len() >= 3, "{a:?}");
    assert_eq!(a, b);
}

/// Applies the world's snapshot and checks the tenant and the record.
fn applied_once_and_recorded(w: World) {
    let o = w.run(&["apply"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "some values are refused by policy: {}",
        text(&o)
    );
    // Alice keeps the foreign certificate and gains hers.
    let alice = w.certs("alice@contoso.test");
    assert!(
        alice.contains(&pki("certs/alice.der")),
        "alice: {}",
        alice.len()
    );
    assert!(alice.contains(&std::fs::read(root().join("fixtures/tenant/foreign.der")).unwrap()));
    assert!(w.certs("bob@contoso.test").contains(&pki("certs/bob.der")));
    assert_eq!(
        w.sim
            .recipient("heidi@contoso.test")
            .unwrap()
            .user_smime_certificate,
        vec![pki("smime/heidi.p7b")]
    );
    // Refused by policy: never written. Ambiguous: never written.
    assert!(w.certs("dave@contoso.test").is_empty());
    assert!(w.certs("grace@contoso.test").is_empty());
    assert!(
        w.certs("carol@contoso.test").is_empty(),
        "ambiguous carol must not be written"
    );
    for (who, n) in w.sim.write_counts() {
        assert_eq!(n, 1, "{who} written {n} times");
    }
    let log = std::fs::read_to_string(w.dir.path().join("state.sqlite.audit.jsonl")).unwrap();
    assert!(
        log.lines().count() >= 3 && log.contains("\"request_id\""),
        "{log}"
    );
    // Recorded: the same bundle again is a replay.
    let again = w.run(&["apply"]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(text(&again).contains("replay"), "{}", text(&again));
}

#[test]
fn throttling_server_errors_and_dropped_connections_are_retried_and_every_write_applied_once() {
    let w = World::new();
    w.sim
        .add_fault(FaultRule::throttle(1).times(2).on_cmdlet("Set-Mailbox"));
    w.sim
        .add_fault(FaultRule::status(503).times(2).on_cmdlet("Set-Mailbox"));
    let o = w.run(&["apply"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(w
        .certs("alice@contoso.test")
        .contains(&pki("certs/alice.der")));
    for (who, n) in w.sim.write_counts() {
        assert_eq!(n, 1, "{who} written {n} times");
    }
}

#[test]
fn synced_mailbox_is_skipped_with_its_reason_and_never_written() {
    let w = World::new();
    w.sim.modify_tenant(|t| {
        for r in &mut t.recipients {
            if r.email_addresses
                .iter()
                .any(|a| a.eq_ignore_ascii_case("SMTP:bob@contoso.test"))
            {
                r.is_dir_synced = true;
                r.is_exchange_cloud_managed = false;
            }
        }
    });
    let o = w.run(&["apply"]);
    let t = text(&o);
    assert!(t.contains("skipped") && t.contains("on-premises"), "{t}");
    assert!(w.certs("bob@contoso.test").is_empty());
}

#[test]
fn killed_mid_apply_a_rerun_finishes_without_duplicating_a_write() {
    let w = World::new();
    w.sim.set_latency(std::time::Duration::from_millis(150));
    let mut child = Command::new(env!("CARGO_BIN_EXE_certferry-import"))
        .arg("apply")
        .arg(&w.bundle)
        .args([
            "--policy",
            s(&root().join("fixtures/policy/example-policy.toml")),
        ])
        .args(["--state", s(&w.dir.path().join("state.sqlite"))])
        .args([
            "--now",
            NOW,
            "--tenant",
            s(&w.dir.path().join("tenant.toml")),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while w.sim.write_counts().is_empty() && t0.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial: u64 = w.sim.write_counts().values().sum();
    assert!(partial >= 1, "the kill should land mid-apply");
    w.sim.set_latency(std::time::Duration::from_millis(0));
    let o = w.run(&["apply"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(w
        .certs("alice@contoso.test")
        .contains(&pki("certs/alice.der")));
    assert!(w.certs("bob@contoso.test").contains(&pki("certs/bob.der")));
    for (who, n) in w.sim.write_counts() {
        assert_eq!(
            n, 1,
            "{who} written {n} times across the killed run and the rerun"
        );
    }
}

#[test]
fn a_saved_plan_is_refused_when_the_tenant_changed() {
    let w = World::new();
    let plan = w.dir.path().join("plan.json");
    let o = w.run(&["plan", "--out", s(&plan)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    w.sim.modify_tenant(|t| {
        for r in &mut t.recipients {
            if r.email_addresses
                .iter()
                .any(|a| a.eq_ignore_ascii_case("SMTP:bob@contoso.test"))
            {
                r.user_certificate = vec![b"changed by someone".to_vec()];
            }
        }
    });
    let o = w.run(&["apply", "--plan", s(&plan)]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(text(&o).contains("changed since"), "{}", text(&o));
    assert!(
        w.certs("alice@contoso.test")
            .iter()
            .all(|c| *c != pki("certs/alice.der")),
        "nothing written"
    );
}

#[test]
fn a_plan_larger_than_one_batch_of_writes_is_applied_whole_and_once() {
    // apply makes and writes the plan's items 4096 at a time: 4100 changes
    // cross one batch boundary (and leave a last, partial batch).
    const USERS: usize = 4100;
    let dir = tempfile::tempdir().unwrap();
    let ldif = dir.path().join("dir.ldif");
    let o = Command::new(root().join("fixtures/directory/bulk"))
        .args([&USERS.to_string(), "--ad", "--certs", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&ldif, o.stdout).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = Command::new(exporter())
        .arg("ldif")
        .arg(&ldif)
        .args(["--source-id", "contoso-ad", "--created", CREATED])
        .args(["--quiet", "--key-unencrypted", "--key"])
        .arg(root().join("format-spec/vectors/keys/exporter.key"))
        .arg("--state")
        .arg(dir.path().join("export-state.json"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The bulk users share fixture certificates that name other addresses:
    // this policy accepts them (no reviewer, no matching address).
    let policy = std::fs::read_to_string(root().join("fixtures/policy/example-policy.toml"))
        .unwrap()
        .replace("../pki/", s(&root().join("fixtures/pki/")))
        .replace("../../format-spec/", s(&root().join("format-spec/")))
        .replace("reviewer = 1", "reviewer = 0")
        .replace(
            "require_matching_address = true",
            "require_matching_address = false",
        );
    let policy_path = dir.path().join("policy.toml");
    std::fs::write(&policy_path, policy).unwrap();
    let sim = Simulator::start(Tenant::synthetic(USERS), SimConfig::default()).unwrap();
    std::fs::write(dir.path().join("tenant.toml"), tenant_toml(&sim, 8)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_certferry-import"))
        .arg("apply")
        .arg(out.join("certferry-contoso-ad-0000000001.zip"))
        .args(["--policy", s(&policy_path)])
        .args(["--state", s(&dir.path().join("state.sqlite"))])
        .args(["--tenant", s(&dir.path().join("tenant.toml"))])
        .args(["--now", NOW])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("applied   {USERS} writes")),
        "{}",
        text(&o)
    );
    let counts = sim.write_counts();
    assert_eq!(counts.len(), USERS, "every recipient written");
    assert!(counts.values().all(|n| *n == 1), "each once");
    let last = sim
        .recipient(&format!("bulk{USERS:06}@contoso.test"))
        .unwrap();
    assert_eq!(
        last.user_certificate,
        vec![pki("certs/alice.der"), pki("certs/carol-1.der")],
        "the last item of the last batch holds the bundle's values"
    );
}

#[test]
fn a_saved_plan_is_applied_when_bundle_and_tenant_are_unchanged_and_refused_otherwise() {
    let w = World::new();
    let plan = w.dir.path().join("plan.json");
    let o = w.run(&["plan", "--out", s(&plan)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Not a plan, or a plan of another bundle: usage errors, nothing written.
    let junk = w.dir.path().join("junk.json");
    std::fs::write(&junk, b"{\"items\": [").unwrap();
    let o = w.run(&["apply", "--plan", s(&junk)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a plan"), "{}", text(&o));
    let mut other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    other["bundle_sha256"] = "00".repeat(32).into();
    let other_path = w.dir.path().join("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let o = w.run(&["apply", "--plan", s(&other_path)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("a plan for another bundle"),
        "{}",
        text(&o)
    );
    // An item dropped from the saved plan is a changed plan.
    let mut fewer = other.clone();
    fewer["bundle_sha256"] =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&plan).unwrap()).unwrap()
            ["bundle_sha256"]
            .clone();
    fewer["items"].as_array_mut().unwrap().pop();
    let fewer_path = w.dir.path().join("fewer.json");
    std::fs::write(&fewer_path, fewer.to_string()).unwrap();
    let o = w.run(&["apply", "--plan", s(&fewer_path)]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(w.sim.write_counts().is_empty(), "nothing written yet");
    // The plan as saved: applied.
    let o = w.run(&["apply", "--plan", s(&plan)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("applied "), "{}", text(&o));
    assert!(w.certs("bob@contoso.test").contains(&pki("certs/bob.der")));
}
