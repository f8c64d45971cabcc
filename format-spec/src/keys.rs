//! minisign-compatible Ed25519 keys: key ids, public keys and (optionally
//! password-protected) secret keys, in the exact file formats of the stock
//! `minisign` tool (jedisct1/minisign, `src/minisign.c` and `src/minisign.h`).
//!
//! - Public key: base64(`"Ed"` ‖ key id (8) ‖ Ed25519 public key (32)); a `.pub`
//!   file is `untrusted comment: minisign public key <KEYID>` and that line.
//! - Secret key: base64(`"Ed"` ‖ kdf alg (`"Sc"` or two zero bytes) ‖ `"B2"` ‖
//!   salt (32) ‖ opslimit (u64 LE) ‖ memlimit (u64 LE) ‖ (key id (8) ‖ Ed25519
//!   secret key (64) ‖ BLAKE2b-256 checksum (32)) XOR scrypt stream).
//!
//! Nothing here prints or prompts: a missing password is an error, never a
//! prompt (unlike several functions of the `minisign` crate, which read the
//! terminal when given `None`). The `minisign` crate is therefore not called;
//! it serves as an independent cross-check in the tests.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::{Zeroize as _, Zeroizing};

use crate::{err, Result};

/// The signature algorithm tag of keys (and of legacy signatures).
pub(crate) const SIG_ALG_ED: [u8; 2] = *b"Ed";
const KDF_SCRYPT: [u8; 2] = *b"Sc";
const KDF_NONE: [u8; 2] = [0, 0];
const CHK_BLAKE2B: [u8; 2] = *b"B2";
const UNTRUSTED_PREFIX: &str = "untrusted comment: ";

const KEY_ID_LEN: usize = 8;
const PK_LEN: usize = 32;
const SK_LEN: usize = 64;
const CHK_LEN: usize = 32;
const SALT_LEN: usize = 32;
/// alg ‖ key id ‖ pk.
const PK_BLOB_LEN: usize = 2 + KEY_ID_LEN + PK_LEN;
/// key id ‖ sk ‖ checksum: the part that is XORed with the scrypt stream.
const KEYNUM_SK_LEN: usize = KEY_ID_LEN + SK_LEN + CHK_LEN;
/// sig alg ‖ kdf alg ‖ chk alg ‖ salt ‖ opslimit ‖ memlimit ‖ keynum_sk.
const SK_BLOB_LEN: usize = 2 + 2 + 2 + SALT_LEN + 8 + 8 + KEYNUM_SK_LEN;

/// Key files larger than this are refused before any decoding.
const MAX_KEY_FILE_LEN: usize = 4096;

/// scrypt limits written by [`SecretKey::to_file_string`]: the defaults of the
/// `minisign` crate 0.10 (`OPSLIMIT`, `MEMLIMIT` in its `constants.rs`), which
/// pick N = 2^15, r = 8, p = 1 (32 MiB). The C tool writes the libsodium
/// "sensitive" limits (2^25, 1 GiB); both read either.
const DEFAULT_OPSLIMIT: u64 = 1_048_576;
const DEFAULT_MEMLIMIT: u64 = 33_554_432;
/// Largest limits accepted when reading a key: libsodium's "sensitive" values
/// (what `minisign -G` writes) with headroom for opslimit; memory stays at most
/// 1 GiB (N ≤ 2^20 with r = 8), as in the `minisign` crate (`N_LOG2_MAX`).
const MAX_OPSLIMIT: u64 = 1 << 32;
const MAX_MEMLIMIT: u64 = 1 << 30;
const MAX_N_LOG2: u8 = 20;
/// minisign reads passwords with `fgets` into 1024 bytes, minus LF and NUL.
const MAX_PASSWORD_LEN: usize = 1022;

/// A minisign key id: 8 random bytes stored in keys and signatures.
///
/// minisign displays it as the bytes read as a little-endian `u64`, printed as
/// 16 uppercase hex digits (`%016" PRIX64`); [`KeyId::to_hex`] and `Display`
/// use that form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// Wraps the 8 key id bytes as stored in key and signature files.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The 8 key id bytes as stored in key and signature files.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// minisign's display form: 16 uppercase hex digits of the little-endian `u64`.
    pub fn to_hex(&self) -> String {
        format!("{:016X}", u64::from_le_bytes(self.0))
    }

    /// Parses minisign's display form: exactly 16 uppercase hex digits
    /// (the only form minisign prints; lowercase is not accepted).
    pub fn parse_hex(s: &str) -> Option<Self> {
        let ok = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'));
        if !ok {
            return None;
        }
        // `from_str_radix` alone would also accept a leading `+` and lowercase.
        u64::from_str_radix(s, 16)
            .ok()
            .map(|n| Self(n.to_le_bytes()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// A minisign Ed25519 public key with its key id.
///
/// Construction checks that the key is a valid, canonically encoded Ed25519
/// point of large order, so that a weak key cannot be pinned as trusted.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key_id: KeyId,
    key: [u8; 32],
}

impl PublicKey {
    /// Length of the base64 form (42 bytes, padded).
    pub const BASE64_LEN: usize = 56;

    fn from_parts(key_id: KeyId, key: [u8; 32]) -> Result<Self> {
        let vk = VerifyingKey::from_bytes(&key).map_err(|_| {
            err!(
                Key,
                "public key {key_id} is not a valid Ed25519 public key (not a curve point)"
            )
        })?;
        // `from_bytes` accepts non-canonical encodings and small-order points;
        // neither can come from a real key pair.
        if vk.is_weak() || vk.to_edwards().compress().to_bytes() != key {
            return Err(err!(
                Key,
                "public key {key_id} is a weak or non-canonical Ed25519 public key"
            ));
        }
        Ok(Self { key_id, key })
    }

    /// Builds a key without the point checks, for tests of verification.
    #[cfg(test)]
    pub(crate) fn from_parts_unchecked(key_id: KeyId, key: [u8; 32]) -> Self {
        Self { key_id, key }
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The 32 bytes of the Ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The base64 form used by `minisign -P` and on the second line of a `.pub` file.
    pub fn to_base64(&self) -> String {
        let mut blob = [0u8; PK_BLOB_LEN];
        let (alg, rest) = blob.split_at_mut(2);
        let (id, pk) = rest.split_at_mut(KEY_ID_LEN);
        alg.copy_from_slice(&SIG_ALG_ED);
        id.copy_from_slice(self.key_id.as_bytes());
        pk.copy_from_slice(&self.key);
        BASE64.encode(blob)
    }

    /// Parses the base64 form (canonical padded standard base64 of 42 bytes).
    pub fn from_base64(s: &str) -> Result<Self> {
        if s.len() != Self::BASE64_LEN {
            return Err(err!(
                Key,
                "public key: expected {} base64 characters, found {}",
                Self::BASE64_LEN,
                s.len()
            ));
        }
        let blob = BASE64
            .decode(s)
            .map_err(|e| err!(Key, "public key: invalid base64: {e}"))?;
        let blob: [u8; PK_BLOB_LEN] = blob
            .try_into()
            .map_err(|_| err!(Key, "public key: expected {PK_BLOB_LEN} bytes"))?;
        let (alg, rest) = blob.split_at(2);
        let (id, pk) = rest.split_at(KEY_ID_LEN);
        if alg != SIG_ALG_ED {
            return Err(err!(
                Key,
                "public key: unsupported signature algorithm {:?} (expected \"Ed\")",
                String::from_utf8_lossy(alg)
            ));
        }
        let key_id = KeyId(
            id.try_into()
                .map_err(|_| err!(Key, "public key: bad key id"))?,
        );
        let key: [u8; 32] = pk
            .try_into()
            .map_err(|_| err!(Key, "public key: bad length"))?;
        Self::from_parts(key_id, key)
    }

    /// Parses a `.pub` file: the two lines minisign writes
    /// (`untrusted comment: ...` and the base64 key), or a bare base64 line.
    ///
    /// A final line end is optional, and CRLF line ends are tolerated (a key
    /// file that passed through a Windows editor): any damage to the key
    /// itself is caught by the length, algorithm and point checks.
    pub fn parse_file(s: &str) -> Result<Self> {
        if s.len() > MAX_KEY_FILE_LEN {
            return Err(err!(
                Key,
                "public key file is {} bytes, more than {MAX_KEY_FILE_LEN}",
                s.len()
            ));
        }
        let lines = split_key_file_lines(s);
        match lines.as_slice() {
            [key] => Self::from_base64(key.trim_matches(|c| c == ' ' || c == '\t')),
            [comment, key] => {
                if !comment.starts_with(UNTRUSTED_PREFIX) {
                    return Err(err!(
                        Key,
                        "public key file: line 1 must start with {UNTRUSTED_PREFIX:?}"
                    ));
                }
                Self::from_base64(key)
                    .map_err(|e| err!(Key, "public key file: line 2: {}", e.message()))
            }
            _ => Err(err!(
                Key,
                "public key file: expected 2 lines (untrusted comment and base64 key), found {}",
                lines.len()
            )),
        }
    }

    /// The two-line `.pub` form, exactly as `minisign -G` writes it. minisign
    /// prints the key id here with `%" PRIX64`, without leading zeros (a key id
    /// whose top digit is 0 shows 15 digits), unlike the 16-digit form used
    /// everywhere else (`KeyId::to_hex`, SPEC.md §7.1).
    pub fn to_file_string(&self) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {:X}\n{}\n",
            u64::from_le_bytes(*self.key_id.as_bytes()),
            self.to_base64()
        )
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id)
            .field("base64", &self.to_base64())
            .finish()
    }
}

/// Splits a key file into lines: one optional final line end, LF or CRLF.
fn split_key_file_lines(s: &str) -> Vec<&str> {
    let body = s
        .strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .unwrap_or(s);
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// A minisign Ed25519 secret key with its key id.
///
/// The key material is zeroized on drop (by `ed25519_dalek::SigningKey`) and
/// never appears in `Debug` output.
#[derive(Clone)]
pub struct SecretKey {
    key_id: KeyId,
    signing: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// BLAKE2b-256 over sig alg ‖ key id ‖ secret key, as minisign's `seckey_compute_chk`.
fn secret_key_checksum(key_id: &[u8], sk: &[u8]) -> [u8; CHK_LEN] {
    let mut h = blake2b_simd::Params::new().hash_length(CHK_LEN).to_state();
    h.update(&SIG_ALG_ED);
    h.update(key_id);
    h.update(sk);
    let mut out = [0u8; CHK_LEN];
    out.copy_from_slice(h.finalize().as_bytes());
    out
}

/// scrypt parameters from minisign's opslimit/memlimit, as libsodium's
/// `pickparams` (`crypto_pwhash_scryptsalsa208sha256`) and the `minisign`
/// crate's `raw_scrypt_params` derive them.
fn scrypt_params(opslimit: u64, memlimit: u64) -> Result<scrypt::Params> {
    if opslimit > MAX_OPSLIMIT || memlimit > MAX_MEMLIMIT {
        return Err(err!(
            Key,
            "secret key: scrypt limits too high (opslimit {opslimit}, memlimit {memlimit})"
        ));
    }
    let opslimit = opslimit.max(32_768);
    let r: u32 = 8;
    let smallest_n_log2_above = |max_n: u64| -> u8 {
        let mut n_log2 = 1u8;
        while n_log2 < 63 && (1u64 << n_log2) <= max_n / 2 {
            n_log2 += 1;
        }
        n_log2
    };
    let (n_log2, p) = if opslimit < memlimit / 32 {
        (smallest_n_log2_above(opslimit / (u64::from(r) * 4)), 1u32)
    } else {
        let n_log2 = smallest_n_log2_above(memlimit / (u64::from(r) * 128));
        let max_rp = ((opslimit / 4) >> n_log2).min(0x3fff_ffff);
        let p = u32::try_from(max_rp).unwrap_or(0x3fff_ffff) / r;
        (n_log2, p)
    };
    if n_log2 > MAX_N_LOG2 {
        return Err(err!(
            Key,
            "secret key: scrypt parameters too high (N = 2^{n_log2})"
        ));
    }
    scrypt::Params::new(n_log2, r, p, scrypt::Params::RECOMMENDED_LEN)
        .map_err(|e| err!(Key, "secret key: invalid scrypt parameters: {e}"))
}

/// XORs `keynum_sk` with the scrypt stream derived from the password.
fn xor_scrypt_stream(
    keynum_sk: &mut [u8; KEYNUM_SK_LEN],
    password: &str,
    salt: &[u8; SALT_LEN],
    opslimit: u64,
    memlimit: u64,
) -> Result<()> {
    let params = scrypt_params(opslimit, memlimit)?;
    let mut stream = Zeroizing::new([0u8; KEYNUM_SK_LEN]);
    scrypt::scrypt(password.as_bytes(), salt, &params, stream.as_mut_slice())
        .map_err(|e| err!(Key, "secret key: key derivation failed: {e}"))?;
    for (b, s) in keynum_sk.iter_mut().zip(stream.iter()) {
        *b ^= s;
    }
    Ok(())
}

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    getrandom::fill(out.as_mut_slice()).map_err(|e| {
        err!(
            Key,
            "the operating system's random number generator failed: {e}"
        )
    })?;
    Ok(out)
}

impl SecretKey {
    /// Loads a minisign secret key file (`minisign -G`, encrypted with scrypt,
    /// or `minisign -G -W`, unencrypted).
    ///
    /// An encrypted key needs `password`; a wrong password is an
    /// [`ErrorClass::Key`](crate::ErrorClass::Key) error. For an unencrypted
    /// key the password is ignored. Never prints and never prompts.
    pub fn from_file_bytes(bytes: &[u8], password: Option<&str>) -> Result<Self> {
        if bytes.len() > MAX_KEY_FILE_LEN {
            return Err(err!(
                Key,
                "secret key file is {} bytes, more than {MAX_KEY_FILE_LEN}",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| err!(Key, "secret key file is not ASCII text"))?;
        let lines = split_key_file_lines(text);
        let [comment, encoded] = lines.as_slice() else {
            return Err(err!(
                Key,
                "secret key file: expected 2 lines (untrusted comment and base64 key), found {}",
                lines.len()
            ));
        };
        if !comment.starts_with(UNTRUSTED_PREFIX) {
            return Err(err!(
                Key,
                "secret key file: line 1 must start with {UNTRUSTED_PREFIX:?}"
            ));
        }
        let blob = Zeroizing::new(
            BASE64
                .decode(encoded)
                .map_err(|e| err!(Key, "secret key file: line 2: invalid base64: {e}"))?,
        );
        Self::from_blob(&blob, password)
    }

    fn from_blob(blob: &[u8], password: Option<&str>) -> Result<Self> {
        let blob: &[u8; SK_BLOB_LEN] = blob.try_into().map_err(|_| {
            err!(
                Key,
                "secret key: expected {SK_BLOB_LEN} bytes, found {}",
                blob.len()
            )
        })?;
        let (sig_alg, rest) = blob.split_at(2);
        let (kdf_alg, rest) = rest.split_at(2);
        let (chk_alg, rest) = rest.split_at(2);
        let (salt, rest) = rest.split_at(SALT_LEN);
        let (ops, rest) = rest.split_at(8);
        let (mem, keynum_sk_enc) = rest.split_at(8);
        if sig_alg != SIG_ALG_ED {
            return Err(err!(
                Key,
                "secret key: unsupported signature algorithm (expected \"Ed\")"
            ));
        }
        if chk_alg != CHK_BLAKE2B {
            return Err(err!(
                Key,
                "secret key: unsupported checksum algorithm (expected \"B2\")"
            ));
        }
        let mut keynum_sk = Zeroizing::new([0u8; KEYNUM_SK_LEN]);
        keynum_sk.copy_from_slice(keynum_sk_enc);
        let encrypted = if kdf_alg == KDF_SCRYPT {
            let Some(password) = password else {
                return Err(err!(Key, "secret key is encrypted: a password is required"));
            };
            let salt: &[u8; SALT_LEN] = salt
                .try_into()
                .map_err(|_| err!(Key, "secret key: bad salt"))?;
            let le = |b: &[u8]| -> Result<u64> {
                Ok(u64::from_le_bytes(
                    b.try_into()
                        .map_err(|_| err!(Key, "secret key: bad limits"))?,
                ))
            };
            xor_scrypt_stream(&mut keynum_sk, password, salt, le(ops)?, le(mem)?)?;
            true
        } else if kdf_alg == KDF_NONE {
            false
        } else {
            return Err(err!(
                Key,
                "secret key: unsupported key derivation algorithm (expected \"Sc\" or none)"
            ));
        };
        let (id, rest) = keynum_sk.split_at(KEY_ID_LEN);
        let (sk, chk) = rest.split_at(SK_LEN);
        let expected = secret_key_checksum(id, sk);
        // `minisign -G -W` writes an all-zero checksum and the C tool never
        // checks it for unencrypted keys; `minisign -C -W` keeps the real one.
        let chk_ok = chk == expected || (!encrypted && chk.iter().all(|&b| b == 0));
        if !chk_ok {
            return Err(if encrypted {
                err!(
                    Key,
                    "wrong password or corrupt secret key (checksum mismatch)"
                )
            } else {
                err!(Key, "corrupt secret key (checksum mismatch)")
            });
        }
        let key_id = KeyId(
            id.try_into()
                .map_err(|_| err!(Key, "secret key: bad key id"))?,
        );
        let (seed, pk) = sk.split_at(32);
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| err!(Key, "secret key: bad length"))?;
        let signing = SigningKey::from_bytes(seed);
        // The second half of an Ed25519 secret key is its public key; a
        // mismatch means corruption (caught here rather than as bad signatures).
        if signing.verifying_key().as_bytes().as_slice() != pk {
            return Err(err!(
                Key,
                "corrupt secret key {key_id}: its public half does not match its secret half"
            ));
        }
        Ok(Self { key_id, signing })
    }

    /// The secret key file, in the form minisign reads.
    ///
    /// With a password the key is encrypted with scrypt (fresh random salt,
    /// the `minisign` crate's default limits: N = 2^15, r = 8, p = 1). With
    /// `None` it is written unencrypted, like `minisign -G -W`, but with a
    /// real checksum (minisign writes zeros there; both forms load anywhere).
    ///
    /// The password must be at most 1022 bytes without CR, LF or NUL, so that
    /// the stock tool, which reads it as one line, can use the key.
    pub fn to_file_string(&self, password: Option<&str>) -> Result<String> {
        let (kdf_alg, salt, ops, mem) = match password {
            None => (KDF_NONE, Zeroizing::new([0u8; SALT_LEN]), 0, 0),
            Some(pw) => {
                if pw.len() > MAX_PASSWORD_LEN || pw.bytes().any(|b| matches!(b, 0 | b'\r' | b'\n'))
                {
                    return Err(err!(
                        Key,
                        "password must be at most {MAX_PASSWORD_LEN} bytes without CR, LF or NUL (minisign reads it as one line)"
                    ));
                }
                (
                    KDF_SCRYPT,
                    random_bytes::<SALT_LEN>()?,
                    DEFAULT_OPSLIMIT,
                    DEFAULT_MEMLIMIT,
                )
            }
        };
        let mut keynum_sk = Zeroizing::new([0u8; KEYNUM_SK_LEN]);
        {
            let (id, rest) = keynum_sk.split_at_mut(KEY_ID_LEN);
            let (sk, chk) = rest.split_at_mut(SK_LEN);
            id.copy_from_slice(self.key_id.as_bytes());
            let mut keypair = self.signing.to_keypair_bytes();
            sk.copy_from_slice(&keypair);
            keypair.zeroize();
            chk.copy_from_slice(&secret_key_checksum(id, sk));
        }
        if let Some(pw) = password {
            xor_scrypt_stream(&mut keynum_sk, pw, &salt, ops, mem)?;
        }
        let mut blob = Zeroizing::new(Vec::with_capacity(SK_BLOB_LEN));
        blob.extend_from_slice(&SIG_ALG_ED);
        blob.extend_from_slice(&kdf_alg);
        blob.extend_from_slice(&CHK_BLAKE2B);
        blob.extend_from_slice(salt.as_slice());
        blob.extend_from_slice(&ops.to_le_bytes());
        blob.extend_from_slice(&mem.to_le_bytes());
        blob.extend_from_slice(keynum_sk.as_slice());
        let comment = if password.is_some() {
            "minisign encrypted secret key"
        } else {
            "minisign unencrypted secret key"
        };
        Ok(format!(
            "{UNTRUSTED_PREFIX}{comment}\n{}\n",
            BASE64.encode(blob.as_slice())
        ))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.signing.verifying_key().to_bytes(),
        }
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 signing key, for [`crate::signature`].
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

/// Generates a key pair with a random seed and key id from the operating system.
pub fn generate_keypair() -> Result<(PublicKey, SecretKey)> {
    let seed = random_bytes::<32>()?;
    let key_id = random_bytes::<KEY_ID_LEN>()?;
    Ok(keypair_from_seed(&seed, *key_id))
}

/// Derives a key pair deterministically from an Ed25519 seed and a key id,
/// for test vectors and fixtures. Never use a predictable seed for real keys.
pub fn keypair_from_seed(seed: &[u8; 32], key_id: [u8; 8]) -> (PublicKey, SecretKey) {
    let sk = SecretKey {
        key_id: KeyId(key_id),
        signing: SigningKey::from_bytes(seed),
    };
    (sk.public_key(), sk)
}

#[cfg(test)]
pub(crate) mod tests;
