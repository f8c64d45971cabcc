//! The certferry trusted comment: the signed line of a `.minisig` file that
//! binds a signature to one bundle (SPEC.md defines it; this is its grammar).
//!
//! ```text
//! certferry-bundle:v1 role=<role> source=<source-id> seq=<n> sha256=<64 lowercase hex>
//! ```
//!
//! Exactly these five tokens, in this order, separated by single spaces,
//! with nothing before or after. `role` is `exporter` or `reviewer`;
//! `source` follows [`SourceId`]; `seq` is a decimal in
//! `1..=9223372036854775807` without sign or leading zeros; `sha256` is the
//! SHA-256 of the bundle zip file. One canonical spelling per value means a
//! comment cannot be reworded into another that means the same thing, and a
//! fixed order rules out duplicated keys.

use std::fmt;

use crate::ids::{Role, Sha256, SourceId};
use crate::{err, Result};

/// The first token: format name and version.
const MAGIC: &str = "certferry-bundle:v1";
/// The keys of tokens 2 to 5, in order.
const KEYS: [&str; 4] = ["role", "source", "seq", "sha256"];

/// A parsed certferry trusted comment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrustedComment {
    /// The role of the signer.
    pub role: Role,
    /// The source the bundle comes from.
    pub source: SourceId,
    /// The bundle's sequence number, in `1..=`[`Self::MAX_SEQUENCE`].
    pub sequence: u64,
    /// SHA-256 of the bundle zip file.
    pub sha256: Sha256,
}

impl TrustedComment {
    /// Largest sequence number (`i64::MAX`, so that it fits signed 64-bit
    /// integers in stores and in other languages).
    pub const MAX_SEQUENCE: u64 = i64::MAX as u64;

    /// Parses a trusted comment, refusing anything but the canonical form.
    /// Errors are [`ErrorClass::TrustedComment`](crate::ErrorClass::TrustedComment)
    /// and name the wrong token.
    pub fn parse(s: &str) -> Result<Self> {
        let tokens: Vec<&str> = s.split(' ').collect();
        if let Some(i) = tokens.iter().position(|t| t.is_empty()) {
            return Err(err!(
                TrustedComment,
                "empty token {} in trusted comment: tokens are separated by single spaces, with none at the start or end",
                i + 1
            ));
        }
        let [magic, role, source, seq, sha256] = tokens.as_slice() else {
            return Err(err!(
                TrustedComment,
                "trusted comment has {} tokens, expected 5: {MAGIC} role= source= seq= sha256=",
                tokens.len()
            ));
        };
        if *magic != MAGIC {
            return Err(if magic.starts_with("certferry-bundle:") {
                err!(
                    TrustedComment,
                    "token 1: unsupported trusted comment version {magic:?}, expected {MAGIC:?}"
                )
            } else {
                err!(
                    TrustedComment,
                    "token 1: not a certferry trusted comment (expected {MAGIC:?})"
                )
            });
        }
        let [role, source, seq, sha256] = [
            value(2, role, 0)?,
            value(3, source, 1)?,
            value(4, seq, 2)?,
            value(5, sha256, 3)?,
        ];
        let role = role.parse::<Role>().map_err(|_| {
            err!(
                TrustedComment,
                "token 2: role {role:?} is not \"exporter\" or \"reviewer\""
            )
        })?;
        let source = SourceId::parse(source)
            .map_err(|e| err!(TrustedComment, "token 3: {}", e.message()))?;
        let sequence = parse_sequence(seq)?;
        let sha256 = Sha256::parse_hex(sha256).ok_or_else(|| {
            err!(
                TrustedComment,
                "token 5: sha256 must be 64 lowercase hex digits, found {sha256:?}"
            )
        })?;
        Ok(Self {
            role,
            source,
            sequence,
            sha256,
        })
    }
}

/// Splits token `n` (1-based) into its value, checking its key is `KEYS[k]`.
fn value(n: usize, token: &str, k: usize) -> Result<&str> {
    let want = KEYS.get(k).copied().unwrap_or_default();
    let (key, value) = token.split_once('=').ok_or_else(|| {
        err!(
            TrustedComment,
            "token {n}: expected {want}=<value>, found {token:?}"
        )
    })?;
    if key != want {
        let why = if KEYS.contains(&key) {
            " (tokens out of order or duplicated)"
        } else {
            ""
        };
        return Err(err!(
            TrustedComment,
            "token {n}: expected key {want:?}, found {key:?}{why}"
        ));
    }
    Ok(value)
}

fn parse_sequence(s: &str) -> Result<u64> {
    let bad = |why: &str| err!(TrustedComment, "token 4: seq {s:?} {why}");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must be a decimal number without sign"));
    }
    if s.starts_with('0') {
        return Err(bad("must be at least 1, without leading zeros"));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= TrustedComment::MAX_SEQUENCE => Ok(n),
        _ => Err(bad("is larger than 9223372036854775807")),
    }
}

impl fmt::Display for TrustedComment {
    /// The canonical form. (A value built by hand with `sequence` outside
    /// `1..=MAX_SEQUENCE` prints a comment that [`TrustedComment::parse`] refuses.)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MAGIC} role={} source={} seq={} sha256={}",
            self.role, self.source, self.sequence, self.sha256
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;

    const HEX: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn good() -> String {
        format!("certferry-bundle:v1 role=exporter source=contoso-ad seq=42 sha256={HEX}")
    }

    fn refused(s: &str) -> String {
        let e = TrustedComment::parse(s).expect_err(s);
        assert_eq!(e.class(), ErrorClass::TrustedComment, "{s}: {e}");
        e.message().to_owned()
    }

    #[test]
    fn parses_and_round_trips_canonical_form() {
        let tc = TrustedComment::parse(&good()).expect("parse");
        assert_eq!(tc.role, Role::Exporter);
        assert_eq!(tc.source.as_str(), "contoso-ad");
        assert_eq!(tc.sequence, 42);
        assert_eq!(tc.sha256.to_hex(), HEX);
        assert_eq!(tc.to_string(), good());
        let reviewer = good().replace("exporter", "reviewer");
        assert_eq!(
            TrustedComment::parse(&reviewer).expect("reviewer").role,
            Role::Reviewer
        );
    }

    #[test]
    fn sequence_bounds_one_and_i64_max_are_accepted() {
        for n in ["1", "9223372036854775807"] {
            let s = good().replace("seq=42", &format!("seq={n}"));
            let tc = TrustedComment::parse(&s).expect(n);
            assert_eq!(tc.to_string(), s);
        }
    }

    #[test]
    fn sequence_zero_leading_zero_sign_and_overflow_are_refused() {
        for n in [
            "0",
            "00",
            "042",
            "+42",
            "-1",
            "",
            "4 2",
            "4x",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
            "٤٢",
        ] {
            let s = good().replace("seq=42", &format!("seq={n}"));
            let msg = refused(&s);
            assert!(
                msg.starts_with("token 4") || msg.contains("tokens"),
                "{n}: {msg}"
            );
        }
    }

    #[test]
    fn extra_leading_trailing_and_double_spaces_are_refused() {
        let g = good();
        for s in [
            format!(" {g}"),
            format!("{g} "),
            g.replacen(' ', "  ", 1),
            g.replace("seq=42 ", "seq=42  "),
            g.replacen(' ', "\t", 1),
            format!("{g}\n"),
        ] {
            refused(&s);
        }
    }

    #[test]
    fn reordered_duplicated_missing_and_extra_tokens_are_refused() {
        let g = good();
        let reordered =
            format!("certferry-bundle:v1 source=contoso-ad role=exporter seq=42 sha256={HEX}");
        assert!(refused(&reordered).contains("out of order or duplicated"));
        let duplicated =
            format!("certferry-bundle:v1 role=exporter role=reviewer seq=42 sha256={HEX}");
        assert!(refused(&duplicated).contains("out of order or duplicated"));
        let dup_extra = format!("{g} seq=43");
        assert!(refused(&dup_extra).contains("6 tokens"));
        let missing = format!("certferry-bundle:v1 role=exporter seq=42 sha256={HEX}");
        assert!(refused(&missing).contains("4 tokens"));
        let unknown = g.replace("source=", "origin=");
        assert!(refused(&unknown).starts_with("token 3: expected key \"source\""));
        let no_eq = g.replace("role=exporter", "role");
        assert!(refused(&no_eq).starts_with("token 2"));
        let upper_key = g.replace("role=", "ROLE=");
        assert!(refused(&upper_key).starts_with("token 2"));
    }

    #[test]
    fn magic_and_version_are_checked() {
        let g = good();
        assert!(refused(&g.replace(":v1", ":v2")).contains("unsupported trusted comment version"));
        assert!(
            refused(&g.replace("certferry-bundle:v1", "timestamp:1")).contains("not a certferry")
        );
        refused(&g.replace("certferry-bundle:v1", "CERTFERRY-BUNDLE:V1"));
    }

    #[test]
    fn role_and_source_values_are_checked() {
        let g = good();
        for role in ["Exporter", "admin", "", "exporter=x"] {
            let msg = refused(&g.replace("role=exporter", &format!("role={role}")));
            assert!(msg.starts_with("token 2"), "{role}: {msg}");
        }
        for source in ["", "Contoso", "-a", "a/b", &"a".repeat(65)] {
            let msg = refused(&g.replace("source=contoso-ad", &format!("source={source}")));
            assert!(msg.starts_with("token 3"), "{source}: {msg}");
        }
    }

    #[test]
    fn sha256_must_be_64_lowercase_hex() {
        let g = good();
        for bad in [
            HEX.to_uppercase(),
            HEX[..63].to_owned(),
            format!("{HEX}0"),
            HEX.replacen('b', "g", 1),
            String::new(),
        ] {
            let msg = refused(&g.replace(HEX, &bad));
            assert!(msg.starts_with("token 5"), "{bad}: {msg}");
        }
    }
}
