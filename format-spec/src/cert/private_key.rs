//! Spotting private key material in attribute values, so that it never
//! travels in a bundle.

use std::sync::LazyLock;

use memchr::memmem;

use super::ber::{self, Tlv, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, UNIVERSAL};

/// How far before "PRIVATE KEY" the `-----BEGIN ` or `-----END ` of a PEM
/// boundary line is looked for.
const MAX_LABEL_PREFIX: usize = 64;

/// Describes the private key material in `bytes`, or `None` if there is none.
///
/// Detected:
///
/// - a PEM boundary line (`-----BEGIN <label>-----` or `-----END <label>-----`)
///   whose label ends in `PRIVATE KEY` (`PRIVATE KEY`, `RSA PRIVATE KEY`,
///   `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`, ...)
///   or is `PGP PRIVATE KEY BLOCK`, anywhere in the bytes;
/// - at the top level (the value starts with it; it may be truncated):
///   a PKCS#12/PFX (`SEQUENCE { INTEGER 3, SEQUENCE { OID data or signedData, ...}, ...}`),
///   a PKCS#8 PrivateKeyInfo (`SEQUENCE { INTEGER 0|1, SEQUENCE { OID, ...}, OCTET STRING, ...}`),
///   a PKCS#8 EncryptedPrivateKeyInfo (`SEQUENCE { SEQUENCE { OID under
///   1.2.840.113549.1.5 or 1.2.840.113549.1.12.1, ...}, OCTET STRING }`),
///   an RSAPrivateKey, or a DSA key in the same OpenSSL form
///   (`SEQUENCE { INTEGER 0|1, INTEGER, INTEGER, INTEGER, ...}`),
///   an ECPrivateKey (`SEQUENCE { INTEGER 1, OCTET STRING, ...}`).
///
/// Cost: one SIMD substring scan of the bytes plus a look at the first few
/// DER elements. Never panics.
pub fn find_private_key_material(bytes: &[u8]) -> Option<&'static str> {
    pem_private_key(bytes).or_else(|| der_private_key(bytes))
}

/// The substring searcher, built once.
static PRIVATE_KEY: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"PRIVATE KEY"));

fn pem_private_key(bytes: &[u8]) -> Option<&'static str> {
    for pos in PRIVATE_KEY.find_iter(bytes) {
        let after = bytes.get(pos + 11..).unwrap_or(&[]);
        let pgp = after.starts_with(b" BLOCK-----");
        if !pgp && !after.starts_with(b"-----") {
            continue;
        }
        let window = bytes
            .get(pos.saturating_sub(MAX_LABEL_PREFIX)..pos)
            .unwrap_or(&[]);
        // The last "-----" in the window must be the boundary's opening
        // dashes, followed by "BEGIN " or "END " and a label prefix.
        let Some(dash) = memmem::rfind(window, b"-----") else {
            continue;
        };
        let rest = window.get(dash + 5..).unwrap_or(&[]);
        let prefix = rest
            .strip_prefix(b"BEGIN ")
            .or_else(|| rest.strip_prefix(b"END "));
        let Some(prefix) = prefix else {
            continue;
        };
        if !prefix.iter().all(|&b| (0x20..=0x7e).contains(&b)) {
            continue;
        }
        if pgp {
            return (prefix == b"PGP ").then_some("PGP private key block");
        }
        return Some(match prefix {
            b"" => "PEM private key (PKCS#8 PRIVATE KEY)",
            b"ENCRYPTED " => "PEM encrypted private key (PKCS#8 ENCRYPTED PRIVATE KEY)",
            b"RSA " => "PEM RSA private key (RSA PRIVATE KEY)",
            b"EC " => "PEM EC private key (EC PRIVATE KEY)",
            b"DSA " => "PEM DSA private key (DSA PRIVATE KEY)",
            b"OPENSSH " => "OpenSSH private key (OPENSSH PRIVATE KEY)",
            _ => "PEM private key block",
        });
    }
    None
}

/// Content octets of 1.2.840.113549.1.7.1 (data) and .2 (signedData).
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// Content-octet prefixes of pkcs-5 (1.2.840.113549.1.5) and the PKCS#12
/// PBE ids (1.2.840.113549.1.12.1).
const OID_PKCS5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];
const OID_PKCS12_PBE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];

/// A complete element at `pos` (inside `bytes`).
fn complete(bytes: &[u8], pos: usize) -> Option<Tlv> {
    ber::read(bytes, pos, bytes.len(), ber::MAX_DEPTH - 2).ok()
}

fn is_universal(t: &Tlv, constructed: bool, tag: u32) -> bool {
    t.is(UNIVERSAL, constructed, tag)
}

/// The content of the complete INTEGER at `pos` and where the next element starts.
fn integer(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let t = complete(bytes, pos)?;
    is_universal(&t, false, TAG_INTEGER).then(|| (t.content(bytes), t.end))
}

/// The content of the OID that is the first element inside the complete
/// SEQUENCE at `pos`, and where the element after the SEQUENCE starts.
fn seq_starting_with_oid(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let seq = complete(bytes, pos)?;
    if !is_universal(&seq, true, TAG_SEQUENCE) || seq.indefinite {
        return None;
    }
    let oid = complete(bytes, seq.content_start)?;
    (is_universal(&oid, false, TAG_OID) && oid.end <= seq.content_end)
        .then(|| (oid.content(bytes), seq.end))
}

/// The header of the (possibly truncated) element at `pos` has this type.
fn starts(bytes: &[u8], pos: usize, constructed: bool, tag: u32) -> bool {
    ber::open(bytes, pos).is_some_and(|t| is_universal(&t, constructed, tag))
}

fn der_private_key(bytes: &[u8]) -> Option<&'static str> {
    let outer = ber::open(bytes, 0)?;
    if !is_universal(&outer, true, TAG_SEQUENCE) {
        return None;
    }
    let c0 = outer.content_start;
    if let Some((version, c1)) = integer(bytes, c0) {
        match version {
            [3] => {
                // PFX: version 3, authSafe ContentInfo (data or signedData).
                let ci = ber::open(bytes, c1)?;
                if is_universal(&ci, true, TAG_SEQUENCE) {
                    let oid = complete(bytes, ci.content_start)?;
                    let ct = oid.content(bytes);
                    if is_universal(&oid, false, TAG_OID)
                        && (ct == OID_DATA || ct == OID_SIGNED_DATA)
                    {
                        return Some("PKCS#12/PFX file");
                    }
                }
                None
            }
            [0] | [1] => {
                if let Some((_, c2)) = seq_starting_with_oid(bytes, c1) {
                    return starts(bytes, c2, false, TAG_OCTET_STRING)
                        .then_some("DER PKCS#8 PrivateKeyInfo");
                }
                if version == [1] && starts(bytes, c1, false, TAG_OCTET_STRING) {
                    return Some("DER ECPrivateKey (SEC 1)");
                }
                // RSAPrivateKey / OpenSSL DSA key: version, then n, e, d (p, q, g, y, x).
                // The modulus (or p) is large; when it is cut off, its
                // header is all there is to see.
                let n = ber::open(bytes, c1)?;
                let n_len = n.content_end.saturating_sub(n.content_start);
                if !is_universal(&n, false, TAG_INTEGER) {
                    return None;
                }
                if complete(bytes, c1).is_none() {
                    return (n_len >= 32)
                        .then_some("DER RSAPrivateKey (PKCS#1) or DSA private key");
                }
                // Then e, then the private exponent d (or q).
                let (_, after_e) = integer(bytes, n.end)?;
                starts(bytes, after_e, false, TAG_INTEGER)
                    .then_some("DER RSAPrivateKey (PKCS#1) or DSA private key")
            }
            _ => None,
        }
    } else {
        // EncryptedPrivateKeyInfo: the encryption AlgorithmIdentifier (whose
        // PBES2 parameters may be cut off) then the encrypted data.
        let alg = ber::open(bytes, c0)?;
        if !is_universal(&alg, true, TAG_SEQUENCE) {
            return None;
        }
        let oid = complete(bytes, alg.content_start)?;
        let ct = oid.content(bytes);
        if !is_universal(&oid, false, TAG_OID)
            || !(ct.starts_with(OID_PKCS5) || ct.starts_with(OID_PKCS12_PBE))
        {
            return None;
        }
        match complete(bytes, c0) {
            Some(alg) => starts(bytes, alg.end, false, TAG_OCTET_STRING)
                .then_some("DER PKCS#8 EncryptedPrivateKeyInfo"),
            None => Some("DER PKCS#8 EncryptedPrivateKeyInfo"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pem_labels() {
        for (text, want) in [
            (
                &b"-----BEGIN PRIVATE KEY-----\nMII"[..],
                Some("PEM private key (PKCS#8 PRIVATE KEY)"),
            ),
            (
                b"x\r\n-----BEGIN RSA PRIVATE KEY-----",
                Some("PEM RSA private key (RSA PRIVATE KEY)"),
            ),
            (
                b"-----END EC PRIVATE KEY-----",
                Some("PEM EC private key (EC PRIVATE KEY)"),
            ),
            (
                b"-----BEGIN OPENSSH PRIVATE KEY-----",
                Some("OpenSSH private key (OPENSSH PRIVATE KEY)"),
            ),
            (
                b"-----BEGIN ENCRYPTED PRIVATE KEY-----",
                Some("PEM encrypted private key (PKCS#8 ENCRYPTED PRIVATE KEY)"),
            ),
            (
                b"-----BEGIN SSH2 ENCRYPTED PRIVATE KEY-----",
                Some("PEM private key block"),
            ),
            (
                b"-----BEGIN PGP PRIVATE KEY BLOCK-----",
                Some("PGP private key block"),
            ),
            (b"PRIVATE KEY", None),
            (b"-----BEGIN CERTIFICATE-----\nPRIVATE KEY-----", None),
            (b"-----BEGIN PUBLIC KEY-----", None),
            (b"BEGIN PRIVATE KEY-----", None),
            (b"-----BEGIN PRIVATE KEY", None),
            (b"", None),
        ] {
            assert_eq!(
                find_private_key_material(text),
                want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn der_shapes_are_not_certificates() {
        // A certificate-like SEQUENCE { SEQUENCE { [0] ... } ... } is not a key.
        assert_eq!(
            find_private_key_material(&[0x30, 0x06, 0x30, 0x04, 0xa0, 0x02, 0x02, 0x00]),
            None
        );
        // ECPrivateKey prefix.
        assert_eq!(
            find_private_key_material(&[0x30, 0x08, 0x02, 0x01, 0x01, 0x04, 0x20, 1, 2, 3]),
            Some("DER ECPrivateKey (SEC 1)")
        );
        // PFX prefix, truncated.
        let pfx = [
            0x30, 0x82, 0x09, 0x00, 0x02, 0x01, 0x03, 0x30, 0x82, 0x08, 0x00, 0x06, 0x09, 0x2a,
            0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0,
        ];
        assert_eq!(find_private_key_material(&pfx), Some("PKCS#12/PFX file"));
    }
}
