//! The token endpoint: a valid client assertion gets a token; every check refuses.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use exo_simulator::{jwt, SimConfig, Simulator};
use serde_json::{json, Value};

fn claims(sim: &exo_simulator::SimHandle) -> Value {
    let n = now();
    json!({"aud": sim.token_url(), "iss": sim.client_id(), "sub": sim.client_id(),
           "jti": jwt::uuid_v4(), "nbf": n, "iat": n, "exp": n + 600})
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "JWT", "x5t": jwt::x5t(&app_cert())})
}

fn refused(sim: &exo_simulator::SimHandle, header: &Value, claims: &Value, key: &[u8]) -> Reply {
    let assertion = jwt::sign(key, header, claims).unwrap();
    let r = token_request_with(sim, &sim.client_id(), &assertion);
    assert!(r.status == 400 || r.status == 401, "{r:?}", r = r.body);
    assert!(r.header("request-id").is_some());
    r
}

#[test]
fn valid_assertion_gets_a_token_with_the_protocol_shape() {
    let sim = start();
    let r = token_request_with(
        &sim,
        &sim.client_id(),
        &assertion_for(&sim, &sim.client_id()),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert_eq!(r.body["ext_expires_in"], 3599);
    assert!(r.body["access_token"].as_str().unwrap().len() > 20);
    assert!(exo_simulator::tenant::is_guid(
        &r.header("request-id").unwrap()
    ));
    // The token works.
    let token = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        invoke(
            &sim,
            token,
            "Get-Mailbox",
            json!({"ResultSize": "Unlimited"})
        )
        .status,
        200
    );
}

#[test]
fn fixture_ids_and_certificate_match_the_library_constants() {
    let t = contoso();
    assert_eq!(t.tenant_id, exo_simulator::tenant::FIXTURE_TENANT_ID);
    assert_eq!(
        t.apps[0].client_id,
        exo_simulator::tenant::FIXTURE_CLIENT_ID
    );
    assert_eq!(t.apps[0].certificate_der, app_cert());
    let synthetic = exo_simulator::Tenant::synthetic(3);
    assert_eq!(synthetic.apps[0].certificate_der, app_cert());
    assert_eq!(jwt::x5t(&app_cert()), "6dDgdVLPNE1BRTCJK6pYj3w0wV8");
}

#[test]
fn wrong_x5t_is_refused() {
    let sim = start();
    let mut h = header();
    h["x5t"] = jwt::x5t(&foreign_cert()).into();
    let r = refused(&sim, &h, &claims(&sim), &foreign_key());
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert!(r.message().starts_with("AADSTS700027:"), "{}", r.message());
    assert!(r.message().contains("not registered"), "{}", r.message());
    // No x5t at all.
    let h = json!({"alg": "RS256", "typ": "JWT"});
    assert!(refused(&sim, &h, &claims(&sim), &app_key())
        .message()
        .contains("x5t"));
}

#[test]
fn bad_signature_is_refused() {
    let sim = start();
    // Right x5t, signed with another key.
    let r = refused(&sim, &header(), &claims(&sim), &foreign_key());
    assert_eq!(r.status, 401);
    assert!(
        r.message().contains("signature validation"),
        "{}",
        r.message()
    );
    // A valid assertion with one byte of the claims changed.
    let good = assertion_for(&sim, &sim.client_id());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut c = claims(&sim);
    c["jti"] = "tampered".into();
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
    let r = token_request_with(&sim, &sim.client_id(), &parts.join("."));
    assert_eq!(r.status, 401);
    assert!(r.message().contains("signature validation"));
    // Not RS256.
    let mut h = header();
    h["alg"] = "PS256".into();
    assert!(refused(&sim, &h, &claims(&sim), &app_key())
        .message()
        .contains("PS256"));
    // Garbage.
    let r = token_request_with(&sim, &sim.client_id(), "not.a.jwt");
    assert_eq!(r.status, 401);
    assert!(r.message().starts_with("AADSTS50027"));
}

#[test]
fn wrong_audience_is_refused() {
    let sim = start();
    for aud in [
        "https://login.microsoftonline.com/6f1c2b7e-0c55-4d7a-9a3e-2b8f4c1d7e90/oauth2/v2.0/token"
            .to_owned(),
        format!("{}/", sim.token_url()),
        sim.base_url(),
    ] {
        let mut c = claims(&sim);
        c["aud"] = aud.clone().into();
        let r = refused(&sim, &header(), &c, &app_key());
        assert!(r.message().contains("audience"), "{aud}: {}", r.message());
    }
}

#[test]
fn expired_future_and_too_long_assertions_are_refused() {
    let sim = start();
    let n = now();
    let cases = [
        (
            "expired",
            json!({"nbf": n - 700, "iat": n - 700, "exp": n - 100}),
        ),
        ("exp more than 10 minutes ahead", json!({"exp": n + 1200})),
        ("nbf in the future", json!({"nbf": n + 300, "iat": n})),
        ("iat in the future", json!({"iat": n + 300})),
    ];
    for (what, patch) in cases {
        let mut c = claims(&sim);
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        let r = refused(&sim, &header(), &c, &app_key());
        assert!(
            r.message().starts_with("AADSTS700024"),
            "{what}: {}",
            r.message()
        );
    }
    for missing in ["exp", "nbf", "iat", "jti", "aud", "iss", "sub"] {
        let mut c = claims(&sim);
        c.as_object_mut().unwrap().remove(missing);
        let r = refused(&sim, &header(), &c, &app_key());
        assert!(r.message().contains(missing), "{missing}: {}", r.message());
    }
}

#[test]
fn reused_jti_is_refused() {
    let sim = start();
    let c = claims(&sim);
    let a1 = jwt::sign(&app_key(), &header(), &c).unwrap();
    assert_eq!(token_request_with(&sim, &sim.client_id(), &a1).status, 200);
    // The same assertion again, and a new assertion with the same jti.
    let r = token_request_with(&sim, &sim.client_id(), &a1);
    assert_eq!(r.status, 401);
    assert!(r.message().contains("already used"), "{}", r.message());
    let mut c2 = c.clone();
    c2["exp"] = (now() + 500).into();
    let r = refused(&sim, &header(), &c2, &app_key());
    assert!(r.message().contains("already used"));
}

#[test]
fn client_id_scope_tenant_and_form_are_checked() {
    let sim = start();
    let assertion = assertion_for(&sim, &sim.client_id());
    let ct = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let url = sim.token_url();
    let scope = sim.scope();
    let cid = sim.client_id();
    let base: Vec<(&str, &str)> = vec![
        ("grant_type", "client_credentials"),
        ("client_id", &cid),
        ("scope", &scope),
        ("client_assertion_type", ct),
        ("client_assertion", &assertion),
    ];
    let with = |k: &str, v: &str| -> Vec<(String, String)> {
        base.iter()
            .map(|(a, b)| {
                (
                    a.to_string(),
                    if *a == k { v.to_owned() } else { b.to_string() },
                )
            })
            .collect()
    };
    let send = |fields: Vec<(String, String)>| {
        let f: Vec<(&str, &str)> = fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        token_request(&url, &f)
    };
    let r = send(with("scope", "https://outlook.office365.com/.default"));
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let r = send(with("scope", &format!("{}/.default/", sim.base_url())));
    assert_eq!(r.status, 400);
    let r = send(with("grant_type", "password"));
    assert_eq!(r.body["error"], "unsupported_grant_type");
    let r = send(with("client_id", "00000000-0000-0000-0000-000000000000"));
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let r = send(with("client_assertion_type", "jwt"));
    assert_eq!(r.status, 400);
    // iss/sub must be the client id in the form: the read-only app's id with an assertion
    // made for the importer's.
    let r = send(with("client_id", READ_ONLY_CLIENT_ID));
    assert_eq!(r.status, 401);
    assert!(r.message().starts_with("AADSTS700021"), "{}", r.message());
    // Missing, unknown and repeated fields.
    let mut fields = with("", "");
    fields.retain(|(k, _)| k != "scope");
    assert!(send(fields).message().contains("'scope'"));
    let mut fields = with("", "");
    fields.push(("resource".into(), sim.base_url()));
    assert!(send(fields).message().contains("resource"));
    let mut fields = with("", "");
    fields.push(("client_id".into(), cid.clone()));
    assert!(send(fields).message().contains("repeated"));
    // Wrong tenant in the path (the assertion's aud then is that URL).
    let other = url.replace(&sim.tenant_id(), "11111111-2222-3333-4444-555555555555");
    let f: Vec<(&str, &str)> = base.clone();
    let r = token_request(&other, &f);
    assert!(r.message().starts_with("AADSTS90002"), "{}", r.message());
    // Not form-encoded.
    let r = http()
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Nothing of the refusals was issued; the original assertion still works.
    let r = send(with("", ""));
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[test]
fn tokens_expire_after_their_lifetime_and_on_demand() {
    let sim = Simulator::start(
        contoso(),
        SimConfig {
            token_lifetime_secs: 1,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let r = token_request_with(
        &sim,
        &sim.client_id(),
        &assertion_for(&sim, &sim.client_id()),
    );
    assert_eq!(r.body["expires_in"], 1);
    let t = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(invoke(&sim, &t, "Get-MailUser", json!({})).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = invoke(&sim, &t, "Get-MailUser", json!({}));
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    assert!(r.message().contains("expired"));

    sim.set_token_lifetime(3599);
    let t = token(&sim);
    assert_eq!(invoke(&sim, &t, "Get-MailUser", json!({})).status, 200);
    sim.expire_tokens();
    assert_eq!(invoke(&sim, &t, "Get-MailUser", json!({})).status, 401);
    let t2 = token(&sim);
    assert_eq!(invoke(&sim, &t2, "Get-MailUser", json!({})).status, 200);
    // Through the admin API.
    let r = http()
        .post(format!("{}/_sim/expire-tokens", sim.base_url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(invoke(&sim, &t2, "Get-MailUser", json!({})).status, 401);
    // Unknown and missing tokens.
    assert_eq!(
        invoke(&sim, "sim.nonsense", "Get-MailUser", json!({})).status,
        401
    );
}

#[test]
fn token_for_another_host_is_refused_at_invoke() {
    // Scope names the resource; a token for http://127.0.0.1:P is not valid at http://localhost:P.
    let sim = start();
    let t = token(&sim);
    let url = sim.invoke_url().replace("127.0.0.1", "localhost");
    let r = post(
        &url,
        &protocol_headers(&sim, &t),
        body("Get-Mailbox", json!({})),
    )
    .unwrap();
    assert_eq!(r.status, 401);
}
