//! Fault injection fires exactly as configured; latency; the concurrency counter and limit;
//! the admin API; the binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use exo_simulator::{FaultAction, FaultRule, SimConfig, Simulator};
use serde_json::{json, Value};

fn set_bob(sim: &exo_simulator::SimHandle, t: &str) -> Result<Reply, reqwest::Error> {
    try_invoke(
        sim,
        t,
        "Set-Mailbox",
        json!({"Identity": "bob@contoso.test", "UserCertificate": values(&[&pki("bob.der")])}),
    )
}

#[test]
fn throttling_429_fires_exactly_n_times_with_retry_after() {
    let sim = start();
    let t = token(&sim);
    sim.add_fault(FaultRule::throttle(7).on_cmdlet("Set-Mailbox").times(2));
    // Other cmdlets are not affected.
    assert_eq!(invoke(&sim, &t, "Get-Mailbox", json!({})).status, 200);
    for _ in 0..2 {
        let r = set_bob(&sim, &t).unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after").as_deref(), Some("7"));
        assert!(r.message().contains("Rate limit exceeded"));
        assert!(r.header("request-id").is_some());
        assert_eq!(r.body["error"]["code"], "TooManyRequests");
    }
    assert_eq!(sim.writes_to("bob@contoso.test"), 0);
    assert!(sim.faults().is_empty());
    assert_eq!(set_bob(&sim, &t).unwrap().status, 200);
    assert_eq!(sim.writes_to("bob@contoso.test"), 1);
    let log: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|e| e.endpoint == "InvokeCommand")
        .collect();
    let statuses: Vec<Option<u16>> = log.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Some(200), Some(429), Some(429), Some(200)]);
    assert!(log[1].fault.as_deref().unwrap().contains("429"));
    assert_eq!(sim.log()[0].endpoint, "token");
}

#[test]
fn queue_order_identity_filter_and_5xx() {
    let sim = start();
    let t = token(&sim);
    sim.set_faults(vec![
        FaultRule::status(503).on_identity("alice@contoso.test"),
        FaultRule::status(500).times(2),
        FaultRule::status(403).exception_type("UnauthorizedAccessException"),
    ]);
    // bob does not match rule 1: rule 2 fires (twice), then rule 3, then nothing.
    let r = set_bob(&sim, &t).unwrap();
    assert_eq!(r.status, 500);
    assert!(r.exception().is_none());
    assert_eq!(set_bob(&sim, &t).unwrap().status, 500);
    let r = set_bob(&sim, &t).unwrap();
    assert_eq!(
        (r.status, r.exception().as_deref()),
        (403, Some("UnauthorizedAccessException"))
    );
    assert_eq!(set_bob(&sim, &t).unwrap().status, 200);
    // The alice rule is still queued and fires for her (case-insensitively).
    assert_eq!(sim.faults().len(), 1);
    let r = invoke(
        &sim,
        &t,
        "Get-Mailbox",
        json!({"Identity": "ALICE@contoso.test"}),
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error"]["code"], "ServiceUnavailable");
    assert!(r.header("retry-after").is_none());
    assert_eq!(
        invoke(
            &sim,
            &t,
            "Get-Mailbox",
            json!({"Identity": "alice@contoso.test"})
        )
        .status,
        200
    );
    // A permanent rule.
    sim.add_fault(FaultRule::status(502).on_cmdlet("Get-MailUser").always());
    for _ in 0..3 {
        assert_eq!(invoke(&sim, &t, "Get-MailUser", json!({})).status, 502);
    }
    assert_eq!(sim.faults()[0].count, None);
    sim.clear_faults();
    assert_eq!(invoke(&sim, &t, "Get-MailUser", json!({})).status, 200);
}

#[test]
fn dropped_connection_before_the_write_applies_nothing() {
    let sim = start();
    let t = token(&sim);
    sim.add_fault(FaultRule::drop_before_write().on_cmdlet("Set-Mailbox"));
    let err = set_bob(&sim, &t).unwrap_err();
    assert!(!err.is_status(), "{err}");
    assert_eq!(sim.writes_to("bob@contoso.test"), 0);
    assert!(sim
        .recipient("bob@contoso.test")
        .unwrap()
        .user_certificate
        .is_empty());
    let last = sim.log().pop().unwrap();
    assert_eq!((last.status, last.applied), (None, false));
    // The retry goes through, once.
    assert_eq!(set_bob(&sim, &t).unwrap().status, 200);
    assert_eq!(sim.writes_to("bob@contoso.test"), 1);
}

#[test]
fn dropped_connection_after_the_write_applies_it() {
    let sim = start();
    let t = token(&sim);
    sim.add_fault(FaultRule::drop_after_write().on_cmdlet("Set-Mailbox"));
    let err = set_bob(&sim, &t).unwrap_err();
    assert!(!err.is_status(), "{err}");
    assert_eq!(sim.writes_to("bob@contoso.test"), 1);
    assert_eq!(
        sim.recipient("bob@contoso.test").unwrap().user_certificate,
        vec![pki("bob.der")]
    );
    let last = sim.log().pop().unwrap();
    assert_eq!((last.status, last.applied), (None, true));
    // New-MailContact too: the contact exists, a blind retry is refused as a duplicate.
    sim.add_fault(FaultRule::drop_after_write().on_cmdlet("New-MailContact"));
    let params = json!({"Name": "judy", "DisplayName": "Judy Jones", "ExternalEmailAddress": "SMTP:judy@contoso.test"});
    assert!(try_invoke(&sim, &t, "New-MailContact", params.clone()).is_err());
    assert!(sim.recipient("judy@contoso.test").is_some());
    let r = invoke(&sim, &t, "New-MailContact", params);
    assert_eq!(
        r.exception().as_deref(),
        Some("ProxyAddressExistsException")
    );
}

#[test]
fn token_endpoint_faults() {
    let sim = start();
    sim.add_fault(FaultRule::status(503).on_token());
    sim.add_fault(FaultRule::drop_before_write().on_token());
    let a = assertion_for(&sim, &sim.client_id());
    let r = token_request_with(&sim, &sim.client_id(), &a);
    assert_eq!(r.status, 503);
    assert!(r.body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS"));
    // The fault fired before the assertion was looked at: its jti is still unused...
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("grant_type", "client_credentials")])
        .finish();
    assert!(http()
        .post(sim.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .is_err());
    // ...and InvokeCommand rules do not touch the token endpoint.
    sim.add_fault(FaultRule::status(500).always());
    assert_eq!(token_request_with(&sim, &sim.client_id(), &a).status, 200);
}

#[test]
fn latency_is_added_to_every_request() {
    let sim = Simulator::start(
        contoso(),
        SimConfig {
            latency_ms: 150,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let started = Instant::now();
    let t = token(&sim);
    invoke(&sim, &t, "Get-MailUser", json!({}));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    sim.set_latency(Duration::ZERO);
    sim.add_fault(FaultRule::delay(600).on_cmdlet("Get-MailContact"));
    let started = Instant::now();
    assert_eq!(invoke(&sim, &t, "Get-MailContact", json!({})).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(600));
    let started = Instant::now();
    invoke(&sim, &t, "Get-MailContact", json!({}));
    assert!(started.elapsed() < Duration::from_millis(500));
}

fn parallel(sim: &Arc<exo_simulator::SimHandle>, t: &str, n: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (sim, t, barrier) = (sim.clone(), t.to_owned(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                invoke(&sim, &t, "Get-MailUser", json!({})).status
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrency_counter_sees_parallel_requests() {
    let sim = Arc::new(
        Simulator::start(
            contoso(),
            SimConfig {
                latency_ms: 800,
                ..SimConfig::default()
            },
        )
        .unwrap(),
    );
    let t = token(&sim);
    // One at a time: 1.
    invoke(&sim, &t, "Get-MailUser", json!({}));
    invoke(&sim, &t, "Get-MailUser", json!({}));
    assert_eq!(sim.max_concurrency(), 1);
    sim.reset_stats();
    assert_eq!(sim.max_concurrency(), 0);
    let statuses = parallel(&sim, &t, 6);
    assert!(statuses.iter().all(|s| *s == 200));
    assert_eq!(sim.max_concurrency(), 6);
    assert_eq!(sim.in_flight(), 0);
    let stats: Value = serde_json::from_str(
        &http()
            .get(format!("{}/_sim/stats", sim.base_url()))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["max_concurrency"], 6);
    assert_eq!(stats["requests"], 6);
}

#[test]
fn concurrency_limit_answers_429() {
    let sim = Arc::new(
        Simulator::start(
            contoso(),
            SimConfig {
                latency_ms: 800,
                max_concurrent_requests: Some(2),
                ..SimConfig::default()
            },
        )
        .unwrap(),
    );
    let t = token(&sim);
    let mut statuses = parallel(&sim, &t, 5);
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429, 429, 429]);
    let throttled = sim
        .log()
        .into_iter()
        .find(|e| e.status == Some(429))
        .unwrap();
    assert!(throttled.fault.is_none());
}

#[test]
fn admin_api_configures_faults_latency_and_token_lifetime() {
    let sim = start();
    let t = token(&sim);
    let base = sim.base_url();
    let rules = json!([
        {"cmdlet": "Set-Mailbox", "count": 1, "action": {"kind": "status", "status": 429, "retry_after": 3}},
        {"action": {"kind": "drop_after_write"}, "cmdlet": "Set-Mailbox", "count": 1}
    ]);
    let r = http()
        .post(format!("{base}/_sim/faults"))
        .body(rules.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sim.faults().len(), 2);
    assert_eq!(sim.faults()[1].action, FaultAction::DropAfterWrite);
    let listed: Value = serde_json::from_str(
        &http()
            .get(format!("{base}/_sim/faults"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let mut expected = rules.clone();
    for r in expected.as_array_mut().unwrap() {
        r["endpoint"] = "invoke".into();
    }
    assert_eq!(listed, expected);
    let r = set_bob(&sim, &t).unwrap();
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (429, Some("3"))
    );
    assert!(set_bob(&sim, &t).is_err());
    assert_eq!(set_bob(&sim, &t).unwrap().status, 200);
    assert_eq!(sim.writes_to("bob@contoso.test"), 2);
    // PUT replaces, DELETE clears, bad rules are refused.
    let one = json!({"action": {"kind": "status", "status": 500}});
    http()
        .put(format!("{base}/_sim/faults"))
        .body(one.to_string())
        .send()
        .unwrap();
    assert_eq!(sim.faults().len(), 1);
    http().delete(format!("{base}/_sim/faults")).send().unwrap();
    assert!(sim.faults().is_empty());
    let r = http()
        .post(format!("{base}/_sim/faults"))
        .body(r#"{"action":{"kind":"explode"}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Latency and token lifetime.
    http()
        .post(format!("{base}/_sim/latency"))
        .body(r#"{"ms":120}"#)
        .send()
        .unwrap();
    let started = Instant::now();
    invoke(&sim, &t, "Get-MailUser", json!({}));
    assert!(started.elapsed() >= Duration::from_millis(120));
    http()
        .post(format!("{base}/_sim/latency"))
        .body(r#"{"ms":0}"#)
        .send()
        .unwrap();
    http()
        .post(format!("{base}/_sim/token-lifetime"))
        .body(r#"{"seconds":42}"#)
        .send()
        .unwrap();
    let r = token_request_with(
        &sim,
        &sim.client_id(),
        &assertion_for(&sim, &sim.client_id()),
    );
    assert_eq!(r.body["expires_in"], 42);
    // Log over HTTP.
    let log: Value = serde_json::from_str(
        &http()
            .get(format!("{base}/_sim/log"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(log.as_array().unwrap().len(), sim.log().len());
    http()
        .post(format!("{base}/_sim/reset-stats"))
        .send()
        .unwrap();
    assert!(sim.log().is_empty() && sim.write_counts().is_empty());
}

#[test]
fn binary_prints_its_endpoints_and_serves_until_killed() {
    let fixture = exo_simulator::tenant::fixture_dir().join("contoso.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exo-simulator"))
        .args([
            "--tenant",
            fixture.to_str().unwrap(),
            "--latency-ms",
            "1",
            "--token-lifetime",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(info["tenant_id"], exo_simulator::tenant::FIXTURE_TENANT_ID);
    assert_eq!(info["client_id"], exo_simulator::tenant::FIXTURE_CLIENT_ID);
    let base = info["base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"));
    let state: Value = serde_json::from_str(
        &http()
            .get(format!("{base}/_sim/state"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["recipients"].as_array().unwrap().len(), 18);
    // A real token from the binary.
    let token_url = info["token_url"].as_str().unwrap();
    let a = exo_simulator::jwt::assertion(
        &app_key(),
        &app_cert(),
        exo_simulator::tenant::FIXTURE_CLIENT_ID,
        token_url,
        now(),
    )
    .unwrap();
    let r = token_request(
        token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", exo_simulator::tenant::FIXTURE_CLIENT_ID),
            ("scope", info["scope"].as_str().unwrap()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
        ],
    );
    assert_eq!((r.status, r.body["expires_in"].as_u64()), (200, Some(60)));
    child.kill().unwrap();
    child.wait().unwrap();
    // Bad arguments.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exo-simulator"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let sim = start();
    let url = format!("{}/_sim/state", sim.base_url());
    assert!(http().get(&url).send().is_ok());
    drop(sim);
    assert!(http().get(&url).send().is_err());
}

#[test]
fn sustained_parallel_writes_are_each_counted_once() {
    let sim = Arc::new(
        Simulator::start(
            exo_simulator::Tenant::synthetic(2000),
            SimConfig {
                latency_ms: 20,
                ..SimConfig::default()
            },
        )
        .unwrap(),
    );
    let t = token(&sim);
    let cert = pki("alice.der");
    let workers = 8;
    let per_worker = 40;
    let barrier = Arc::new(Barrier::new(workers));
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (sim, t, barrier, cert) = (sim.clone(), t.clone(), barrier.clone(), cert.clone());
            std::thread::spawn(move || {
                let client = http();
                barrier.wait();
                for i in 0..per_worker {
                    let n = 1 + w * per_worker + i;
                    let b = body("Set-Mailbox", json!({"Identity": format!("bulk{n:06}@contoso.test"), "UserCertificate": values(&[&cert])}));
                    let mut req = client.post(sim.invoke_url());
                    for (k, v) in protocol_headers(&sim, &t) {
                        req = req.header(k, v);
                    }
                    assert_eq!(req.body(b).send().unwrap().status().as_u16(), 200);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = started.elapsed();
    let counts = sim.write_counts();
    assert_eq!(counts.len(), workers * per_worker);
    assert!(counts.values().all(|&n| n == 1));
    assert!(
        sim.max_concurrency() <= workers && sim.max_concurrency() >= 2,
        "{}",
        sim.max_concurrency()
    );
    // 320 requests of >= 20 ms each: parallel, far below the 6.4 s a single worker needs.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_client_that_gives_up_mid_request_still_gets_its_write_applied() {
    // Like the real service: the cmdlet runs to completion even when the client times out
    // or is killed; only the response is lost.
    let sim = Simulator::start(
        contoso(),
        SimConfig {
            latency_ms: 600,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let t = token(&sim);
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let mut req = impatient.post(sim.invoke_url());
    for (k, v) in protocol_headers(&sim, &t) {
        req = req.header(k, v);
    }
    let b = body(
        "Set-Mailbox",
        json!({"Identity": "bob@contoso.test", "UserCertificate": values(&[&pki("bob.der")])}),
    );
    let err = req.body(b).send().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(sim.writes_to("bob@contoso.test"), 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.writes_to("bob@contoso.test") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sim.writes_to("bob@contoso.test"), 1);
    let last = sim.log().pop().unwrap();
    assert_eq!((last.status, last.applied), (Some(200), true));
}
