//! The HTTP side: routing, the token endpoint, InvokeCommand and the admin API.
//!
//! Admin API (no authentication, JSON):
//! - `GET /_sim/state`: the tenant (`Tenant::to_json`, certificate values as `{"Data": base64}`)
//! - `GET /_sim/log`: every request ([`crate::LogEntry`])
//! - `GET /_sim/stats`: `{"max_concurrency", "in_flight", "requests", "writes": {id: n}}`
//! - `POST /_sim/reset-stats`: clears log, write counts and the concurrency maximum
//! - `GET /_sim/faults`: queued rules; `POST` appends (a rule or an array), `PUT` replaces,
//!   `DELETE` empties ([`crate::FaultRule`] JSON)
//! - `POST /_sim/latency` `{"ms": N}`; `POST /_sim/token-lifetime` `{"seconds": N}`
//! - `POST /_sim/expire-tokens`: every token issued so far is expired

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::faults::{self, Endpoint, FaultAction, FaultRule};
use crate::jwt;
use crate::tenant::{Recipient, RecipientKind, Role, RECIPIENT_MEMBERS};
use crate::{
    LogEntry, Shared, Store, TokenInfo, ANCHOR_MAILBOX_PREFIX, DEFAULT_RESULT_SIZE, MAX_VALUES,
};

mod cmdlets;

const MAX_BODY: usize = 16 << 20;

type Resp = Response<Full<Bytes>>;

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let dropper = Arc::new(Notify::new());
                    let d = dropper.clone();
                    let svc = service_fn(move |req| handle(shared.clone(), req, d.clone()));
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    // A fault that drops the connection notifies; dropping `conn` closes the
                    // socket without a response.
                    tokio::select! {
                        _ = conn => {}
                        _ = dropper.notified() => {}
                    }
                });
            }
        }
    }
}

/// A response being built.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn exception_type(&self) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| *n == "x-ExceptionType")
            .map(|(_, v)| v.clone())
    }

    fn into_response(self, request_id: &str) -> Resp {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("request-id", v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        resp
    }
}

enum Outcome {
    Respond(Reply),
    Drop,
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    dropper: Arc<Notify>,
) -> Result<Resp, Infallible> {
    let request_id = jwt::uuid_v4();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return Ok(Reply::json(
                413,
                json!({"error": {"code": "RequestEntityTooLarge", "message": "request body over 16 MiB"}}),
            )
            .into_response(&request_id))
        }
    };
    // The request runs in a task of its own: like the real service, it finishes (and
    // applies its write) even when the client goes away while it is being processed.
    let client_request_id = parts.headers.get("client-request-id").cloned();
    let clock_offset = shared.lock().clock_offset_secs;
    let rid = request_id.clone();
    let outcome = match tokio::spawn(route(shared, parts, body, rid)).await {
        Ok(o) => o,
        Err(_) => Outcome::Respond(Reply::json(
            500,
            json!({"error": {"code": "InternalServerError", "message": "the simulator's handler panicked"}}),
        )),
    };
    match outcome {
        Outcome::Respond(reply) => {
            let mut resp = reply.into_response(&request_id);
            // Echoed, as Microsoft's services do.
            if let Some(c) = client_request_id {
                resp.headers_mut().insert("client-request-id", c);
            }
            let now = SystemTime::now();
            let date = if clock_offset >= 0 {
                now + Duration::from_secs(clock_offset.unsigned_abs())
            } else {
                now - Duration::from_secs(clock_offset.unsigned_abs())
            };
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(date)) {
                resp.headers_mut().insert(hyper::header::DATE, v);
            }
            Ok(resp)
        }
        Outcome::Drop => {
            dropper.notify_one();
            std::future::pending::<()>().await;
            unreachable!("pending() never completes")
        }
    }
}

async fn route(shared: Arc<Shared>, parts: Parts, body: Bytes, request_id: String) -> Outcome {
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    match segments[..] {
        ["", "_sim", ..] => Outcome::Respond(admin(&shared, &parts, &body, &segments[2..])),
        ["", tenant, "oauth2", "v2.0", "token"] => {
            token(&shared, &parts, &body, tenant, &request_id).await
        }
        ["", "adminapi", "beta", tenant, "InvokeCommand"] => {
            invoke(&shared, &parts, &body, tenant, &request_id).await
        }
        _ => Outcome::Respond(Reply::json(
            404,
            json!({"error": {"code": "NotFound", "message": format!("no endpoint {path}: the simulator serves /{{tenant}}/oauth2/v2.0/token, /adminapi/beta/{{tenant}}/InvokeCommand and /_sim/")}}),
        )),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn host(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
}

fn header<'p>(parts: &'p Parts, name: &str) -> Option<&'p str> {
    parts.headers.get(name).and_then(|h| h.to_str().ok())
}

fn media_type(parts: &Parts) -> Option<String> {
    header(parts, "content-type").map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

pub(crate) fn expire_tokens(store: &mut Store) {
    for t in store.tokens.values_mut() {
        t.expires_at = UNIX_EPOCH;
    }
}

fn push_log(shared: &Shared, mut entry: LogEntry) {
    let mut store = shared.lock();
    entry.seq = store.log.len() as u64 + 1;
    store.log.push(entry);
}

fn new_entry(endpoint: &str, request_id: &str, parts: &Parts) -> LogEntry {
    LogEntry {
        seq: 0,
        endpoint: endpoint.to_owned(),
        cmdlet: None,
        identity: None,
        parameters: String::new(),
        status: None,
        request_id: request_id.to_owned(),
        client_request_id: header(parts, "client-request-id").map(str::to_owned),
        error: None,
        fault: None,
        target: None,
        applied: false,
    }
}

/// Applies a fault rule that answers without processing; `None` = go on processing.
fn fault_reply(rule: &FaultRule, token_endpoint: bool, retry_after_on_429: bool) -> Option<Reply> {
    let FaultAction::Status {
        status,
        retry_after,
        exception_type,
        message,
    } = &rule.action
    else {
        return None;
    };
    let status = *status;
    let default_message = match status {
        429 => "Rate limit exceeded",
        500 => "An internal server error occurred. The operation failed.",
        502 => "Bad gateway",
        503 => "The service is currently unavailable. Please try again later.",
        504 => "Gateway timeout",
        _ => "Injected fault",
    };
    let message = message
        .clone()
        .unwrap_or_else(|| default_message.to_owned());
    let mut reply = if token_endpoint {
        Reply::json(
            status,
            json!({"error": if status == 429 { "temporarily_unavailable" } else { "server_error" },
                   "error_description": format!("AADSTS90033: {message}"), "error_codes": [90033]}),
        )
    } else {
        exo_error(status, exception_type.as_deref(), &message)
    };
    let retry_after = retry_after.or((status == 429 && retry_after_on_429).then_some(1));
    if let Some(s) = retry_after {
        reply = reply.header("Retry-After", s.to_string());
    }
    Some(reply)
}

// ---------------------------------------------------------------------------------------
// Token endpoint

fn aad_error(status: u16, error: &str, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {message}"),
            "error_codes": [code],
        }),
    )
    .header("Cache-Control", "no-store")
}

async fn token(
    shared: &Shared,
    parts: &Parts,
    body: &[u8],
    tenant: &str,
    request_id: &str,
) -> Outcome {
    let mut entry = new_entry("token", request_id, parts);
    let form: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    entry.identity = field("client_id").map(str::to_owned);
    let (latency, fault) = {
        let mut store = shared.lock();
        let fault = faults::take(
            &mut store.faults,
            Endpoint::Token,
            None,
            entry.identity.as_deref(),
        );
        (store.latency_ms, fault)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut drop_after = false;
    if let Some(rule) = &fault {
        entry.fault = serde_json::to_string(rule).ok();
        match &rule.action {
            FaultAction::DropBeforeWrite => {
                push_log(shared, entry);
                return Outcome::Drop;
            }
            FaultAction::DropAfterWrite => drop_after = true,
            FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            FaultAction::Status { .. } => {
                if let Some(reply) = fault_reply(rule, true, true) {
                    entry.status = Some(reply.status);
                    entry.error = reply.body["error"].as_str().map(str::to_owned);
                    push_log(shared, entry);
                    return Outcome::Respond(reply);
                }
            }
        }
    }
    let reply = if parts.method == Method::POST {
        issue_token(shared, parts, &form, tenant)
    } else {
        aad_error(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        )
    };
    entry.status = (!drop_after).then_some(reply.status);
    entry.error = reply.body["error"].as_str().map(str::to_owned);
    push_log(shared, entry);
    if drop_after {
        Outcome::Drop
    } else {
        Outcome::Respond(reply)
    }
}

const TOKEN_FIELDS: &[&str] = &[
    "grant_type",
    "client_id",
    "scope",
    "client_assertion_type",
    "client_assertion",
];

fn issue_token(shared: &Shared, parts: &Parts, form: &[(String, String)], tenant: &str) -> Reply {
    if media_type(parts).as_deref() != Some("application/x-www-form-urlencoded") {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded.",
        );
    }
    for (i, (k, _)) in form.iter().enumerate() {
        if !TOKEN_FIELDS.contains(&k.as_str()) {
            return aad_error(
                400,
                "invalid_request",
                900144,
                &format!(
                    "Unexpected parameter '{k}' (the certferry protocol sends exactly {})",
                    TOKEN_FIELDS.join(", ")
                ),
            );
        }
        if form[..i].iter().any(|(k2, _)| k2 == k) {
            return aad_error(
                400,
                "invalid_request",
                900144,
                &format!("Parameter '{k}' is repeated."),
            );
        }
    }
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    for name in TOKEN_FIELDS {
        if get(name).is_none_or(str::is_empty) {
            return aad_error(
                400,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{name}'."),
            );
        }
    }
    let grant_type = get("grant_type").unwrap_or("");
    if grant_type != "client_credentials" {
        return aad_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    if get("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return aad_error(
            400,
            "invalid_request",
            700023,
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        );
    }
    let Some(host) = host(parts) else {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request has no Host header.",
        );
    };
    let now = now_secs();
    let mut store = shared.lock();
    if !tenant.eq_ignore_ascii_case(&store.tenant.tenant_id) {
        return aad_error(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let client_id = get("client_id").unwrap_or("");
    let Some(app) = store
        .tenant
        .apps
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
        .cloned()
    else {
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    };
    let resource = format!("http://{host}");
    let scope = get("scope").unwrap_or("");
    if scope != format!("{resource}/.default") {
        return aad_error(
            400,
            "invalid_scope",
            70011,
            &format!("The provided value for the input parameter 'scope' is not valid. The scope '{scope}' is not the Exchange resource's '{resource}/.default'."),
        );
    }
    let audience = format!("http://{host}{}", parts.uri.path());
    let accepted = match jwt::verify(
        get("client_assertion").unwrap_or(""),
        &jwt::Expected {
            audience: &audience,
            client_id,
            certificate_der: &app.certificate_der,
            now,
        },
    ) {
        Ok(a) => a,
        Err(r) => return aad_error(401, "invalid_client", r.code, &r.message),
    };
    if !store
        .used_jtis
        .insert((app.client_id.clone(), accepted.jti.clone()))
    {
        return aad_error(
            401,
            "invalid_client",
            7000274,
            &format!(
                "The client assertion's jti '{}' was already used (a replayed assertion).",
                accepted.jti
            ),
        );
    }
    let lifetime = store.token_lifetime_secs;
    let access_token = format!("sim.{}", URL_SAFE_NO_PAD.encode(jwt::random_bytes::<32>()));
    store.tokens.insert(
        access_token.clone(),
        TokenInfo {
            client_id: app.client_id.clone(),
            resource,
            expires_at: SystemTime::now() + Duration::from_secs(lifetime),
        },
    );
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
               "access_token": access_token}),
    )
    .header("Cache-Control", "no-store")
}

// ---------------------------------------------------------------------------------------
// InvokeCommand

fn full_exception_name(t: &str) -> String {
    match t {
        "ParameterBindingException" => {
            "System.Management.Automation.ParameterBindingException".into()
        }
        "UnauthorizedAccessException" => "System.UnauthorizedAccessException".into(),
        "ManagementObjectNotFoundException" | "ManagementObjectAmbiguousException" => {
            format!("Microsoft.Exchange.Configuration.Tasks.{t}")
        }
        "RecipientTaskException" => {
            "Microsoft.Exchange.Management.Tasks.RecipientTaskException".into()
        }
        "DataValidationException" => "Microsoft.Exchange.Data.DataValidationException".into(),
        "ProxyAddressExistsException" | "ADObjectAlreadyExistsException" => {
            format!("Microsoft.Exchange.Data.Directory.{t}")
        }
        "InvalidRequestException" => {
            "Microsoft.Exchange.Admin.OData.Core.InvalidRequestException".into()
        }
        other => other.to_owned(),
    }
}

/// An error in the protocol's shape; `exception` becomes `x-ExceptionType`.
fn exo_error(status: u16, exception: Option<&str>, text: &str) -> Reply {
    let code = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "Error",
    };
    let (message, detail, kind) = match exception {
        Some(t) => {
            let full = full_exception_name(t);
            let string_id = format!(
                "Ex{:06X}",
                ring::digest::digest(&ring::digest::SHA256, t.as_bytes()).as_ref()[0] as u32
                    * 0x10101
            );
            (
                format!("|{full}|{text}"),
                format!("{string_id}|{full}|{text}"),
                Value::from(t),
            )
        }
        None => (text.to_owned(), text.to_owned(), Value::Null),
    };
    let mut inner = json!({
        "message": text,
        "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
    });
    if !kind.is_null() {
        inner["@Microsoft.Exchange.Admin.OData.Core.ODataServiceException.ExceptionType"] = kind;
    }
    let body = json!({"error": {
        "code": code,
        "message": message,
        "details": [{"code": "Context", "target": "", "message": detail}],
        "innererror": inner,
    }});
    let reply = Reply::json(status, body);
    match exception {
        Some(t) => reply.header("x-ExceptionType", t),
        None => reply,
    }
}

fn bad_request(text: impl AsRef<str>) -> Reply {
    exo_error(400, Some("InvalidRequestException"), text.as_ref())
}

fn binding(text: impl AsRef<str>) -> Reply {
    exo_error(400, Some("ParameterBindingException"), text.as_ref())
}

struct InFlight<'a>(&'a Shared, usize);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let level = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(level, Ordering::SeqCst);
        InFlight(shared, level)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn invoke(
    shared: &Shared,
    parts: &Parts,
    body: &[u8],
    tenant: &str,
    request_id: &str,
) -> Outcome {
    let guard = InFlight::enter(shared);
    let mut entry = new_entry("InvokeCommand", request_id, parts);
    let peek: Option<Value> = serde_json::from_slice(body).ok();
    let peek_str = |p: &str| {
        peek.as_ref()
            .and_then(|v| v.pointer(p))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    entry.cmdlet = peek_str("/CmdletInput/CmdletName");
    entry.identity = peek_str("/CmdletInput/Parameters/Identity")
        .or_else(|| peek_str("/CmdletInput/Parameters/ExternalEmailAddress"));
    let (latency, fault, retry_after_on_429) = {
        let mut store = shared.lock();
        let fault = faults::take(
            &mut store.faults,
            Endpoint::Invoke,
            entry.cmdlet.as_deref(),
            peek_str("/CmdletInput/Parameters/Identity").as_deref(),
        );
        (store.latency_ms, fault, store.dialect.retry_after_on_429)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut drop_after = false;
    if let Some(rule) = &fault {
        entry.fault = serde_json::to_string(rule).ok();
        match &rule.action {
            FaultAction::DropBeforeWrite => {
                push_log(shared, entry);
                return Outcome::Drop;
            }
            FaultAction::DropAfterWrite => drop_after = true,
            FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            FaultAction::Status { .. } => {
                if let Some(reply) = fault_reply(rule, false, retry_after_on_429) {
                    entry.status = Some(reply.status);
                    entry.error = reply.exception_type();
                    push_log(shared, entry);
                    return Outcome::Respond(reply);
                }
            }
        }
    }
    // Processing and logging under one lock: a test that sees the write also sees its
    // log entry.
    let mut store = shared.lock();
    let reply = match shared.config.max_concurrent_requests {
        Some(limit) if guard.1 > limit => {
            let r = exo_error(
                429,
                None,
                &format!("Maximum number of concurrent requests per tenant ({limit}) exceeded. Please retry after some time."),
            );
            if retry_after_on_429 {
                r.header("Retry-After", "1")
            } else {
                r
            }
        }
        _ => process(
            &mut store,
            shared.config.max_page_size,
            parts,
            body,
            tenant,
            &mut entry,
        ),
    };
    entry.status = (!drop_after).then_some(reply.status);
    entry.error = reply.exception_type();
    entry.seq = store.log.len() as u64 + 1;
    store.log.push(entry);
    drop(store);
    drop(guard);
    if drop_after {
        Outcome::Drop
    } else {
        Outcome::Respond(reply)
    }
}

#[derive(Clone, Copy)]
enum Cmd {
    Get(RecipientKind),
    Set(RecipientKind),
    NewContact,
    GetSmimeConfig,
    SetSmimeConfig,
}

fn cmdlet(name: &str) -> Option<(Cmd, &'static [&'static str])> {
    const GET: &[&str] = &["Identity", "ResultSize"];
    const SET: &[&str] = &["Identity", "UserCertificate", "UserSMimeCertificate"];
    const NEW: &[&str] = &["Name", "DisplayName", "ExternalEmailAddress"];
    const GET_SMIME: &[&str] = &["Identity"];
    const SET_SMIME: &[&str] = &["Identity", "SMIMECertificateIssuingCA"];
    Some(match name {
        "Get-Mailbox" => (Cmd::Get(RecipientKind::UserMailbox), GET),
        "Get-MailUser" => (Cmd::Get(RecipientKind::MailUser), GET),
        "Get-MailContact" => (Cmd::Get(RecipientKind::MailContact), GET),
        "Set-Mailbox" => (Cmd::Set(RecipientKind::UserMailbox), SET),
        "Set-MailUser" => (Cmd::Set(RecipientKind::MailUser), SET),
        "Set-MailContact" => (Cmd::Set(RecipientKind::MailContact), SET),
        "New-MailContact" => (Cmd::NewContact, NEW),
        "Get-SmimeConfig" => (Cmd::GetSmimeConfig, GET_SMIME),
        "Set-SmimeConfig" => (Cmd::SetSmimeConfig, SET_SMIME),
        _ => return None,
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_param<'v>(params: &'v Map<String, Value>, name: &str) -> Result<Option<&'v str>, Reply> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(v) => Err(binding(format!(
            "Cannot bind parameter '{name}': expected a non-empty string, got {}",
            json_kind(v)
        ))),
    }
}

fn process(
    store: &mut Store,
    max_page_size: usize,
    parts: &Parts,
    body: &[u8],
    tenant: &str,
    entry: &mut LogEntry,
) -> Reply {
    // Authentication.
    let unauthorized = |why: &str| {
        exo_error(401, None, why).header(
            "WWW-Authenticate",
            format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
        )
    };
    if parts.method != Method::POST {
        return exo_error(405, None, "InvokeCommand only accepts POST.").header("Allow", "POST");
    }
    let Some(host) = host(parts) else {
        return bad_request("The request has no Host header.");
    };
    let Some(token) = header(parts, "authorization").and_then(|a| a.strip_prefix("Bearer ")) else {
        return unauthorized("No Authorization: Bearer token.");
    };
    let Some(info) = store.tokens.get(token) else {
        return unauthorized("The access token is not valid.");
    };
    if SystemTime::now() >= info.expires_at {
        return unauthorized("The access token has expired.");
    }
    if info.resource != format!("http://{host}") {
        return unauthorized("The access token's audience is not this Exchange endpoint.");
    }
    if !tenant.eq_ignore_ascii_case(&store.tenant.tenant_id) {
        return unauthorized("The access token is not valid for this tenant.");
    }
    let client_id = info.client_id.clone();
    let role = store
        .tenant
        .apps
        .iter()
        .find(|a| a.client_id == client_id)
        .map(|a| a.role.clone())
        .unwrap_or(Role::None);

    // Protocol headers.
    let anchor = format!("{ANCHOR_MAILBOX_PREFIX}{tenant}");
    match header(parts, "x-anchormailbox") {
        Some(a) if a == anchor => {}
        Some(a) => return bad_request(format!("X-AnchorMailbox '{a}' is not '{anchor}'.")),
        None => {
            return bad_request(format!(
                "X-AnchorMailbox header missing (expected '{anchor}')."
            ))
        }
    }
    if media_type(parts).as_deref() != Some("application/json") {
        return bad_request(format!(
            "Content-Type must be application/json, not {:?}.",
            header(parts, "content-type")
        ));
    }
    if let Some(f) = header(parts, "x-responseformat") {
        if f != "json" {
            return bad_request(format!("X-ResponseFormat '{f}' is not supported (json)."));
        }
    }
    if let Some(c) = header(parts, "client-request-id") {
        if !crate::tenant::is_guid(c) {
            return bad_request(format!("client-request-id '{c}' is not a GUID."));
        }
    }
    let mut page_size = max_page_size.max(1);
    if let Some(prefer) = header(parts, "prefer") {
        for pref in prefer.split(',').map(str::trim) {
            if let Some(n) = pref.strip_prefix("odata.maxpagesize=") {
                match n.parse::<usize>() {
                    Ok(n) if n >= 1 => page_size = n.min(page_size),
                    _ => {
                        return bad_request(format!(
                            "Prefer: odata.maxpagesize '{n}' is not a positive integer."
                        ))
                    }
                }
            }
        }
    }

    // Query: $select and $skiptoken only.
    let mut select: Option<String> = None;
    let mut skiptoken: Option<String> = None;
    for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "$select" => &mut select,
            "$skiptoken" => &mut skiptoken,
            other => {
                return bad_request(format!(
                    "Query option '{other}' is not supported ($select, $skiptoken)."
                ))
            }
        };
        if slot.replace(v.into_owned()).is_some() {
            return bad_request(format!("Query option '{k}' is repeated."));
        }
    }
    let selected: Option<Vec<String>> = match &select {
        None => None,
        Some(s) => {
            let names: Vec<String> = s.split(',').map(|n| n.trim().to_owned()).collect();
            if let Some(bad) = names
                .iter()
                .find(|n| !RECIPIENT_MEMBERS.contains(&n.as_str()))
            {
                return bad_request(format!(
                    "Could not find a property named '{bad}' for $select."
                ));
            }
            Some(names)
        }
    };

    // Body.
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return bad_request("The request body is not JSON.");
    };
    let shape =
        "The body must be {\"CmdletInput\":{\"CmdletName\":\"<name>\",\"Parameters\":{…}}}.";
    let Some(outer) = doc.as_object().filter(|o| o.len() == 1) else {
        return bad_request(shape);
    };
    let Some(input) = outer.get("CmdletInput").and_then(Value::as_object) else {
        return bad_request(shape);
    };
    if input.len() != 2 {
        return bad_request(shape);
    }
    let (Some(name), Some(params)) = (
        input.get("CmdletName").and_then(Value::as_str),
        input.get("Parameters").and_then(Value::as_object),
    ) else {
        return bad_request(shape);
    };
    let Some((cmd, allowed)) = cmdlet(name) else {
        return binding(format!(
            "The term '{name}' is not recognized as a name of a cmdlet available through this \
             endpoint (Get-Mailbox, Get-MailUser, Get-MailContact, Set-Mailbox, Set-MailUser, \
             Set-MailContact, New-MailContact, Get-SmimeConfig, Set-SmimeConfig)."
        ));
    };
    if let Some(bad) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return binding(format!(
            "A parameter cannot be found that matches parameter name '{bad}'. ({name} takes {})",
            allowed.join(", ")
        ));
    }
    entry.parameters = params
        .iter()
        .map(|(k, v)| match v {
            Value::Array(a) => format!("{k}[{}]", a.len()),
            _ => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(t) = &skiptoken {
        entry.parameters.push_str(&format!(" page@{t}"));
    }

    let server = format!("SIM{}", &store.tenant.tenant_id[..8].to_ascii_uppercase());
    let context = format!(
        "http://{host}/adminapi/beta/{tenant}/$metadata#Collection(Exchange.GenericHashTable)"
    );
    let c = Call {
        name,
        params,
        role,
        host: &host,
        tenant,
        page_size,
        select: select.as_deref(),
        selected: selected.as_deref(),
        skiptoken: skiptoken.as_deref(),
        server,
        context,
    };
    match cmd {
        Cmd::Get(kind) => cmdlets::get(store, &c, kind),
        Cmd::Set(kind) => cmdlets::set(store, &c, kind, entry),
        Cmd::NewContact => cmdlets::new_contact(store, &c, entry),
        Cmd::GetSmimeConfig => cmdlets::get_smime_config(store, &c),
        Cmd::SetSmimeConfig => cmdlets::set_smime_config(store, &c, entry),
    }
}

/// What a cmdlet needs from an authenticated, well-formed request.
struct Call<'a> {
    name: &'a str,
    params: &'a Map<String, Value>,
    role: Role,
    host: &'a str,
    tenant: &'a str,
    page_size: usize,
    select: Option<&'a str>,
    selected: Option<&'a [String]>,
    skiptoken: Option<&'a str>,
    server: String,
    context: String,
}

fn forbidden(cmdlet: &str) -> Reply {
    exo_error(
        403,
        Some("UnauthorizedAccessException"),
        &format!(
            "The role assigned to the application isn't supported in this scenario, or doesn't \
             allow '{cmdlet}'. (Exchange Recipient Administrator is needed to write.)"
        ),
    )
}

fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@')
}

/// One recipient of `kind` named by `identity`; 404 (none, or only of another kind) or
/// ambiguous.
fn resolve(
    store: &Store,
    identity: &str,
    kind: RecipientKind,
    server: &str,
) -> Result<usize, Reply> {
    let found: Vec<usize> = store
        .lookup(identity)
        .into_iter()
        .filter(|&i| store.tenant.recipients[i].kind == kind)
        .collect();
    match found[..] {
        [i] => Ok(i),
        [] => Err(exo_error(
            404,
            Some("ManagementObjectNotFoundException"),
            &format!(
                "The operation couldn't be performed because object '{identity}' couldn't be \
                 found on '{server}'."
            ),
        )),
        _ => Err(exo_error(
            400,
            Some("ManagementObjectAmbiguousException"),
            &format!(
                "The operation couldn't be performed because '{identity}' matches multiple entries."
            ),
        )),
    }
}

fn project(r: &Recipient, selected: Option<&[String]>, dialect: &crate::Dialect) -> Value {
    let wire = r.to_wire_in(dialect);
    match (selected, wire) {
        // An annotation (`UserCertificate@odata.type`) goes with its member.
        (Some(names), Value::Object(m)) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| {
                    let member = k.split_once('@').map_or(k.as_str(), |(m, _)| m);
                    names.iter().any(|n| n == member)
                })
                .collect(),
        ),
        (_, w) => w,
    }
}

fn page_fingerprint(cmdlet: &str, params: &Map<String, Value>, select: Option<&str>) -> String {
    let canon = format!(
        "{cmdlet}\n{}\n{}",
        canonical(&Value::Object(params.clone())),
        select.unwrap_or("")
    );
    let d = ring::digest::digest(&ring::digest::SHA256, canon.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON with object keys sorted (whatever serde_json's map order is).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn make_skiptoken(offset: usize, fingerprint: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{fingerprint}"))
}

fn parse_skiptoken(token: &str, fingerprint: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut it = text.splitn(3, ':');
    if it.next()? != "v1" {
        return None;
    }
    let offset = it.next()?.parse().ok()?;
    (it.next()? == fingerprint).then_some(offset)
}

// ---------------------------------------------------------------------------------------
// Admin API

fn admin(shared: &Shared, parts: &Parts, body: &[u8], rest: &[&str]) -> Reply {
    let ok = || Reply::json(200, json!({"ok": true}));
    let bad = |m: String| Reply::json(400, json!({"error": m}));
    let parse_body = || serde_json::from_slice::<Value>(body).map_err(|e| format!("body: {e}"));
    let m = &parts.method;
    match (m, rest) {
        (&Method::GET, ["state"]) => Reply::json(200, shared.lock().tenant.to_json()),
        (&Method::GET, ["log"]) => Reply::json(200, json!(shared.lock().log)),
        (&Method::GET, ["stats"]) => {
            let store = shared.lock();
            Reply::json(
                200,
                json!({
                    "max_concurrency": shared.max_in_flight.load(Ordering::SeqCst),
                    "in_flight": shared.in_flight.load(Ordering::SeqCst),
                    "requests": store.log.len(),
                    "writes": store.writes,
                }),
            )
        }
        (&Method::POST, ["reset-stats"]) => {
            let mut store = shared.lock();
            store.log.clear();
            store.writes.clear();
            shared
                .max_in_flight
                .store(shared.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
            ok()
        }
        (&Method::GET, ["dialect"]) => Reply::json(200, json!(shared.lock().dialect)),
        (&Method::POST, ["clock-offset"]) => match parse_body().map(|v| v["seconds"].as_i64()) {
            Ok(Some(s)) => {
                shared.lock().clock_offset_secs = s;
                ok()
            }
            _ => bad("expected {\"seconds\": N}".into()),
        },
        (&Method::POST | &Method::PUT, ["dialect"]) => {
            match parse_body().and_then(|v| {
                serde_json::from_value::<crate::Dialect>(v).map_err(|e| format!("dialect: {e}"))
            }) {
                Ok(d) => {
                    let mut store = shared.lock();
                    store.dialect = d;
                    Reply::json(200, json!(store.dialect))
                }
                Err(e) => bad(e),
            }
        }
        (&Method::GET, ["faults"]) => Reply::json(200, json!(shared.lock().faults)),
        (&Method::DELETE, ["faults"]) => {
            shared.lock().faults.clear();
            ok()
        }
        (&Method::POST | &Method::PUT, ["faults"]) => {
            let v = match parse_body() {
                Ok(v) => v,
                Err(e) => return bad(e),
            };
            let rules: Result<Vec<FaultRule>, _> = if v.is_array() {
                serde_json::from_value(v)
            } else {
                serde_json::from_value(v).map(|r| vec![r])
            };
            match rules {
                Ok(rules) => {
                    let mut store = shared.lock();
                    if m == Method::PUT {
                        store.faults = rules;
                    } else {
                        store.faults.extend(rules);
                    }
                    Reply::json(200, json!(store.faults))
                }
                Err(e) => bad(format!("fault rule: {e}")),
            }
        }
        (&Method::POST, ["latency"]) => match parse_body().map(|v| v["ms"].as_u64()) {
            Ok(Some(ms)) => {
                shared.lock().latency_ms = ms;
                ok()
            }
            _ => bad("expected {\"ms\": N}".into()),
        },
        (&Method::POST, ["token-lifetime"]) => match parse_body().map(|v| v["seconds"].as_u64()) {
            Ok(Some(s)) => {
                shared.lock().token_lifetime_secs = s;
                ok()
            }
            _ => bad("expected {\"seconds\": N}".into()),
        },
        (&Method::POST, ["expire-tokens"]) => {
            expire_tokens(&mut shared.lock());
            ok()
        }
        _ => Reply::json(
            404,
            json!({"error": "unknown admin endpoint: GET state|log|stats|faults, POST \
                   reset-stats|faults|latency|token-lifetime|expire-tokens, PUT|DELETE faults"}),
        ),
    }
}
