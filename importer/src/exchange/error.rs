//! Errors from the token endpoint and InvokeCommand, classified as
//! docs/exchange-wire-protocol.md ("Errors") says, with Microsoft's request id kept.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// What kind of failure an [`ExoError`] is; decides whether it is retried and
/// what the operator is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 429, or "Maximum number of concurrent requests per tenant": retried after
    /// `Retry-After` (capped) or backoff.
    Throttled,
    /// 500/502/503/504, a dropped connection or a timeout: retried with backoff.
    Transient,
    /// 401 from InvokeCommand: the token expired or was revoked. The client gets a
    /// new token once; a second 401 is final.
    Unauthorized,
    /// 403 / `UnauthorizedAccessException`: the app lacks the role or the consent.
    Permission,
    /// 404 / `ManagementObjectNotFoundException`: no such recipient.
    NotFound,
    /// 400 `RecipientTaskException` "out of the current user's write scope": the
    /// object is synchronised from on-premises and not cloud-managed.
    WriteScope,
    /// 400 `DataValidationException` (e.g. more than 15 values),
    /// `ParameterBindingException`, or another 4xx refusal of the request.
    Invalid,
    /// The service answered something this client does not understand (not JSON,
    /// a missing member, a redirect, a next link to another host).
    Protocol,
    /// The token endpoint refused the credential (`invalid_client`, AADSTS codes),
    /// or the credential could not be used.
    Auth,
}

impl ErrorClass {
    /// A short lower-case name for logs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::Unauthorized => "unauthorized",
            Self::Permission => "permission",
            Self::NotFound => "not-found",
            Self::WriteScope => "write-scope",
            Self::Invalid => "invalid",
            Self::Protocol => "protocol",
            Self::Auth => "auth",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request to the token endpoint or to InvokeCommand.
///
/// The message never contains the client assertion, the token or the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExoError {
    /// What kind of failure it is.
    pub class: ErrorClass,
    /// What went wrong, from the service's error body where it sent one.
    pub message: String,
    /// Microsoft's `request-id` response header (for a support case), when there was a response.
    pub request_id: Option<String>,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The `Retry-After` the service asked for (uncapped; the retry policy caps it).
    pub retry_after: Option<Duration>,
    /// The `x-ExceptionType` header, when the service sent one.
    pub exception_type: Option<String>,
}

impl ExoError {
    /// An error of `class` with no response behind it.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            request_id: None,
            status: None,
            retry_after: None,
            exception_type: None,
        }
    }

    /// Whether retrying the same request may succeed: throttling and transient failures.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class, ErrorClass::Throttled | ErrorClass::Transient)
    }

    /// Classifies an InvokeCommand error response (status not 2xx) from its status,
    /// `x-ExceptionType` header and body.
    pub fn from_invoke_response(
        status: u16,
        exception_type: Option<&str>,
        request_id: Option<String>,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let message = error_message(body).unwrap_or_else(|| fallback_message(status, body));
        let class = classify(status, exception_type, &message);
        Self {
            class,
            message,
            request_id,
            status: Some(status),
            retry_after,
            exception_type: exception_type.map(str::to_owned),
        }
    }

    /// Prefixes the message with what was being done (the cmdlet, the identity).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for ExoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.message, self.class)?;
        if let Some(status) = self.status {
            write!(f, ", HTTP {status}")?;
        }
        if let Some(t) = &self.exception_type {
            write!(f, ", {t}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, ", request-id {id}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ExoError {}

/// The class of an InvokeCommand failure: the status first, refined by the
/// exception type and the message (the doc's table).
fn classify(status: u16, exception_type: Option<&str>, message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    let exception = exception_type.unwrap_or("");
    // The concurrency limit is throttling whatever status carries it.
    if status == 429
        || exception.eq_ignore_ascii_case("Rate limit exceeded")
        || lower.contains("maximum number of concurrent requests")
    {
        return ErrorClass::Throttled;
    }
    if lower.contains("out of the current user's write scope")
        || lower.contains("being synchronized from your on-premises organization")
    {
        return ErrorClass::WriteScope;
    }
    match exception {
        "ManagementObjectNotFoundException" => return ErrorClass::NotFound,
        "UnauthorizedAccessException" => return ErrorClass::Permission,
        "DataValidationException" | "ParameterBindingException" => return ErrorClass::Invalid,
        _ => {}
    }
    match status {
        401 => ErrorClass::Unauthorized,
        403 => ErrorClass::Permission,
        404 => ErrorClass::NotFound,
        408 | 500 | 502 | 503 | 504 => ErrorClass::Transient,
        400..=499 => ErrorClass::Invalid,
        _ => ErrorClass::Protocol,
    }
}

/// `error.message` plus any `details[].message` that adds something, from
/// `{"error":{"code":…,"message":…,"details":[{"message":…}]}}`.
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error")?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(code) = err.get("code").and_then(Value::as_str) {
        if !code.is_empty() {
            parts.push(format!("[{code}]"));
        }
    }
    let main = strip_exception_class(err.get("message").and_then(Value::as_str).unwrap_or(""));
    if !main.is_empty() {
        parts.push(main.to_owned());
    }
    if let Some(details) = err.get("details").and_then(Value::as_array) {
        for d in details {
            if let Some(m) = d.get("message").and_then(Value::as_str) {
                let text = strip_exception_class(m);
                if !text.is_empty() && !main.contains(text) {
                    parts.push(text.to_owned());
                }
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The text of a message the service prefixes with the exception class:
/// `|Class|text` (the message) or `stringId|Class|text` (a detail).
fn strip_exception_class(m: &str) -> &str {
    let mut parts = m.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(class), Some(text))
            if !id.contains(' ') && class.contains('.') && !class.contains(' ') =>
        {
            text.trim()
        }
        _ => m.trim(),
    }
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        let mut short: String = text.chars().take(300).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        format!("HTTP {status}: {short}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, exc: Option<&str>, body: &str) -> ExoError {
        ExoError::from_invoke_response(status, exc, Some("rid".into()), None, body.as_bytes())
    }

    #[test]
    fn classes_follow_the_table() {
        assert_eq!(
            err(429, Some("Rate limit exceeded"), "{}").class,
            ErrorClass::Throttled
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(err(s, None, "").class, ErrorClass::Transient, "{s}");
            assert!(err(s, None, "").is_retryable());
        }
        assert_eq!(err(401, None, "").class, ErrorClass::Unauthorized);
        assert_eq!(
            err(403, Some("UnauthorizedAccessException"), "").class,
            ErrorClass::Permission
        );
        assert_eq!(
            err(404, Some("ManagementObjectNotFoundException"), "").class,
            ErrorClass::NotFound
        );
        let scope = r#"{"error":{"code":"InternalServerError","message":"|Microsoft.Exchange.Management.Tasks.RecipientTaskException|An error occurred while updating a user object. The operation on mailbox \"x\" failed because it's out of the current user's write scope. The action 'Set-Mailbox', 'UserSMimeCertificate', can't be performed on the object 'x' because the object is being synchronized from your on-premises organization."}}"#;
        let e = err(400, Some("RecipientTaskException"), scope);
        assert_eq!(e.class, ErrorClass::WriteScope);
        assert!(!e.is_retryable());
        assert_eq!(e.request_id.as_deref(), Some("rid"));
        assert_eq!(
            err(400, Some("DataValidationException"), "").class,
            ErrorClass::Invalid
        );
        assert_eq!(
            err(400, Some("ParameterBindingException"), "").class,
            ErrorClass::Invalid
        );
        assert_eq!(
            err(400, Some("RecipientTaskException"), "{}").class,
            ErrorClass::Invalid
        );
    }

    #[test]
    fn concurrency_limit_is_throttling_whatever_the_status() {
        let body = r#"{"error":{"code":"x","message":"Maximum number of concurrent requests per tenant exceeded"}}"#;
        assert_eq!(err(500, None, body).class, ErrorClass::Throttled);
        // The wording a public client matches (GreyCorbel/ExoHelper), without Retry-After.
        let e = ExoError::from_invoke_response(
            503,
            None,
            None,
            None,
            b"You have reached the maximum number of concurrent requests per tenant. Please wait and try again.",
        );
        assert_eq!(e.class, ErrorClass::Throttled);
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn the_write_scope_refusal_is_told_by_its_words_under_any_exception_name() {
        let text = "The operation on mailbox \"x\" failed because it's out of the current user's write scope.";
        for exc in [
            Some("System.InvalidOperationException"),
            Some("RecipientTaskException"),
            Some("SomethingElseEntirely"),
            None,
        ] {
            let body = format!(r#"{{"error":{{"code":"BadRequest","message":"{text}"}}}}"#);
            assert_eq!(
                err(400, exc, &body).class,
                ErrorClass::WriteScope,
                "{exc:?}"
            );
        }
        let synced = r#"{"error":{"message":"can't be performed on the object 'x' because the object is being synchronized from your on-premises organization."}}"#;
        assert_eq!(
            err(400, Some("System.InvalidOperationException"), synced).class,
            ErrorClass::WriteScope
        );
        // The words decide, not the type name alone.
        assert_eq!(
            err(400, Some("System.InvalidOperationException"), "{}").class,
            ErrorClass::Invalid
        );
    }

    #[test]
    fn message_has_code_message_and_new_details() {
        let body = r#"{"error":{"code":"BadRequest","message":"The value is too long.","details":[{"message":"id|Microsoft.Exchange.Data.DataValidationException|More than 15 values."},{"message":"The value is too long."}]}}"#;
        let e = err(400, Some("DataValidationException"), body);
        assert_eq!(
            e.message,
            "[BadRequest] The value is too long. More than 15 values."
        );
        let prefixed = r#"{"error":{"code":"BadRequest","message":"|Microsoft.Exchange.Data.DataValidationException|Too many.","details":[{"message":"Ex6A6A6A|Microsoft.Exchange.Data.DataValidationException|Too many."}]}}"#;
        assert_eq!(
            err(400, Some("DataValidationException"), prefixed).message,
            "[BadRequest] Too many."
        );
        assert_eq!(strip_exception_class("a | b | c"), "a | b | c");
        let shown = e.to_string();
        assert!(
            shown.contains("invalid")
                && shown.contains("HTTP 400")
                && shown.contains("request-id rid"),
            "{shown}"
        );
    }

    #[test]
    fn non_json_bodies_are_shown_shortened() {
        let e = err(502, None, &"x".repeat(1000));
        assert!(e.message.starts_with("HTTP 502: xxx") && e.message.ends_with('…'));
        assert_eq!(err(503, None, "").message, "HTTP 503 with an empty body");
    }
}
