//! App-only authentication with a certificate: the credential (certificate and
//! RSA key from PEM or PFX), the client assertion JWT, and the token cache.
//!
//! Protocol: docs/exchange-wire-protocol.md, "Token"; Microsoft identity platform,
//! "certificate credentials" and "client credentials flow".

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use serde::{Deserialize, Serialize};

use super::error::{ErrorClass, ExoError};
use super::retry::{Jitter, RetryPolicy};
use crate::secret::Secret;

/// Lifetime of a client assertion: the protocol allows at most 600 s.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// Refresh a cached token when less than this remains (or half its lifetime, if
/// the service issued a shorter one).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Why a credential could not be loaded or used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(String);

impl CredentialError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// The app's certificate and its RSA private key: what signs client assertions.
///
/// `Debug` shows the certificate's thumbprint only.
pub struct Credential {
    cert_der: Vec<u8>,
    x5t: String,
    key: RsaKeyPair,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("x5t", &self.x5t)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Credential {
    /// Loads a credential from a file: PEM when it contains a `-----BEGIN` line,
    /// otherwise PFX/PKCS#12. For PEM, `key_path` names a separate key file (the
    /// certificate file may hold the key too). A password is needed for an
    /// `ENCRYPTED PRIVATE KEY` and for every PFX (an empty one is still a password).
    pub fn from_file(
        path: &Path,
        key_path: Option<&Path>,
        password: Option<&Secret>,
    ) -> Result<Self, CredentialError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| CredentialError::new(format!("{}: {e}", p.display())))
        };
        let data = read(path)?;
        let named = |e: CredentialError| CredentialError::new(format!("{}: {e}", path.display()));
        if looks_like_pem(&data) {
            let key = key_path.map(read).transpose()?;
            Self::from_pem(&data, key.as_deref(), password).map_err(named)
        } else {
            if key_path.is_some() {
                return Err(named(CredentialError::new(
                    "a PFX file holds its own key; a separate key file is for PEM",
                )));
            }
            let password = password.ok_or_else(|| {
                named(CredentialError::new(
                    "a PFX file needs its password (it may be empty)",
                ))
            })?;
            Self::from_pfx(&data, password).map_err(named)
        }
    }

    /// A credential from PEM text: `CERTIFICATE` blocks (a chain is fine; the one
    /// matching the key is used) and one private key, as `PRIVATE KEY` (PKCS#8),
    /// `RSA PRIVATE KEY` (PKCS#1) or `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2,
    /// needs `password`), in `pem` itself or in `key_pem`.
    pub fn from_pem(
        pem: &[u8],
        key_pem: Option<&[u8]>,
        password: Option<&Secret>,
    ) -> Result<Self, CredentialError> {
        let mut blocks = parse_pem(pem)?;
        if let Some(k) = key_pem {
            blocks.extend(parse_pem(k)?);
        }
        let mut certs = Vec::new();
        let mut keys = Vec::new();
        for block in &blocks {
            match block.tag() {
                "CERTIFICATE" => certs.push(block.contents().to_vec()),
                "PRIVATE KEY" => keys.push(rsa_from_pkcs8(block.contents())?),
                "RSA PRIVATE KEY" => {
                    if block.headers().get("Proc-Type").is_some() {
                        return Err(CredentialError::new(
                            "the key is in the legacy OpenSSL encrypted format; convert it with \
                             `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`",
                        ));
                    }
                    keys.push(RsaKeyPair::from_der(block.contents()).map_err(|e| {
                        CredentialError::new(format!("the RSA PRIVATE KEY is not usable: {e}"))
                    })?);
                }
                "ENCRYPTED PRIVATE KEY" => {
                    let password = password.ok_or_else(|| {
                        CredentialError::new("the private key is encrypted and needs its password")
                    })?;
                    keys.push(decrypt_pkcs8(block.contents(), password)?);
                }
                "EC PRIVATE KEY" => {
                    return Err(CredentialError::new(
                        "the key is an EC key; RS256 client assertions need an RSA key",
                    ))
                }
                _ => {}
            }
        }
        let key = match keys.len() {
            0 => {
                return Err(CredentialError::new(
                    "no private key found in the PEM input",
                ))
            }
            1 => keys.remove(0),
            n => {
                return Err(CredentialError::new(format!(
                    "{n} private keys found; give exactly one"
                )))
            }
        };
        Self::from_parts(certs, key)
    }

    /// A credential from a PFX/PKCS#12 file's bytes and its password.
    pub fn from_pfx(der: &[u8], password: &Secret) -> Result<Self, CredentialError> {
        let archive =
            p12_keystore::Pkcs12Archive::from_pkcs12(der, password.expose()).map_err(|e| {
                CredentialError::new(format!("cannot open the PFX file (wrong password?): {e}"))
            })?;
        let mut keys = Vec::new();
        for bag in &archive.keys {
            keys.push(rsa_from_pkcs8(bag.key.as_der())?);
        }
        let certs: Vec<Vec<u8>> = archive
            .certs
            .iter()
            .map(|b| b.cert.as_der().to_vec())
            .collect();
        let key = match keys.len() {
            0 => return Err(CredentialError::new("the PFX file holds no private key")),
            1 => keys.remove(0),
            n => {
                return Err(CredentialError::new(format!(
                    "the PFX file holds {n} private keys; give one"
                )))
            }
        };
        Self::from_parts(certs, key)
    }

    fn from_parts(certs: Vec<Vec<u8>>, key: RsaKeyPair) -> Result<Self, CredentialError> {
        if certs.is_empty() {
            return Err(CredentialError::new("no certificate found"));
        }
        let public = key.public_key().as_ref();
        let mut subjects = Vec::new();
        for der in certs {
            let (_, cert) = x509_parser::parse_x509_certificate(&der)
                .map_err(|e| CredentialError::new(format!("a certificate does not parse: {e}")))?;
            if cert.public_key().subject_public_key.data.as_ref() == public {
                let x5t = URL_SAFE_NO_PAD.encode(
                    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref(),
                );
                return Ok(Self {
                    cert_der: der,
                    x5t,
                    key,
                });
            }
            subjects.push(cert.subject().to_string());
        }
        Err(CredentialError::new(format!(
            "the private key belongs to none of the certificates ({})",
            subjects.join("; ")
        )))
    }

    /// The certificate (DER) whose key this is.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The `x5t` header value: base64url (no padding) of the certificate's SHA-1.
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The client assertion JWT: header `{"alg":"RS256","typ":"JWT","x5t":…}`,
    /// claims `aud` (the token URL exactly), `iss` = `sub` = `client_id`, `jti`,
    /// `nbf` = `iat` = `now`, `exp` = `now` + 600 s; signed RSASSA-PKCS1-v1_5 SHA-256.
    pub fn client_assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: SystemTime,
        jti: &str,
    ) -> Result<String, CredentialError> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| CredentialError::new("the clock is before 1970"))?
            .as_secs();
        let header = JwtHeader {
            alg: "RS256",
            typ: "JWT",
            x5t: &self.x5t,
        };
        let claims = JwtClaims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti,
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(to_json(&header)?),
            URL_SAFE_NO_PAD.encode(to_json(&claims)?)
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| CredentialError::new("signing the client assertion failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, CredentialError> {
    serde_json::to_vec(value).map_err(|e| CredentialError::new(format!("JWT encoding: {e}")))
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    x5t: &'a str,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: &'a str,
    nbf: u64,
    iat: u64,
    exp: u64,
}

fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

fn parse_pem(data: &[u8]) -> Result<Vec<pem::Pem>, CredentialError> {
    pem::parse_many(data).map_err(|e| CredentialError::new(format!("PEM: {e}")))
}

fn rsa_from_pkcs8(der: &[u8]) -> Result<RsaKeyPair, CredentialError> {
    RsaKeyPair::from_pkcs8(der).map_err(|e| {
        CredentialError::new(match e.to_string().as_str() {
            "WrongAlgorithm" => "the private key is not an RSA key; RS256 needs one".to_owned(),
            other => format!("the private key is not usable for RS256: {other}"),
        })
    })
}

fn decrypt_pkcs8(der: &[u8], password: &Secret) -> Result<RsaKeyPair, CredentialError> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|e| {
        CredentialError::new(format!("the ENCRYPTED PRIVATE KEY does not parse: {e}"))
    })?;
    let plain = info.decrypt(password.expose().as_bytes()).map_err(|_| {
        CredentialError::new(
            "cannot decrypt the private key (wrong password, or an unsupported cipher)",
        )
    })?;
    rsa_from_pkcs8(plain.as_bytes())
}

/// A UUID version 4 from the system's random source, as the `jti` and the
/// `client-request-id` want.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if SystemRandom::new().fill(&mut b).is_err() {
        // Uniqueness, not secrecy, is what these ids need; fall back to the clock.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        b[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    format_uuid_v4(b)
}

/// Formats 16 random bytes as a version 4, variant 1 UUID.
pub fn format_uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An access token. `Debug` does not show it.
#[derive(Clone)]
pub(crate) struct Bearer {
    pub(crate) value: Arc<str>,
    /// Which token this is, so a 401 invalidates only the token that failed.
    pub(crate) generation: u64,
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bearer(#{})", self.generation)
    }
}

struct Cached {
    bearer: Bearer,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    token_type: String,
    expires_in: NumberOrString,
    access_token: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

#[derive(Deserialize, Default)]
struct TokenErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    trace_id: Option<String>,
}

/// Gets tokens from the token endpoint and caches one; single flight: while
/// one task fetches, the others wait for its token.
pub(crate) struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    scope: String,
    credential: Credential,
    retry: RetryPolicy,
    jitter: Arc<Mutex<Jitter>>,
    cache: tokio::sync::Mutex<Option<Cached>>,
    generation: AtomicU64,
    requests: AtomicU64,
}

impl TokenProvider {
    pub(crate) fn new(
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        scope: String,
        credential: Credential,
        retry: RetryPolicy,
        jitter: Arc<Mutex<Jitter>>,
    ) -> Self {
        Self {
            http,
            token_url,
            client_id,
            scope,
            credential,
            retry,
            jitter,
            cache: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    /// Token requests sent so far (each retry counts).
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A token valid for a while yet: the cached one, or a new one.
    pub(crate) async fn bearer(&self) -> Result<Bearer, ExoError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.bearer.clone());
            }
        }
        let cached = self.fetch().await?;
        let bearer = cached.bearer.clone();
        *cache = Some(cached);
        Ok(bearer)
    }

    /// Forgets the cached token if it is still the one that was refused.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.bearer.generation == generation)
        {
            *cache = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, ExoError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once().await {
                Ok(c) => return Ok(c),
                Err(e) if e.is_retryable() => {
                    let delay = {
                        let mut j = self.jitter.lock().unwrap_or_else(|p| p.into_inner());
                        self.retry.next_delay(attempt, e.retry_after, &mut j)
                    };
                    match delay {
                        Some(d) => tokio::time::sleep(d).await,
                        None => {
                            return Err(e.context(format_args!("gave up after {attempt} attempts")))
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn fetch_once(&self) -> Result<Cached, ExoError> {
        let assertion = self
            .credential
            .client_assertion(
                &self.client_id,
                &self.token_url,
                SystemTime::now(),
                &new_uuid(),
            )
            .map_err(|e| ExoError::new(ErrorClass::Auth, e.to_string()))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let response = self
            .http
            .post(&self.token_url)
            .header("client-request-id", new_uuid())
            .form(&form)
            .send()
            .await
            .map_err(|e| super::http::transport_error(&e).context("token request"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // A token response is a few KiB; 1 MiB is far beyond any real one.
        let body = super::http::read_body(response, 1 << 20)
            .await
            .map_err(|e| e.context("token response"))?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("request-id").or_else(|| header("x-ms-request-id"));
        if status == 200 {
            let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                let mut err = ExoError::new(
                    ErrorClass::Protocol,
                    format!("token response is not the expected JSON: {e}"),
                );
                err.request_id = request_id.clone();
                err.status = Some(status);
                err
            })?;
            let lifetime = match parsed.expires_in {
                NumberOrString::Number(n) => Some(n),
                NumberOrString::String(s) => s.trim().parse().ok(),
            };
            let protocol = |msg: &str| {
                let mut err = ExoError::new(ErrorClass::Protocol, msg);
                err.request_id = request_id.clone();
                err.status = Some(status);
                err
            };
            let lifetime = Duration::from_secs(
                lifetime.ok_or_else(|| protocol("token response: expires_in is not a number"))?,
            );
            if !parsed.token_type.eq_ignore_ascii_case("bearer") || parsed.access_token.is_empty() {
                return Err(protocol("token response: not a Bearer token"));
            }
            let margin = REFRESH_MARGIN.min(lifetime / 2);
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            return Ok(Cached {
                bearer: Bearer {
                    value: parsed.access_token.into(),
                    generation,
                },
                // Counted from before the request was sent: errs on the early side.
                refresh_at: started + lifetime.saturating_sub(margin),
            });
        }
        let parsed: TokenErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let request_id = request_id.or(parsed.trace_id);
        let retry_after = super::http::retry_after(&headers);
        let description = parsed
            .error_description
            .as_deref()
            .map(|d| d.lines().next().unwrap_or(d).trim().to_owned());
        let message = match (parsed.error.as_deref(), description) {
            (Some(e), Some(d)) => format!("token endpoint: {e}: {d}"),
            (Some(e), None) => format!("token endpoint: {e}"),
            _ => format!("token endpoint answered HTTP {status}"),
        };
        let class = match status {
            429 => ErrorClass::Throttled,
            408 | 500 | 502 | 503 | 504 => ErrorClass::Transient,
            _ if parsed.error.as_deref() == Some("temporarily_unavailable") => {
                ErrorClass::Transient
            }
            _ => ErrorClass::Auth,
        };
        let mut err = ExoError::new(class, message);
        err.request_id = request_id;
        err.status = Some(status);
        err.retry_after = retry_after;
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const ALICE_CERT: &[u8] = include_bytes!("../../../fixtures/pki/certs/alice.pem");
    const ALICE_KEY: &[u8] = include_bytes!("../../../fixtures/pki/keys/alice.key");
    const CAROL_CERT: &[u8] = include_bytes!("../../../fixtures/pki/certs/carol-1.pem");
    const BOB_KEY: &[u8] = include_bytes!("../../../fixtures/pki/keys/bob.key");
    const CHAIN: &[u8] = include_bytes!("../../../fixtures/pki/ca/chain.pem");

    fn alice() -> Credential {
        Credential::from_pem(ALICE_CERT, Some(ALICE_KEY), None).unwrap()
    }

    fn part(segment: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn jwt_header_claims_and_signature() {
        let cred = alice();
        let url = "https://login.example/tenant-id/oauth2/v2.0/token";
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let jwt = cred
            .client_assertion("client-1", url, now, "0a1b2c3d-0000-4000-8000-000000000000")
            .unwrap();
        let segments: Vec<&str> = jwt.split('.').collect();
        assert_eq!(segments.len(), 3);
        assert!(!jwt.contains('=') && !jwt.contains('+') && !jwt.contains('/'));

        let header = part(segments[0]);
        let sha1 = ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cred.certificate_der(),
        );
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(sha1.as_ref())})
        );
        assert_eq!(cred.x5t().len(), 27);

        let claims = part(segments[1]);
        assert_eq!(
            claims,
            serde_json::json!({
                "aud": url, "iss": "client-1", "sub": "client-1",
                "jti": "0a1b2c3d-0000-4000-8000-000000000000",
                "nbf": 1_800_000_000u64, "iat": 1_800_000_000u64, "exp": 1_800_000_600u64,
            })
        );

        // The signature verifies with the certificate's public key.
        let (_, cert) = x509_parser::parse_x509_certificate(cred.certificate_der()).unwrap();
        let spk = cert.public_key().subject_public_key.data.to_vec();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            spk,
        );
        let signed = format!("{}.{}", segments[0], segments[1]);
        let sig = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
        key.verify(signed.as_bytes(), &sig).unwrap();
        let mut tampered = sig.clone();
        tampered[0] ^= 1;
        assert!(key.verify(signed.as_bytes(), &tampered).is_err());
    }

    #[test]
    fn pem_in_one_file_with_a_chain_and_debug_redacts() {
        let mut all = CHAIN.to_vec();
        all.extend_from_slice(ALICE_KEY);
        all.extend_from_slice(ALICE_CERT);
        let cred = Credential::from_pem(&all, None, None).unwrap();
        assert_eq!(cred.x5t(), alice().x5t());
        let shown = format!("{cred:?}");
        assert!(
            shown.contains("[redacted]") && !shown.contains("BEGIN"),
            "{shown}"
        );
    }

    #[test]
    fn pem_refusals_say_why() {
        let err = |r: Result<Credential, CredentialError>| r.err().unwrap().to_string();
        assert!(err(Credential::from_pem(CAROL_CERT, Some(ALICE_KEY), None))
            .contains("none of the certificates"));
        assert!(err(Credential::from_pem(ALICE_CERT, Some(BOB_KEY), None)).contains("RSA"));
        assert!(err(Credential::from_pem(ALICE_CERT, None, None)).contains("no private key"));
        assert!(err(Credential::from_pem(ALICE_KEY, None, None)).contains("no certificate"));
        let mut two = ALICE_KEY.to_vec();
        two.extend_from_slice(ALICE_KEY);
        assert!(err(Credential::from_pem(ALICE_CERT, Some(&two), None)).contains("2 private keys"));
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(err(Credential::from_pem(ALICE_CERT, Some(legacy), None)).contains("openssl pkcs8"));
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(err(Credential::from_pem(ALICE_CERT, Some(encrypted), None)).contains("password"));
    }

    #[test]
    fn uuid_v4_format() {
        let u = format_uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = format_uuid_v4([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
        let a = new_uuid();
        assert_eq!(a.len(), 36);
        assert_ne!(a, new_uuid());
    }
}
