//! Client assertions (RFC 7523 JWTs) as the Microsoft identity platform checks them, and a
//! signing helper for tests.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SecureRandom as _;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use serde_json::{json, Value};

/// Allowed clock skew (seconds) for `nbf`, `iat` and the 10-minute `exp` bound.
pub const CLOCK_SKEW_SECS: u64 = 5;
/// The farthest ahead `exp` may be (seconds), as the protocol says.
pub const MAX_ASSERTION_LIFETIME_SECS: u64 = 600;

/// `x5t`: base64url (no padding) of the SHA-1 of the certificate's DER.
pub fn x5t(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert_der,
    ))
}

/// The certificate's RSA public key as a PKCS#1 `RSAPublicKey` DER (what ring verifies with).
pub fn rsa_public_key(cert_der: &[u8]) -> Result<Vec<u8>, String> {
    let (rest, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let spki = &cert.tbs_certificate.subject_pki;
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err(format!(
            "the certificate's key is not RSA (algorithm {})",
            spki.algorithm.algorithm
        ));
    }
    Ok(spki.subject_public_key.data.to_vec())
}

/// Why an assertion was refused: an AADSTS code and the description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The numeric part of the AADSTS code.
    pub code: u32,
    /// The `error_description` text after `AADSTSnnn: `.
    pub message: String,
}

fn refuse(code: u32, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// What the assertion must say.
pub struct Expected<'a> {
    /// The token URL the client posted to (`aud`).
    pub audience: &'a str,
    /// The `client_id` form field (`iss` and `sub`).
    pub client_id: &'a str,
    /// The registered certificate of that app (DER).
    pub certificate_der: &'a [u8],
    /// Now, in seconds since the Unix epoch.
    pub now: u64,
}

/// The accepted assertion's `jti` and `exp`.
#[derive(Clone, Debug)]
pub struct Accepted {
    /// `jti`.
    pub jti: String,
    /// `exp`.
    pub exp: u64,
}

fn numeric_date(claims: &Value, name: &str) -> Result<u64, Refusal> {
    match claims.get(name) {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or_else(|| {
                refuse(
                    50027,
                    format!("Invalid JWT token. Claim '{name}' is not a valid NumericDate."),
                )
            }),
        Some(_) => Err(refuse(
            50027,
            format!("Invalid JWT token. Claim '{name}' is not a number."),
        )),
        None => Err(refuse(
            50027,
            format!("Invalid JWT token. The required claim '{name}' is missing."),
        )),
    }
}

fn string_claim<'v>(claims: &'v Value, name: &str) -> Result<&'v str, Refusal> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(refuse(
            50027,
            format!("Invalid JWT token. Claim '{name}' is not a non-empty string."),
        )),
        None => Err(refuse(
            50027,
            format!("Invalid JWT token. The required claim '{name}' is missing."),
        )),
    }
}

/// Verifies a client assertion: structure, `alg` RS256, `x5t` of the registered certificate,
/// RS256 signature with its key, `aud`, `iss` = `sub` = client id, `jti`, `nbf`/`iat` not in
/// the future, `exp` in the future and at most 10 minutes ahead. Replay (`jti` reuse) is the
/// caller's check.
pub fn verify(assertion: &str, expected: &Expected<'_>) -> Result<Accepted, Refusal> {
    let malformed = || refuse(50027, "JWT token is invalid or is malformed.");
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h64, c64, s64] = parts[..] else {
        return Err(malformed());
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| malformed());
    let header: Value = serde_json::from_slice(&decode(h64)?).map_err(|_| malformed())?;
    let claims: Value = serde_json::from_slice(&decode(c64)?).map_err(|_| malformed())?;
    let sig = decode(s64)?;
    if !header.is_object() || !claims.is_object() {
        return Err(malformed());
    }
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        other => {
            return Err(refuse(
                5002738,
                format!(
                    "Invalid JWT token. '{}' is not a supported signature algorithm (certferry \
                     protocol: RS256).",
                    other.unwrap_or("(none)")
                ),
            ))
        }
    }
    if let Some(typ) = header.get("typ") {
        if typ != "JWT" {
            return Err(refuse(
                50027,
                "Invalid JWT token. Header 'typ' is not 'JWT'.",
            ));
        }
    }
    let registered = x5t(expected.certificate_der);
    match header.get("x5t").and_then(Value::as_str) {
        Some(t) if t == registered => {}
        Some(t) => {
            return Err(refuse(
                700027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not \
                     registered on application. [Reason - The key was not found., Thumbprint of \
                     key used by client: '{t}']"
                ),
            ))
        }
        None => {
            return Err(refuse(
                700027,
                "Client assertion header has no 'x5t' (the certificate thumbprint).",
            ))
        }
    }
    let public_key = rsa_public_key(expected.certificate_der)
        .map_err(|e| refuse(700027, format!("Registered certificate unusable: {e}")))?;
    let signing_input = &assertion[..h64.len() + 1 + c64.len()];
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| refuse(700027, "Client assertion failed signature validation."))?;

    let aud = string_claim(&claims, "aud")?;
    if aud != expected.audience {
        return Err(refuse(
            50013,
            format!(
                "Assertion audience claim '{aud}' does not match the required value '{}'.",
                expected.audience
            ),
        ));
    }
    let iss = string_claim(&claims, "iss")?;
    let sub = string_claim(&claims, "sub")?;
    if iss != expected.client_id || sub != expected.client_id {
        return Err(refuse(
            700021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter \
                 (iss '{iss}', sub '{sub}', client_id '{}').",
                expected.client_id
            ),
        ));
    }
    let jti = string_claim(&claims, "jti")?.to_owned();
    let exp = numeric_date(&claims, "exp")?;
    let nbf = numeric_date(&claims, "nbf")?;
    let iat = numeric_date(&claims, "iat")?;
    let now = expected.now;
    let time_range = |why: String| {
        refuse(
            700024,
            format!("Client assertion is not within its valid time range. {why}"),
        )
    };
    if exp <= now {
        return Err(time_range(format!(
            "Current time: {now}, assertion valid to: {exp} (expired)."
        )));
    }
    if exp > now + MAX_ASSERTION_LIFETIME_SECS + CLOCK_SKEW_SECS {
        return Err(time_range(format!(
            "Current time: {now}, expiry time of assertion {exp} is more than 10 minutes ahead."
        )));
    }
    if nbf > now + CLOCK_SKEW_SECS {
        return Err(time_range(format!(
            "Current time: {now}, assertion not valid before {nbf}."
        )));
    }
    if iat > now + CLOCK_SKEW_SECS {
        return Err(time_range(format!(
            "Current time: {now}, assertion issued in the future ({iat})."
        )));
    }
    if nbf >= exp {
        return Err(time_range(format!("nbf {nbf} is not before exp {exp}.")));
    }
    Ok(Accepted { jti, exp })
}

/// Decodes the first `-----BEGIN PRIVATE KEY-----` (PKCS#8) block of a PEM text.
pub fn pkcs8_der_from_pem(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    let start = pem.find(BEGIN).ok_or("no PRIVATE KEY block")?;
    let body = &pem[start + BEGIN.len()..];
    let end = body
        .find("-----END PRIVATE KEY-----")
        .ok_or("PRIVATE KEY block without END line")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).map_err(|e| e.to_string())
}

/// Random bytes from the system generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random generator failed");
    b
}

/// A random (version 4) UUID, lowercase.
pub fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    crate::tenant::format_guid(&b)
}

/// Builds and signs a client assertion (for tests and the demo): header
/// `{"alg":"RS256","typ":"JWT","x5t":…}` and the given claims, RS256 with the PKCS#8 key.
pub fn sign(key_pkcs8_der: &[u8], header: &Value, claims: &Value) -> Result<String, String> {
    let key = RsaKeyPair::from_pkcs8(key_pkcs8_der).map_err(|e| format!("RSA key: {e}"))?;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|e| format!("signing: {e}"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// A valid assertion per the protocol: `aud` = `token_url`, `iss` = `sub` = `client_id`,
/// fresh `jti`, `nbf` = `iat` = `now`, `exp` = `now + 600`.
pub fn assertion(
    key_pkcs8_der: &[u8],
    cert_der: &[u8],
    client_id: &str,
    token_url: &str,
    now: u64,
) -> Result<String, String> {
    sign(
        key_pkcs8_der,
        &json!({"alg": "RS256", "typ": "JWT", "x5t": x5t(cert_der)}),
        &json!({
            "aud": token_url, "iss": client_id, "sub": client_id, "jti": uuid_v4(),
            "nbf": now, "iat": now, "exp": now + MAX_ASSERTION_LIFETIME_SECS,
        }),
    )
}
