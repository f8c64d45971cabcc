//! TLS for LDAP: the root store (CA file, `LDAPTLS_CACERT`, system roots), the
//! rustls client configuration, and rustls errors in words an administrator acts on.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Where the trusted CA certificates came from (named in TLS errors).
#[derive(Debug, Clone)]
pub(super) enum TrustSource {
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

pub(super) fn load_ca_file(
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

pub(super) fn root_store(
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

pub(super) fn tls_config(
    store: rustls::RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, SourceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::Tls(format!("TLS setup failed: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Names the certificate problem behind a rustls error.
pub(super) fn describe_rustls(err: &rustls::Error, host: &str, trust: &TrustSource) -> String {
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

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch (the format
/// crate's calendar: there is one date algorithm in the workspace).
pub(super) fn utc_date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(certferry_format::Timestamp::from_unix)
        .map_or_else(
            || format!("{secs} seconds after 1970"),
            |t| {
                let t = t.to_string();
                format!("{} {} UTC", &t[..10], &t[11..19])
            },
        )
}

/// rustls reports the certificate's names as `DnsName("x")` / `IpAddress(1.2.3.4)`.
pub(super) fn presented_name(p: &str) -> &str {
    p.strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            p.strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })
        .unwrap_or(p)
}
