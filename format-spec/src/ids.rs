//! Small validated identifiers shared by the whole format: source ids, roles,
//! sequence numbers and SHA-256 digests (SPEC.md §3).

use std::fmt;
use std::str::FromStr;

use crate::{err, Error, Result};

/// A source id: 1 to 64 bytes of `[a-z0-9._-]`, starting with `[a-z0-9]` (SPEC.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(String);

impl SourceId {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses a source id, rejecting anything outside the grammar.
    pub fn parse(s: &str) -> Result<Self> {
        let ok_len = !s.is_empty() && s.len() <= Self::MAX_LEN;
        let ok_first = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok_len && ok_first && ok_chars {
            Ok(Self(s.to_owned()))
        } else {
            Err(err!(
                Content,
                "invalid source id {s:?}: expected 1-64 characters of [a-z0-9._-] starting with a letter or digit"
            ))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SourceId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The role a signer plays (SPEC.md §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The key of the exporting system.
    Exporter,
    /// A security reviewer who approved the bundle.
    Reviewer,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 2] = [Role::Exporter, Role::Reviewer];

    /// The role's name as written in trusted comments and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Exporter => "exporter",
            Role::Reviewer => "reviewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "exporter" => Ok(Role::Exporter),
            "reviewer" => Ok(Role::Reviewer),
            _ => Err(err!(TrustedComment, "unknown role {s:?}")),
        }
    }
}

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Hashes `data`.
    pub fn digest(data: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(data).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses exactly 64 lowercase hex digits (uppercase is not canonical).
    pub fn parse_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        crate::hex::decode_lower_into(s.as_bytes(), &mut out).then_some(Self(out))
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        crate::hex::encode_lower(&self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl serde::Serialize for SourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        SourceId::parse(&s).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Sha256::parse_hex(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is not 64 lowercase hex digits"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_id_grammar() {
        for ok in ["a", "contoso-ad", "x.y_z-9", &"a".repeat(64)] {
            assert!(SourceId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(SourceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_hex_round_trip_rejects_uppercase() {
        let d = Sha256::digest(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256::parse_hex(&d.to_hex()), Some(d));
        assert_eq!(Sha256::parse_hex(&d.to_hex().to_uppercase()), None);
        assert_eq!(Sha256::parse_hex("ab"), None);
    }
}
