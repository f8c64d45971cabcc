//! The Exchange Online client against the real simulator (`tests/exo-simulator`): a real
//! HTTP server on 127.0.0.1, strict about docs/exchange-wire-protocol.md. No mocked HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use certferry_format::model::Attribute;
use certferry_import::exchange::{
    Credential, Endpoints, ErrorClass, ExoClient, ExoConfig, RecipientKind, RetryPolicy,
};
use certferry_import::secret::Secret;
use exo_simulator::{FaultRule, LogEntry, Role, SimConfig, SimHandle, Simulator, Tenant};

const CERT: Attribute = Attribute::UserCertificate;
const SMIME: Attribute = Attribute::UserSmimeCertificate;

fn tenant_dir() -> PathBuf {
    exo_simulator::tenant::fixture_dir()
}

fn pki(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/pki")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn contoso() -> Tenant {
    Tenant::load(tenant_dir().join("contoso.json")).expect("fixture tenant")
}

fn start(tenant: Tenant) -> SimHandle {
    start_with(tenant, SimConfig::default())
}

fn start_with(tenant: Tenant, config: SimConfig) -> SimHandle {
    Simulator::start(tenant, config).expect("simulator starts")
}

fn pem_credential() -> Credential {
    let dir = tenant_dir();
    Credential::from_file(&dir.join("app.pem"), Some(&dir.join("app.key")), None)
        .expect("fixture app credential")
}

fn pfx_password() -> Secret {
    let text =
        std::fs::read_to_string(tenant_dir().join("app.pfx.password")).expect("PFX password");
    Secret::new(text.trim_end_matches('\n').to_owned())
}

/// Fast retries so tests do not sleep for seconds (Retry-After is still honoured).
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base: Duration::from_millis(10),
        max_backoff: Duration::from_millis(80),
        max_retry_after: Duration::from_secs(5),
    }
}

fn config(sim: &SimHandle) -> ExoConfig {
    let base = sim.base_url();
    let endpoints = Endpoints::dangerous_allow_http_loopback(&base, &base).expect("loopback");
    let mut c = ExoConfig::new(sim.tenant_id(), sim.client_id(), endpoints);
    c.retry = fast_retry();
    c.jitter_seed = Some(7);
    c
}

fn client(sim: &SimHandle) -> ExoClient {
    ExoClient::new(config(sim), pem_credential()).expect("client")
}

fn of<'a>(log: &'a [LogEntry], endpoint: &str) -> Vec<&'a LogEntry> {
    log.iter().filter(|e| e.endpoint == endpoint).collect()
}

fn id_of(sim: &SimHandle, address: &str) -> String {
    sim.recipient(address)
        .expect(address)
        .external_directory_object_id
}

/// 16 distinct certificate values (the simulator checks count and distinctness, not content).
fn values(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| vec![0x30, 0x03, 0x02, 0x01, i as u8])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_request_serves_many_calls() {
    let sim = start(contoso());
    let c = client(&sim);
    let alice = id_of(&sim, "alice@contoso.test");
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let c = c.clone();
            let alice = alice.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    c.get_mail_contacts().await.map(|_| ())
                } else {
                    c.set_certificates(RecipientKind::Mailbox, &alice, &[(SMIME, &[])])
                        .await
                        .map(|_| ())
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let log = sim.log();
    assert_eq!(of(&log, "token").len(), 1, "{log:#?}");
    assert_eq!(of(&log, "InvokeCommand").len(), 12);
    assert_eq!(c.stats().token_requests, 1);
    // Every request carried a fresh client-request-id.
    let mut ids: Vec<_> = log
        .iter()
        .map(|e| e.client_request_id.clone().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), log.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_refreshed_before_it_expires() {
    let sim = start(contoso());
    sim.set_token_lifetime(4);
    let c = client(&sim);
    c.get_mail_users().await.unwrap();
    c.get_mail_users().await.unwrap();
    // A 4-second token is refreshed after half its lifetime (the margin is 5 minutes
    // or half the lifetime), before the service would refuse it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.get_mail_users().await.unwrap();
    let log = sim.log();
    assert_eq!(of(&log, "token").len(), 2, "{log:#?}");
    assert!(log.iter().all(|e| e.status == Some(200)), "{log:#?}");
    assert_eq!(c.stats().reauthentications, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_replaced_once_and_the_request_repeated() {
    let sim = start(contoso());
    let c = client(&sim);
    c.get_mail_users().await.unwrap();
    sim.expire_tokens();
    let alice = id_of(&sim, "alice@contoso.test");
    let receipt = c
        .set_certificates(
            RecipientKind::Mailbox,
            &alice,
            &[(CERT, &[pki("certs/alice.der")])],
        )
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 2);
    assert_eq!(sim.writes_to(&alice), 1);
    let statuses: Vec<_> = sim
        .log()
        .iter()
        .map(|e| (e.endpoint.clone(), e.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("token".to_owned(), Some(200)),
            ("InvokeCommand".to_owned(), Some(200)),
            ("InvokeCommand".to_owned(), Some(401)),
            ("token".to_owned(), Some(200)),
            ("InvokeCommand".to_owned(), Some(200)),
        ]
    );
    assert_eq!(c.stats().reauthentications, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_mid_run_are_replaced_once_for_all_workers() {
    let sim = start_with(
        Tenant::synthetic(80),
        SimConfig {
            latency_ms: 20,
            ..SimConfig::default()
        },
    );
    let mut cfg = config(&sim);
    cfg.max_in_flight = 8;
    let c = ExoClient::new(cfg, pem_credential()).unwrap();
    let listing = c.get_mailboxes().await.unwrap();
    let sim_ref = &sim;
    let results = ExoClient::run_bounded(listing.recipients.iter().enumerate(), 8, |(i, r)| {
        let c = c.clone();
        async move {
            if i == 30 {
                // Requests of other workers are in flight with the token now revoked.
                sim_ref.expire_tokens();
            }
            c.set_certificates(RecipientKind::Mailbox, r.write_identity(), &[(CERT, &[])])
                .await
        }
    })
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let log = sim.log();
    let refused = log.iter().filter(|e| e.status == Some(401)).count();
    assert!((1..=8).contains(&refused), "{refused} requests got 401");
    assert_eq!(of(&log, "token").len(), 2, "one new token for every worker");
    assert_eq!(c.stats().reauthentications, refused as u64);
    assert_eq!(sim.write_counts().len(), 80);
    assert!(sim.write_counts().values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_fails_clearly() {
    let sim = start(contoso());
    let c = client(&sim);
    sim.add_fault(FaultRule::status(401).times(2));
    let err = c.get_mailboxes().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Unauthorized);
    assert!(err.message.contains("freshly issued token"), "{err}");
    assert!(err.message.contains("Exchange.ManageAsApp"), "{err}");
    assert!(err.request_id.is_some());
    assert_eq!(of(&sim.log(), "token").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_recipient_of_the_fixture_tenant() {
    let sim = start(contoso());
    let c = client(&sim);
    let listing = c.get_all_recipients().await.unwrap();
    let expected = sim.state().recipients;
    assert_eq!(listing.recipients.len(), expected.len());
    assert_eq!(listing.request_ids.len(), 3);
    let log = sim.log();
    for (rid, entry) in listing.request_ids.iter().zip(of(&log, "InvokeCommand")) {
        assert_eq!(rid, &entry.request_id);
    }
    for want in &expected {
        let got = listing
            .recipients
            .iter()
            .find(|r| {
                r.external_directory_object_id.as_deref()
                    == Some(&want.external_directory_object_id)
            })
            .unwrap_or_else(|| panic!("{} missing", want.name));
        let kind = match want.kind {
            exo_simulator::RecipientKind::UserMailbox => RecipientKind::Mailbox,
            exo_simulator::RecipientKind::MailUser => RecipientKind::MailUser,
            exo_simulator::RecipientKind::MailContact => RecipientKind::MailContact,
        };
        assert_eq!(got.kind, kind);
        assert_eq!(got.identity.as_deref(), Some(want.name.as_str()));
        assert_eq!(got.display_name, want.display_name);
        assert_eq!(got.primary_smtp_address, want.primary_smtp_address());
        assert_eq!(got.email_addresses, want.email_addresses);
        assert_eq!(got.user_principal_name, want.user_principal_name);
        assert_eq!(got.recipient_type_details, want.kind.as_str());
        assert_eq!(got.is_dir_synced, want.is_dir_synced);
        assert_eq!(
            got.is_exchange_cloud_managed,
            want.is_exchange_cloud_managed
        );
        assert_eq!(got.is_read_only_synced(), want.is_write_protected());
        assert_eq!(got.values(CERT), want.user_certificate);
        assert_eq!(got.values(SMIME), want.user_smime_certificate);
    }
    // The fixture has a certificate someone else wrote (alice's foreign.der).
    assert!(listing
        .recipients
        .iter()
        .any(|r| !r.values(CERT).is_empty()));

    // The same without `$select`.
    let mut cfg = config(&sim);
    cfg.select = false;
    let plain = ExoClient::new(cfg, pem_credential()).unwrap();
    assert_eq!(
        plain.get_all_recipients().await.unwrap().recipients,
        listing.recipients
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_2500_recipients_in_pages_of_1000() {
    let sim = start(Tenant::synthetic(2500));
    let c = client(&sim);
    let started = Instant::now();
    let listing = c.get_mailboxes().await.unwrap();
    eprintln!("2,500 mailboxes in {:?}", started.elapsed());
    assert_eq!(listing.recipients.len(), 2500);
    assert_eq!(listing.request_ids.len(), 3);
    // `$select` is carried by the next links: every page has the selected members.
    assert!(listing
        .recipients
        .iter()
        .all(|r| r.user_principal_name.is_some()));
    let mut ids: Vec<_> = listing
        .recipients
        .iter()
        .map(|r| r.write_identity().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2500);
    assert_eq!(
        listing.recipients[0].primary_smtp_address,
        "bulk000001@contoso.test"
    );
    assert_eq!(
        listing.recipients[2499].primary_smtp_address,
        "bulk002500@contoso.test"
    );
    let log = sim.log();
    let pages = of(&log, "InvokeCommand");
    assert_eq!(pages.len(), 3);
    assert!(pages[1].parameters.contains("page@"), "{:?}", pages[1]);
    assert!(c.get_mail_users().await.unwrap().recipients.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_and_clear_certificates_of_each_kind_read_back_byte_identical() {
    let sim = start(contoso());
    let c = client(&sim);
    let der = vec![pki("certs/alice.der"), pki("certs/carol-1.der")];
    let smime = vec![pki("smime/heidi.p7b"), pki("smime/ivan.p7s")];
    for (kind, address) in [
        (RecipientKind::Mailbox, "dave@contoso.test"),
        (RecipientKind::MailUser, "frank@contoso.test"),
        (RecipientKind::MailContact, "partner@fabrikam.test"),
    ] {
        let id = id_of(&sim, address);
        let receipt = c
            .set_certificates(kind, &id, &[(CERT, &der), (SMIME, &smime)])
            .await
            .unwrap();
        assert_eq!(receipt.attempts, 1);
        let entry = sim.log().into_iter().last().unwrap();
        assert_eq!(
            receipt.request_id.as_deref(),
            Some(entry.request_id.as_str())
        );
        assert_eq!(entry.cmdlet.as_deref(), Some(kind.set_cmdlet()));

        let (back, rid) = c.get_recipient(kind, &id).await.unwrap().unwrap();
        assert!(rid.is_some());
        assert_eq!(back.values(CERT), der);
        assert_eq!(back.values(SMIME), smime);
        assert_eq!(sim.recipient(&id).unwrap().user_certificate, der);

        // An attribute not listed is left alone; an empty set clears it.
        c.set_certificates(kind, &id, &[(SMIME, &[])])
            .await
            .unwrap();
        let (back, _) = c.get_recipient(kind, address).await.unwrap().unwrap();
        assert_eq!(back.values(CERT), der);
        assert!(back.values(SMIME).is_empty());

        // The same value set again: applied, with the service's "nothing modified" warning.
        let again = c
            .set_certificates(kind, &id, &[(CERT, &der)])
            .await
            .unwrap();
        assert_eq!(again.warnings.len(), 1, "{again:?}");
        assert_eq!(sim.writes_to(&id), 3);
    }
    let err = c
        .set_certificates(RecipientKind::Mailbox, "x", &[])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_mailbox_is_a_write_scope_error_with_its_request_id() {
    let sim = start(contoso());
    let c = client(&sim);
    let trudy = id_of(&sim, "trudy@contoso.test");
    let err = c
        .set_certificates(
            RecipientKind::Mailbox,
            &trudy,
            &[(CERT, &[pki("certs/alice.der")])],
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::WriteScope, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.status, Some(400));
    // The public capture's exception type; classified by the words of the message.
    assert_eq!(
        err.exception_type.as_deref(),
        Some("System.InvalidOperationException")
    );
    let entry = sim.log().into_iter().last().unwrap();
    assert_eq!(err.request_id.as_deref(), Some(entry.request_id.as_str()));
    assert!(err.to_string().contains(&entry.request_id));
    assert!(
        err.message.contains("Set-Mailbox") && err.message.contains("on-premises"),
        "{err}"
    );
    assert_eq!(sim.writes_to(&trudy), 0);
    assert_eq!(of(&sim.log(), "InvokeCommand").len(), 1, "not retried");
    // The same refusal under the error's own class name: the same class.
    sim.set_dialect(exo_simulator::Dialect {
        write_scope_exception: "RecipientTaskException".into(),
        ..exo_simulator::Dialect::default()
    });
    let err = c
        .set_certificates(RecipientKind::Mailbox, &trudy, &[(CERT, &[])])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::WriteScope, "{err}");
    assert_eq!(
        err.exception_type.as_deref(),
        Some("RecipientTaskException")
    );

    // Synced but cloud-managed: writable.
    let walter = id_of(&sim, "walter@contoso.test");
    c.set_certificates(
        RecipientKind::Mailbox,
        &walter,
        &[(CERT, &[pki("certs/alice.der")])],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_retry_after_and_the_write_applied_once() {
    let sim = start(contoso());
    let c = client(&sim);
    c.authenticate().await.unwrap();
    let dave = id_of(&sim, "dave@contoso.test");
    sim.add_fault(FaultRule::throttle(1).on_cmdlet("Set-Mailbox").times(2));
    let started = Instant::now();
    let receipt = c
        .set_certificates(
            RecipientKind::Mailbox,
            &dave,
            &[(CERT, &[pki("certs/dave.der")])],
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2),
        "Retry-After: 1 honoured twice: {elapsed:?}"
    );
    assert_eq!(receipt.attempts, 3);
    assert_eq!(sim.writes_to(&dave), 1);
    let statuses: Vec<_> = of(&sim.log(), "InvokeCommand")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [Some(429), Some(429), Some(200)]);
    assert_eq!(c.stats().retries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_dropped_connections_are_retried() {
    let sim = start(contoso());
    let c = client(&sim);
    let erin = id_of(&sim, "erin@contoso.test");
    sim.set_faults(vec![
        FaultRule::status(503).on_cmdlet("Set-Mailbox"),
        FaultRule::drop_before_write().on_cmdlet("Set-Mailbox"),
        FaultRule::status(500).on_cmdlet("Set-Mailbox"),
        FaultRule::status(502).on_cmdlet("Set-Mailbox"),
    ]);
    let der = vec![pki("certs/erin.der")];
    let receipt = c
        .set_certificates(RecipientKind::Mailbox, &erin, &[(CERT, &der)])
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 5);
    assert_eq!(receipt.ambiguous_failures, 4);
    assert!(receipt.confirmed_by_read_back.is_none());
    assert_eq!(sim.writes_to(&erin), 1, "applied exactly once");
    let calls: Vec<_> = of(&sim.log(), "InvokeCommand")
        .iter()
        .map(|e| (e.cmdlet.clone().unwrap(), e.status))
        .collect();
    let set = |s| ("Set-Mailbox".to_owned(), s);
    let get = ("Get-Mailbox".to_owned(), Some(200));
    // After each ambiguous failure the recipient is read back before the write is repeated.
    assert_eq!(
        calls,
        [
            set(Some(503)),
            get.clone(),
            set(None),
            get.clone(),
            set(Some(500)),
            get.clone(),
            set(Some(502)),
            get.clone(),
            set(Some(200))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_after_it_was_applied_is_confirmed_by_read_back_not_sent_again() {
    let sim = start(contoso());
    let c = client(&sim);
    let erin = id_of(&sim, "erin@contoso.test");
    let der = vec![pki("certs/erin.der")];
    sim.add_fault(
        FaultRule::drop_after_write()
            .on_cmdlet("Set-Mailbox")
            .always(),
    );
    let receipt = c
        .set_certificates(RecipientKind::Mailbox, &erin, &[(CERT, &der)])
        .await
        .unwrap();
    let back = receipt
        .confirmed_by_read_back
        .expect("confirmed by read-back");
    assert_eq!(back.values(CERT), der);
    assert_eq!(receipt.ambiguous_failures, 1);
    assert_eq!(sim.writes_to(&erin), 1, "sent once, never repeated");
    assert_eq!(sim.recipient(&erin).unwrap().user_certificate, der);
    // Clearing, dropped after it was applied: also confirmed, also sent once.
    let receipt = c
        .set_certificates(RecipientKind::Mailbox, &erin, &[(CERT, &[])])
        .await
        .unwrap();
    assert!(receipt.confirmed_by_read_back.is_some());
    assert_eq!(sim.writes_to(&erin), 2);
    assert!(sim.recipient(&erin).unwrap().user_certificate.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_second_page_is_dropped_still_returns_every_page() {
    // A read whose second page is dropped still returns every page.
    let sim = start(Tenant::synthetic(1500));
    let c = client(&sim);
    c.get_mailboxes().await.unwrap();
    sim.reset_stats();
    sim.set_faults(vec![FaultRule::delay(0), FaultRule::drop_before_write()]);
    let listing = c.get_mailboxes().await.unwrap();
    assert_eq!(listing.recipients.len(), 1500);
    assert_eq!(of(&sim.log(), "InvokeCommand").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_requests_are_retried_without_duplicates() {
    let sim = start(contoso());
    let mut cfg = config(&sim);
    cfg.request_timeout = Duration::from_millis(300);
    let c = ExoClient::new(cfg, pem_credential()).unwrap();
    c.authenticate().await.unwrap();
    let grace = id_of(&sim, "grace@contoso.test");
    sim.add_fault(FaultRule::delay(600).on_cmdlet("Set-Mailbox"));
    let receipt = c
        .set_certificates(
            RecipientKind::Mailbox,
            &grace,
            &[(CERT, &[pki("certs/grace.der")])],
        )
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 2);

    // The first New-MailContact times out (the simulator abandons a request whose
    // client went away; a real service might still complete it, and then the address
    // is taken and the late request refused): the client looks the contact up, finds
    // nothing, and creates it once.
    sim.add_fault(FaultRule::delay(600).on_cmdlet("New-MailContact"));
    let made = c
        .new_mail_contact("wanda", "Wanda", "wanda@fabrikam.test")
        .await
        .unwrap();
    assert_eq!(made.recipient.primary_smtp_address, "wanda@fabrikam.test");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let log = sim.log();
    let news: Vec<_> = log
        .iter()
        .filter(|e| e.cmdlet.as_deref() == Some("New-MailContact"))
        .collect();
    let lookups = log
        .iter()
        .filter(|e| e.cmdlet.as_deref() == Some("Get-MailContact"))
        .count();
    assert_eq!(lookups, 1, "looked up before repeating");
    assert_eq!(news.iter().filter(|e| e.applied).count(), 1, "{news:#?}");
    assert_eq!(
        sim.state()
            .recipients
            .iter()
            .filter(|r| r.primary_smtp_address() == "wanda@fabrikam.test")
            .count(),
        1
    );
    // The Set that timed out was applied late too: same value set, same state.
    assert_eq!(
        sim.recipient(&grace).unwrap().user_certificate,
        [pki("certs/grace.der")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_end_with_the_last_error() {
    let sim = start(contoso());
    let c = client(&sim);
    sim.add_fault(FaultRule::status(503).always());
    let err = c.get_mailboxes().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("gave up after 6 attempts"), "{err}");
    assert_eq!(err.status, Some(503));
    assert_eq!(of(&sim.log(), "InvokeCommand").len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_15_values_is_invalid() {
    let sim = start(contoso());
    let c = client(&sim);
    let bob = id_of(&sim, "bob@contoso.test");
    c.set_certificates(RecipientKind::Mailbox, &bob, &[(CERT, &values(15))])
        .await
        .unwrap();
    let err = c
        .set_certificates(RecipientKind::Mailbox, &bob, &[(SMIME, &values(16))])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid, "{err}");
    assert_eq!(
        err.exception_type.as_deref(),
        Some("DataValidationException")
    );
    assert!(err.request_id.is_some());
    assert!(err.message.contains("15"), "{err}");
    assert_eq!(sim.writes_to(&bob), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_and_permission_are_classified() {
    let sim = start(contoso());
    let c = client(&sim);
    let err = c
        .set_certificates(
            RecipientKind::MailUser,
            "nobody@contoso.test",
            &[(CERT, &[])],
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NotFound, "{err}");
    assert!(c
        .get_recipient(RecipientKind::Mailbox, "nobody@contoso.test")
        .await
        .unwrap()
        .is_none());
    // A mail user is not a mailbox.
    let frank = id_of(&sim, "frank@contoso.test");
    let err = c
        .set_certificates(RecipientKind::Mailbox, &frank, &[(CERT, &[])])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NotFound, "{err}");

    sim.modify_tenant(|t| t.apps[0].role = Role::ReadOnly("Global Reader".to_owned()));
    let err = c
        .set_certificates(RecipientKind::MailUser, &frank, &[(CERT, &[])])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Permission, "{err}");
    assert!(err.request_id.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_contact_and_its_certificates() {
    let sim = start(contoso());
    let c = client(&sim);
    let made = c
        .new_mail_contact("zoe", "Zoe Zimmer (Fabrikam)", "zoe@fabrikam.test")
        .await
        .unwrap();
    assert!(!made.found_after_ambiguous_failure);
    assert_eq!(made.recipient.kind, RecipientKind::MailContact);
    assert_eq!(made.recipient.primary_smtp_address, "zoe@fabrikam.test");
    assert_eq!(made.recipient.display_name, "Zoe Zimmer (Fabrikam)");
    let id = made.recipient.write_identity().to_owned();
    c.set_certificates(
        RecipientKind::MailContact,
        &id,
        &[(CERT, &[pki("certs/grace.der")])],
    )
    .await
    .unwrap();
    assert_eq!(
        sim.recipient("zoe@fabrikam.test").unwrap().user_certificate,
        [pki("certs/grace.der")]
    );

    // Creating it again is refused by the service, not retried.
    let err = c
        .new_mail_contact("zoe2", "Zoe", "SMTP:zoe@fabrikam.test")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid);
    assert_eq!(
        err.exception_type.as_deref(),
        Some("ProxyAddressExistsException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_contact_is_not_duplicated_after_a_dropped_connection() {
    let sim = start(contoso());
    let c = client(&sim);
    // The contact is created, then the connection drops: the client finds it by address.
    sim.add_fault(FaultRule::drop_after_write().on_cmdlet("New-MailContact"));
    let made = c
        .new_mail_contact("yves", "Yves", "yves@fabrikam.test")
        .await
        .unwrap();
    assert!(made.found_after_ambiguous_failure);
    assert_eq!(made.recipient.primary_smtp_address, "yves@fabrikam.test");
    // Dropped before anything happened, then throttled: created by the third attempt.
    sim.set_faults(vec![
        FaultRule::drop_before_write().on_cmdlet("New-MailContact"),
        FaultRule::status(503).on_cmdlet("New-MailContact"),
        FaultRule::throttle(0).on_cmdlet("New-MailContact"),
    ]);
    let made = c
        .new_mail_contact("xena", "Xena", "xena@fabrikam.test")
        .await
        .unwrap();
    assert!(!made.found_after_ambiguous_failure);

    let log = sim.log();
    let news: Vec<_> = log
        .iter()
        .filter(|e| e.cmdlet.as_deref() == Some("New-MailContact"))
        .collect();
    assert_eq!(news.iter().filter(|e| e.applied).count(), 2, "{news:#?}");
    let contacts: Vec<_> = sim
        .state()
        .recipients
        .into_iter()
        .filter(|r| r.kind == exo_simulator::RecipientKind::MailContact)
        .collect();
    assert_eq!(contacts.len(), 4);
    assert_eq!(
        contacts
            .iter()
            .filter(|r| r.primary_smtp_address() == "yves@fabrikam.test")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bound_is_never_exceeded_with_20ms_latency() {
    let sim = start_with(
        Tenant::synthetic(240),
        SimConfig {
            latency_ms: 20,
            ..SimConfig::default()
        },
    );
    let mut cfg = config(&sim);
    cfg.max_in_flight = 6;
    let c = ExoClient::new(cfg, pem_credential()).unwrap();
    let listing = c.get_mailboxes().await.unwrap();
    let der = pki("certs/alice.der");
    let started = Instant::now();
    // Callers ask for more (32) than the client allows (6): the client's bound holds.
    let results = ExoClient::run_bounded(listing.recipients.iter(), 32, |r| {
        let (c, der) = (c.clone(), der.clone());
        async move {
            c.set_certificates(
                RecipientKind::Mailbox,
                r.write_identity(),
                &[(CERT, &[der])],
            )
            .await
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    let peak = sim.max_concurrency();
    eprintln!("240 writes, bound 6, 20 ms latency: {elapsed:?}, peak {peak} in flight");
    assert!(peak <= 6, "peak {peak}");
    assert!(peak >= 2, "requests did overlap: {peak}");
    assert!(c.stats().max_in_flight_seen <= 6);
    assert_eq!(sim.write_counts().len(), 240);
    assert!(sim.write_counts().values().all(|&n| n == 1));
    // Serial would take at least 240 × 20 ms.
    assert!(elapsed < Duration::from_millis(240 * 20), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_concurrency_limit_is_throttling_and_retried() {
    let sim = start_with(
        Tenant::synthetic(30),
        SimConfig {
            latency_ms: 20,
            max_concurrent_requests: Some(2),
            ..SimConfig::default()
        },
    );
    let mut cfg = config(&sim);
    cfg.max_in_flight = 4;
    // Retry-After: 1 from the simulator is honoured; keep the test short with a 50 ms cap.
    cfg.retry.max_retry_after = Duration::from_millis(50);
    cfg.retry.max_attempts = 20;
    let c = ExoClient::new(cfg, pem_credential()).unwrap();
    let listing = c.get_mailboxes().await.unwrap();
    let results = ExoClient::run_bounded(listing.recipients.iter(), 4, |r| {
        let c = c.clone();
        async move {
            c.set_certificates(RecipientKind::Mailbox, r.write_identity(), &[(CERT, &[])])
                .await
        }
    })
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert!(sim.log().iter().any(|e| e.status == Some(429)));
    assert!(sim.write_counts().values().all(|&n| n == 1));
    assert_eq!(sim.write_counts().len(), 30);
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_accepts_assertions_from_every_credential_format() {
    let sim = start(contoso());
    let dir = tenant_dir();
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (pem, key) = (dir.join("app.pem"), dir.join("app.key"));
    let (pem_s, key_s) = (pem.to_str().unwrap(), key.to_str().unwrap());
    std::fs::write(t("pass"), "Encrypted-Key-Passw0rd").unwrap();
    let passfile = format!("file:{}", t("pass"));
    let password = Secret::new("Encrypted-Key-Passw0rd".to_owned());

    // PKCS#1 "RSA PRIVATE KEY", and the certificate and key in one file.
    openssl(&["rsa", "-in", key_s, "-traditional", "-out", &t("pkcs1.key")]);
    let mut both = std::fs::read(&pem).unwrap();
    both.extend(std::fs::read(t("pkcs1.key")).unwrap());
    std::fs::write(t("both.pem"), both).unwrap();
    // Encrypted PKCS#8 (PBES2, AES-256-CBC) and scrypt.
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        key_s,
        "-passout",
        &passfile,
        "-out",
        &t("enc.key"),
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-scrypt",
        "-in",
        key_s,
        "-passout",
        &passfile,
        "-out",
        &t("scrypt.key"),
    ]);
    // PFX as OpenSSL 3 writes it (PBES2/AES), and with legacy 3DES as Windows exports it.
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        pem_s,
        "-inkey",
        key_s,
        "-passout",
        &passfile,
        "-out",
        &t("new.pfx"),
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        pem_s,
        "-inkey",
        key_s,
        "-passout",
        &passfile,
        "-keypbe",
        "PBE-SHA1-3DES",
        "-certpbe",
        "PBE-SHA1-3DES",
        "-macalg",
        "sha1",
        "-out",
        &t("3des.pfx"),
    ]);

    let creds: Vec<(&str, Credential)> = vec![
        ("PEM + PKCS#8", pem_credential()),
        (
            "PEM + PKCS#1",
            Credential::from_file(&pem, Some(Path::new(&t("pkcs1.key"))), None).unwrap(),
        ),
        (
            "one PEM file",
            Credential::from_file(Path::new(&t("both.pem")), None, None).unwrap(),
        ),
        (
            "encrypted PKCS#8",
            Credential::from_file(&pem, Some(Path::new(&t("enc.key"))), Some(&password)).unwrap(),
        ),
        (
            "scrypt PKCS#8",
            Credential::from_file(&pem, Some(Path::new(&t("scrypt.key"))), Some(&password))
                .unwrap(),
        ),
        (
            "fixture PFX",
            Credential::from_file(&dir.join("app.pfx"), None, Some(&pfx_password())).unwrap(),
        ),
        (
            "OpenSSL 3 PFX",
            Credential::from_file(Path::new(&t("new.pfx")), None, Some(&password)).unwrap(),
        ),
        (
            "3DES PFX",
            Credential::from_file(Path::new(&t("3des.pfx")), None, Some(&password)).unwrap(),
        ),
    ];
    let x5t = pem_credential().x5t().to_owned();
    for (what, cred) in creds {
        assert_eq!(cred.x5t(), x5t, "{what}");
        let c = ExoClient::new(config(&sim), cred).unwrap();
        c.authenticate()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        c.get_mail_contacts()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    assert_eq!(of(&sim.log(), "token").len(), 8);

    // A PFX exported with an empty password (still a password: given as "").
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        pem_s,
        "-inkey",
        key_s,
        "-passout",
        "pass:",
        "-out",
        &t("empty.pfx"),
    ]);
    let empty = Secret::new(String::new());
    let cred = Credential::from_file(Path::new(&t("empty.pfx")), None, Some(&empty)).unwrap();
    assert_eq!(cred.x5t(), x5t);

    // Wrong passwords and missing ones say so.
    let wrong = Secret::new("nope".to_owned());
    let e = Credential::from_file(Path::new(&t("new.pfx")), None, Some(&wrong)).unwrap_err();
    assert!(e.to_string().contains("wrong password"), "{e}");
    let e = Credential::from_file(&pem, Some(Path::new(&t("enc.key"))), Some(&wrong)).unwrap_err();
    assert!(e.to_string().contains("wrong password"), "{e}");
    let e = Credential::from_file(&pem, Some(Path::new(&t("enc.key"))), None).unwrap_err();
    assert!(e.to_string().contains("needs its password"), "{e}");
    let e = Credential::from_file(Path::new(&t("new.pfx")), None, None).unwrap_err();
    assert!(e.to_string().contains("needs its password"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_certificate_is_an_auth_error_that_shows_no_secret() {
    let sim = start(contoso());
    let dir = tenant_dir();
    let foreign = Credential::from_file(
        &dir.join("foreign.pem"),
        Some(&dir.join("foreign.key")),
        None,
    )
    .unwrap();
    let c = ExoClient::new(config(&sim), foreign).unwrap();
    let err = c.get_mailboxes().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert!(
        err.message.contains("invalid_client") && err.message.contains("AADSTS"),
        "{err}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("eyJ"), "no JWT in the error: {shown}");
    assert!(!shown.contains("PRIVATE KEY"));
    assert_eq!(of(&sim.log(), "InvokeCommand").len(), 0);

    // A wrong client id too.
    let mut cfg = config(&sim);
    cfg.client_id = "00000000-0000-4000-8000-000000000000".to_owned();
    let err = ExoClient::new(cfg, pem_credential())
        .unwrap()
        .authenticate()
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("unauthorized_client"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_is_retried_when_unavailable() {
    let sim = start(contoso());
    sim.set_faults(vec![
        FaultRule::status(503).on_token(),
        FaultRule::drop_before_write().on_token(),
        FaultRule::throttle(0).on_token(),
    ]);
    let c = client(&sim);
    c.get_mail_users().await.unwrap();
    let statuses: Vec<_> = of(&sim.log(), "token").iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Some(503), None, Some(429), Some(200)]);
    assert_eq!(c.stats().token_requests, 4);

    // Unavailable for good: the token request is retried (6 attempts), the cmdlet never sent.
    let sim = start(contoso());
    sim.add_fault(FaultRule::status(503).on_token().always());
    let c = client(&sim);
    let err = c
        .set_certificates(RecipientKind::Mailbox, "x@contoso.test", &[(CERT, &[])])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert!(
        err.message.contains("gave up after 6 attempts") && err.message.contains("AADSTS"),
        "{err}"
    );
    assert_eq!(of(&sim.log(), "token").len(), 6);
    assert_eq!(of(&sim.log(), "InvokeCommand").len(), 0);
}

#[test]
fn plain_http_is_refused_unless_on_loopback_and_asked_for() {
    assert!(Endpoints::new("http://127.0.0.1:1", "http://127.0.0.1:1").is_err());
    assert!(
        Endpoints::dangerous_allow_http_loopback("http://192.0.2.1", "http://127.0.0.1:1").is_err()
    );
}
