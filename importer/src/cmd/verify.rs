//! `verify`: signatures, structure, hashes, replay state and the importer's
//! own certificate policy, offline.

use serde_json::json;

use std::io::Write as _;

use crate::certpolicy::{for_each_entry, EntryEvaluation, JudgedBundle, Values};
use crate::cli::VerifyArgs;
use crate::context::{load_verified, now, Config};
use crate::failure::{Failure, Outcome};
use crate::report;

pub(crate) fn signers_json<T>(v: &crate::verified::Verified<T>) -> serde_json::Value {
    v.signers()
        .iter()
        .map(|s| json!({"name": s.name, "role": s.role.as_str(), "key_id": s.key_id.to_string(), "file": s.file}))
        .collect()
}

/// One line per refused value of `entry`.
pub(crate) fn print_entry_refusals(entry: &EntryEvaluation<'_>) {
    for v in entry.values().iter().filter(|v| !v.accepted()) {
        let mut what = v.certificate().map_or_else(
            || format!("value {}", v.file()),
            |c| format!("{} (thumbprint {})", c.subject, c.sha1),
        );
        // Every certificate of a container, not only the one the verdict names.
        let shown = v.certificate().map(|c| c.sha1.as_str());
        for o in v
            .certificates()
            .iter()
            .filter(|o| Some(o.summary.sha1.as_str()) != shown)
        {
            let verdict = match o.verdict {
                "ca" => "CA certificate".to_owned(),
                "refused" => {
                    let codes: Vec<&str> = o.refusals.iter().map(|r| r.code.as_str()).collect();
                    format!("refused: {}", codes.join(", "))
                }
                other => other.to_owned(),
            };
            what += &format!(
                "; also {} (thumbprint {}, {verdict})",
                o.summary.subject, o.summary.sha1
            );
        }
        let reasons: Vec<String> = v
            .refusals()
            .iter()
            .map(|r| format!("{}: {}", r.code, r.text))
            .collect();
        let line = format!(
            "refused   entry {} {} {}: {what}: {}",
            entry.index(),
            entry.label(),
            v.attribute().as_str(),
            reasons.join(" ")
        );
        println!("{}", report::terminal_safe(&line));
    }
}

pub(crate) fn run(a: &VerifyArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    let verified = match load_verified(
        &a.bundle,
        policy,
        state.as_ref(),
        now,
        Values::NotNeeded,
        |_| {},
    ) {
        Ok(v) => v,
        Err(f) => {
            if a.common.json {
                if let Failure::Invalid { class, message } = &f {
                    println!(
                        "{}",
                        json!({"verdict": "invalid", "bundle": a.bundle.bundle, "class": class, "message": message})
                    );
                }
            }
            return Err(f);
        }
    };
    // One verdict at a time from the spool: memory holds no more than one
    // entry's verdict, however large the snapshot.
    let counts = verified.counts().clone();
    let outcome = Outcome::of_counts(&counts);
    let h = verified.header();
    let verdict = match outcome {
        Outcome::Ok => "valid",
        Outcome::SomeRefused => "valid-with-refusals",
    };
    if a.common.json {
        let head = json!({
            "verdict": verdict,
            "bundle": a.bundle.bundle,
            "source": h.source.as_str(),
            "sequence": h.sequence,
            "sha256": verified.sha256().to_hex(),
            "created": h.created.to_string(),
            "expires": h.expires.to_string(),
            "now": now.to_string(),
            "signers": signers_json(&verified),
            "parts": verified.parts().iter().map(|p| json!({"part": p.number, "file": p.name, "sha256": p.sha256.to_hex(), "bytes": p.bytes})).collect::<Vec<_>>(),
            "counts": counts,
        });
        print_json_streaming(&head, "entries", &verified)?;
        return Ok(outcome);
    }
    println!("bundle    {}", a.bundle.bundle.display());
    println!(
        "source    {} sequence {} (created {}, expires {})",
        h.source, h.sequence, h.created, h.expires
    );
    println!("sha256    {}", verified.sha256());
    if !verified.parts().is_empty() {
        println!(
            "parts     a snapshot in {} parts, each read, matched to the signed part index and verified",
            verified.parts().len()
        );
        for p in verified.parts() {
            println!(
                "part      {} {} ({} bytes, {} entries)",
                p.number, p.name, p.bytes, p.counts.entries
            );
        }
    }
    for s in verified.signers() {
        println!("signer    {} ({}, key {})", s.name, s.role, s.key_id);
    }
    let c = &counts;
    println!(
        "counts    {} entries, {} values: {} accepted, {} refused by policy ({} entries affected)",
        c.entries, c.values, c.accepted, c.refused, c.entries_with_refusals
    );
    if c.revocation_undetermined > 0 {
        println!(
            "warning   {} accepted value(s) have a revocation status no current CRL in the bundle decides (certificates.revocation = \"warn\"; `review` shows why for each)",
            c.revocation_undetermined
        );
    }
    for_each_entry(&verified, |entry| {
        print_entry_refusals(entry);
        Ok::<(), Failure>(())
    })?;
    match outcome {
        Outcome::Ok => println!("verdict   VALID: signatures, format and replay rules pass; every certificate passes the policy"),
        Outcome::SomeRefused => println!(
            "verdict   VALID, {} value(s) REFUSED by the certificate policy: they will not be published",
            c.refused
        ),
    }
    Ok(outcome)
}

/// Prints the object `head` with one more member, `name`, holding every
/// entry's evaluation, written one entry at a time from the spool; the
/// members stay in the order `serde_json` gives an object (sorted by name).
fn print_json_streaming(
    head: &serde_json::Value,
    name: &str,
    bundle: &JudgedBundle,
) -> Result<(), Failure> {
    let serde_json::Value::Object(members) = head else {
        return Err(Failure::Output("the JSON head is not an object".into()));
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let io = |e: std::io::Error| Failure::Output(format!("standard output: {e}"));
    let member = |out: &mut std::io::BufWriter<std::io::StdoutLock<'_>>,
                  first: bool,
                  key: &str,
                  value: &serde_json::Value| {
        write!(
            out,
            "{}{}:{}",
            if first { "" } else { "," },
            serde_json::Value::from(key),
            value
        )
    };
    out.write_all(b"{").map_err(io)?;
    let mut first = true;
    let mut written = false;
    for (k, v) in members {
        if !written && k.as_str() > name {
            write_entries(&mut out, first, name, bundle)?;
            written = true;
            first = false;
        }
        member(&mut out, first, k, v).map_err(io)?;
        first = false;
    }
    if !written {
        write_entries(&mut out, first, name, bundle)?;
    }
    out.write_all(b"}\n").map_err(io)?;
    out.flush().map_err(io)
}

fn write_entries(
    out: &mut impl std::io::Write,
    first: bool,
    name: &str,
    bundle: &JudgedBundle,
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::Output(format!("standard output: {e}"));
    write!(
        out,
        "{}{}:[",
        if first { "" } else { "," },
        serde_json::Value::from(name)
    )
    .map_err(io)?;
    let mut n = 0usize;
    for_each_entry(bundle, |entry| {
        if n > 0 {
            out.write_all(b",").map_err(io)?;
        }
        n += 1;
        // Through a Value, as the rest of the object: members sorted by name.
        let value = serde_json::to_value(entry)
            .map_err(|e| Failure::Output(format!("standard output: {e}")))?;
        write!(out, "{value}").map_err(io)
    })?;
    out.write_all(b"]").map_err(io)
}
