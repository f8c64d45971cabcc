//! `data/review.csv`: one row per certificate (and per unparseable value) for a
//! reviewer's spreadsheet, derived from the entries by a pure function so that
//! a reader can regenerate it and require byte equality (SPEC.md §6.5).

use crate::model::Entry;

/// The header line's columns, in order.
pub const COLUMNS: &[&str] = &[
    "entry",
    "kind",
    "object_guid",
    "sam_account_name",
    "upn",
    "mail",
    "display_name",
    "disabled",
    "attribute",
    "value_file",
    "container",
    "cert_sha256",
    "cert_sha1",
    "subject",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "key_type",
    "key_bits",
    "key_usage",
    "extended_key_usage",
    "rfc822_names",
    "class",
    "reasons",
];

/// Writes one CSV field: formula triggers (`= + - @ TAB CR` at the start) are
/// neutralised with a leading `'`; a field holding `,` `"` CR LF or a leading or
/// trailing space is quoted, with `"` doubled.
pub fn push_field(out: &mut Vec<u8>, field: &str) {
    let neutralise = matches!(
        field.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    // No early exit: the compiler turns the whole scan into vector code.
    let quote = field
        .bytes()
        .fold(false, |q, b| q | matches!(b, b',' | b'"' | b'\r' | b'\n'))
        || field.starts_with(' ')
        || field.ends_with(' ');
    if quote {
        out.push(b'"');
    }
    if neutralise {
        out.push(b'\'');
    }
    if quote {
        for (i, part) in field.split('"').enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

fn push_row(out: &mut Vec<u8>, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(out, f);
    }
    out.push(b'\n');
}

/// The header line.
pub fn header_line(out: &mut Vec<u8>) {
    push_row(out, COLUMNS);
}

/// Writes `field` and the separator after it: `,`, or LF after the last column.
fn cell(out: &mut Vec<u8>, field: &str, last: bool) {
    push_field(out, field);
    out.push(if last { b'\n' } else { b',' });
}

/// `items` joined with `;`, in `scratch` (reused across fields and rows).
fn joined<'a, S: AsRef<str> + 'a>(
    scratch: &'a mut String,
    items: impl IntoIterator<Item = &'a S>,
) -> &'a str {
    scratch.clear();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            scratch.push(';');
        }
        scratch.push_str(item.as_ref());
    }
    scratch
}

/// The `reasons` of the one row of a value without certificates (SPEC.md §6.5).
fn certificate_less_reason(container: &str) -> &'static str {
    if container == crate::model::WITHHELD_PRIVATE_KEY {
        "withheld-private-key"
    } else if container == crate::cert::Container::Pkcs7.as_str() {
        "no-certificate"
    } else {
        "unparseable"
    }
}

/// The rows for entry number `index` (1-based).
///
/// Rows are written straight into `out`: the columns every row of a value
/// shares are written once and copied for its further rows, and list
/// columns are joined in one reused buffer (the writer and the verifier
/// call this for every entry).
pub fn entry_rows(out: &mut Vec<u8>, index: u64, entry: &Entry) {
    fn opt(o: &Option<String>) -> &str {
        o.as_deref().unwrap_or("")
    }
    let mut number = itoa::Buffer::new();
    let ident = [
        number.format(index),
        entry.kind.as_str(),
        opt(&entry.object_guid),
        opt(&entry.sam_account_name),
        opt(&entry.upn),
        opt(&entry.mail),
        opt(&entry.display_name),
        if entry.disabled { "true" } else { "false" },
    ];
    let mut scratch = String::new();
    let mut bits = itoa::Buffer::new();
    let mut sha256 = [0u8; 64];
    for value in &entry.values {
        // The columns up to `container`, ending in a comma: every row of
        // this value starts with them.
        let shared_start = out.len();
        for field in ident.into_iter().chain([
            value.attribute.as_str(),
            value.file.as_deref().unwrap_or(""),
            value.container.as_str(),
        ]) {
            cell(out, field, false);
        }
        let shared = shared_start..out.len();
        let head = ident.len() + 3;
        if value.certificates.is_empty() {
            for _ in head..COLUMNS.len() - 2 {
                cell(out, "", false);
            }
            cell(out, "unusable", false);
            cell(out, certificate_less_reason(&value.container), true);
        }
        for (i, c) in value.certificates.iter().enumerate() {
            if i > 0 {
                out.extend_from_within(shared.clone());
            }
            crate::hex::write_lower(&mut sha256, c.sha256.as_bytes());
            cell(out, std::str::from_utf8(&sha256).unwrap_or_default(), false);
            cell(out, &c.sha1, false);
            cell(out, &c.subject, false);
            cell(out, &c.issuer, false);
            cell(out, &c.serial, false);
            cell(out, &c.not_before.text(), false);
            cell(out, &c.not_after.text(), false);
            cell(out, &c.key_type, false);
            cell(out, bits.format(c.key_bits), false);
            let key_usage = c.key_usage.as_deref().unwrap_or_default();
            cell(out, joined(&mut scratch, key_usage), false);
            let eku = c.extended_key_usage.as_deref().unwrap_or_default();
            cell(out, joined(&mut scratch, eku), false);
            cell(out, joined(&mut scratch, &c.rfc822_names), false);
            cell(out, &c.class, false);
            cell(out, joined(&mut scratch, &c.reasons), true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attribute, CertRecord, ObjectKind, Value};
    use crate::{Sha256, Timestamp};

    fn field(s: &str) -> String {
        let mut v = Vec::new();
        push_field(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    fn record(sha_byte: u8, subject: &str, key_usage: Option<&[&str]>) -> CertRecord {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        CertRecord {
            sha256: Sha256::from_bytes([sha_byte; 32]),
            sha1: "ab".repeat(20),
            subject: subject.to_owned(),
            issuer: "CN=CA".to_owned(),
            serial: "01".to_owned(),
            not_before: Timestamp::from_unix(0).unwrap(),
            not_after: Timestamp::from_unix(86_400).unwrap(),
            key_type: "rsa".to_owned(),
            key_bits: 2048,
            key_usage: key_usage.map(strings),
            extended_key_usage: Some(strings(&["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.2"])),
            rfc822_names: strings(&["a@x.test", "b@x.test"]),
            is_ca: false,
            class: "unusable".to_owned(),
            reasons: strings(&["expired", "no-matching-address"]),
        }
    }

    #[test]
    fn rows_of_a_two_certificate_value_and_an_unparseable_one_are_exact() {
        let entry = Entry {
            kind: ObjectKind::User,
            object_guid: None,
            object_sid: None,
            upn: Some("u@x.test".to_owned()),
            sam_account_name: Some("u".to_owned()),
            mail: None,
            proxy_addresses: Vec::new(),
            display_name: Some("Doe, Jane".to_owned()),
            dn: "CN=u".to_owned(),
            disabled: true,
            values: vec![
                Value {
                    attribute: Attribute::UserSmimeCertificate,
                    file: Some("data/values/00000007.bin".to_owned()),
                    withheld: None,
                    container: "pkcs7".to_owned(),
                    certificates: vec![
                        record(1, "CN=One", Some(&["digitalSignature", "keyEncipherment"])),
                        record(2, "=Two", None),
                    ],
                },
                Value {
                    attribute: Attribute::UserCertificate,
                    file: Some("data/values/00000008.bin".to_owned()),
                    withheld: None,
                    container: "unparseable".to_owned(),
                    certificates: Vec::new(),
                },
            ],
        };
        let mut out = b"before\n".to_vec();
        entry_rows(&mut out, 12, &entry);
        let shared = "12,user,,u,u@x.test,,\"Doe, Jane\",true,userSMIMECertificate,data/values/00000007.bin,pkcs7";
        let sha1 = "ab".repeat(20);
        let tail = "CN=CA,01,1970-01-01T00:00:00Z,1970-01-02T00:00:00Z,rsa,2048";
        let lists = "1.3.6.1.5.5.7.3.4;1.3.6.1.5.5.7.3.2,a@x.test;b@x.test,unusable,expired;no-matching-address";
        let expected = format!(
            "before\n\
             {shared},{one},{sha1},CN=One,{tail},digitalSignature;keyEncipherment,{lists}\n\
             {shared},{two},{sha1},'=Two,{tail},,{lists}\n\
             12,user,,u,u@x.test,,\"Doe, Jane\",true,userCertificate,data/values/00000008.bin,unparseable,,,,,,,,,,,,,unusable,unparseable\n",
            one = "01".repeat(32),
            two = "02".repeat(32),
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn csv_formula_injection_is_neutralised() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\tx"), "'\tx");
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field(" padded"), "\" padded\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("\"\""), "\"\"\"\"\"\"");
        assert_eq!(field("-\"x"), "\"'-\"\"x\"");
    }
}
