//! HTTP helpers shared by the token client (`auth.rs`) and the REST client
//! (`client.rs`): header reading, bounded bodies, `Retry-After`, the clock
//! skew a `Date` header shows, and transport errors.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::error::{ErrorClass, ExoError};

/// A header's value, trimmed; `None` when absent, empty or not text.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Largest response body accepted. A page of 1000 recipients with two full
/// attributes of 15 certificates of 4 KiB is about 160 MiB of JSON; anything
/// beyond this is not a response this client can use.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Reads a response body, refusing one larger than `limit` bytes.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ExoError> {
    let too_large = || {
        ExoError::new(
            ErrorClass::Protocol,
            format!("the response is larger than {limit} bytes"),
        )
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut data = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if data.len() + chunk.len() > limit {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// The service's `Date` (an HTTP-date) minus this machine's clock, in seconds.
pub(crate) fn clock_skew_secs(date: &str) -> Option<i64> {
    let theirs = httpdate::parse_http_date(date).ok()?;
    let secs = |t: std::time::SystemTime| -> Option<i64> {
        let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(d.as_secs()).ok()
    };
    Some(secs(theirs)? - secs(std::time::SystemTime::now())?)
}

/// `Retry-After` in seconds (an HTTP-date is ignored: the protocol sends seconds,
/// and without it the client falls back to its backoff).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = header(headers, "retry-after")?;
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// A failure below HTTP: no usable response. Retryable (the request may or may
/// not have reached the service) unless it is a local mistake.
pub(crate) fn transport_error(e: &reqwest::Error) -> ExoError {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !chain.contains(&s_text) {
            chain.push_str(": ");
            chain.push_str(&s_text);
        }
        source = s.source();
    }
    let class = if e.is_builder() || e.is_redirect() {
        ErrorClass::Protocol
    } else {
        ErrorClass::Transient
    };
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed or dropped"
    };
    ExoError::new(class, format!("{what}: {chain}"))
}
