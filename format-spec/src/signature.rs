//! minisign signature files (`.minisig`): strict parsing, signing and
//! verification, byte-compatible with the stock `minisign` tool.
//!
//! A `.minisig` file is four lines, each ending in LF:
//!
//! ```text
//! untrusted comment: <text>
//! base64(alg (2) ‖ key id (8) ‖ signature (64))
//! trusted comment: <text>
//! base64(global signature (64))
//! ```
//!
//! With alg `ED` the signature is Ed25519 over BLAKE2b-512 of the file (not
//! RFC 8032 Ed25519ph); the global signature is Ed25519 over signature ‖
//! trusted comment. Legacy alg `Ed` signs the raw file; it parses, but
//! [`SignatureFile::verify`] refuses it (SPEC.md, downgrade rule).
//!
//! Verification uses `ed25519_dalek::VerifyingKey::verify_strict`, which
//! rejects non-canonical `S`, small-order `R` and weak public keys, so a
//! signature cannot be altered into another valid one.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, VerifyingKey};

use crate::keys::{KeyId, PublicKey, SecretKey, SIG_ALG_ED};
use crate::{err, Result};

const UNTRUSTED_PREFIX: &[u8] = b"untrusted comment: ";
const TRUSTED_PREFIX: &[u8] = b"trusted comment: ";
const SIG_ALG_PREHASHED: [u8; 2] = *b"ED";
/// alg ‖ key id ‖ signature.
const SIG_BLOB_LEN: usize = 2 + 8 + 64;
/// Base64 length of [`SIG_BLOB_LEN`] bytes, padded.
const SIG_BLOB_B64_LEN: usize = 100;
/// Base64 length of a 64-byte global signature, padded.
const GLOBAL_SIG_B64_LEN: usize = 88;

/// BLAKE2b-512 of `data`: the prehash that minisign's `ED` algorithm signs.
pub fn blake2b512(data: &[u8]) -> [u8; 64] {
    *blake2b_simd::Params::new()
        .hash_length(64)
        .hash(data)
        .as_array()
}

/// The signature algorithm of a `.minisig` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `ED`: Ed25519 over BLAKE2b-512 of the file (minisign's default since 0.8).
    Prehashed,
    /// `Ed`: Ed25519 over the raw file (`minisign -S -l`); refused by v1.
    Legacy,
}

impl Algorithm {
    /// The two algorithm bytes as stored in the file.
    pub fn code(self) -> [u8; 2] {
        match self {
            Algorithm::Prehashed => SIG_ALG_PREHASHED,
            Algorithm::Legacy => SIG_ALG_ED,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Prehashed => "ED",
            Algorithm::Legacy => "Ed",
        })
    }
}

/// A parsed (not yet verified) minisign signature file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFile {
    untrusted_comment: String,
    algorithm: Algorithm,
    key_id: KeyId,
    signature: [u8; 64],
    trusted_comment: String,
    global_signature: [u8; 64],
}

/// Checks a comment: printable ASCII (0x20..=0x7e) and at most `max` bytes.
///
/// minisign 0.11 itself accepts TAB (its default trusted comment contains
/// TABs), but v1 admits printable ASCII only (comment injection rule).
fn check_comment(what: &str, comment: &[u8], max: usize) -> std::result::Result<(), String> {
    if comment.len() > max {
        return Err(format!(
            "{what} is {} bytes, more than the maximum of {max}",
            comment.len()
        ));
    }
    if let Some(pos) = comment.iter().position(|b| !(0x20..=0x7e).contains(b)) {
        let byte = comment.get(pos).copied().unwrap_or_default();
        return Err(format!(
            "{what} contains byte 0x{byte:02x} at offset {pos}: only printable ASCII is allowed"
        ));
    }
    Ok(())
}

fn decode_b64<const N: usize>(line_no: usize, line: &[u8], b64_len: usize) -> Result<[u8; N]> {
    if line.len() != b64_len {
        return Err(err!(
            SignatureMalformed,
            "line {line_no}: expected {b64_len} base64 characters, found {}",
            line.len()
        ));
    }
    let bytes = BASE64
        .decode(line)
        .map_err(|e| err!(SignatureMalformed, "line {line_no}: invalid base64: {e}"))?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        err!(
            SignatureMalformed,
            "line {line_no}: expected {N} bytes after base64 decoding, found {len}"
        )
    })
}

fn comment_line(
    line_no: usize,
    line: &[u8],
    prefix: &[u8],
    what: &str,
    max: usize,
) -> Result<String> {
    let comment = line.strip_prefix(prefix).ok_or_else(|| {
        err!(
            SignatureMalformed,
            "line {line_no}: must start with {:?}",
            String::from_utf8_lossy(prefix)
        )
    })?;
    check_comment(what, comment, max)
        .map_err(|m| err!(SignatureMalformed, "line {line_no}: {m}"))?;
    // Printable ASCII is valid UTF-8.
    String::from_utf8(comment.to_vec())
        .map_err(|_| err!(SignatureMalformed, "line {line_no}: {what} is not ASCII"))
}

impl SignatureFile {
    /// Signature files larger than this are refused before parsing.
    pub const MAX_FILE_LEN: usize = 16 * 1024;

    /// Longest trusted comment [`Self::parse`] accepts, in bytes (SPEC.md §7.1).
    pub const MAX_TRUSTED_COMMENT_LEN: usize = 8192;

    /// Longest trusted comment [`Self::sign`] writes, in bytes: the longest
    /// that stock minisign can read back. It reads the line with `fgets` into
    /// `TRUSTEDCOMMENTMAXBYTES` (8192) bytes including the 17-byte prefix,
    /// the LF and the NUL, and its signer refuses longer ones with the same
    /// bound (`src/minisign.c`, `sign()`).
    pub const SIGN_MAX_TRUSTED_COMMENT_LEN: usize = 8192 - 17 - 2;

    /// Longest untrusted comment [`Self::sign`] writes, in bytes: minisign
    /// reads that line into `COMMENTMAXBYTES` (1024) bytes including the
    /// 19-byte prefix, LF and NUL. ([`Self::parse`] has no limit of its own
    /// for the untrusted comment beyond [`Self::MAX_FILE_LEN`], as SPEC.md §7.1.)
    pub const SIGN_MAX_UNTRUSTED_COMMENT_LEN: usize = 1024 - 19 - 2;

    /// Parses a `.minisig` file strictly: exactly four LF-terminated lines as
    /// minisign writes them (the last LF may be missing). Anything else is an
    /// [`ErrorClass::SignatureMalformed`](crate::ErrorClass::SignatureMalformed)
    /// error naming the line. A legacy (`Ed`) signature parses; verification
    /// refuses it.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > Self::MAX_FILE_LEN {
            return Err(err!(
                SignatureMalformed,
                "signature file is {} bytes, more than the maximum of {}",
                bytes.len(),
                Self::MAX_FILE_LEN
            ));
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        if let Some(n) = lines.iter().position(|l| l.contains(&b'\r')) {
            return Err(err!(
                SignatureMalformed,
                "line {}: contains CR: line ends must be LF only",
                n + 1
            ));
        }
        let [l1, l2, l3, l4] = lines.as_slice() else {
            return Err(err!(
                SignatureMalformed,
                "expected exactly 4 lines, found {}",
                lines.len()
            ));
        };
        let untrusted_comment = comment_line(
            1,
            l1,
            UNTRUSTED_PREFIX,
            "untrusted comment",
            Self::MAX_FILE_LEN,
        )?;
        let blob: [u8; SIG_BLOB_LEN] = decode_b64(2, l2, SIG_BLOB_B64_LEN)?;
        let (alg, rest) = blob.split_at(2);
        let (id, sig) = rest.split_at(8);
        let algorithm = if alg == SIG_ALG_PREHASHED {
            Algorithm::Prehashed
        } else if alg == SIG_ALG_ED {
            Algorithm::Legacy
        } else {
            return Err(err!(
                SignatureMalformed,
                "line 2: unknown signature algorithm {:?} (expected \"ED\")",
                String::from_utf8_lossy(alg)
            ));
        };
        let key_id = KeyId::from_bytes(
            id.try_into()
                .map_err(|_| err!(SignatureMalformed, "line 2: bad key id length"))?,
        );
        let signature: [u8; 64] = sig
            .try_into()
            .map_err(|_| err!(SignatureMalformed, "line 2: bad signature length"))?;
        let trusted_comment = comment_line(
            3,
            l3,
            TRUSTED_PREFIX,
            "trusted comment",
            Self::MAX_TRUSTED_COMMENT_LEN,
        )?;
        let global_signature: [u8; 64] = decode_b64(4, l4, GLOBAL_SIG_B64_LEN)?;
        Ok(Self {
            untrusted_comment,
            algorithm,
            key_id,
            signature,
            trusted_comment,
            global_signature,
        })
    }

    /// Signs a file, given its BLAKE2b-512 ([`blake2b512`]), with algorithm
    /// `ED`, as `minisign -S -t <trusted_comment> -c <untrusted_comment>` does.
    ///
    /// Both comments must be printable ASCII within the length limits
    /// that stock minisign reads ([`Self::SIGN_MAX_TRUSTED_COMMENT_LEN`],
    /// [`Self::SIGN_MAX_UNTRUSTED_COMMENT_LEN`]).
    pub fn sign(
        sk: &SecretKey,
        file_blake2b: &[u8; 64],
        trusted_comment: &str,
        untrusted_comment: &str,
    ) -> Result<Self> {
        check_comment(
            "trusted comment",
            trusted_comment.as_bytes(),
            Self::SIGN_MAX_TRUSTED_COMMENT_LEN,
        )
        .map_err(|m| err!(SignatureMalformed, "cannot sign: {m}"))?;
        check_comment(
            "untrusted comment",
            untrusted_comment.as_bytes(),
            Self::SIGN_MAX_UNTRUSTED_COMMENT_LEN,
        )
        .map_err(|m| err!(SignatureMalformed, "cannot sign: {m}"))?;
        let signing = sk.signing_key();
        let signature = signing.sign(file_blake2b).to_bytes();
        let global_signature = signing
            .sign(&global_message(&signature, trusted_comment))
            .to_bytes();
        Ok(Self {
            untrusted_comment: untrusted_comment.to_owned(),
            algorithm: Algorithm::Prehashed,
            key_id: sk.key_id(),
            signature,
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }

    /// Verifies the signature against a public key and the file's BLAKE2b-512.
    ///
    /// Errors: legacy algorithm → `SignatureAlgorithm`; another key id, a bad
    /// file signature or a bad trusted-comment signature → `SignatureInvalid`.
    /// The trusted comment is trustworthy only after this returns `Ok`.
    pub fn verify(&self, pk: &PublicKey, file_blake2b: &[u8; 64]) -> Result<()> {
        if self.algorithm != Algorithm::Prehashed {
            return Err(err!(
                SignatureAlgorithm,
                "signature by key {} uses the legacy minisign algorithm \"Ed\" (unhashed), which is not accepted; sign without -l",
                self.key_id
            ));
        }
        if self.key_id != pk.key_id() {
            return Err(err!(
                SignatureInvalid,
                "signature is by key {}, not {}",
                self.key_id,
                pk.key_id()
            ));
        }
        let vk = VerifyingKey::from_bytes(pk.as_bytes()).map_err(|_| {
            err!(
                SignatureInvalid,
                "public key {} is not a valid Ed25519 key",
                pk.key_id()
            )
        })?;
        vk.verify_strict(file_blake2b, &Signature::from_bytes(&self.signature))
            .map_err(|_| {
                err!(
                    SignatureInvalid,
                    "signature by key {} does not verify: the file or the signature was altered",
                    self.key_id
                )
            })?;
        vk.verify_strict(
            &global_message(&self.signature, &self.trusted_comment),
            &Signature::from_bytes(&self.global_signature),
        )
        .map_err(|_| {
            err!(
                SignatureInvalid,
                "trusted comment signature by key {} does not verify: the trusted comment was altered",
                self.key_id
            )
        })
    }

    /// The file in minisign's exact text form (four lines, each ending in LF).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut blob = Vec::with_capacity(SIG_BLOB_LEN);
        blob.extend_from_slice(&self.algorithm.code());
        blob.extend_from_slice(self.key_id.as_bytes());
        blob.extend_from_slice(&self.signature);
        format!(
            "untrusted comment: {}\n{}\ntrusted comment: {}\n{}\n",
            self.untrusted_comment,
            BASE64.encode(blob),
            self.trusted_comment,
            BASE64.encode(self.global_signature)
        )
        .into_bytes()
    }

    /// The untrusted comment (line 1, without its prefix). Not authenticated.
    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The id of the key that claims to have made the signature.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted comment (line 3, without its prefix); authentic only
    /// after [`Self::verify`] succeeded.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }
}

/// What the global signature signs: signature ‖ trusted comment.
fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + trusted_comment.len());
    m.extend_from_slice(signature);
    m.extend_from_slice(trusted_comment.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::keypair_from_seed;
    use crate::ErrorClass;

    const TC: &str = "certferry-bundle:v1 role=exporter source=contoso-ad seq=1 sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn keys() -> (PublicKey, SecretKey) {
        keypair_from_seed(&[42u8; 32], *b"certfrry")
    }

    fn signed() -> (PublicKey, SignatureFile, [u8; 64]) {
        let (pk, sk) = keys();
        let h = blake2b512(b"bundle bytes");
        let sig = SignatureFile::sign(&sk, &h, TC, "signature from certferry").expect("sign");
        (pk, sig, h)
    }

    fn malformed(bytes: &[u8]) -> crate::Error {
        let e = SignatureFile::parse(bytes).expect_err("must not parse");
        assert_eq!(e.class(), ErrorClass::SignatureMalformed, "{e}");
        e
    }

    /// Decodes line 2, lets `f` modify the blob, and re-encodes it.
    fn with_blob(sig: &SignatureFile, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let text = String::from_utf8(sig.to_bytes()).expect("ascii");
        let lines: Vec<&str> = text.lines().collect();
        let mut blob = BASE64.decode(lines[1]).expect("b64");
        f(&mut blob);
        format!(
            "{}\n{}\n{}\n{}\n",
            lines[0],
            BASE64.encode(&blob),
            lines[2],
            lines[3]
        )
        .into_bytes()
    }

    #[test]
    fn blake2b512_known_answer() {
        // RFC 7693 appendix A: BLAKE2b-512("abc").
        let h = blake2b512(b"abc");
        assert_eq!(
            crate::hex::encode_lower(&h),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn sign_verify_round_trip_and_text_form() {
        let (pk, sig, h) = signed();
        sig.verify(&pk, &h).expect("verifies");
        let bytes = sig.to_bytes();
        let text = String::from_utf8(bytes.clone()).expect("ascii");
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "untrusted comment: signature from certferry");
        assert!(
            lines[1].starts_with("RUR"),
            "alg ED encodes as RUR..: {}",
            lines[1]
        );
        assert_eq!(lines[2], format!("trusted comment: {TC}"));
        assert!(text.ends_with('\n'));
        let back = SignatureFile::parse(&bytes).expect("parse");
        assert_eq!(back, sig);
        assert_eq!(back.algorithm(), Algorithm::Prehashed);
        assert_eq!(back.key_id(), pk.key_id());
        assert_eq!(back.trusted_comment(), TC);
        assert_eq!(back.untrusted_comment(), "signature from certferry");
        back.verify(&pk, &h).expect("parsed copy verifies");
        // The final LF is optional, as minisign's reader does not need it.
        let no_lf = SignatureFile::parse(&bytes[..bytes.len() - 1]).expect("no final LF");
        assert_eq!(no_lf, sig);
    }

    #[test]
    fn signature_is_over_blake2b_prehash_not_ed25519ph() {
        let (pk, sig, h) = signed();
        let vk = VerifyingKey::from_bytes(pk.as_bytes()).expect("vk");
        vk.verify_strict(&h, &Signature::from_bytes(&sig.signature))
            .expect("plain Ed25519 over the 64-byte BLAKE2b-512");
    }

    #[test]
    fn tampered_file_is_signature_invalid() {
        let (pk, sig, _) = signed();
        let e = sig
            .verify(&pk, &blake2b512(b"bundle bytez"))
            .expect_err("other file");
        assert_eq!(e.class(), ErrorClass::SignatureInvalid);
    }

    #[test]
    fn tampered_trusted_comment_is_signature_invalid() {
        let (pk, sig, h) = signed();
        let text = String::from_utf8(sig.to_bytes()).expect("ascii");
        let tampered = text.replace("seq=1 ", "seq=2 ");
        let parsed = SignatureFile::parse(tampered.as_bytes()).expect("still well-formed");
        let e = parsed.verify(&pk, &h).expect_err("comment changed");
        assert_eq!(e.class(), ErrorClass::SignatureInvalid);
        assert!(e.message().contains("trusted comment"), "{e}");
    }

    #[test]
    fn untrusted_comment_is_not_authenticated() {
        let (pk, sig, h) = signed();
        let text = String::from_utf8(sig.to_bytes()).expect("ascii");
        let changed = text.replace("signature from certferry", "anything at all");
        SignatureFile::parse(changed.as_bytes())
            .expect("parse")
            .verify(&pk, &h)
            .expect("untrusted comment may change");
    }

    #[test]
    fn other_key_id_is_signature_invalid_naming_both_keys() {
        let (_, sig, h) = signed();
        let (other, _) = keypair_from_seed(&[43u8; 32], *b"otherkey");
        let e = sig.verify(&other, &h).expect_err("other key");
        assert_eq!(e.class(), ErrorClass::SignatureInvalid);
        assert_eq!(
            e.message(),
            format!(
                "signature is by key {}, not {}",
                sig.key_id(),
                other.key_id()
            )
        );
    }

    #[test]
    fn same_key_id_other_key_is_signature_invalid() {
        let (_, sig, h) = signed();
        let (other, _) = keypair_from_seed(&[43u8; 32], *b"certfrry");
        assert_eq!(
            sig.verify(&other, &h).expect_err("other key").class(),
            ErrorClass::SignatureInvalid
        );
    }

    #[test]
    fn rewritten_key_id_is_signature_invalid() {
        let (_, sig, h) = signed();
        let (other, _) = keypair_from_seed(&[43u8; 32], *b"otherkey");
        let forged = with_blob(&sig, |b| {
            b[2..10].copy_from_slice(other.key_id().as_bytes())
        });
        let forged = SignatureFile::parse(&forged).expect("parse");
        assert_eq!(
            forged.verify(&other, &h).expect_err("forged").class(),
            ErrorClass::SignatureInvalid
        );
    }

    #[test]
    fn legacy_ed_parses_but_verify_is_signature_algorithm() {
        let (pk, sig, h) = signed();
        let legacy = with_blob(&sig, |b| b[..2].copy_from_slice(b"Ed"));
        let parsed = SignatureFile::parse(&legacy).expect("legacy parses");
        assert_eq!(parsed.algorithm(), Algorithm::Legacy);
        let e = parsed.verify(&pk, &h).expect_err("legacy refused");
        assert_eq!(e.class(), ErrorClass::SignatureAlgorithm);
    }

    #[test]
    fn high_s_non_canonical_signature_is_rejected() {
        // S' = S + L verifies with a lax verifier (same point), so it is the
        // classic malleability; verify_strict must refuse it.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let (pk, sig, h) = signed();
        let mut bumped = sig.clone();
        let mut carry = 0u16;
        for (i, l) in L.iter().enumerate() {
            let s = u16::from(bumped.signature[32 + i]) + u16::from(*l) + carry;
            bumped.signature[32 + i] = s as u8;
            carry = s >> 8;
        }
        assert_eq!(carry, 0);
        assert_ne!(bumped.signature, sig.signature);
        let reparsed = SignatureFile::parse(&bumped.to_bytes()).expect("well-formed");
        assert_eq!(
            reparsed.verify(&pk, &h).expect_err("high S").class(),
            ErrorClass::SignatureInvalid
        );
        // The same for the global signature.
        let mut bumped = sig.clone();
        let mut carry = 0u16;
        for (i, l) in L.iter().enumerate() {
            let s = u16::from(bumped.global_signature[32 + i]) + u16::from(*l) + carry;
            bumped.global_signature[32 + i] = s as u8;
            carry = s >> 8;
        }
        assert_eq!(
            bumped.verify(&pk, &h).expect_err("high S global").class(),
            ErrorClass::SignatureInvalid
        );
    }

    #[test]
    fn weak_identity_key_with_trivial_signature_is_rejected() {
        // With A = identity, R = identity and S = 0, the cofactorless
        // equation [S]B = R + [k]A holds for every message: any lax verifier
        // accepts this "signature". verify_strict refuses weak keys.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let key_id = KeyId::from_bytes(*b"weakweak");
        let pk = PublicKey::from_parts_unchecked(key_id, identity);
        let mut trivial = [0u8; 64];
        trivial[0] = 1;
        let h = blake2b512(b"anything");
        let forged = SignatureFile {
            untrusted_comment: String::new(),
            algorithm: Algorithm::Prehashed,
            key_id,
            signature: trivial,
            trusted_comment: TC.to_owned(),
            global_signature: trivial,
        };
        assert_eq!(
            forged.verify(&pk, &h).expect_err("weak key").class(),
            ErrorClass::SignatureInvalid
        );
    }

    #[test]
    fn parse_rejects_wrong_line_structure() {
        let (_, sig, _) = signed();
        let good = String::from_utf8(sig.to_bytes()).expect("ascii");
        let lines: Vec<&str> = good.lines().collect();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "expected exactly 4 lines, found 1"),
            (good.replace('\n', "\r\n"), "line 1: contains CR"),
            (
                good.replacen('\n', "\r\n", 3).replacen("\r\n", "\n", 2),
                "line 3: contains CR",
            ),
            (format!("{good}\n"), "expected exactly 4 lines, found 5"),
            (
                format!("{good}extra\n"),
                "expected exactly 4 lines, found 5",
            ),
            (format!("\n{good}"), "expected exactly 4 lines, found 5"),
            (lines[..3].join("\n"), "expected exactly 4 lines, found 3"),
            (
                good.replacen("untrusted comment: ", "Untrusted comment: ", 1),
                "line 1: must start",
            ),
            (
                good.replacen("untrusted comment: ", "untrusted comment:", 1),
                "line 1: must start",
            ),
            (
                good.replacen("trusted comment: certferry", "trusted comment:certferry", 1),
                "line 3: must start",
            ),
            (
                format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[3], lines[2]),
                "line 3: must start",
            ),
            (
                format!("{}\n{} \n{}\n{}\n", lines[0], lines[1], lines[2], lines[3]),
                "line 2: expected 100 base64",
            ),
            (
                format!("{}\n{}\n{}\n {}\n", lines[0], lines[1], lines[2], lines[3]),
                "line 4: expected 88 base64",
            ),
        ];
        for (input, want) in cases {
            let e = malformed(input.as_bytes());
            assert!(
                e.message().starts_with(want),
                "{input:?}: got {e}, want {want}"
            );
        }
    }

    #[test]
    fn parse_rejects_bad_base64_and_lengths() {
        let (_, sig, _) = signed();
        let good = String::from_utf8(sig.to_bytes()).expect("ascii");
        let lines: Vec<&str> = good.lines().collect();
        let join = |l2: &str, l4: &str| format!("{}\n{l2}\n{}\n{l4}\n", lines[0], lines[2]);
        // Non-canonical: 74 and 64 bytes leave unused bits in the last
        // base64 character before the padding; setting one must be refused.
        let noncanon = crate::keys::tests::set_unused_base64_bit(lines[1]);
        let noncanon4 = crate::keys::tests::set_unused_base64_bit(lines[3]);
        let short_blob = BASE64.encode([0u8; 73]);
        let e = malformed(join(&format!("{short_blob}A"), lines[3]).as_bytes());
        assert!(e.message().starts_with("line 2:"), "{e}");
        for (l2, l4, line) in [
            (noncanon.as_str(), lines[3], "line 2:"),
            (&lines[1].replace('R', "!"), lines[3], "line 2:"),
            (lines[1], &lines[3].replace("==", "=A"), "line 4:"),
            (lines[1], noncanon4.as_str(), "line 4:"),
            (lines[1], &BASE64.encode([0u8; 63]), "line 4:"),
            (lines[1], lines[1], "line 4:"),
        ] {
            let e = malformed(join(l2, l4).as_bytes());
            assert!(e.message().starts_with(line), "{e}");
        }
    }

    #[test]
    fn parse_rejects_unknown_algorithm() {
        let (_, sig, _) = signed();
        for alg in [b"ed", b"EE", b"\0\0"] {
            let bytes = with_blob(&sig, |b| b[..2].copy_from_slice(alg));
            let e = malformed(&bytes);
            assert!(e.message().contains("unknown signature algorithm"), "{e}");
        }
    }

    #[test]
    fn parse_rejects_non_printable_comments() {
        let (_, sig, _) = signed();
        let good = String::from_utf8(sig.to_bytes()).expect("ascii");
        for bad in ["\t", "\x7f", "\x1b[31m", "é", "\0"] {
            let uc = good.replacen("certferry\n", &format!("certferry{bad}\n"), 1);
            assert!(malformed(uc.as_bytes()).message().starts_with("line 1:"));
            let tc = good.replacen("sha256=", &format!("sha256={bad}"), 1);
            assert!(malformed(tc.as_bytes()).message().starts_with("line 3:"));
        }
    }

    #[test]
    fn sign_trusted_comment_limit_is_what_minisign_reads() {
        let (pk, sk) = keys();
        let h = blake2b512(b"x");
        let max = "a".repeat(SignatureFile::SIGN_MAX_TRUSTED_COMMENT_LEN);
        let sig = SignatureFile::sign(&sk, &h, &max, "").expect("at the limit");
        let parsed = SignatureFile::parse(&sig.to_bytes()).expect("parse at limit");
        parsed.verify(&pk, &h).expect("verify at limit");
        let e = SignatureFile::sign(&sk, &h, &format!("{max}a"), "").expect_err("over");
        assert_eq!(e.class(), ErrorClass::SignatureMalformed);
    }

    #[test]
    fn parse_trusted_comment_limit_is_spec_8192_bytes() {
        let (_, sig, _) = signed();
        let text = String::from_utf8(sig.to_bytes()).expect("ascii");
        let at = "a".repeat(SignatureFile::MAX_TRUSTED_COMMENT_LEN);
        let with = |c: &str| text.replacen(TC, c, 1);
        let parsed = SignatureFile::parse(with(&at).as_bytes()).expect("8192 bytes parse");
        assert_eq!(parsed.trusted_comment().len(), 8192);
        let e = malformed(with(&format!("{at}a")).as_bytes());
        assert!(e.message().starts_with("line 3:"), "{e}");
        assert!(e.message().contains("8193 bytes"), "{e}");
    }

    #[test]
    fn sign_untrusted_comment_limit_is_what_minisign_reads() {
        let (_, sk) = keys();
        let h = blake2b512(b"x");
        let max = "u".repeat(SignatureFile::SIGN_MAX_UNTRUSTED_COMMENT_LEN);
        let sig = SignatureFile::sign(&sk, &h, "t", &max).expect("at the limit");
        SignatureFile::parse(&sig.to_bytes()).expect("parse at limit");
        let e = SignatureFile::sign(&sk, &h, "t", &format!("{max}u")).expect_err("over");
        assert_eq!(e.class(), ErrorClass::SignatureMalformed);
        // Parsing follows SPEC.md: no untrusted comment limit but the file size.
        let text = String::from_utf8(sig.to_bytes()).expect("ascii");
        let long = text.replacen(&max, &"u".repeat(10_000), 1);
        SignatureFile::parse(long.as_bytes()).expect("long untrusted comment parses");
    }

    #[test]
    fn oversized_file_is_refused_before_parsing() {
        let big = vec![b'a'; SignatureFile::MAX_FILE_LEN + 1];
        assert!(malformed(&big).message().contains("more than the maximum"));
    }

    #[test]
    fn sign_refuses_newline_in_comments() {
        let (_, sk) = keys();
        let h = blake2b512(b"x");
        for (tc, uc) in [("a\nb", "u"), ("t", "a\nb"), ("a\rb", "u"), ("t", "a\tb")] {
            assert_eq!(
                SignatureFile::sign(&sk, &h, tc, uc)
                    .expect_err("refused")
                    .class(),
                ErrorClass::SignatureMalformed
            );
        }
    }

    #[test]
    fn verifies_signature_made_by_minisign_crate() {
        // Independent implementation: rust-minisign 0.10 signs with ED by default.
        let kp = minisign::KeyPair::generate_unencrypted_keypair().expect("gen");
        let data = b"some bundle";
        let sig_box = minisign::sign(
            Some(&kp.pk),
            &kp.sk,
            std::io::Cursor::new(data),
            Some(TC),
            Some("from rust-minisign"),
        )
        .expect("sign");
        let pk = PublicKey::from_base64(&kp.pk.to_base64()).expect("pk");
        let parsed = SignatureFile::parse(sig_box.to_string().as_bytes()).expect("parse");
        parsed.verify(&pk, &blake2b512(data)).expect("verify");
        assert_eq!(parsed.trusted_comment(), TC);
    }

    #[test]
    fn minisign_crate_verifies_our_signature() {
        let (pk, sig, _) = signed();
        let their_pk = minisign::PublicKey::from_base64(&pk.to_base64()).expect("pk");
        let sig_box = minisign::SignatureBox::from_string(
            std::str::from_utf8(&sig.to_bytes()).expect("ascii"),
        )
        .expect("parse");
        minisign::verify(
            &their_pk,
            &sig_box,
            std::io::Cursor::new(b"bundle bytes"),
            true,
            false,
            false,
        )
        .expect("rust-minisign verifies");
    }
}
