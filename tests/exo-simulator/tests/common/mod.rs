//! Helpers shared by the simulator's tests: a protocol-correct client over reqwest.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use exo_simulator::{jwt, tenant, SimConfig, SimHandle, Simulator, Tenant};
use serde_json::{json, Value};

pub const READ_ONLY_CLIENT_ID: &str = "9b2e7d14-5a3c-4e61-b8f0-7c4d2a1e6f35";

pub fn contoso() -> Tenant {
    Tenant::load(tenant::fixture_dir().join("contoso.json")).unwrap()
}

pub fn start() -> SimHandle {
    Simulator::start(contoso(), SimConfig::default()).unwrap()
}

pub fn app_key() -> Vec<u8> {
    let pem = std::fs::read_to_string(tenant::fixture_dir().join("app.key")).unwrap();
    jwt::pkcs8_der_from_pem(&pem).unwrap()
}

pub fn foreign_key() -> Vec<u8> {
    let pem = std::fs::read_to_string(tenant::fixture_dir().join("foreign.key")).unwrap();
    jwt::pkcs8_der_from_pem(&pem).unwrap()
}

pub fn app_cert() -> Vec<u8> {
    std::fs::read(tenant::fixture_dir().join("app.der")).unwrap()
}

pub fn foreign_cert() -> Vec<u8> {
    std::fs::read(tenant::fixture_dir().join("foreign.der")).unwrap()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn exception(&self) -> Option<String> {
        self.header("x-ExceptionType")
    }

    pub fn values(&self) -> Vec<Value> {
        self.body["value"].as_array().cloned().unwrap_or_default()
    }

    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .or(self.body["error_description"].as_str())
            .unwrap_or("")
            .to_owned()
    }
}

fn to_reply(r: reqwest::blocking::Response) -> Reply {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs a token request with these form fields.
pub fn token_request(url: &str, fields: &[(&str, &str)]) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    to_reply(
        http()
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap(),
    )
}

pub fn token_request_with(sim: &SimHandle, client_id: &str, assertion: &str) -> Reply {
    token_request(
        &sim.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", &sim.scope()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
}

pub fn assertion_for(sim: &SimHandle, client_id: &str) -> String {
    jwt::assertion(&app_key(), &app_cert(), client_id, &sim.token_url(), now()).unwrap()
}

/// A token for the importer app.
pub fn token(sim: &SimHandle) -> String {
    token_for(sim, &sim.client_id())
}

pub fn token_for(sim: &SimHandle, client_id: &str) -> String {
    let r = token_request_with(sim, client_id, &assertion_for(sim, client_id));
    assert_eq!(r.status, 200, "token: {:?}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// The protocol's headers for an InvokeCommand request.
pub fn protocol_headers(sim: &SimHandle, token: &str) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {token}")),
        ("X-AnchorMailbox".into(), sim.anchor_mailbox()),
        ("Prefer".into(), "odata.maxpagesize=1000".into()),
        ("X-ResponseFormat".into(), "json".into()),
        ("Content-Type".into(), "application/json".into()),
        ("client-request-id".into(), jwt::uuid_v4()),
    ]
}

pub fn body(cmdlet: &str, params: Value) -> String {
    json!({"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}).to_string()
}

/// POSTs `body` to `url` with these headers.
pub fn post(
    url: &str,
    headers: &[(String, String)],
    body: String,
) -> Result<Reply, reqwest::Error> {
    let mut req = http().post(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.body(body).send().map(to_reply)
}

/// Runs a cmdlet with the protocol's headers (first page only).
pub fn invoke(sim: &SimHandle, token: &str, cmdlet: &str, params: Value) -> Reply {
    try_invoke(sim, token, cmdlet, params).unwrap()
}

pub fn try_invoke(
    sim: &SimHandle,
    token: &str,
    cmdlet: &str,
    params: Value,
) -> Result<Reply, reqwest::Error> {
    post(
        &sim.invoke_url(),
        &protocol_headers(sim, token),
        body(cmdlet, params),
    )
}

/// `{"Data": base64}` values.
pub fn values(certs: &[&[u8]]) -> Value {
    use base64::Engine as _;
    Value::Array(
        certs
            .iter()
            .map(|c| json!({"Data": base64::engine::general_purpose::STANDARD.encode(c)}))
            .collect(),
    )
}

/// Values as the default dialect answers them: base64 strings (the public capture).
pub fn served(certs: &[&[u8]]) -> Value {
    use base64::Engine as _;
    Value::Array(
        certs
            .iter()
            .map(|c| json!(base64::engine::general_purpose::STANDARD.encode(c)))
            .collect(),
    )
}

pub fn pki(name: &str) -> Vec<u8> {
    std::fs::read(tenant::fixture_dir().join("../pki/certs").join(name)).unwrap()
}
