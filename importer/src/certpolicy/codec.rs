//! The spool's encoding of an [`EntryVerdict`]: the verdicts of a snapshot
//! are written to a private temporary file while it is verified (see
//! [`super::spool`]) and read back entry by entry. A plain length-prefixed
//! binary form, written and read only by this module: little-endian
//! integers, strings as a `u32` length and UTF-8, lists as a `u32` count.

use std::ops::Range;

use certferry_format::model::{Attribute, ObjectKind};
use certferry_format::Sha256;

use super::{
    CertSummary, ContainedCertificate, EntryVerdict, Refusal, Revocation, ValueBytes, ValueVerdict,
};

/// Appends the encoding of `v` to `out`.
pub(super) fn encode(v: &EntryVerdict, out: &mut Vec<u8>) {
    let w = &mut Writer(out);
    w.str(&v.key);
    w.u8(match v.kind {
        ObjectKind::User => 0,
        ObjectKind::Contact => 1,
    });
    w.str(&v.label);
    w.str(&v.dn);
    for s in [&v.upn, &v.mail, &v.display_name, &v.primary_smtp] {
        w.opt_str(s.as_deref());
    }
    w.list(&v.addresses, |w, a| w.str(a));
    w.list(&v.values, value);
}

fn value(w: &mut Writer<'_>, v: &ValueVerdict) {
    w.u8(match v.attribute {
        Attribute::UserCertificate => 0,
        Attribute::UserSmimeCertificate => 1,
    });
    w.str(&v.file);
    w.str(&v.sha256);
    w.u32(v.shown.map_or(0, |i| i as u32 + 1));
    w.list(&v.certificates, certificate);
    w.list(&v.refusals, refusal);
    match &v.bytes {
        ValueBytes::InBundle(r) => {
            w.u8(0);
            w.u64(r.start as u64);
            w.u64(r.end as u64);
        }
        ValueBytes::Copied(b) => {
            w.u8(1);
            w.bytes(b);
        }
        ValueBytes::Spooled { offset, len } => {
            w.u8(2);
            w.u64(*offset);
            w.u32(*len);
        }
        ValueBytes::NotKept => w.u8(3),
    }
}

fn certificate(w: &mut Writer<'_>, c: &ContainedCertificate) {
    let s = &c.summary;
    for f in [
        &s.sha256,
        &s.sha1,
        &s.subject,
        &s.issuer,
        &s.serial,
        &s.not_before,
        &s.not_after,
    ] {
        w.str(f);
    }
    w.u64(s.not_before_unix as u64);
    w.str(c.verdict);
    w.list(&c.refusals, refusal);
    w.list(&c.chain, |w, s| w.str(s));
    w.list(&c.chain_sha256, |w, h| w.0.extend_from_slice(h.as_bytes()));
    match &c.revocation {
        None => w.u8(0),
        Some(r) => {
            w.u8(1);
            w.str(r.status);
            w.str(&r.detail);
        }
    }
}

fn refusal(w: &mut Writer<'_>, r: &Refusal) {
    w.str(&r.code);
    w.str(&r.text);
}

/// Reads one entry's encoding (the whole of `bytes`).
pub(super) fn decode(bytes: &[u8]) -> Result<EntryVerdict, CodecError> {
    let r = &mut Reader { bytes, at: 0 };
    let v = EntryVerdict {
        key: r.string()?,
        kind: match r.u8()? {
            0 => ObjectKind::User,
            1 => ObjectKind::Contact,
            _ => return Err(CodecError),
        },
        label: r.string()?,
        dn: r.string()?,
        upn: r.opt_string()?,
        mail: r.opt_string()?,
        display_name: r.opt_string()?,
        primary_smtp: r.opt_string()?,
        addresses: r.list(Reader::string)?,
        values: r.list(read_value)?,
    };
    if r.at == bytes.len() {
        Ok(v)
    } else {
        Err(CodecError)
    }
}

fn read_value(r: &mut Reader<'_>) -> Result<ValueVerdict, CodecError> {
    Ok(ValueVerdict {
        attribute: match r.u8()? {
            0 => Attribute::UserCertificate,
            1 => Attribute::UserSmimeCertificate,
            _ => return Err(CodecError),
        },
        file: r.string()?,
        sha256: r.string()?,
        shown: (r.u32()? as usize).checked_sub(1),
        certificates: r.list(read_certificate)?,
        refusals: r.list(read_refusal)?,
        bytes: match r.u8()? {
            0 => {
                let range: Range<usize> = r.usize()?..r.usize()?;
                ValueBytes::InBundle(range)
            }
            1 => ValueBytes::Copied(r.take_len()?.into()),
            2 => ValueBytes::Spooled {
                offset: r.u64()?,
                len: r.u32()?,
            },
            3 => ValueBytes::NotKept,
            _ => return Err(CodecError),
        },
    })
}

fn read_certificate(r: &mut Reader<'_>) -> Result<ContainedCertificate, CodecError> {
    let summary = CertSummary {
        sha256: r.string()?,
        sha1: r.string()?,
        subject: r.string()?,
        issuer: r.string()?,
        serial: r.string()?,
        not_before: r.string()?,
        not_after: r.string()?,
        not_before_unix: r.u64()? as i64,
    };
    let verdict = one_of(r.str()?, &["accepted", "refused", "ca"])?;
    Ok(ContainedCertificate {
        summary,
        verdict,
        refusals: r.list(read_refusal)?,
        chain: r.list(Reader::string)?,
        chain_sha256: r.list(|r| {
            let b: [u8; 32] = r.take(32)?.try_into().map_err(|_| CodecError)?;
            Ok(Sha256::from_bytes(b))
        })?,
        revocation: match r.u8()? {
            0 => None,
            1 => Some(Revocation {
                status: one_of(r.str()?, &["good", "revoked", "on-hold", "undetermined"])?,
                detail: r.string()?,
            }),
            _ => return Err(CodecError),
        },
    })
}

fn read_refusal(r: &mut Reader<'_>) -> Result<Refusal, CodecError> {
    Ok(Refusal {
        code: r.string()?,
        text: r.string()?,
    })
}

/// The `'static` word among `words` that `s` spells.
fn one_of(s: &str, words: &[&'static str]) -> Result<&'static str, CodecError> {
    words.iter().find(|w| **w == s).copied().ok_or(CodecError)
}

/// A spooled entry that does not decode: the spool file was changed behind
/// the importer's back, or this module has a bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a spooled verdict does not decode (the temporary spool file was changed while the importer ran)")]
pub struct CodecError;

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for i in items {
            each(self, i);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(n).ok_or(CodecError)?;
        let b = self.bytes.get(self.at..end).ok_or(CodecError)?;
        self.at = end;
        Ok(b)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| CodecError)?,
        ))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| CodecError)?,
        ))
    }
    fn usize(&mut self) -> Result<usize, CodecError> {
        usize::try_from(self.u64()?).map_err(|_| CodecError)
    }
    fn take_len(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.take_len()?).map_err(|_| CodecError)
    }
    fn string(&mut self) -> Result<String, CodecError> {
        self.str().map(str::to_owned)
    }
    fn opt_string(&mut self) -> Result<Option<String>, CodecError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(CodecError),
        }
    }
    fn list<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, CodecError>,
    ) -> Result<Vec<T>, CodecError> {
        let n = self.u32()? as usize;
        // Each item takes at least one byte: a count beyond what is left is false.
        if n > self.bytes.len() - self.at {
            return Err(CodecError);
        }
        (0..n).map(|_| each(self)).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn summary(n: &str) -> CertSummary {
        CertSummary {
            sha256: format!("{n}-sha256"),
            sha1: format!("{n}-SHA1"),
            subject: format!("CN={n},O=Ünïcode"),
            issuer: "CN=Issuer".into(),
            serial: "00ff".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            not_before_unix: -5,
        }
    }

    /// Every field set, every variant and option both ways.
    fn verdict() -> EntryVerdict {
        let cert = |n: &str, verdict, revocation| ContainedCertificate {
            summary: summary(n),
            verdict,
            refusals: vec![Refusal::new("expired", "it expired")],
            chain: vec!["CN=Issuer".into(), "CN=Root".into()],
            chain_sha256: vec![Sha256::digest(b"i"), Sha256::digest(b"r")],
            revocation,
        };
        EntryVerdict {
            key: "guid".into(),
            kind: ObjectKind::Contact,
            label: "alice@contoso.test".into(),
            dn: "CN=Alice".into(),
            upn: None,
            mail: Some("alice@contoso.test".into()),
            display_name: Some(String::new()),
            primary_smtp: None,
            addresses: vec!["a@x".into(), "b@x".into()],
            values: vec![
                ValueVerdict {
                    attribute: Attribute::UserSmimeCertificate,
                    file: "data/values/00000001.bin".into(),
                    sha256: "ab".repeat(32),
                    shown: Some(1),
                    certificates: vec![
                        cert("ca", "ca", None),
                        cert(
                            "leaf",
                            "refused",
                            Some(Revocation {
                                status: "on-hold",
                                detail: "held".into(),
                            }),
                        ),
                    ],
                    refusals: vec![Refusal::new("a", "b"), Refusal::new("c", "")],
                    bytes: ValueBytes::Copied(vec![0, 1, 2, 255].into()),
                },
                ValueVerdict {
                    attribute: Attribute::UserCertificate,
                    file: String::new(),
                    sha256: "cd".repeat(32),
                    shown: None,
                    certificates: Vec::new(),
                    refusals: Vec::new(),
                    bytes: ValueBytes::InBundle(7..1 << 40),
                },
                ValueVerdict {
                    attribute: Attribute::UserCertificate,
                    file: "f".into(),
                    sha256: String::new(),
                    shown: None,
                    certificates: Vec::new(),
                    refusals: Vec::new(),
                    bytes: ValueBytes::Spooled {
                        offset: u64::MAX,
                        len: 9,
                    },
                },
                ValueVerdict {
                    attribute: Attribute::UserCertificate,
                    file: "g".into(),
                    sha256: String::new(),
                    shown: None,
                    certificates: Vec::new(),
                    refusals: Vec::new(),
                    bytes: ValueBytes::NotKept,
                },
            ],
        }
    }

    #[test]
    fn a_verdict_reads_back_as_it_was_written() {
        let mut once = Vec::new();
        encode(&verdict(), &mut once);
        let back = decode(&once).unwrap();
        let mut twice = Vec::new();
        encode(&back, &mut twice);
        assert_eq!(once, twice);
        assert_eq!(back.values[0].shown, Some(1));
        assert_eq!(back.values[1].shown, None);
        assert_eq!(back.upn, None);
        assert_eq!(back.display_name.as_deref(), Some(""));
        assert_eq!(back.values[0].certificates[1].verdict, "refused");
        assert_eq!(
            back.values[0].certificates[1]
                .revocation
                .as_ref()
                .map(|r| r.status),
            Some("on-hold")
        );
        assert!(matches!(&back.values[1].bytes, ValueBytes::InBundle(r) if *r == (7..1 << 40)));
        assert!(matches!(
            &back.values[2].bytes,
            ValueBytes::Spooled {
                offset: u64::MAX,
                len: 9
            }
        ));
        assert!(matches!(&back.values[3].bytes, ValueBytes::NotKept));
        assert_eq!(back.values[0].certificates[0].summary, summary("ca"));
    }

    #[test]
    fn a_truncated_or_overlong_spool_record_is_refused() {
        let mut bytes = Vec::new();
        encode(&verdict(), &mut bytes);
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n]).err(), Some(CodecError), "cut at {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer).err(), Some(CodecError));
    }
}
