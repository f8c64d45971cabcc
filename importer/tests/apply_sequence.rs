//! Successive imports into the Exchange Online simulator: a second bundle
//! changes only what changed, `--prune` removes only certferry's own earlier
//! values, and `--create-contacts` creates a contact for an unmatched entry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::*;
use exo_simulator::{SimConfig, SimHandle, Simulator, Tenant};

fn sim() -> SimHandle {
    Simulator::start(
        Tenant::load(root().join("fixtures/tenant/contoso.json")).unwrap(),
        SimConfig::default(),
    )
    .unwrap()
}

fn tenant_toml(dir: &Path, sim: &SimHandle) -> String {
    write_tenant(dir, sim, "")
}

fn apply(policy: &Path, tenant: &str, bundle: &Path, extra: &[&str]) -> Out {
    let mut args = vec![
        "apply",
        "--policy",
        s(policy),
        "--tenant",
        tenant,
        "--now",
        NOW,
        s(bundle),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn certs(sim: &SimHandle, who: &str) -> Vec<Vec<u8>> {
    sim.recipient(&format!("{who}@contoso.test"))
        .unwrap()
        .user_certificate
}

#[test]
fn second_import_changes_only_what_changed_and_prune_removes_only_our_values() {
    let d = tempfile::tempdir().unwrap();
    let sim = sim();
    let tenant = tenant_toml(d.path(), &sim);
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let foreign = std::fs::read(root().join("fixtures/tenant/foreign.der")).unwrap();

    let b1 = write_signed(
        d.path(),
        &Spec::new(
            1,
            vec![user_cert("alice", "alice"), user_cert("bob", "bob")],
        ),
    );
    let o = apply(&policy, &tenant, &b1, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        certs(&sim, "alice"),
        vec![foreign.clone(), pki("certs/alice.der")]
    );
    assert_eq!(certs(&sim, "bob"), vec![pki("certs/bob.der")]);
    sim.reset_stats();

    // Bundle 2: alice unchanged, bob's certificate gone (revoked or replaced):
    // an object without a value is not exported, so bob is not in the bundle.
    let mut s2 = Spec::new(2, vec![user_cert("alice", "alice")]);
    s2.previous_sha256 = Some(sha256_of(&b1));
    let dir2 = d.path().join("2");
    std::fs::create_dir(&dir2).unwrap();
    let b2 = write_signed(&dir2, &s2);
    // Without --prune nothing is removed, so nothing changes and nothing is written.
    let plan = run(&[
        "plan",
        "--policy",
        s(&policy),
        "--tenant",
        &tenant,
        "--now",
        NOW,
        s(&b2),
    ]);
    assert!(plan.stdout.contains("0 to change"), "{plan:?}");
    let o = apply(&policy, &tenant, &b2, &["--prune"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        certs(&sim, "bob"),
        Vec::<Vec<u8>>::new(),
        "bob's certificate, written by certferry, is pruned"
    );
    assert_eq!(
        certs(&sim, "alice"),
        vec![foreign, pki("certs/alice.der")],
        "alice unchanged, the foreign value kept"
    );
    let writes = sim.write_counts();
    assert_eq!(
        writes.len(),
        1,
        "only bob was written in the second import: {writes:?}"
    );
}

#[test]
fn create_contacts_publishes_an_unmatched_entry_as_a_mail_contact() {
    let d = tempfile::tempdir().unwrap();
    let sim = sim();
    let tenant = tenant_toml(d.path(), &sim);
    let policy = write_policy(d.path(), &PolicyOpts::default());
    // judy has no recipient in the tenant.
    let b = write_signed(d.path(), &Spec::new(1, vec![user_cert("judy", "judy")]));
    let o = run(&[
        "plan",
        "--policy",
        s(&policy),
        "--tenant",
        &tenant,
        "--now",
        NOW,
        s(&b),
    ]);
    assert!(o.stdout.contains("unmatched"), "{o:?}");
    assert!(sim.recipient("judy@contoso.test").is_none());
    let o = apply(&policy, &tenant, &b, &["--create-contacts"]);
    assert_eq!(o.code, 0, "{o:?}");
    let judy = sim.recipient("judy@contoso.test").expect("contact created");
    assert_eq!(judy.user_certificate, vec![pki("certs/judy.der")]);
}

#[test]
fn match_by_immutable_id_finds_a_recipient_whose_addresses_differ() {
    let d = tempfile::tempdir().unwrap();
    let sim = sim();
    let tenant = tenant_toml(d.path(), &sim);
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let person = user_cert("alice", "alice");
    let id = certferry_import::plan::immutable_id(person.guid.as_deref().unwrap()).unwrap();
    // bob's mailbox carries alice's immutable id: only the id can match it.
    sim.modify_tenant(|t| {
        for r in &mut t.recipients {
            if r.email_addresses
                .iter()
                .any(|a| a.eq_ignore_ascii_case("SMTP:bob@contoso.test"))
            {
                r.immutable_id = Some(id.clone());
            }
        }
    });
    let b = write_signed(d.path(), &Spec::new(1, vec![person]));
    let o = apply(&policy, &tenant, &b, &["--match-by", "immutable-id"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(certs(&sim, "bob"), vec![pki("certs/alice.der")], "{o:?}");
    assert!(
        !certs(&sim, "alice").contains(&pki("certs/alice.der")),
        "alice's mailbox has another immutable id"
    );
}
