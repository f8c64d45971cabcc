//! What an export prints when it is done: the summary (text or `--json`),
//! and the findings on standard error (private keys withheld, every one, even
//! with `--quiet`; warnings grouped by kind). Every untrusted string is made
//! safe for a terminal.

use std::path::Path;

use certferry_format::BundleDigests;

use crate::cli::OutputArgs;
use crate::export::Summary;

/// Prints the result of a finished export.
pub fn report(
    out: &OutputArgs,
    bundle: &Path,
    sig: &Path,
    header: &certferry_format::model::BundleHeader,
    digests: &BundleDigests,
    parts: &[(std::path::PathBuf, u64)],
    s: &Summary,
) {
    if out.json {
        let v = serde_json::json!({
            "bundle": bundle,
            "signature": sig,
            "parts": parts.iter().map(|(p, n)| serde_json::json!({"file": p, "bytes": n})).collect::<Vec<_>>(),
            "sha256": digests.sha256.to_hex(),
            "source": header.source.as_str(),
            "sequence": header.sequence,
            "created": header.created.to_string(),
            "expires": header.expires.to_string(),
            "summary": s,
        });
        println!("{v}");
        print_findings(s, out.quiet);
        return;
    }
    if out.quiet {
        print_findings(s, true);
        return;
    }
    if parts.is_empty() {
        println!("bundle     {}", bundle.display());
    } else {
        println!(
            "bundle     {} (part index of a snapshot in {} parts)",
            bundle.display(),
            parts.len()
        );
        for (path, bytes) in parts {
            println!("part       {} ({bytes} bytes)", path.display());
        }
    }
    println!("signature  {}", sig.display());
    println!("sha256     {}", digests.sha256);
    println!(
        "source     {} sequence {} (expires {})",
        header.source, header.sequence, header.expires
    );
    println!(
        "entries    {}   values {}   certificates {}: {} encryption, {} signing only, {} unusable; {} unparseable values",
        s.entries, s.values, s.certificates, s.encryption, s.signing_only, s.unusable, s.unparseable_values
    );
    if let Some(ca) = &s.ca_material {
        println!(
            "CA         {} certificates, {} CRLs, {} unparseable values carried",
            ca.certificates, ca.crls, ca.unparseable
        );
    }
    if s.skipped > 0 || s.values_left_out > 0 {
        let why: Vec<String> = s
            .skipped_by
            .iter()
            .map(|(k, n)| format!("{n} {}", skip_reason_text(k)))
            .collect();
        let left_out = match s.values_left_out {
            0 => String::new(),
            n => format!("; {n} values left out (by --only-usable)"),
        };
        println!(
            "skipped    {} objects: {}{left_out} (counts by reason in --json `skipped_by`)",
            s.skipped,
            why.join(", ")
        );
    }
    print_findings(s, false);
}

/// What a `skipped_by` key means, for the summary line.
fn skip_reason_text(key: &str) -> &'static str {
    match key {
        "not-a-user-or-contact" => "neither users nor contacts (computers, groups, ...)",
        "disabled-account" => "disabled accounts (--include-disabled exports them)",
        "contact" => "contacts (--contacts exports them)",
        "no-certificate-value" => "without a certificate value",
        "nothing-usable" => "with nothing usable (--only-usable)",
        _ => "other",
    }
}

/// How many examples of each kind of warning the terminal shows.
const EXAMPLES: usize = 3;

/// Private keys (every one, loudly, even with `--quiet`) and warnings (grouped
/// by kind, with counts and the first examples; not with `--quiet`), on
/// standard error; `--json` has them all.
fn print_findings(s: &Summary, quiet: bool) {
    let safe = |t: &str| certferry_format::text::terminal_safe(t, false);
    if !s.private_keys.is_empty() {
        eprintln!(
            "SECURITY   {} private key(s) found in the directory and WITHHELD from the bundle (only length and SHA-256 recorded); remove them from these objects:",
            s.private_keys.len()
        );
        for k in &s.private_keys {
            eprintln!(
                "SECURITY   {} ({}): {} value {}: {} ({} bytes, sha256 {})",
                safe(&k.entry),
                safe(&k.dn),
                k.attribute,
                k.position,
                k.what,
                k.length,
                k.sha256
            );
        }
    }
    if quiet {
        return;
    }
    let mut kinds: Vec<&str> = s.warnings.iter().map(|w| w.kind).collect();
    kinds.dedup();
    let mut seen = std::collections::BTreeSet::new();
    kinds.retain(|k| seen.insert(*k));
    for kind in kinds {
        let all: Vec<&crate::export::Warning> =
            s.warnings.iter().filter(|w| w.kind == kind).collect();
        if all.len() <= EXAMPLES {
            for w in all {
                eprintln!("warning    {}", safe(&w.text));
            }
            continue;
        }
        eprintln!("warning    {} x {kind}, for example:", all.len());
        for w in all.iter().take(EXAMPLES) {
            eprintln!("warning      {}", safe(&w.text));
        }
        eprintln!(
            "warning      … and {} more (every one is in --json and in the bundle's review.csv)",
            all.len() - EXAMPLES
        );
    }
}
