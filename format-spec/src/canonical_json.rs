//! Canonical JSON (SPEC.md §5.2), written directly.
//!
//! `entries.jsonl` holds one object per directory entry, written by the
//! exporter and re-serialised by every verifier to check its form: going
//! through serde for each of them was about 6% of an export's CPU. This writes
//! the same bytes as `serde_json`'s compact writer (the tests hold the two
//! equal, including every escape) without the intermediate strings.

use crate::model::{BundleHeader, CertRecord, Entry, Value, WireCert};

/// A value with a canonical JSON form.
pub(crate) trait CanonicalJson {
    /// Appends the canonical JSON of `self` (no trailing LF) to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

impl CanonicalJson for BundleHeader {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Once per bundle: serde is fine here. Writing into a Vec cannot fail
        // and every field serialises.
        let _ = serde_json::to_writer(out, self);
    }
}

impl<C: CanonicalJson> CanonicalJson for Entry<C> {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_entry(self, out, C::write_json);
    }
}

/// An entry's canonical JSON with each certificate object written by `cert`
/// (the writer's lean form passes [`write_lean`]).
pub(crate) fn write_entry<C>(entry: &Entry<C>, out: &mut Vec<u8>, cert: fn(&C, &mut Vec<u8>)) {
    let e = entry;
    {
        out.extend_from_slice(b"{\"kind\":");
        string(out, e.kind.as_str());
        out.extend_from_slice(b",\"object_guid\":");
        opt_string(out, e.object_guid.as_deref());
        out.extend_from_slice(b",\"object_sid\":");
        opt_string(out, e.object_sid.as_deref());
        out.extend_from_slice(b",\"upn\":");
        opt_string(out, e.upn.as_deref());
        out.extend_from_slice(b",\"sam_account_name\":");
        opt_string(out, e.sam_account_name.as_deref());
        out.extend_from_slice(b",\"mail\":");
        opt_string(out, e.mail.as_deref());
        out.extend_from_slice(b",\"proxy_addresses\":");
        strings(out, &e.proxy_addresses);
        out.extend_from_slice(b",\"display_name\":");
        opt_string(out, e.display_name.as_deref());
        out.extend_from_slice(b",\"dn\":");
        string(out, &e.dn);
        out.extend_from_slice(b",\"disabled\":");
        boolean(out, e.disabled);
        out.extend_from_slice(b",\"values\":[");
        for (i, value) in e.values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(value, out, cert);
        }
        out.extend_from_slice(b"]}");
    }
}

fn write_value<C>(v: &Value<C>, out: &mut Vec<u8>, cert: fn(&C, &mut Vec<u8>)) {
    {
        out.extend_from_slice(b"{\"attribute\":");
        string(out, v.attribute.as_str());
        out.extend_from_slice(b",\"file\":");
        opt_string(out, v.file.as_deref());
        out.extend_from_slice(b",\"container\":");
        string(out, &v.container);
        out.extend_from_slice(b",\"certificates\":[");
        for (i, c) in v.certificates.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            cert(c, out);
        }
        out.push(b']');
        if let Some(w) = &v.withheld {
            out.extend_from_slice(b",\"withheld\":{\"length\":");
            out.extend_from_slice(itoa::Buffer::new().format(w.length).as_bytes());
            out.extend_from_slice(b",\"sha256\":\"");
            crate::hex::push_lower(out, w.sha256.as_bytes());
            out.extend_from_slice(b"\"}");
        }
        out.push(b'}');
    }
}

impl<C: CanonicalJson> CanonicalJson for Value<C> {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_value(self, out, C::write_json);
    }
}

/// A lean certificate object (SPEC.md §6.3, revision 1.4): the exporter's
/// judgement only.
pub(crate) fn write_lean(c: &CertRecord, out: &mut Vec<u8>) {
    judgement(out, &c.class, &c.reasons);
}

fn judgement(out: &mut Vec<u8>, class: &str, reasons: &[String]) {
    out.extend_from_slice(b"{\"class\":");
    string(out, class);
    out.extend_from_slice(b",\"reasons\":");
    strings(out, reasons);
    out.push(b'}');
}

impl CanonicalJson for WireCert {
    /// The members present, in canonical order: a described or lean object
    /// comes out as it should be written, and anything else differently
    /// from how it came in only if its members were out of order.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            string(out, name);
            out.push(b':');
        };
        if let Some(h) = &self.sha256 {
            key(out, "sha256");
            out.push(b'"');
            crate::hex::push_lower(out, h.as_bytes());
            out.push(b'"');
        }
        for (name, v) in [
            ("sha1", &self.sha1),
            ("subject", &self.subject),
            ("issuer", &self.issuer),
            ("serial", &self.serial),
        ] {
            if let Some(v) = v {
                key(out, name);
                string(out, v);
            }
        }
        for (name, t) in [
            ("not_before", &self.not_before),
            ("not_after", &self.not_after),
        ] {
            if let Some(t) = t {
                key(out, name);
                string(out, &t.text());
            }
        }
        if let Some(v) = &self.key_type {
            key(out, "key_type");
            string(out, v);
        }
        if let Some(b) = self.key_bits {
            key(out, "key_bits");
            decimal(out, u64::from(b));
        }
        for (name, v) in [
            ("key_usage", &self.key_usage),
            ("extended_key_usage", &self.extended_key_usage),
        ] {
            if let Some(v) = v {
                key(out, name);
                opt_strings(out, v.as_deref());
            }
        }
        if let Some(v) = &self.rfc822_names {
            key(out, "rfc822_names");
            strings(out, v);
        }
        if let Some(b) = self.is_ca {
            key(out, "is_ca");
            boolean(out, b);
        }
        key(out, "class");
        string(out, &self.class);
        key(out, "reasons");
        strings(out, &self.reasons);
        out.push(b'}');
    }
}

impl CanonicalJson for CertRecord {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"sha256\":\"");
        crate::hex::push_lower(out, self.sha256.as_bytes());
        out.extend_from_slice(b"\",\"sha1\":");
        string(out, &self.sha1);
        out.extend_from_slice(b",\"subject\":");
        string(out, &self.subject);
        out.extend_from_slice(b",\"issuer\":");
        string(out, &self.issuer);
        out.extend_from_slice(b",\"serial\":");
        string(out, &self.serial);
        out.extend_from_slice(b",\"not_before\":");
        string(out, &self.not_before.text());
        out.extend_from_slice(b",\"not_after\":");
        string(out, &self.not_after.text());
        out.extend_from_slice(b",\"key_type\":");
        string(out, &self.key_type);
        out.extend_from_slice(b",\"key_bits\":");
        decimal(out, u64::from(self.key_bits));
        out.extend_from_slice(b",\"key_usage\":");
        opt_strings(out, self.key_usage.as_deref());
        out.extend_from_slice(b",\"extended_key_usage\":");
        opt_strings(out, self.extended_key_usage.as_deref());
        out.extend_from_slice(b",\"rfc822_names\":");
        strings(out, &self.rfc822_names);
        out.extend_from_slice(b",\"is_ca\":");
        boolean(out, self.is_ca);
        out.extend_from_slice(b",\"class\":");
        string(out, &self.class);
        out.extend_from_slice(b",\"reasons\":");
        strings(out, &self.reasons);
        out.push(b'}');
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn strings(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

fn opt_strings(out: &mut Vec<u8>, items: Option<&[String]>) {
    match items {
        Some(items) => strings(out, items),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string: `"` and `\` escaped, the five short escapes, other control
/// characters below U+0020 as `\u00xx`, everything else as its UTF-8 bytes.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = first_escape(rest) {
        out.extend_from_slice(&rest[..at]);
        let b = rest[at];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The index of the first byte that needs an escape. Sixteen bytes are
/// tested at a time without an early exit (the compiler turns that into
/// vector instructions); only the block holding an escape is searched byte
/// by byte.
fn first_escape(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 16;
    let mut start = 0;
    for block in bytes.chunks_exact(BLOCK) {
        if block.iter().fold(false, |any, &b| any | needs_escape(b)) {
            break;
        }
        start += BLOCK;
    }
    let at = bytes[start..].iter().position(|&b| needs_escape(b))?;
    Some(start + at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Attribute, ObjectKind};
    use crate::{Sha256, Timestamp};

    fn serde(v: &impl serde::Serialize) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    fn ours(v: &impl CanonicalJson) -> Vec<u8> {
        let mut out = Vec::new();
        v.write_json(&mut out);
        out
    }

    /// Every character class the escaping rules distinguish.
    fn tricky() -> Vec<String> {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é€😀\u{9f}\u{2028}");
        vec![
            String::new(),
            all,
            "plain".into(),
            "\"quoted\" and \\back\\".into(),
            "\u{0}\u{1f}\u{7f}".into(),
            "a/b".into(),
        ]
    }

    fn cert(s: &str, n: u32) -> CertRecord {
        CertRecord {
            sha256: Sha256::digest(s.as_bytes()),
            sha1: s.into(),
            subject: s.into(),
            issuer: format!("{s}{s}"),
            serial: s.into(),
            not_before: Timestamp::MIN,
            not_after: Timestamp::MAX,
            key_type: s.into(),
            key_bits: n,
            key_usage: n.is_multiple_of(2).then(|| vec![s.into(), "x".into()]),
            extended_key_usage: (!n.is_multiple_of(3)).then(Vec::new),
            rfc822_names: vec![s.into(); (n % 3) as usize],
            is_ca: n % 2 == 1,
            class: s.into(),
            reasons: vec![s.into()],
        }
    }

    #[test]
    fn entries_are_written_exactly_as_serde_json_writes_them() {
        for (n, s) in tricky().iter().enumerate() {
            let n = n as u32;
            for values in 0..3 {
                let entry = Entry {
                    kind: if n.is_multiple_of(2) {
                        ObjectKind::User
                    } else {
                        ObjectKind::Contact
                    },
                    object_guid: n.is_multiple_of(2).then(|| s.clone()),
                    object_sid: (n % 2 == 1).then(|| s.clone()),
                    upn: Some(s.clone()),
                    sam_account_name: None,
                    mail: Some(format!("{s}@x")),
                    proxy_addresses: vec![s.clone(); values],
                    display_name: Some(s.clone()),
                    dn: s.clone(),
                    disabled: values == 1,
                    values: (0..values)
                        .map(|v| Value {
                            attribute: if v == 0 {
                                Attribute::UserCertificate
                            } else {
                                Attribute::UserSmimeCertificate
                            },
                            file: (v != 1).then(|| s.clone()),
                            container: s.clone(),
                            withheld: (v == 1).then(|| crate::model::Withheld {
                                length: u64::from(n),
                                sha256: Sha256::digest(s.as_bytes()),
                            }),
                            certificates: (0..values as u32)
                                .map(|c| cert(s, n * 7 + c + u32::MAX / 2 * c))
                                .collect(),
                        })
                        .collect(),
                };
                assert_eq!(
                    String::from_utf8(ours(&entry)).unwrap(),
                    String::from_utf8(serde(&entry)).unwrap()
                );
            }
        }
    }

    #[test]
    fn the_first_escape_is_found_in_any_block_position() {
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            let plain = "a".repeat(len);
            assert_eq!(first_escape(plain.as_bytes()), None, "{len}");
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    let mut b = plain.clone().into_bytes();
                    b[at] = special;
                    if at + 1 < len {
                        b[len - 1] = b'"';
                    }
                    assert_eq!(first_escape(&b), Some(at), "{len} {at} {special}");
                }
            }
        }
    }

    #[test]
    fn numbers_are_plain_decimal() {
        for n in [0u64, 9, 10, 4_294_967_295, u64::MAX] {
            let mut out = Vec::new();
            decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
