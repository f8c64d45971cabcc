//! The importer against every variant the public facts leave open
//! (docs/exchange-wire-protocol.md, "Open questions"): the simulator answers
//! certificate values in each form, binds each write form alone (refusing the
//! others, or storing them as other bytes), names the synced-object refusal
//! either way, throttles with and without Retry-After, and carries ImmutableId
//! or not. Each test runs the real binary against a real HTTP server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use common::*;
use exo_simulator::{
    Dialect, EmptyOut, FaultRule, OtherWriteForm, SimConfig, SimHandle, Simulator, Tenant,
    ValuesOut, WriteForm,
};
use serde_json::Value;

/// A simulated tenant, a policy, a tenant.toml and a signed bundle of alice and bob.
struct Lab {
    dir: tempfile::TempDir,
    sim: SimHandle,
    policy: PathBuf,
    tenant: String,
    bundle: PathBuf,
}

impl Lab {
    fn new(dialect: Dialect) -> Self {
        Self::with(
            dialect,
            vec![user_cert("alice", "alice"), user_cert("bob", "bob")],
        )
    }

    fn with(dialect: Dialect, people: Vec<Person>) -> Self {
        Self::build(
            Tenant::load(root().join("fixtures/tenant/contoso.json")).unwrap(),
            dialect,
            people,
            PolicyOpts::default(),
        )
    }

    fn build(tenant: Tenant, dialect: Dialect, people: Vec<Person>, policy: PolicyOpts) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::start(
            tenant,
            SimConfig {
                dialect,
                ..SimConfig::default()
            },
        )
        .unwrap();
        let tenant = write_tenant(dir.path(), &sim, "");
        let policy = write_policy(dir.path(), &policy);
        let bundle = write_signed(dir.path(), &Spec::new(1, people));
        Self {
            dir,
            sim,
            policy,
            tenant,
            bundle,
        }
    }

    fn run(&self, cmd: &str, extra: &[&str]) -> Out {
        let mut args = vec![cmd, "--policy", s(&self.policy), "--tenant", &self.tenant];
        args.extend_from_slice(&["--now", NOW, s(&self.bundle)]);
        args.extend_from_slice(extra);
        run(&args)
    }

    fn certs(&self, who: &str) -> Vec<Vec<u8>> {
        self.sim
            .recipient(&format!("{who}@contoso.test"))
            .unwrap()
            .user_certificate
    }

    fn audit(&self) -> Vec<Value> {
        audit_lines(&self.dir.path().join("state.sqlite.audit.jsonl"))
    }
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn changed(lines: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = lines
        .iter()
        .filter(|l| {
            matches!(
                l["outcome"].as_str(),
                Some("written" | "confirmed-by-read-back" | "confirmed-on-rerun")
            )
        })
        .map(|l| {
            (
                l["label"].as_str().unwrap().to_owned(),
                l["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The importer's write form names, as the simulator's.
fn importer_name(f: WriteForm) -> &'static str {
    match f {
        WriteForm::DataBase64 => "data-base64",
        WriteForm::DataIntegers => "data-integers",
        WriteForm::Base64 => "base64",
    }
}

/// One response form against each single write form the service may bind, with
/// either fate for the other forms: apply proves the form on its first write (or
/// finds the one that round-trips, records it and stops), and the next apply
/// finishes. Every recipient ends with exactly its values, each change audited once.
fn apply_finishes_whatever_the_service_binds(values_out: ValuesOut) {
    let foreign = std::fs::read(root().join("fixtures/tenant/foreign.der")).unwrap();
    for form in WriteForm::ALL {
        for other in [OtherWriteForm::BindingError, OtherWriteForm::StoreJsonText] {
            let what = format!("{values_out:?} / binds {form:?} / others {other:?}");
            let lab = Lab::new(Dialect {
                values_out,
                ..Dialect::writes(&[form], other)
            });
            let first = lab.run("apply", &[]);
            if form == WriteForm::DataBase64 {
                assert_eq!(first.code, 0, "{what}: {first:?}");
            } else {
                // The default form is not bound: the first write proves it wrong.
                assert_eq!(first.code, 6, "{what}: {first:?}");
                let name = importer_name(form);
                assert!(
                    first
                        .stderr
                        .contains(&format!("Form {name} read back identical"))
                        && first.stderr.contains("nothing else was written"),
                    "{what}: {first:?}"
                );
                // Only the first recipient was written: once per form tried when the
                // service stores what it cannot bind, once (the good form) otherwise.
                let counts = lab.sim.write_counts();
                assert_eq!(counts.len(), 1, "{what}: {counts:?}");
                let tried = 1 + WriteForm::ALL.iter().position(|f| *f == form).unwrap();
                let expected = if other == OtherWriteForm::StoreJsonText {
                    tried
                } else {
                    1
                };
                assert_eq!(counts.values().sum::<u64>() as usize, expected, "{what}");
                let again = lab.run("apply", &[]);
                assert_eq!(again.code, 0, "{what}: {again:?}");
            }
            assert_eq!(
                lab.certs("alice"),
                vec![foreign.clone(), pki("certs/alice.der")],
                "{what}"
            );
            assert_eq!(lab.certs("bob"), vec![pki("certs/bob.der")], "{what}");
            assert_eq!(
                changed(&lab.audit()),
                [
                    ("alice@contoso.test".to_owned(), "written".to_owned()),
                    ("bob@contoso.test".to_owned(), "written".to_owned())
                ],
                "{what}"
            );
            // The proven form is recorded, and a plan now reads everything back unchanged.
            let plan = lab.run("plan", &["--json"]);
            let doc: Value = serde_json::from_str(&plan.stdout).unwrap();
            assert_eq!(doc["already_imported"]["import"], 1, "{what}");
            assert_eq!(doc["counts"]["change"], 0, "{what}: {plan:?}");
        }
    }
}

#[test]
fn values_as_base64_strings_with_the_collection_annotation() {
    apply_finishes_whatever_the_service_binds(ValuesOut::Strings);
}

#[test]
fn values_as_base64_strings_without_annotation() {
    apply_finishes_whatever_the_service_binds(ValuesOut::StringsUnannotated);
}

#[test]
fn values_as_url_safe_unpadded_base64_strings() {
    apply_finishes_whatever_the_service_binds(ValuesOut::StringsUrlSafe);
}

#[test]
fn values_as_data_base64_objects() {
    apply_finishes_whatever_the_service_binds(ValuesOut::DataBase64);
}

#[test]
fn values_as_typed_data_base64_objects() {
    apply_finishes_whatever_the_service_binds(ValuesOut::DataBase64Typed);
}

#[test]
fn values_as_data_integer_arrays() {
    apply_finishes_whatever_the_service_binds(ValuesOut::DataIntegers);
}

#[test]
fn empty_attributes_as_null_read_as_empty() {
    let lab = Lab::new(Dialect {
        empty_out: EmptyOut::Null,
        ..Dialect::default()
    });
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(lab.certs("bob"), vec![pki("certs/bob.der")]);
}

#[test]
fn a_write_form_set_in_tenant_toml_is_used_and_a_wrong_one_is_caught_on_the_first_write() {
    let lab = Lab::new(Dialect::writes(
        &[WriteForm::Base64],
        OtherWriteForm::StoreJsonText,
    ));
    // Set right: one write each, nothing probed.
    write_tenant(lab.dir.path(), &lab.sim, "write_form = \"base64\"");
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(lab.sim.write_counts().values().all(|&n| n == 1));

    // Set wrong (a misbinding service takes it silently): the read-back catches it.
    let lab = Lab::new(Dialect::writes(
        &[WriteForm::Base64],
        OtherWriteForm::StoreJsonText,
    ));
    write_tenant(lab.dir.path(), &lab.sim, "write_form = \"data-integers\"");
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(
        o.stderr.contains("reads back different bytes") && o.stderr.contains("(tenant.toml)"),
        "{o:?}"
    );
    let bad = write_tenant(lab.dir.path(), &lab.sim, "write_form = \"nonsense\"");
    let o = run(&["doctor", "--tenant", &bad]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stderr.contains("write_form \"nonsense\" is not one of"),
        "{o:?}"
    );
}

#[test]
fn no_write_form_round_trips_stops_after_the_first_recipient() {
    let lab = Lab::new(Dialect::writes(&[], OtherWriteForm::BindingError));
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(o.stderr.contains("no write form round-trips"), "{o:?}");
    assert!(lab.sim.write_counts().is_empty());
    let sets = lab
        .sim
        .log()
        .iter()
        .filter(|e| e.cmdlet.as_deref() == Some("Set-Mailbox"))
        .count();
    assert_eq!(sets, 3, "one try per form, on one recipient");
    assert!(changed(&lab.audit()).is_empty());
    assert_eq!(lab.audit().len(), 1, "the failed first write is audited");
}

/// The synced-object refusal under both exception names is the same class.
#[test]
fn a_write_scope_refusal_is_classified_by_its_words_under_either_exception_name() {
    for exception in ["System.InvalidOperationException", "RecipientTaskException"] {
        let lab = Lab::new(Dialect::default());
        lab.sim.add_fault(
            FaultRule::status(400)
                .on_identity(&lab.sim.recipient("bob@contoso.test").unwrap().external_directory_object_id)
                .exception_type(exception)
                .message("The operation on mailbox \"bob\" failed because it's out of the current user's write scope. The action 'Set-Mailbox', 'UserCertificate', can't be performed on the object 'bob' because the object is being synchronized from your on-premises organization.")
                .always(),
        );
        let o = lab.run("apply", &[]);
        assert_eq!(o.code, 6, "{exception}: {o:?}");
        assert!(
            o.stderr.contains("(write-scope, HTTP 400"),
            "{exception}: {o:?}"
        );
        assert!(
            o.stderr.contains("1 of 2 writes failed, 1 succeeded"),
            "{o:?}"
        );
        assert_eq!(lab.certs("bob"), Vec::<Vec<u8>>::new());
    }
}

/// A tenant's error text is untrusted: an ESC sequence or a bidirectional
/// override in it reaches the terminal escaped, never acting.
#[test]
fn a_tenant_error_message_reaches_the_terminal_escaped() {
    let lab = Lab::new(Dialect::default());
    lab.sim.add_fault(
        FaultRule::status(400)
            .on_identity(
                &lab.sim
                    .recipient("bob@contoso.test")
                    .unwrap()
                    .external_directory_object_id,
            )
            .message("bad\u{1b}]0;pwned\u{7} value \u{202e}gpj.exe\u{1b}[2J")
            .always(),
    );
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(
        !o.stderr.contains('\u{1b}') && !o.stdout.contains('\u{1b}'),
        "{o:?}"
    );
    assert!(!o.stderr.contains('\u{202e}'), "{o:?}");
    assert!(
        o.stderr
            .contains("bad\\x1b]0;pwned\\x07 value \\u{202e}gpj.exe\\x1b[2J"),
        "{o:?}"
    );
}

#[test]
fn throttling_without_retry_after_backs_off_and_writes_once() {
    let lab = Lab::new(Dialect {
        retry_after_on_429: false,
        ..Dialect::default()
    });
    lab.sim
        .add_fault(FaultRule::throttle(0).on_cmdlet("Set-Mailbox").times(3));
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 0, "{o:?}");
    let throttled = lab
        .sim
        .log()
        .iter()
        .filter(|e| e.status == Some(429))
        .count();
    assert_eq!(throttled, 3);
    assert!(lab.sim.write_counts().values().all(|&n| n == 1));
}

#[test]
fn match_by_immutable_id_against_a_service_without_the_member_fails_clearly() {
    let lab = Lab::new(Dialect {
        immutable_id_member: false,
        ..Dialect::default()
    });
    for cmd in ["plan", "apply"] {
        let o = lab.run(cmd, &["--match-by", "immutable-id"]);
        assert_eq!(o.code, 6, "{cmd}: {o:?}");
        assert!(o.stderr.contains("carries an ImmutableId member"), "{o:?}");
    }
    assert!(lab.sim.write_counts().is_empty());
    // With the member present and no match, entries are merely unmatched.
    let lab = Lab::new(Dialect::default());
    let o = lab.run("plan", &["--match-by", "immutable-id"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("2 unmatched"), "{o:?}");
}

#[test]
fn plan_on_the_last_imported_bundle_shows_drift_and_reapply_repairs_it() {
    let lab = Lab::new(Dialect::default());
    assert_eq!(lab.run("apply", &[]).code, 0);
    let o = lab.run("plan", &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("drift     none"), "{o:?}");
    // Someone removes bob's certificate in the cloud.
    lab.sim.modify_tenant(|t| {
        let bob = t.recipients.iter_mut().find(|r| r.name == "bob").unwrap();
        bob.user_certificate.clear();
    });
    let o = lab.run("plan", &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("change    bob@contoso.test") && o.stdout.contains("1 entries differ"),
        "{o:?}"
    );
    let o = lab.run("apply", &[]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("apply --reapply"), "{o:?}");
    let o = lab.run("apply", &["--reapply"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("the import record is unchanged"), "{o:?}");
    assert_eq!(lab.certs("bob"), vec![pki("certs/bob.der")]);
    let status = run(&["status", "--policy", s(&lab.policy), "--json"]);
    let v: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["sources"].as_array().unwrap().len(), 1);
}

#[test]
fn concurrency_on_the_command_line_bounds_the_writes_in_flight() {
    // Twelve synthetic mailboxes, each given bob's certificate (the address check is off).
    let people: Vec<Person> = (1..=12)
        .map(|i| {
            let mut p = user_cert(&format!("bulk{i:06}"), "bob");
            p.mail = format!("bulk{i:06}@contoso.test");
            p
        })
        .collect();
    let lab = Lab::build(
        Tenant::synthetic(12),
        Dialect::default(),
        people,
        PolicyOpts {
            certificates_extra: "require_matching_address = false\n".into(),
            ..PolicyOpts::default()
        },
    );
    lab.sim.set_latency(std::time::Duration::from_millis(40));
    let o = lab.run("apply", &["--concurrency", "2"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(lab.sim.max_concurrency(), 2, "the tenant.toml default is 8");
    assert_eq!(lab.sim.write_counts().len(), 12);
    let o = lab.run("apply", &["--concurrency", "0"]);
    assert_eq!(o.code, 2, "{o:?}");
}

#[test]
fn new_contacts_are_named_after_the_display_name_with_a_rule_for_collisions() {
    let lab = Lab::with(
        Dialect::default(),
        vec![user_cert("judy", "judy"), {
            let mut p = user_cert("walt", "alice");
            p.mail = "walt@fabrikam.test".into();
            p
        }],
    );
    // A recipient already named like the second entry's display name.
    lab.sim.modify_tenant(|t| {
        let mut taken = t
            .recipients
            .iter()
            .find(|r| r.name == "partner")
            .unwrap()
            .clone();
        taken.name = "Test walt".into();
        taken.external_directory_object_id = "0e0e0e0e-0000-4000-8000-00000000beef".into();
        taken.email_addresses = vec!["SMTP:someone-else@fabrikam.test".into()];
        t.recipients.push(taken);
    });
    let policy = write_policy(
        lab.dir.path(),
        &PolicyOpts {
            certificates_extra: "require_matching_address = false\n".into(),
            ..PolicyOpts::default()
        },
    );
    let o = run(&[
        "apply",
        "--policy",
        s(&policy),
        "--tenant",
        &lab.tenant,
        "--now",
        NOW,
        s(&lab.bundle),
        "--create-contacts",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let judy = lab.sim.recipient("judy@contoso.test").unwrap();
    assert_eq!(
        (judy.name.as_str(), judy.display_name.as_str()),
        ("Test judy", "Test judy")
    );
    let walt = lab.sim.recipient("walt@fabrikam.test").unwrap();
    assert_eq!(walt.name, "Test walt (walt@fabrikam.test)");
    assert_eq!(walt.display_name, "Test walt");
    let names: Vec<String> = lab
        .audit()
        .iter()
        .filter_map(|l| l["contact_name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn doctor_reports_forms_members_clock_and_a_verdict_and_writes_nothing() {
    let lab = Lab::new(Dialect::default());
    let o = run(&[
        "doctor",
        "--tenant",
        &lab.tenant,
        "--policy",
        s(&lab.policy),
        "--json",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["ready"], true);
    let find = |name: &str| -> Value {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no check {name}: {v}"))
    };
    let forms = find("value forms");
    assert!(
        forms["detail"]
            .as_str()
            .unwrap()
            .contains("base64 strings (standard, padded)")
            && forms["detail"]
                .as_str()
                .unwrap()
                .contains("#Collection(String)"),
        "{forms}"
    );
    assert_eq!(find("clock")["status"], "ok");
    assert!(find("write form")["detail"]
        .as_str()
        .unwrap()
        .contains("not yet proven"));
    assert!(lab.sim.write_counts().is_empty());
    assert!(lab.sim.log().iter().all(|e| e
        .cmdlet
        .as_deref()
        .is_none_or(|c| c.starts_with("Get-") || e.endpoint == "token")));
    assert!(
        !lab.dir.path().join("state.sqlite").exists(),
        "doctor creates no state"
    );

    // After an apply the proven form is reported; a skewed clock and a missing member are found.
    assert_eq!(lab.run("apply", &[]).code, 0);
    lab.sim.set_clock_offset(-600);
    lab.sim.set_dialect(Dialect {
        immutable_id_member: false,
        ..Dialect::default()
    });
    let o = run(&[
        "doctor",
        "--tenant",
        &lab.tenant,
        "--policy",
        s(&lab.policy),
    ]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(o.stdout.contains("FAIL  clock"), "{o:?}");
    // 600 s, give or take the second the HTTP Date header rounds to (a loaded
    // machine can cross a second boundary between the two clocks' readings).
    let ahead: i64 = o
        .stdout
        .split(" s ahead of the service's")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no skew in {o:?}"));
    assert!((599..=601).contains(&ahead), "{o:?}");
    assert!(
        o.stdout.contains("the service returned no ImmutableId"),
        "{o:?}"
    );
    assert!(
        o.stdout.contains("data-base64: proven on this tenant"),
        "{o:?}"
    );
    assert!(o.stdout.contains("verdict   NOT READY: fix clock"), "{o:?}");
}

#[test]
fn doctor_names_a_missing_role_and_a_refused_credential() {
    let lab = Lab::new(Dialect::default());
    lab.sim
        .modify_tenant(|t| t.apps[0].role = exo_simulator::Role::None);
    let o = run(&["doctor", "--tenant", &lab.tenant]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(
        o.stdout.contains("FAIL  read mailboxes") && o.stdout.contains("Exchange.ManageAsApp"),
        "{o:?}"
    );

    let wrong = lab.dir.path().join("wrong.toml");
    let text = std::fs::read_to_string(&lab.tenant)
        .unwrap()
        .replace("app.pem", "foreign.pem")
        .replace("app.key", "foreign.key");
    std::fs::write(&wrong, text).unwrap();
    let o = run(&["doctor", "--tenant", s(&wrong)]);
    assert_eq!(o.code, 6, "{o:?}");
    assert!(o.stdout.contains("FAIL  token"), "{o:?}");
    assert!(
        o.stdout.contains("clock               not measured"),
        "{o:?}"
    );
}
