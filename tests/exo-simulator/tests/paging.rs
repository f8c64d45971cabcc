//! Paging with `Prefer: odata.maxpagesize` and `@odata.nextLink`, and the synthetic tenant.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::*;
use exo_simulator::{SimConfig, Simulator, Tenant};
use serde_json::json;

fn headers_with_page(sim: &exo_simulator::SimHandle, t: &str, n: usize) -> Vec<(String, String)> {
    protocol_headers(sim, t)
        .into_iter()
        .map(|(k, v)| {
            if k == "Prefer" {
                (k, format!("odata.maxpagesize={n}"))
            } else {
                (k, v)
            }
        })
        .collect()
}

#[test]
fn pages_over_2500_recipients_with_maxpagesize_1000() {
    let sim = Simulator::start(Tenant::synthetic(2500), SimConfig::default()).unwrap();
    let t = token(&sim);
    let b = body("Get-Mailbox", json!({"ResultSize": "Unlimited"}));
    let headers = headers_with_page(&sim, &t, 1000);
    let mut url = sim.invoke_url();
    let mut sizes = Vec::new();
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    loop {
        let r = post(&url, &headers, b.clone()).unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.header("preference-applied").as_deref(),
            Some("odata.maxpagesize=1000")
        );
        sizes.push(r.values().len());
        for v in r.values() {
            assert!(seen.insert(v["ExternalDirectoryObjectId"].as_str().unwrap().to_owned()));
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&format!(
                        "{}/adminapi/beta/{}/InvokeCommand?",
                        sim.base_url(),
                        sim.tenant_id()
                    )),
                    "{next}"
                );
                assert!(next.contains("$skiptoken="));
                links.push(next.to_owned());
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(sizes, [1000, 1000, 500]);
    assert_eq!(seen.len(), 2500);
    assert_eq!(
        sim.recipient("bulk002500@contoso.test")
            .unwrap()
            .display_name,
        "Bulk User 2500"
    );

    // The nextLink needs the same body: another cmdlet, other parameters, or none fail.
    for other in [
        body("Get-MailUser", json!({"ResultSize": "Unlimited"})),
        body("Get-Mailbox", json!({})),
        body("Get-Mailbox", json!({"ResultSize": 2000})),
    ] {
        let r = post(&links[0], &headers, other).unwrap();
        assert_eq!(r.status, 400);
        assert!(r.message().contains("$skiptoken"), "{}", r.message());
    }
    // A forged token fails; the same link followed twice gives the same page.
    let forged = format!("{}?$skiptoken=djE6MTA6YWJj", sim.invoke_url());
    assert_eq!(post(&forged, &headers, b.clone()).unwrap().status, 400);
    let a = post(&links[0], &headers, b.clone()).unwrap();
    let again = post(&links[0], &headers, b.clone()).unwrap();
    assert_eq!(a.body["value"], again.body["value"]);
    // Smaller pages; larger requests are clamped to 1000.
    let r = post(
        &sim.invoke_url(),
        &headers_with_page(&sim, &t, 7),
        b.clone(),
    )
    .unwrap();
    assert_eq!(r.values().len(), 7);
    let r = post(
        &sim.invoke_url(),
        &headers_with_page(&sim, &t, 5000),
        b.clone(),
    )
    .unwrap();
    assert_eq!(r.values().len(), 1000);
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("odata.maxpagesize=1000")
    );
}

#[test]
fn select_is_kept_in_the_next_link() {
    let sim = Simulator::start(Tenant::synthetic(30), SimConfig::default()).unwrap();
    let t = token(&sim);
    let b = body("Get-Mailbox", json!({"ResultSize": "Unlimited"}));
    let url = format!(
        "{}?$select=ExternalDirectoryObjectId,PrimarySmtpAddress",
        sim.invoke_url()
    );
    let r = post(&url, &headers_with_page(&sim, &t, 20), b.clone()).unwrap();
    let next = r.body["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(next.contains("$select="));
    let r2 = post(&next, &headers_with_page(&sim, &t, 20), b.clone()).unwrap();
    assert_eq!(r2.values().len(), 10);
    assert_eq!(r2.values()[0].as_object().unwrap().len(), 2);
    // Dropping $select from the link is a different request.
    let stripped = next.split("&$select").next().unwrap();
    assert_eq!(
        post(stripped, &headers_with_page(&sim, &t, 20), b)
            .unwrap()
            .status,
        400
    );
}

#[test]
fn without_result_size_only_1000_come_back_with_the_warning() {
    let sim = Simulator::start(Tenant::synthetic(1200), SimConfig::default()).unwrap();
    let t = token(&sim);
    let headers = headers_with_page(&sim, &t, 600);
    let b = body("Get-Mailbox", json!({}));
    let r = post(&sim.invoke_url(), &headers, b.clone()).unwrap();
    assert_eq!(r.values().len(), 600);
    assert!(r.body.get("@adminapi.warnings").is_none());
    let r = post(r.body["@odata.nextLink"].as_str().unwrap(), &headers, b).unwrap();
    assert_eq!(r.values().len(), 400);
    assert!(r.body.get("@odata.nextLink").is_none());
    assert!(r.body["@adminapi.warnings"][0]
        .as_str()
        .unwrap()
        .contains("ResultSize Unlimited"));
    let r = invoke(&sim, &t, "Get-Mailbox", json!({"ResultSize": 3}));
    assert_eq!(r.values().len(), 3);
    assert!(r.body.get("@odata.nextLink").is_none());
}

#[test]
fn synthetic_100k_tenant_is_fast_and_indexed() {
    let started = Instant::now();
    let tenant = Tenant::synthetic(100_000);
    assert_eq!(tenant.recipients.len(), 100_000);
    let sim = Simulator::start(tenant, SimConfig::default()).unwrap();
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    let t = token(&sim);
    let write_started = Instant::now();
    let a = pki("alice.der");
    for i in (1..=100_000).step_by(5_000) {
        let r = invoke(
            &sim,
            &t,
            "Set-Mailbox",
            json!({"Identity": format!("bulk{i:06}@contoso.test"), "UserCertificate": values(&[&a])}),
        );
        assert_eq!(r.status, 200);
    }
    assert!(write_started.elapsed().as_secs() < 10);
    assert_eq!(sim.write_counts().len(), 20);
}
