//! Rendering a review, piece by piece (its head, each change, its end):
//! terminal text, CSV and a self-contained HTML page.
//!
//! The CSV is the report of record: its SHA-256 is the "review report hash"
//! printed by `review` and recorded with the import. It is a pure function of
//! the verified bundle, the last import and the evaluation time.

use sha2::Digest as _;

use crate::review::{CertSide, Change, ChangeKind, ReviewCounts, ReviewHead};

const CSV_HEADER: &str = "change,entry,key,kind,label,dn,attribute,old_value_sha256,old_thumbprint,old_subject,old_not_after,new_value_sha256,new_thumbprint,new_subject,new_issuer,new_not_after,reasons,new_other_certificates,new_chain,new_revocation";

/// One CSV field: a leading `= + - @ TAB CR` gets a `'` (spreadsheet formula
/// injection); then fields with `,` `"` CR LF
/// or a leading/trailing space are quoted with `"` doubled (as SPEC.md §6.5).
pub fn csv_field(s: &str) -> String {
    let mut f = String::with_capacity(s.len() + 2);
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        f.push('\'');
    }
    f.push_str(s);
    if f.contains([',', '"', '\r', '\n']) || f.starts_with(' ') || f.ends_with(' ') {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

fn reasons_text(c: &Change) -> String {
    c.reasons
        .iter()
        .map(|r| format!("{}: {}", r.code, r.text))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The CSV report. The first row after the header (`change` = `bundle`)
/// identifies the bundle (`new_value_sha256`), the last import it is
/// compared with (`old_value_sha256`) and the evaluation time (`label`).
pub fn csv_head(r: &ReviewHead) -> String {
    let mut out = String::new();
    out.push_str(CSV_HEADER);
    out.push('\n');
    let bundle_row = [
        "bundle".to_owned(),
        String::new(),
        r.bundle.source.clone(),
        String::new(),
        format!(
            "sequence {} created {} evaluated at {}",
            r.bundle.sequence, r.bundle.created, r.now
        ),
        String::new(),
        String::new(),
        r.previous
            .as_ref()
            .map(|p| p.sha256.clone())
            .unwrap_or_default(),
        String::new(),
        String::new(),
        String::new(),
        r.bundle.sha256.clone(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        if r.bundle.carries_ca_material {
            "checked against the bundle's CRLs".to_owned()
        } else {
            "not checked: the bundle carries no CA material".to_owned()
        },
    ];
    push_row(&mut out, &bundle_row);
    out
}

/// One change's row of the CSV report.
pub fn csv_row(c: &Change) -> String {
    let mut out = String::new();
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    {
        let side = |s: &Option<CertSide>| s.clone();
        let (o, n) = (side(&c.old), side(&c.new));
        let row = [
            c.change.as_str().to_owned(),
            c.entry.map(|e| e.to_string()).unwrap_or_default(),
            c.key.clone(),
            c.kind.clone(),
            c.label.clone(),
            c.dn.clone(),
            opt(&c.attribute),
            o.as_ref()
                .map(|s| s.value_sha256.clone())
                .unwrap_or_default(),
            o.as_ref()
                .and_then(|s| s.thumbprint.clone())
                .unwrap_or_default(),
            o.as_ref()
                .and_then(|s| s.subject.clone())
                .unwrap_or_default(),
            o.as_ref()
                .and_then(|s| s.not_after.clone())
                .unwrap_or_default(),
            n.as_ref()
                .map(|s| s.value_sha256.clone())
                .unwrap_or_default(),
            n.as_ref()
                .and_then(|s| s.thumbprint.clone())
                .unwrap_or_default(),
            n.as_ref()
                .and_then(|s| s.subject.clone())
                .unwrap_or_default(),
            n.as_ref()
                .and_then(|s| s.issuer.clone())
                .unwrap_or_default(),
            n.as_ref()
                .and_then(|s| s.not_after.clone())
                .unwrap_or_default(),
            reasons_text(c),
            n.as_ref().map(others_text).unwrap_or_default(),
            n.as_ref().map(|s| s.chain.join(" < ")).unwrap_or_default(),
            n.as_ref()
                .and_then(|s| s.revocation.as_ref())
                .map(|r| r.detail.clone())
                .unwrap_or_default(),
        ];
        push_row(&mut out, &row);
    }
    out
}

fn push_row(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

/// SHA-256 of the CSV report, hex: the review report hash.
pub fn report_sha256(csv: &[u8]) -> String {
    sha2::Sha256::digest(csv)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn describe(s: &CertSide) -> String {
    let main = match (&s.subject, &s.thumbprint) {
        (Some(subj), Some(t)) => format!(
            "{subj} (thumbprint {t}, issuer {}, expires {})",
            s.issuer.as_deref().unwrap_or("?"),
            s.not_after.as_deref().unwrap_or("?")
        ),
        _ => format!("value {}", s.value_sha256),
    };
    let mut out = main;
    if !s.chain.is_empty() {
        out += &format!("; chain {}", s.chain.join(" < "));
    }
    if let Some(r) = &s.revocation {
        out += &format!("; {}", r.detail);
    }
    if !s.others.is_empty() {
        out += &format!("; also in this value: {}", others_text(s));
    }
    out
}

/// The other certificates of a value, each with its verdict:
/// `SUBJECT (thumbprint T, accepted|refused: codes|CA certificate)`, `; `-separated.
fn others_text(s: &CertSide) -> String {
    s.others
        .iter()
        .map(|o| {
            let verdict = match o.verdict {
                "ca" => "CA certificate".to_owned(),
                "refused" => format!(
                    "refused: {}",
                    o.refusals
                        .iter()
                        .map(|r| r.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => other.to_owned(),
            };
            format!(
                "{} (thumbprint {}, expires {}, {verdict})",
                o.summary.subject, o.summary.sha1, o.summary.not_after
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Text for a terminal: bidirectional-override and line-separator characters
/// (which a bundle's names may contain: they are not control characters) are
/// shown as `?`, so a name cannot reorder or hide what a reviewer reads.
pub fn terminal_safe(s: &str) -> String {
    certferry_format::text::terminal_safe(s, true)
}

/// Terminal text before the changes: the bundle, what it is compared with,
/// and the totals.
pub fn text_head(r: &ReviewHead, c: &ReviewCounts) -> String {
    let mut out = String::new();
    let b = &r.bundle;
    out += &format!(
        "bundle    {} sequence {} (created {}, expires {})\n",
        b.source, b.sequence, b.created, b.expires
    );
    out += &format!("sha256    {}\n", b.sha256);
    for s in &b.signers {
        out += &format!("signed by {s}\n");
    }
    match &r.previous {
        Some(p) => {
            out += &format!(
                "compared  with sequence {} ({}), imported {}\n",
                p.sequence, p.sha256, p.imported_at
            )
        }
        None => out += "compared  with nothing: no bundle of this source was imported yet\n",
    }
    out += &format!(
        "changes   {} entries ({} unchanged); entries +{} -{}; certificates +{} -{} replaced {}; refused {}\n",
        c.entries, c.unchanged_entries, c.entries_added, c.entries_removed, c.certificates_added, c.certificates_removed,
        c.certificates_replaced, c.refused
    );
    out += &if b.carries_ca_material {
        format!(
            "revocation checked against the bundle's CRLs; {} accepted value(s) undetermined\n",
            c.revocation_undetermined
        )
    } else {
        "revocation not checked: the bundle carries no CA material (export with --pki)\n".to_owned()
    };
    terminal_safe(&out)
}

/// Terminal text for one change.
pub fn text_change(ch: &Change) -> String {
    let mut out = String::new();
    let who = match ch.entry {
        Some(n) => format!("entry {n} {} ({})", ch.label, ch.kind),
        None => format!("{} ({})", ch.label, ch.kind),
    };
    let attr = ch.attribute.as_deref().unwrap_or("");
    match ch.change {
        ChangeKind::EntryAdded => out += &format!("\n+ {who}: new entry, {}\n", ch.dn),
        ChangeKind::EntryRemoved => {
            out += &format!("\n- {who}: no longer in the bundle, {}\n", ch.dn)
        }
        ChangeKind::CertificateAdded => {
            out += &format!(
                "  + {who} {attr}: {}\n",
                ch.new.as_ref().map(describe).unwrap_or_default()
            )
        }
        ChangeKind::CertificateRemoved => {
            out += &format!(
                "  - {who} {attr}: {}\n",
                ch.old.as_ref().map(describe).unwrap_or_default()
            )
        }
        ChangeKind::CertificateReplaced => {
            out += &format!(
                "  ~ {who} {attr}: {}\n      replaced by {}\n",
                ch.old.as_ref().map(describe).unwrap_or_default(),
                ch.new.as_ref().map(describe).unwrap_or_default()
            )
        }
        ChangeKind::RevocationUndetermined => {
            out += &format!(
                "  ? {who} {attr}: accepted, revocation undetermined: {}\n",
                ch.new.as_ref().map(describe).unwrap_or_default()
            );
        }
        ChangeKind::Refused => {
            out += &format!(
                "  ! {who} {attr}: REFUSED {}\n",
                ch.new.as_ref().map(describe).unwrap_or_default()
            );
            for reason in &ch.reasons {
                out += &format!("      {}: {}\n", reason.code, reason.text);
            }
        }
    }
    terminal_safe(&out)
}

/// Terminal text after the changes: the report hash.
pub fn text_tail(report_hash: &str) -> String {
    format!("\nreview report sha256 {report_hash} (SHA-256 of the CSV report)\n")
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(ch),
        }
    }
    o
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}table{border-collapse:collapse;width:100%;font-size:.9em}\
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.mono,code{font-family:ui-monospace,monospace;word-break:break-all}\
tr.entry-added td:first-child,tr.certificate-added td:first-child{background:#e6f4e6}\
tr.entry-removed td:first-child,tr.certificate-removed td:first-child{background:#fbe9e9}\
tr.certificate-replaced td:first-child{background:#fff6db}tr.refused td{background:#fde2e2}\
tr.revocation-undetermined td:first-child{background:#fff6db}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}";

/// A self-contained HTML page: inline CSS, no script, no external resource,
/// everything from the bundle HTML-escaped.
pub fn html_head(r: &ReviewHead, c: &ReviewCounts, report_hash: &str, any_change: bool) -> String {
    let e = html_escape;
    let b = &r.bundle;
    let mut o = String::new();
    o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    o += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
    o += &format!(
        "<title>certferry review: {} sequence {}</title>\n<style>{CSS}</style></head><body>\n",
        e(&b.source),
        b.sequence
    );
    o += &format!(
        "<h1>certferry review: {} sequence {}</h1>\n<dl>\n",
        e(&b.source),
        b.sequence
    );
    let dd =
        |o: &mut String, k: &str, v: &str| *o += &format!("<dt>{}</dt><dd>{}</dd>\n", e(k), e(v));
    dd(&mut o, "Bundle SHA-256", &b.sha256);
    dd(&mut o, "Created", &b.created);
    dd(&mut o, "Expires", &b.expires);
    dd(&mut o, "Evaluated at", &r.now);
    for s in &b.signers {
        dd(&mut o, "Signed by", s);
    }
    match &r.previous {
        Some(p) => dd(
            &mut o,
            "Compared with",
            &format!(
                "sequence {} ({}), imported {}",
                p.sequence, p.sha256, p.imported_at
            ),
        ),
        None => dd(
            &mut o,
            "Compared with",
            "nothing: no bundle of this source was imported yet",
        ),
    }
    dd(
        &mut o,
        "Summary",
        &format!(
            "{} entries ({} unchanged); entries added {}, removed {}; certificates added {}, removed {}, replaced {}; refused by policy {}",
            c.entries, c.unchanged_entries, c.entries_added, c.entries_removed, c.certificates_added, c.certificates_removed,
            c.certificates_replaced, c.refused
        ),
    );
    dd(
        &mut o,
        "Revocation",
        &if b.carries_ca_material {
            format!(
                "checked against the bundle's CRLs; {} accepted value(s) undetermined",
                c.revocation_undetermined
            )
        } else {
            "not checked: the bundle carries no CA material (export with --pki)".to_owned()
        },
    );
    dd(
        &mut o,
        "Report SHA-256",
        &format!("{report_hash} (SHA-256 of the CSV report)"),
    );
    o += "</dl>\n";
    if any_change {
        o += "<table><thead><tr><th>Change</th><th>Entry</th><th>Attribute</th><th>Before</th><th>After</th><th>Reasons</th></tr></thead><tbody>\n";
    } else {
        o += "<p>No changes.</p>\n";
    }
    o
}

/// One change's row of the HTML page.
pub fn html_row(ch: &Change) -> String {
    let e = html_escape;
    let side = |s: &Option<CertSide>| s.as_ref().map(|s| e(&describe(s))).unwrap_or_default();
    {
        {
            let reasons: Vec<String> = ch
                .reasons
                .iter()
                .map(|x| format!("<b>{}</b>: {}", e(&x.code), e(&x.text)))
                .collect();
            format!(
                "<tr class=\"{}\"><td>{}</td><td>{}<br><small>{} · {}</small></td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>\n",
                ch.change.as_str(),
                ch.change.as_str(),
                e(&ch.label),
                e(&ch.kind),
                e(&ch.dn),
                e(ch.attribute.as_deref().unwrap_or("")),
                side(&ch.old),
                side(&ch.new),
                reasons.join("<br>")
            )
        }
    }
}

/// The end of the HTML page.
pub fn html_tail(any_change: bool) -> String {
    let mut o = String::new();
    if any_change {
        o += "</tbody></table>\n";
    }
    o += "</body></html>\n";
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_neutralises_formulas() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("\rx"), "\"'\rx\"");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field(" a"), "\" a\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn html_escapes_everything() {
        assert_eq!(
            html_escape("<script>&\"'"),
            "&lt;script&gt;&amp;&quot;&#39;"
        );
    }

    #[test]
    fn terminal_text_hides_bidi_overrides() {
        assert_eq!(
            terminal_safe("a\u{202E}b\u{2066}c\nd\u{1b}"),
            "a\\u{202e}b\\u{2066}c\nd\\x1b"
        );
    }
}
