//! LDAP source: reads users' (and contacts') certificates from Active Directory,
//! Samba AD or OpenLDAP over `ldaps://` or `ldap://` (+ StartTLS), with a paged
//! subtree search, streaming one entry at a time.
//!
//! Built on ldap3's asynchronous API driven by a private current-thread Tokio
//! runtime (the synchronous `EntryStream` borrows the connection, so range
//! retrieval could not issue its follow-up searches in the middle of a paged
//! search, and a struct could not hold both). Entries are decoded from the raw
//! BER here instead of through `SearchEntry::construct`, which panics on
//! malformed input, splits binary and UTF-8 values of one attribute into two
//! maps and reorders them: every value comes out as the exact bytes the server
//! sent, in the server's order.
//!
//! TLS is rustls (ring): the root store comes from the CA file, else
//! `LDAPTLS_CACERT` (like OpenLDAP's tools), else the system roots.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::{StructureTag, PL};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, SearchStream};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use super::{ldap_panic, DirectorySource, RawEntry, Scope, SourceError};
use crate::secret::Secret;

/// The attributes requested for each object. `userCertificate;binary` is asked
/// for as well because OpenLDAP only hands certificate-syntax values out under
/// that name; AD and Samba return plain `userCertificate`.
pub const ATTRIBUTES: &[&str] = &[
    "objectGUID",
    "objectSid",
    "userPrincipalName",
    "sAMAccountName",
    "mail",
    "proxyAddresses",
    "displayName",
    "userAccountControl",
    "objectClass",
    "userCertificate",
    "userCertificate;binary",
    "userSMIMECertificate",
    "distinguishedName",
];

/// The default page size of the paged search.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// The largest page size (AD's MaxPageSize).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Bind {
    /// No bind at all (AD and Samba refuse anonymous searches).
    Anonymous,
    /// Simple bind. The name is passed to the server as given: a DN, a UPN
    /// (`admin@contoso.test`) or a down-level name (`CONTOSO\admin`).
    Simple {
        /// The bind name.
        name: String,
        /// The password (never printed).
        password: Secret,
    },
    /// SASL GSSAPI (Kerberos) with the caller's ticket cache (`kinit` first).
    /// The service principal is `ldap/<host of the URL>`, so use the server's
    /// DNS name, not an address.
    #[cfg(feature = "gssapi")]
    Gssapi,
}

impl Bind {
    fn who(&self) -> String {
        match self {
            Bind::Anonymous => "anonymous".to_owned(),
            Bind::Simple { name, .. } => name.clone(),
            #[cfg(feature = "gssapi")]
            Bind::Gssapi => "the Kerberos ticket holder (GSSAPI)".to_owned(),
        }
    }
}

/// Where and how to read.
#[derive(Debug, Clone)]
pub struct LdapOptions {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// StartTLS on an `ldap://` URL (`ldapsearch -Z`); refused with `ldaps://`.
    pub starttls: bool,
    /// PEM (or DER) CA certificates to trust. When `None`: the file named by
    /// `LDAPTLS_CACERT`, else the system roots.
    pub ca_file: Option<PathBuf>,
    /// How to authenticate.
    pub bind: Bind,
    /// The search base; `None` reads `defaultNamingContext` (or the first
    /// `namingContexts` value) from the RootDSE.
    pub base: Option<String>,
    /// Which objects to read.
    pub scope: Scope,
    /// Entries per page, 1..=1000.
    pub page_size: u32,
    /// Limit for TCP connect, TLS handshake and StartTLS together.
    pub connect_timeout: Duration,
    /// Limit for each operation (bind, each search reply).
    pub operation_timeout: Duration,
}

impl LdapOptions {
    /// Options with the defaults: no StartTLS, no CA file, anonymous, base from
    /// the RootDSE, users only, page size 500, 10 s connect, 120 s operations.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind: Bind::Anonymous,
            base: None,
            scope: Scope::default(),
            page_size: DEFAULT_PAGE_SIZE,
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(120),
        }
    }
}

/// Builds the search filter for a scope (see the module documentation of the
/// exporter for why `objectCategory=person` is not used: slapd cannot do it).
pub fn build_filter(scope: &Scope) -> Result<String, SourceError> {
    const HAS_CERT: &str = "(|(userCertificate=*)(userSMIMECertificate=*))";
    let users = format!("(&(objectClass=user)(!(objectClass=computer)){HAS_CERT})");
    let mut objects = if scope.contacts {
        format!("(|{users}(&(objectClass=contact){HAS_CERT}))")
    } else {
        users
    };
    let mut parts = Vec::new();
    if !scope.include_disabled {
        parts.push("(!(userAccountControl:1.2.840.113556.1.4.803:=2))".to_owned());
    }
    if let Some(extra) = &scope.extra_filter {
        let extra = extra.trim();
        if !is_parenthesised(extra) {
            return Err(SourceError::Search(format!(
                "the extra LDAP filter {extra:?} must be enclosed in parentheses, e.g. (department=Sales)"
            )));
        }
        parts.push(extra.to_owned());
    }
    if !parts.is_empty() {
        objects = format!("(&{objects}{})", parts.concat());
    }
    Ok(objects)
}

/// True when `s` is one parenthesised expression: starts with `(`, ends with
/// the `)` that closes it (escaped parentheses in values are `\28`/`\29`).
fn is_parenthesised(s: &str) -> bool {
    if !s.starts_with('(') || !s.ends_with(')') {
        return false;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
                if depth == 0 && i != s.len() - 1 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// The parts of an LDAP URL this source uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerUrl {
    tls: bool,
    host: String,
    port: u16,
}

impl ServerUrl {
    fn parse(url: &str) -> Result<Self, SourceError> {
        let bad = |why: &str| SourceError::Connect(format!("invalid LDAP URL {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "ldaps://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "ldap://") {
            (false, r)
        } else {
            return Err(bad("use ldap://host[:port] or ldaps://host[:port]"));
        };
        let hostport = rest.strip_suffix('/').unwrap_or(rest);
        if hostport.contains(['/', '?', '@', ' ']) {
            return Err(bad(
                "give only a host and an optional port (the base DN is a separate option)",
            ));
        }
        let default_port = if tls { 636 } else { 389 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("unexpected text after ]")),
            };
            (format!("[{addr}]"), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("bad port"))?,
            None => default_port,
        };
        Ok(Self { tls, host, port })
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "ldaps" } else { "ldap" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// Where the trusted CA certificates came from (named in TLS errors).
#[derive(Debug, Clone)]
enum TrustSource {
    File(PathBuf),
    EnvFile(PathBuf),
    System,
}

impl fmt::Display for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::File(p) => write!(f, "the CA file {}", p.display()),
            TrustSource::EnvFile(p) => write!(f, "LDAPTLS_CACERT={}", p.display()),
            TrustSource::System => f.write_str("the system's trusted CAs"),
        }
    }
}

fn load_ca_file(
    path: &Path,
    source: &TrustSource,
) -> Result<Vec<CertificateDer<'static>>, SourceError> {
    let bytes =
        std::fs::read(path).map_err(|e| SourceError::Tls(format!("cannot read {source}: {e}")))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| SourceError::Tls(format!("cannot parse {source} as PEM: {e}")))?;
    if !certs.is_empty() {
        return Ok(certs);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    Err(SourceError::Tls(format!(
        "{source} holds no PEM certificate"
    )))
}

fn root_store(
    ca_file: Option<&Path>,
    env_cacert: Option<std::ffi::OsString>,
) -> Result<(rustls::RootCertStore, TrustSource), SourceError> {
    let (certs, source) = if let Some(p) = ca_file {
        let source = TrustSource::File(p.to_owned());
        (load_ca_file(p, &source)?, source)
    } else if let Some(p) = env_cacert.filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        let source = TrustSource::EnvFile(p.clone());
        (load_ca_file(&p, &source)?, source)
    } else {
        let mut certs = rustls_native_certs::load_native_certs().certs;
        if certs.is_empty() {
            let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
            if let Ok(bytes) = std::fs::read(bundle) {
                certs = CertificateDer::pem_slice_iter(&bytes)
                    .filter_map(Result::ok)
                    .collect();
            }
        }
        if certs.is_empty() {
            return Err(SourceError::Tls(
                "no trusted CA certificates: the system has none; give the CA file option or set LDAPTLS_CACERT".to_owned(),
            ));
        }
        (certs, TrustSource::System)
    };
    let mut store = rustls::RootCertStore::empty();
    let mut bad = 0usize;
    for c in certs {
        if store.add(c).is_err() {
            bad += 1;
        }
    }
    if store.is_empty() {
        return Err(SourceError::Tls(format!(
            "{source}: none of its {bad} certificate(s) is a usable CA certificate"
        )));
    }
    Ok((store, source))
}

fn tls_config(store: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, SourceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::Tls(format!("TLS setup failed: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Names the certificate problem behind a rustls error.
fn describe_rustls(err: &rustls::Error, host: &str, trust: &TrustSource) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!(
                "the server's certificate was issued by an unknown CA (not trusted by {trust}); give the issuing root CA with the CA file option or LDAPTLS_CACERT"
            ),
            C::NotValidForName => format!(
                "the server's certificate does not name {host} (name mismatch); connect with a host name or address the certificate lists"
            ),
            C::NotValidForNameContext { presented, .. } => format!(
                "the server's certificate does not name {host} (name mismatch; it names {}); connect with a host name or address the certificate lists",
                presented.iter().map(|p| presented_name(p)).collect::<Vec<_>>().join(", ")
            ),
            C::Expired => "the server's certificate has expired".to_owned(),
            C::ExpiredContext { not_after, .. } => format!(
                "the server's certificate has expired (not valid after {})",
                utc_date(not_after.as_secs())
            ),
            C::NotValidYet => "the server's certificate is not valid yet (check the clocks)".to_owned(),
            C::NotValidYetContext { not_before, .. } => format!(
                "the server's certificate is not valid yet (not before {}; check the clocks)",
                utc_date(not_before.as_secs())
            ),
            C::Revoked => "the server's certificate is revoked".to_owned(),
            C::BadSignature => "the server's certificate has a bad signature".to_owned(),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "the server's certificate is not for TLS server authentication (extended key usage)".to_owned()
            }
            C::BadEncoding => "the server's certificate is malformed".to_owned(),
            other => format!("the server's certificate was rejected: {other}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not speak TLS on this port (for a plain LDAP port use ldap:// with StartTLS)".to_owned()
        }
        rustls::Error::AlertReceived(alert) => format!("the server aborted the TLS handshake ({alert:?})"),
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".to_owned(),
        other => other.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch.
fn utc_date(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil-from-days (Howard Hinnant), days since 1970-01-01
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// rustls reports the certificate's names as `DnsName("x")` / `IpAddress(1.2.3.4)`.
fn presented_name(p: &str) -> &str {
    p.strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            p.strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })
        .unwrap_or(p)
}

/// Maps a connection-phase error (connect, TLS, StartTLS).
/// Opens the TCP connection for ldap3, with Nagle's algorithm off. LDAP
/// sends small requests and waits for their answers; with Nagle on, the bind
/// request that follows the TLS handshake waited for the server's delayed
/// acknowledgement of the handshake's last message: 40 ms per export.
async fn connect_tcp(
    server: &ServerUrl,
    timeout: Duration,
) -> Result<std::net::TcpStream, LdapError> {
    let address = format!("{}:{}", server.host, server.port);
    let stream =
        ldap3::tokio::time::timeout(timeout, ldap3::tokio::net::TcpStream::connect(address))
            .await??;
    stream.set_nodelay(true)?;
    Ok(stream.into_std()?)
}

fn connect_error(
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

fn io_reason(e: &std::io::Error) -> String {
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
fn rc_name(rc: u32) -> &'static str {
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

fn result_text(r: &LdapResult) -> String {
    let text = r.text.trim().trim_end_matches('\0').trim();
    if text.is_empty() {
        format!("result {} ({})", r.rc, rc_name(r.rc))
    } else {
        format!("result {} ({}): {}", r.rc, rc_name(r.rc), one_line(text))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// AD's `data XXX` sub-code in an invalidCredentials diagnostic.
fn ad_bind_subcode(text: &str) -> Option<&'static str> {
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

fn bind_error(r: &LdapResult, who: &str, server: &ServerUrl, tls: bool) -> SourceError {
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
fn op_error(e: LdapError, server: &ServerUrl, what: &str, timeout: Duration) -> SourceError {
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

fn search_result_error(
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

/// One attribute as returned: its description (type and options) and values.
type RawAttribute = (String, Vec<Vec<u8>>);

/// Decodes a SearchResultEntry (`[APPLICATION 4]`) without panicking.
fn decode_entry(tag: StructureTag) -> Result<(String, Vec<RawAttribute>), String> {
    let mut parts = tag
        .match_id(4)
        .and_then(StructureTag::expect_constructed)
        .ok_or("not a search result entry")?
        .into_iter();
    let dn = parts
        .next()
        .and_then(StructureTag::expect_primitive)
        .ok_or("entry without a DN")?;
    let dn = String::from_utf8(dn).map_err(|_| "entry DN is not UTF-8")?;
    let list = match parts.next() {
        Some(t) => t
            .expect_constructed()
            .ok_or("attribute list is not a sequence")?,
        None => Vec::new(),
    };
    let mut attrs = Vec::with_capacity(list.len());
    for pa in list {
        let mut pa = pa
            .expect_constructed()
            .ok_or("attribute is not a sequence")?
            .into_iter();
        let name = pa
            .next()
            .and_then(StructureTag::expect_primitive)
            .ok_or("attribute without a type")?;
        let name = String::from_utf8(name).map_err(|_| "attribute type is not UTF-8")?;
        let values = match pa.next() {
            Some(StructureTag {
                payload: PL::C(vals),
                ..
            }) => vals
                .into_iter()
                .map(|v| {
                    v.expect_primitive()
                        .ok_or("attribute value is not an octet string")
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("attribute values are not a set".into()),
            None => Vec::new(),
        };
        attrs.push((name, values));
    }
    Ok((dn, attrs))
}

/// The `range=low-high` option of an attribute description: the description
/// without it, and the high end (`None` for `*`, the last chunk).
fn parse_range(description: &str) -> Option<(String, Option<u64>)> {
    let is_range = |o: &&str| o.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("range="));
    // Nearly every description has no range option; that answer allocates
    // nothing (this runs for every attribute of every object).
    let range = description.split(';').skip(1).filter(is_range).last()?;
    let (_low, high) = range[6..].split_once('-')?;
    let high = if high == "*" {
        None
    } else {
        Some(high.parse().ok()?)
    };
    let mut parts = description.split(';');
    let mut base = parts.next().unwrap_or_default().to_owned();
    for option in parts.filter(|o| !is_range(o)) {
        base.push(';');
        base.push_str(option);
    }
    Some((base, high))
}

/// A ranged attribute still to be completed: its description (without the
/// range option) and the index of the next value to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingRange {
    description: String,
    next: u64,
}

/// Adds the attributes of one response to `entry`. Ranged chunks are merged
/// under their attribute; unfinished ones are returned to be fetched.
/// A second description of an attribute that is already present (the server
/// answered both `userCertificate` and `userCertificate;binary`) is dropped
/// when it carries the same values.
fn absorb(entry: &mut RawEntry, attrs: Vec<RawAttribute>) -> Vec<PendingRange> {
    let mut pending = Vec::new();
    for (desc, values) in attrs {
        if let Some((base, high)) = parse_range(&desc) {
            entry.extend(base.clone(), values);
            if let Some(high) = high {
                pending.push(PendingRange {
                    description: base,
                    next: high.saturating_add(1),
                });
            }
            continue;
        }
        let key = RawEntry::into_attribute_key(desc);
        // `entry` holds only this response's attributes: a key already there
        // came from another description earlier in it.
        if !values.is_empty() && entry.values(&key) == values.as_slice() {
            continue;
        }
        entry.extend(key, values);
    }
    pending
}

/// Completes ranged attributes: asks `fetch` for `attr;range=N-*` until the
/// server answers with a chunk ending in `*`.
fn complete_ranges(
    entry: &mut RawEntry,
    mut pending: Vec<PendingRange>,
    mut fetch: impl FnMut(&str) -> Result<Vec<RawAttribute>, SourceError>,
) -> Result<(), SourceError> {
    let mut rounds = 0u32;
    while let Some(p) = pending.pop() {
        rounds += 1;
        if rounds > 100_000 {
            return Err(SourceError::Search(format!(
                "range retrieval of {} on {} does not end",
                p.description, entry.dn
            )));
        }
        let request = format!("{};range={}-*", p.description, p.next);
        let attrs = fetch(&request)?;
        let wanted = RawEntry::attribute_key(&p.description);
        let mut found = false;
        for (desc, values) in attrs {
            let Some((base, high)) = parse_range(&desc) else {
                continue;
            };
            if RawEntry::attribute_key(&base) != wanted {
                continue;
            }
            found = true;
            for v in values {
                entry.push(&base, v);
            }
            if let Some(high) = high {
                if high < p.next {
                    return Err(SourceError::Search(format!(
                        "range retrieval of {} on {} made no progress (server answered {desc})",
                        p.description, entry.dn
                    )));
                }
                pending.push(PendingRange {
                    description: base,
                    next: high.saturating_add(1),
                });
            }
        }
        if !found {
            return Err(SourceError::Search(format!(
                "range retrieval of {} on {}: the server did not return {request}",
                p.description, entry.dn
            )));
        }
    }
    Ok(())
}

type Stream = SearchStream<'static, String, Vec<String>>;

/// Reads users' certificates from an LDAP server. See [`LdapOptions`].
pub struct LdapSource {
    rt: ldap3::tokio::runtime::Runtime,
    ldap: Ldap,
    stream: Option<Stream>,
    server: ServerUrl,
    starttls: bool,
    base: String,
    filter: String,
    op_timeout: Duration,
    entries: u64,
    references: Vec<String>,
    failed: Option<SourceError>,
    /// The connection was dropped because the server sent a message that
    /// could not be decoded.
    malformed: Arc<AtomicBool>,
}

/// The text of the I/O error ldap3's message decoder returns for bytes that
/// are not a well-formed LDAP message (`protocol.rs`, `decode_inner`).
const LDAP3_DECODING_ERROR: &str = "decoding error";

impl fmt::Debug for LdapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSource")
            .field("description", &self.description())
            .finish_non_exhaustive()
    }
}

fn clone_error(e: &SourceError) -> SourceError {
    match e {
        SourceError::Connect(s) => SourceError::Connect(s.clone()),
        SourceError::Tls(s) => SourceError::Tls(s.clone()),
        SourceError::Bind(s) => SourceError::Bind(s.clone()),
        SourceError::Search(s) => SourceError::Search(s.clone()),
        SourceError::Ldif(s) => SourceError::Ldif(s.clone()),
        SourceError::Io(s) => SourceError::Io(s.clone()),
    }
}

impl LdapSource {
    /// Connects, binds, finds the base DN and starts the paged search.
    pub fn connect(opts: &LdapOptions) -> Result<Self, SourceError> {
        ldap_panic::install_hook();
        // A panic inside ldap3 while connecting (a malformed StartTLS
        // response) has no source to report it yet; later ones are reported
        // by the source itself.
        let malformed = |panic: String| {
            SourceError::Connect(format!(
                "malformed LDAP message from {} while connecting (ldap3: {panic}): the export stopped",
                opts.url
            ))
        };
        match ldap_panic::catching(|| Self::connect_inner(opts)) {
            Ok(Ok(source)) => Ok(source),
            // ldap3's connection task panicked (tokio caught it) and the
            // connection reads as lost.
            Ok(Err(e)) => Err(ldap_panic::take_message().map_or(e, malformed)),
            Err(panic) => Err(malformed(panic)),
        }
    }

    fn connect_inner(opts: &LdapOptions) -> Result<Self, SourceError> {
        let server = ServerUrl::parse(&opts.url)?;
        if opts.starttls && server.tls {
            return Err(SourceError::Connect(format!(
                "StartTLS (-Z) is for ldap:// URLs; {server} already uses TLS"
            )));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&opts.page_size) {
            return Err(SourceError::Search(format!(
                "page size {} is out of range: use 1 to {MAX_PAGE_SIZE}",
                opts.page_size
            )));
        }
        let filter = build_filter(&opts.scope)?;
        if ldap3::parse_filter(&filter).is_err() {
            return Err(SourceError::Search(format!(
                "the LDAP filter is not valid: {filter}"
            )));
        }

        let mut settings = LdapConnSettings::new().set_conn_timeout(opts.connect_timeout);
        let mut trust = None;
        if server.tls || opts.starttls {
            let (store, source) =
                root_store(opts.ca_file.as_deref(), std::env::var_os("LDAPTLS_CACERT"))?;
            settings = settings
                .set_config(tls_config(store)?)
                .set_starttls(opts.starttls);
            trust = Some(source);
        }

        let rt = ldap3::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Io(format!("cannot start the I/O runtime: {e}")))?;
        // ldap3 wants a URL; give it the normalised one (host, port, nothing else).
        let url = server.to_string();
        let (conn, ldap) = rt
            .block_on(async {
                let started = std::time::Instant::now();
                let tcp = connect_tcp(&server, opts.connect_timeout).await?;
                // The TLS handshake (and StartTLS) get what is left of the timeout.
                let left = opts
                    .connect_timeout
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(1));
                let settings = settings
                    .set_conn_timeout(left)
                    .set_std_stream(ldap3::StdStream::Tcp(tcp));
                LdapConnAsync::with_settings(settings, &url).await
            })
            .map_err(|e| {
                connect_error(
                    e,
                    &server,
                    opts.starttls,
                    opts.connect_timeout,
                    trust.as_ref(),
                )
            })?;
        let malformed = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&malformed);
        rt.spawn(async move {
            // Errors surface in the operations waiting on the connection,
            // as a closed connection; a message that could not be decoded is
            // remembered so that the error can say so.
            if let Err(LdapError::Io { source }) = conn.drive().await {
                if source.to_string() == LDAP3_DECODING_ERROR {
                    seen.store(true, Ordering::Relaxed);
                }
            }
        });

        let mut source = Self {
            rt,
            ldap,
            stream: None,
            server,
            starttls: opts.starttls,
            base: String::new(),
            filter,
            op_timeout: opts.operation_timeout,
            entries: 0,
            references: Vec::new(),
            failed: None,
            malformed,
        };
        let setup = |source: &mut Self| -> Result<(), SourceError> {
            source.bind(&opts.bind)?;
            source.base = match &opts.base {
                Some(b) => b.clone(),
                None => source.default_base()?,
            };
            source.start_search(opts.page_size)
        };
        match ldap_panic::catching(|| setup(&mut source)) {
            Ok(Ok(())) => Ok(source),
            // marked failed: no polite unbind on a connection that may hang
            Ok(Err(e)) => Err(source.fail(e)),
            Err(panic) => {
                let e = source.malformed(&format!("ldap3: {panic}"));
                Err(source.fail(e))
            }
        }
    }

    /// The search filter in use.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The search base in use.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// How many entries have been returned so far.
    pub fn entries_read(&self) -> u64 {
        self.entries
    }

    /// The search references (referral URLs, e.g. to the Configuration or
    /// DomainDnsZones partitions of AD) that the search skipped; known once
    /// [`DirectorySource::next_entry`] has returned `None`.
    pub fn skipped_references(&self) -> &[String] {
        &self.references
    }

    fn bind(&mut self, bind: &Bind) -> Result<(), SourceError> {
        let who = bind.who();
        let tls = self.server.tls || self.starttls;
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let ldap = &mut self.ldap;
        let result = match bind {
            Bind::Anonymous => return Ok(()),
            Bind::Simple { name, password } => {
                if password.expose().is_empty() {
                    return Err(SourceError::Bind(format!(
                        "empty password for {name}: refusing the bind (an LDAP simple bind with an empty password is an unauthenticated, anonymous bind)"
                    )));
                }
                self.rt.block_on(async {
                    ldap.with_timeout(timeout)
                        .simple_bind(name, password.expose())
                        .await
                })
            }
            #[cfg(feature = "gssapi")]
            Bind::Gssapi => {
                let host = server
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                self.rt
                    .block_on(async { ldap.with_timeout(timeout).sasl_gssapi_bind(&host).await })
            }
        };
        let result = result.map_err(|e| match e {
            LdapError::EndOfStream | LdapError::ResultRecv { .. } if !tls => SourceError::Connect(format!(
                "bind as {who} on {server}: the server closed the connection (if this is an LDAPS port, use ldaps://)"
            )),
            LdapError::Timeout { .. } | LdapError::EndOfStream | LdapError::Io { .. } | LdapError::ResultRecv { .. } => {
                op_error(e, &server, &format!("bind as {who}"), timeout)
            }
            other => SourceError::Bind(format!("bind as {who} to {server} failed: {other}")),
        })?;
        if result.rc == 0 {
            Ok(())
        } else {
            Err(bind_error(&result, &who, &server, tls))
        }
    }

    /// Runs a base-scope search and returns the decoded attributes of the entry.
    fn read_base(
        &mut self,
        dn: &str,
        attrs: Vec<String>,
        what: &str,
    ) -> Result<Vec<RawAttribute>, SourceError> {
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let ldap = &mut self.ldap;
        let res = self
            .rt
            .block_on(async {
                ldap.with_timeout(timeout)
                    .search(dn, ldap3::Scope::Base, "(objectClass=*)", attrs)
                    .await
            })
            .map_err(|e| op_error(e, &server, what, timeout))?;
        let (entries, result) = (res.0, res.1);
        if result.rc != 0 {
            return Err(SourceError::Search(format!(
                "{what} on {server} failed: {}",
                result_text(&result)
            )));
        }
        let mut out = Vec::new();
        for e in entries {
            let (_dn, attrs) = decode_entry(e.0).map_err(|why| {
                SourceError::Search(format!("{what} on {server}: malformed entry: {why}"))
            })?;
            out.extend(attrs);
        }
        Ok(out)
    }

    fn default_base(&mut self) -> Result<String, SourceError> {
        let attrs = self.read_base(
            "",
            vec![
                "defaultNamingContext".to_owned(),
                "namingContexts".to_owned(),
            ],
            "reading the RootDSE",
        )?;
        let first = |name: &str| {
            attrs
                .iter()
                .find(|(d, _)| RawEntry::attribute_key(d) == name)
                .and_then(|(_, v)| v.iter().find(|v| !v.is_empty()))
                .and_then(|v| String::from_utf8(v.clone()).ok())
        };
        first("defaultnamingcontext").or_else(|| first("namingcontexts")).ok_or_else(|| {
            SourceError::Search(format!(
                "{} publishes neither defaultNamingContext nor namingContexts in its RootDSE: give the base DN",
                self.server
            ))
        })
    }

    fn start_search(&mut self, page_size: u32) -> Result<(), SourceError> {
        let adapters: Vec<Box<dyn Adapter<'static, String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(i32::try_from(page_size).unwrap_or(500))),
        ];
        let attrs: Vec<String> = ATTRIBUTES.iter().map(|s| (*s).to_owned()).collect();
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let (base, filter) = (self.base.clone(), self.filter.clone());
        let ldap = &mut self.ldap;
        let stream = self
            .rt
            .block_on(async {
                ldap.with_timeout(timeout)
                    .streaming_search_with(adapters, &base, ldap3::Scope::Subtree, &filter, attrs)
                    .await
            })
            .map_err(|e| op_error(e, &server, "starting the search", timeout))?;
        self.stream = Some(stream);
        Ok(())
    }

    /// The error for a malformed message from the server; `detail` says what.
    fn malformed(&self, detail: &str) -> SourceError {
        SourceError::Connect(format!(
            "malformed LDAP message from {} after {} entries ({detail}): the export stopped",
            self.server, self.entries
        ))
    }

    fn fail(&mut self, e: SourceError) -> SourceError {
        // A connection dropped on a malformed message reads as closed by the
        // server; say why.
        let e = match e {
            SourceError::Connect(_) if self.malformed.load(Ordering::Relaxed) => {
                self.malformed("it could not be decoded")
            }
            SourceError::Connect(other) => match ldap_panic::take_message() {
                Some(panic) => self.malformed(&format!("ldap3: {panic}")),
                None => SourceError::Connect(other),
            },
            other => other,
        };
        self.stream = None;
        self.failed = Some(clone_error(&e));
        e
    }

    fn next_inner(&mut self) -> Result<Option<RawEntry>, SourceError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        let (server, timeout, entries) = (&self.server, self.op_timeout, self.entries);
        let item = self.rt.block_on(stream.next());
        let tag = match item {
            Ok(Some(re)) => re.0,
            Ok(None) => {
                let mut result = self.rt.block_on(stream.finish());
                self.stream = None;
                self.references = std::mem::take(&mut result.refs);
                if result.rc == 0 {
                    return Ok(None);
                }
                return Err(search_result_error(&result, server, &self.base, entries));
            }
            Err(LdapError::EndOfStream) => {
                return Err(SourceError::Connect(format!(
                    "the connection to {server} was closed during the search after {entries} entries: the export is incomplete"
                )))
            }
            Err(LdapError::Timeout { .. }) => {
                return Err(SourceError::Connect(format!(
                    "no answer from {server} within {} s during the search after {entries} entries (operation timeout): the export is incomplete",
                    timeout.as_secs_f64()
                )))
            }
            Err(e) => return Err(op_error(e, server, &format!("the search after {entries} entries"), timeout)),
        };
        let (dn, attrs) = decode_entry(tag).map_err(|why| {
            SourceError::Search(format!(
                "malformed entry from {server} after {entries} entries: {why}"
            ))
        })?;
        let mut entry = RawEntry {
            dn,
            ..RawEntry::default()
        };
        let pending = absorb(&mut entry, attrs);
        if !pending.is_empty() {
            let dn = entry.dn.clone();
            complete_ranges(&mut entry, pending, |request| {
                self.read_base(
                    &dn,
                    vec![request.to_owned()],
                    &format!("range retrieval {request} of {dn}"),
                )
            })?;
        }
        self.entries += 1;
        Ok(Some(entry))
    }
}

impl DirectorySource for LdapSource {
    fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError> {
        if let Some(e) = &self.failed {
            return Err(clone_error(e));
        }
        let result = match ldap_panic::catching(|| self.next_inner()) {
            Ok(result) => result,
            Err(panic) => Err(self.malformed(&format!("ldap3: {panic}"))),
        };
        result.map_err(|e| self.fail(e))
    }

    fn description(&self) -> String {
        let tls = if self.starttls { " (StartTLS)" } else { "" };
        format!(
            "{}{tls} base {} filter {}",
            self.server, self.base, self.filter
        )
    }
}

impl Drop for LdapSource {
    fn drop(&mut self) {
        if self.failed.is_some() {
            return;
        }
        // Polite unbind; the socket closes with the runtime either way.
        self.stream = None;
        let (rt, ldap) = (&self.rt, &mut self.ldap);
        let _ = ldap_panic::catching(|| {
            rt.block_on(async {
                ldap3::tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = "(&(objectClass=user)(!(objectClass=computer))(|(userCertificate=*)(userSMIMECertificate=*)))";
    const CONTACTS: &str = "(&(objectClass=contact)(|(userCertificate=*)(userSMIMECertificate=*)))";
    const ENABLED: &str = "(!(userAccountControl:1.2.840.113556.1.4.803:=2))";

    fn scope(contacts: bool, include_disabled: bool, extra: Option<&str>) -> Scope {
        Scope {
            contacts,
            include_disabled,
            extra_filter: extra.map(str::to_owned),
        }
    }

    #[test]
    fn filter_default_is_enabled_users() {
        let f = build_filter(&Scope::default()).unwrap();
        assert_eq!(f, format!("(&{USERS}{ENABLED})"));
        assert!(ldap3::parse_filter(&f).is_ok());
    }

    #[test]
    fn filter_variants() {
        assert_eq!(build_filter(&scope(false, true, None)).unwrap(), USERS);
        assert_eq!(
            build_filter(&scope(true, true, None)).unwrap(),
            format!("(|{USERS}{CONTACTS})")
        );
        assert_eq!(
            build_filter(&scope(true, false, None)).unwrap(),
            format!("(&(|{USERS}{CONTACTS}){ENABLED})")
        );
        let f = build_filter(&scope(false, false, Some(" (department=Sales) "))).unwrap();
        assert_eq!(f, format!("(&{USERS}{ENABLED}(department=Sales))"));
        let f = build_filter(&scope(false, true, Some("(|(ou=A)(ou=B))"))).unwrap();
        assert_eq!(f, format!("(&{USERS}(|(ou=A)(ou=B)))"));
        for s in [
            &scope(true, false, Some("(cn=a\\29b)")),
            &scope(false, false, None),
        ] {
            assert!(ldap3::parse_filter(build_filter(s).unwrap()).is_ok());
        }
    }

    #[test]
    fn filter_extra_must_be_parenthesised() {
        for bad in [
            "department=Sales",
            "(a=b)(c=d)",
            "(a=b",
            "a=b)",
            ")(",
            "",
            "(a=b))(",
        ] {
            let err = build_filter(&scope(false, false, Some(bad))).unwrap_err();
            assert!(matches!(err, SourceError::Search(_)), "{bad}");
            assert!(err.to_string().contains("parentheses"), "{err}");
        }
    }

    #[test]
    fn connections_are_opened_with_nagle_off() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ldap://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = ServerUrl::parse(&url).unwrap();
        let rt = ldap3::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stream = rt
            .block_on(connect_tcp(&server, Duration::from_secs(5)))
            .unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY is off");
    }

    #[test]
    fn url_parsing() {
        let u = ServerUrl::parse("ldaps://dc1.contoso.test").unwrap();
        assert_eq!(u.to_string(), "ldaps://dc1.contoso.test:636");
        let u = ServerUrl::parse("LDAP://127.0.0.1:3890/").unwrap();
        assert_eq!(u.to_string(), "ldap://127.0.0.1:3890");
        assert_eq!(
            ServerUrl::parse("ldap://[::1]:10389").unwrap().host,
            "[::1]"
        );
        assert_eq!(ServerUrl::parse("ldap://[::1]").unwrap().port, 389);
        for bad in [
            "http://x",
            "ldap://",
            "ldap://h:0",
            "ldap://h:x",
            "ldap://h/dc=x",
            "ldap://u@h",
            "ldaps://h:70000",
        ] {
            assert!(
                matches!(ServerUrl::parse(bad), Err(SourceError::Connect(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn options_are_checked_before_connecting() {
        let mut o = LdapOptions::new("ldaps://127.0.0.1:1");
        o.starttls = true;
        let e = LdapSource::connect(&o).unwrap_err();
        assert!(e.to_string().contains("StartTLS"), "{e}");
        for size in [0, 1001] {
            let mut o = LdapOptions::new("ldap://127.0.0.1:1");
            o.page_size = size;
            let e = LdapSource::connect(&o).unwrap_err();
            assert!(e.to_string().contains("page size"), "{e}");
        }
    }

    #[test]
    fn range_option_parsing() {
        assert_eq!(
            parse_range("member;range=0-1499"),
            Some(("member".into(), Some(1499)))
        );
        assert_eq!(
            parse_range("member;Range=1500-*"),
            Some(("member".into(), None))
        );
        assert_eq!(
            parse_range("userCertificate;binary;range=0-9"),
            Some(("userCertificate;binary".into(), Some(9)))
        );
        assert_eq!(
            parse_range("userCertificate;RANGE=0-9;binary"),
            Some(("userCertificate;binary".into(), Some(9)))
        );
        assert_eq!(parse_range("member"), None);
        assert_eq!(parse_range("member;binary"), None);
        assert_eq!(parse_range("member;x-range=0-1"), None);
        assert_eq!(parse_range("range=0-1"), None, "an attribute named range=…");
        assert_eq!(parse_range("member;range=x"), None);
        assert_eq!(parse_range("member;range=0-y"), None);
    }

    fn vals(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        range.map(|i| format!("v{i}").into_bytes()).collect()
    }

    #[test]
    fn ranged_attributes_are_fetched_and_merged_in_order() {
        let mut entry = RawEntry {
            dn: "CN=Big,DC=x".into(),
            ..RawEntry::default()
        };
        let pending = absorb(
            &mut entry,
            vec![
                ("mail".into(), vec![b"big@x".to_vec()]),
                ("userCertificate;range=0-2".into(), vals(0..3)),
                ("proxyAddresses;range=0-1".into(), vals(100..102)),
            ],
        );
        assert_eq!(pending.len(), 2);
        let mut requests = Vec::new();
        complete_ranges(&mut entry, pending, |req| {
            requests.push(req.to_owned());
            Ok(match req {
                "userCertificate;range=3-*" => {
                    vec![("userCertificate;range=3-5".into(), vals(3..6))]
                }
                "userCertificate;range=6-*" => {
                    vec![("userCertificate;range=6-*".into(), vals(6..8))]
                }
                "proxyAddresses;range=2-*" => {
                    vec![("proxyAddresses;range=2-*".into(), vals(102..103))]
                }
                other => panic!("unexpected request {other}"),
            })
        })
        .unwrap();
        assert_eq!(entry.values("usercertificate"), vals(0..8).as_slice());
        assert_eq!(entry.values("proxyAddresses"), vals(100..103).as_slice());
        assert_eq!(entry.values("mail"), &[b"big@x".to_vec()]);
        assert_eq!(
            requests,
            [
                "proxyAddresses;range=2-*",
                "userCertificate;range=3-*",
                "userCertificate;range=6-*"
            ]
        );
    }

    #[test]
    fn range_retrieval_errors() {
        let mut entry = RawEntry::default();
        let pending = absorb(&mut entry, vec![("member;range=0-1".into(), vals(0..2))]);
        let e = complete_ranges(&mut entry.clone(), pending.clone(), |_| Ok(vec![])).unwrap_err();
        assert!(e.to_string().contains("did not return"), "{e}");
        let e = complete_ranges(&mut entry, pending, |_| {
            Ok(vec![("member;range=0-1".into(), vec![])])
        })
        .unwrap_err();
        assert!(e.to_string().contains("no progress"), "{e}");
    }

    #[test]
    fn duplicate_descriptions_are_not_doubled() {
        let mut entry = RawEntry::default();
        let cert = vec![0x30, 0x82, 0x01];
        absorb(
            &mut entry,
            vec![
                ("userCertificate".into(), vec![cert.clone()]),
                ("userCertificate;binary".into(), vec![cert.clone()]),
                ("objectGUID".into(), vec![b"MalloryGUID-0001".to_vec()]),
            ],
        );
        assert_eq!(entry.values("userCertificate"), &[cert]);
        assert_eq!(entry.values("objectguid"), &[b"MalloryGUID-0001".to_vec()]);
    }

    #[test]
    fn decodes_raw_entries_byte_exact() {
        use ldap3::asn1::TagClass;
        let prim = |b: &[u8]| StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b.to_vec()),
        };
        let cons = |id, v| StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(v),
        };
        // one value valid UTF-8, one not: both kept, in order, as bytes
        let attr = cons(
            16,
            vec![
                prim(b"userSMIMECertificate"),
                cons(17, vec![prim(b"ascii"), prim(&[0xff, 0x00])]),
            ],
        );
        let tag = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![
                prim("cn=Walter Weiß,dc=x".as_bytes()),
                cons(16, vec![attr]),
            ]),
        };
        let (dn, attrs) = decode_entry(tag).unwrap();
        assert_eq!(dn, "cn=Walter Weiß,dc=x");
        assert_eq!(
            attrs,
            vec![(
                "userSMIMECertificate".to_owned(),
                vec![b"ascii".to_vec(), vec![0xff, 0x00]]
            )]
        );
        let bad = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(vec![]),
        };
        assert!(decode_entry(bad).is_err());
    }

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.to_owned(),
            refs: vec![],
            ctrls: vec![],
        }
    }

    #[test]
    fn result_messages() {
        let server = ServerUrl::parse("ldaps://dc1.contoso.test").unwrap();
        let m = search_result_error(&result(4, ""), &server, "DC=x", 1000).to_string();
        assert!(
            m.contains("sizeLimitExceeded after 1000 entries") && m.contains("page size"),
            "{m}"
        );
        assert!(m.contains("ldaps://dc1.contoso.test:636"), "{m}");
        let m = search_result_error(&result(32, ""), &server, "OU=No,DC=x", 0).to_string();
        assert!(m.contains("\"OU=No,DC=x\" does not exist"), "{m}");
        let ad = "00002028: LdapErr: DSID-0C090259, comment: The server requires binds to turn on integrity checking if SSL\\TLS are not already active on the connection, data 0, v4563\0";
        let clear = ServerUrl::parse("ldap://dc1.contoso.test").unwrap();
        let e = bind_error(&result(8, ad), "CONTOSO\\admin", &clear, false);
        assert!(matches!(e, SourceError::Bind(_)));
        let m = e.to_string();
        assert!(m.starts_with("bind as CONTOSO\\admin to ldap://dc1.contoso.test:389 refused: the server requires TLS or signing for simple binds: use ldaps:// or -Z (StartTLS)"), "{m}");
        assert!(!m.contains('\0') && !m.contains('\n'), "{m:?}");
        let m = bind_error(&result(49, "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563"), "a@b", &server, true).to_string();
        assert_eq!(
            m,
            "bind as a@b to ldaps://dc1.contoso.test:636 refused: invalid credentials"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(1_609_459_200), "2021-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3_661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc_date(2_398_377_599), "2045-12-31 23:59:59 UTC");
    }

    #[test]
    fn presented_names_are_plain() {
        assert_eq!(presented_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(presented_name("other"), "other");
    }

    #[test]
    fn ad_subcodes() {
        assert_eq!(
            ad_bind_subcode("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563"),
            Some("invalid credentials")
        );
        assert_eq!(
            ad_bind_subcode("... data 775, v4563"),
            Some("account locked out")
        );
        assert_eq!(ad_bind_subcode("no code"), None);
    }
}
