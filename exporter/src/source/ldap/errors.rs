//! LDAP failures in words: connection errors, result codes, AD's bind sub-codes,
//! and the messages for bind, operation and search failures.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn connect_error(
    e: LdapError,
    server: &ServerUrl,
    starttls: bool,
    timeout: Duration,
    trust: Option<&TrustSource>,
) -> SourceError {
    let tls_what = if starttls {
        "StartTLS with"
    } else {
        "TLS with"
    };
    match e {
        LdapError::Timeout { .. } => SourceError::Connect(format!(
            "cannot connect to {server}: no answer within {} s (connect timeout)",
            timeout.as_secs_f64()
        )),
        LdapError::Io { source } => {
            if let Some(tls) = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                let trust = trust.cloned().unwrap_or(TrustSource::System);
                return SourceError::Tls(format!(
                    "{tls_what} {server} failed: {}",
                    describe_rustls(tls, &server.host, &trust)
                ));
            }
            if trust.is_some() && source.kind() == std::io::ErrorKind::UnexpectedEof {
                return SourceError::Tls(format!(
                    "{tls_what} {server} failed: the server closed the connection during the TLS handshake (is this an LDAPS port? a plain LDAP port needs ldap:// with StartTLS)"
                ));
            }
            SourceError::Connect(format!(
                "cannot connect to {server}: {}",
                io_reason(&source)
            ))
        }
        LdapError::Rustls { source } => {
            let trust = trust.cloned().unwrap_or(TrustSource::System);
            SourceError::Tls(format!(
                "{tls_what} {server} failed: {}",
                describe_rustls(&source, &server.host, &trust)
            ))
        }
        LdapError::DNSName { source } => SourceError::Tls(format!(
            "{tls_what} {server} failed: {} is not a valid TLS server name ({source})",
            server.host
        )),
        LdapError::LdapResult { result } if starttls => SourceError::Tls(format!(
            "{server} refused StartTLS: {}",
            result_text(&result)
        )),
        other => SourceError::Connect(format!("cannot connect to {server}: {other}")),
    }
}

pub(super) fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => {
            "connection refused (is the server running, is the port right?)".to_owned()
        }
        K::TimedOut => "connection timed out".to_owned(),
        K::ConnectionReset => "connection reset by the server".to_owned(),
        K::UnexpectedEof => "the server closed the connection".to_owned(),
        _ => {
            let s = e.to_string();
            if s.contains("failed to lookup address") || s.contains("Name or service not known") {
                format!("cannot resolve the host name ({s})")
            } else {
                s
            }
        }
    }
}

/// The LDAP result code's name.
pub(super) fn rc_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        81 => "serverDown",
        85 => "timeout",
        87 => "filterError",
        88 => "userCancelled",
        _ => "unknown",
    }
}

pub(super) fn result_text(r: &LdapResult) -> String {
    let text = r.text.trim().trim_end_matches('\0').trim();
    if text.is_empty() {
        format!("result {} ({})", r.rc, rc_name(r.rc))
    } else {
        format!("result {} ({}): {}", r.rc, rc_name(r.rc), one_line(text))
    }
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// AD's `data XXX` sub-code in an invalidCredentials diagnostic.
pub(super) fn ad_bind_subcode(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    let code = lower.split("data ").nth(1)?.split([',', ' ']).next()?;
    Some(match code {
        "525" => "no such user",
        "52e" => "invalid credentials",
        "530" => "logon not permitted at this time",
        "531" => "logon not permitted from this workstation",
        "532" => "password expired",
        "533" => "account disabled",
        "701" => "account expired",
        "773" => "the password must be changed at next logon",
        "775" => "account locked out",
        _ => return None,
    })
}

pub(super) fn bind_error(r: &LdapResult, who: &str, server: &ServerUrl, tls: bool) -> SourceError {
    let msg = match r.rc {
        49 => {
            let why = ad_bind_subcode(&r.text).unwrap_or("invalid credentials");
            format!("bind as {who} to {server} refused: {why}")
        }
        8 | 13 => {
            if tls {
                format!("bind as {who} to {server} refused: the server requires stronger authentication ({})", result_text(r))
            } else {
                format!(
                    "bind as {who} to {server} refused: the server requires TLS or signing for simple binds: use ldaps:// or -Z (StartTLS) ({})",
                    result_text(r)
                )
            }
        }
        53 => format!(
            "bind as {who} to {server} refused: the server is unwilling ({})",
            result_text(r)
        ),
        _ => format!("bind as {who} to {server} failed: {}", result_text(r)),
    };
    SourceError::Bind(msg)
}

/// An error during an operation after the connection stood.
pub(super) fn op_error(
    e: LdapError,
    server: &ServerUrl,
    what: &str,
    timeout: Duration,
) -> SourceError {
    match e {
        LdapError::Timeout { .. } => SourceError::Connect(format!(
            "{what} on {server}: no answer within {} s (operation timeout)",
            timeout.as_secs_f64()
        )),
        LdapError::EndOfStream
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. } => SourceError::Connect(format!(
            "{what} on {server}: the connection to the server was closed"
        )),
        LdapError::Io { source } => {
            SourceError::Connect(format!("{what} on {server}: {}", io_reason(&source)))
        }
        LdapError::FilterParsing => {
            SourceError::Search(format!("{what} on {server}: the LDAP filter is not valid"))
        }
        LdapError::LdapResult { result } => SourceError::Search(format!(
            "{what} on {server} failed: {}",
            result_text(&result)
        )),
        other => SourceError::Connect(format!("{what} on {server}: {other}")),
    }
}

pub(super) fn search_result_error(
    r: &LdapResult,
    server: &ServerUrl,
    base: &str,
    entries: u64,
) -> SourceError {
    let after = format!("after {entries} entries");
    SourceError::Search(match r.rc {
        4 => format!(
            "the search on {server} stopped with sizeLimitExceeded {after}: the server caps results for this account even with paging (slapd: olcSizeLimit size.prtotal; AD: MaxPageSize/MaxResultSetSize); use a page size of at most 1000, narrow the scope, or have the limit raised for the export account"
        ),
        3 => format!("the search on {server} stopped with timeLimitExceeded {after}: narrow the scope or have the server's time limit raised"),
        11 => format!("the search on {server} stopped with adminLimitExceeded {after}: lower the page size or narrow the scope ({})", result_text(r)),
        32 => format!("the base DN {base:?} does not exist on {server} (noSuchObject); check the base DN option"),
        34 => format!("the base DN {base:?} is not a valid DN ({})", result_text(r)),
        10 => format!(
            "{server} does not hold the base DN {base:?} and referred elsewhere ({}); connect to a server of that domain or use the global catalog",
            r.refs.join(" ")
        ),
        87 => format!("{server} rejected the LDAP filter (filterError): {}", result_text(r)),
        50 => format!("the search on {server} was refused: insufficient access rights ({})", result_text(r)),
        1 | 53 if r.text.contains("000004DC") || r.text.to_ascii_lowercase().contains("authentication required") => format!(
            "the search on {server} was refused: the server requires a bind (anonymous search is not allowed) ({})",
            result_text(r)
        ),
        _ => format!("the search on {server} failed {after}: {}", result_text(r)),
    })
}
