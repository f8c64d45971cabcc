//! Distinguished names as strings, exactly as RFC 4514 §2 specifies, so that
//! an independent verifier can reproduce `subject` and `issuer` (SPEC.md §6.3).
//!
//! - RDNs from the last to the first, separated by `,`; the AVAs of a
//!   multi-valued RDN joined by `+` in encoding order;
//! - attribute types by the RFC 4514 §3 short names (CN, L, ST, O, OU, C,
//!   STREET, DC, UID), any other type as its dotted OID;
//! - string values (UTF8String, PrintableString, IA5String, NumericString,
//!   VisibleString as UTF-8; BMPString as UTF-16BE; UniversalString as
//!   UTF-32BE) escaped per §2.4 (`"` `+` `,` `;` `<` `>` `\` with a
//!   backslash; a leading space or `#` and a trailing space with a backslash),
//!   and every control character (U+0000-U+001F, U+007F) as `\` + two
//!   lowercase hex digits, so a name can never move a reviewer's cursor;
//! - any other value type, or a string that does not decode, as `#` followed
//!   by the lowercase hex of the value's DER encoding.

use x509_parser::der_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::x509::X509Name;

/// The RFC 4514 short names by the OID's content octets: the common case,
/// without rendering the OID as text first.
const SHORT_NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x09], "STREET"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

fn short_name_raw(oid: &[u8]) -> Option<&'static str> {
    SHORT_NAMES
        .iter()
        .find(|(raw, _)| *raw == oid)
        .map(|&(_, name)| name)
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn decode_string<'a>(v: &Any<'a>) -> Option<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    let data = v.data;
    match v.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(Cow::Borrowed),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
                .map(Cow::Owned)
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            data.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .map(Cow::Owned)
        }
        _ => None,
    }
}

fn escape(out: &mut String, s: &str) {
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '#' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// Renders a name per the module documentation.
pub(crate) fn rfc4514(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    let rdns: Vec<_> = name.iter().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match short_name_raw(atv.attr_type().as_bytes()) {
                Some(name) => out.push_str(name),
                None => {
                    let oid = atv.attr_type().to_id_string();
                    out.push_str(short_name(&oid).unwrap_or(&oid));
                }
            }
            out.push('=');
            match decode_string(atv.attr_value()) {
                Some(s) => escape(&mut out, &s),
                None => {
                    out.push('#');
                    match atv.attr_value().to_der_vec() {
                        Ok(der) => out.push_str(&crate::hex::encode_lower(&der)),
                        Err(_) => out.push_str(&crate::hex::encode_lower(atv.attr_value().data)),
                    }
                }
            }
        }
    }
    out
}

thread_local! {
    /// The last issuer name rendered on this thread: certificates of one
    /// bundle share a handful of issuers, and rendering is a tenth of verifying.
    static LAST_ISSUER: std::cell::RefCell<(Vec<u8>, String)> =
        const { std::cell::RefCell::new((Vec::new(), String::new())) };
}

/// [`rfc4514`], remembering the last name rendered (for issuers).
pub(crate) fn rfc4514_cached(name: &X509Name<'_>) -> String {
    let raw = name.as_raw();
    LAST_ISSUER.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.0.as_slice() != raw || last.0.is_empty() {
            *last = (raw.to_vec(), rfc4514(name));
        }
        last.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_by_octets_agree_with_the_dotted_table() {
        for (raw, name) in SHORT_NAMES {
            let dotted = crate::cert::ber::oid_to_string(raw);
            assert_eq!(short_name(&dotted), Some(*name), "{dotted}");
        }
        assert_eq!(short_name_raw(&[0x55, 0x04, 0x05]), None); // serialNumber
    }

    #[test]
    fn rfc4514_escaping_rules() {
        let mut s = String::new();
        escape(&mut s, " #a,b+c\"d\\e<f>g;h ");
        assert_eq!(s, "\\ #a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\ ");
        let mut s = String::new();
        escape(&mut s, "#x\u{1b}[2J");
        assert_eq!(s, "\\#x\\1b[2J");
    }
}
