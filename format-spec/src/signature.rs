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
mod tests;
