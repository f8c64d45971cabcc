//! How one InvokeCommand request reaches Exchange Online: a permit from the
//! in-flight bound, a bearer token, the POST, the reply parsed, and retries
//! with backoff (and one re-authentication) for what may be repeated.
//!
//! Protocol: docs/exchange-wire-protocol.md ("InvokeCommand", "Errors").

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde_json::Value;

use super::super::auth::new_uuid;
use super::super::error::{ErrorClass, ExoError};
use super::super::http::{
    clock_skew_secs, header, read_body, retry_after, transport_error, MAX_RESPONSE_BYTES,
};
use super::ExoClient;

/// One successful InvokeCommand response.
pub(super) struct Reply {
    pub(super) value: Vec<Value>,
    pub(super) next_link: Option<String>,
    pub(super) warnings: Vec<String>,
    pub(super) request_id: Option<String>,
    pub(super) attempts: u32,
}

impl ExoClient {
    /// POSTs `body` to `url` until it succeeds, fails for good, or the retry
    /// policy gives up. Only for requests that are safe to repeat (reads, Set-*).
    pub(super) async fn invoke(&self, url: &Url, body: &Value) -> Result<Reply, ExoError> {
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let (result, generation) = self.send_once(url, body).await;
            let err = match result {
                // No request was sent: getting a token failed (after its own retries).
                Err(e) if generation.is_none() => return Err(e),
                Ok(mut reply) => {
                    reply.attempts = attempt + u32::from(reauthenticated);
                    return Ok(reply);
                }
                Err(e) => e,
            };
            match err.class {
                // The token expired or was revoked: a new one, once per request.
                ErrorClass::Unauthorized if !reauthenticated => {
                    reauthenticated = true;
                    self.reauthenticate(generation).await;
                    attempt -= 1;
                }
                ErrorClass::Unauthorized => return Err(refused_fresh_token(err)),
                _ if err.is_retryable() => match self.next_delay(attempt, err.retry_after) {
                    Some(d) => {
                        self.inner.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(d).await;
                    }
                    None => return Err(gave_up(err, attempt)),
                },
                _ => return Err(err),
            }
        }
    }

    pub(super) async fn reauthenticate(&self, generation: Option<u64>) {
        self.inner.reauthentications.fetch_add(1, Ordering::Relaxed);
        if let Some(g) = generation {
            self.inner.tokens.invalidate(g).await;
        }
    }

    pub(super) fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let mut jitter = self.inner.jitter.lock().unwrap_or_else(|p| p.into_inner());
        self.inner
            .retry
            .next_delay(attempt, retry_after, &mut jitter)
    }

    /// One HTTP attempt, holding a permit of the in-flight bound for its whole
    /// duration (the token request, if one is needed, included). Returns the
    /// token's generation so that a 401 invalidates exactly that token.
    pub(super) async fn send_once(
        &self,
        url: &Url,
        body: &Value,
    ) -> (Result<Reply, ExoError>, Option<u64>) {
        let inner = &self.inner;
        let Ok(_permit) = inner.permits.acquire().await else {
            return (
                Err(ExoError::new(
                    ErrorClass::Protocol,
                    "the client was shut down",
                )),
                None,
            );
        };
        let bearer = match inner.tokens.bearer().await {
            Ok(b) => b,
            Err(e) => return (Err(e), None),
        };
        let generation = Some(bearer.generation);
        let body_bytes = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => {
                return (
                    Err(ExoError::new(ErrorClass::Invalid, e.to_string())),
                    generation,
                )
            }
        };
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_in_flight_seen.fetch_max(now, Ordering::SeqCst);
        inner.invoke_requests.fetch_add(1, Ordering::Relaxed);
        let result = self.post(url, body_bytes, &bearer.value).await;
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        (result, generation)
    }

    pub(super) async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        token: &str,
    ) -> Result<Reply, ExoError> {
        let inner = &self.inner;
        let response = inner
            .http
            .post(url.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header("X-AnchorMailbox", &inner.anchor)
            .header("Prefer", &inner.prefer)
            .header("X-ResponseFormat", "json")
            .header(CONTENT_TYPE, "application/json")
            .header("client-request-id", new_uuid())
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.observe(status, &headers);
        let request_id = header(&headers, "request-id");
        let data = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|mut err| {
                err.request_id = request_id.clone();
                err.status = Some(status);
                err
            })?;
        if !(200..300).contains(&status) {
            return Err(ExoError::from_invoke_response(
                status,
                header(&headers, "x-ExceptionType").as_deref(),
                request_id,
                retry_after(&headers),
                &data,
            ));
        }
        parse_reply(&data, request_id)
    }

    /// Notes a response's status, throttling headers and clock.
    pub(super) fn observe(&self, status: u16, headers: &HeaderMap) {
        let mut o = self
            .inner
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *o.statuses.entry(status).or_default() += 1;
        for (name, value) in headers {
            let n = name.as_str();
            if n.starts_with("rate-limit") || n == "retry-after" {
                if let Ok(v) = value.to_str() {
                    o.throttling_headers.insert(n.to_owned(), v.to_owned());
                }
            }
        }
        if let Some(skew) = header(headers, "date").and_then(|d| clock_skew_secs(&d)) {
            if o.clock_skew_secs.is_none_or(|s| skew.abs() > s.abs()) {
                o.clock_skew_secs = Some(skew);
            }
        }
    }

    /// A next link as a URL on the Exchange endpoint's origin: the bearer token
    /// goes nowhere else.
    pub(super) fn checked_next_link(&self, link: &str) -> Result<Url, String> {
        let base = &self.inner.invoke_url;
        let url = base
            .join(link)
            .map_err(|e| format!("@odata.nextLink {link:?} is not a URL: {e}"))?;
        if url.origin() != base.origin() {
            return Err(format!(
                "@odata.nextLink {url} leaves {} (refused: it would carry the token elsewhere)",
                base.origin().ascii_serialization()
            ));
        }
        Ok(url)
    }
}

pub(super) fn parse_reply(data: &[u8], request_id: Option<String>) -> Result<Reply, ExoError> {
    let v: Value = serde_json::from_slice(data)
        .map_err(|e| protocol(format!("the response is not JSON: {e}"), &request_id))?;
    let Value::Object(mut obj) = v else {
        return Err(protocol(
            "the response is not a JSON object".into(),
            &request_id,
        ));
    };
    let value = match obj.remove("value") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(protocol("`value` is not an array".into(), &request_id)),
    };
    let next_link = match obj.remove("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(protocol(
                "`@odata.nextLink` is not a string".into(),
                &request_id,
            ))
        }
    };
    let warnings = match obj.remove("@adminapi.warnings") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|w| match w {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Reply {
        value,
        next_link,
        warnings,
        request_id,
        attempts: 1,
    })
}

pub(super) fn protocol(message: String, request_id: &Option<String>) -> ExoError {
    let mut e = ExoError::new(ErrorClass::Protocol, message);
    e.request_id = request_id.clone();
    e
}

pub(super) fn refused_fresh_token(err: ExoError) -> ExoError {
    err.context(
        "Exchange Online refused a freshly issued token (does the app have Exchange.ManageAsApp \
         with admin consent, and an Exchange role such as Exchange Recipient Administrator?)",
    )
}

pub(super) fn gave_up(err: ExoError, attempts: u32) -> ExoError {
    err.context(format_args!("gave up after {attempts} attempts"))
}
