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

/// The rows for entry number `index` (1-based).
pub fn entry_rows(out: &mut Vec<u8>, index: u64, entry: &Entry) {
    let index = index.to_string();
    fn opt(o: &Option<String>) -> &str {
        o.as_deref().unwrap_or("")
    }
    let ident = [
        index.as_str(),
        entry.kind.as_str(),
        opt(&entry.object_guid),
        opt(&entry.sam_account_name),
        opt(&entry.upn),
        opt(&entry.mail),
        opt(&entry.display_name),
        if entry.disabled { "true" } else { "false" },
    ];
    for value in &entry.values {
        let mut row: Vec<&str> = Vec::with_capacity(COLUMNS.len());
        row.extend(ident);
        row.extend([
            value.attribute.as_str(),
            value.file.as_str(),
            value.container.as_str(),
        ]);
        let head = row.len();
        if value.certificates.is_empty() {
            row.extend(std::iter::repeat_n("", COLUMNS.len() - head - 2));
            row.extend(["unusable", "unparseable"]);
            push_row(out, &row);
        }
        for c in &value.certificates {
            let list =
                |v: &Option<Vec<String>>| v.as_ref().map(|v| v.join(";")).unwrap_or_default();
            let (sha256, not_before, not_after) =
                (c.sha256.to_hex(), c.not_before.text(), c.not_after.text());
            let key_bits = c.key_bits.to_string();
            let (key_usage, eku) = (list(&c.key_usage), list(&c.extended_key_usage));
            let (names, reasons) = (c.rfc822_names.join(";"), c.reasons.join(";"));
            let mut row = row[..head].to_vec();
            row.extend([
                sha256.as_str(),
                c.sha1.as_str(),
                c.subject.as_str(),
                c.issuer.as_str(),
                c.serial.as_str(),
                &not_before,
                &not_after,
                c.key_type.as_str(),
                key_bits.as_str(),
                key_usage.as_str(),
                eku.as_str(),
                names.as_str(),
                c.class.as_str(),
                reasons.as_str(),
            ]);
            push_row(out, &row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &str) -> String {
        let mut v = Vec::new();
        push_field(&mut v, s);
        String::from_utf8(v).unwrap()
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
