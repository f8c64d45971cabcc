//! `verify`: signatures, structure, hashes, replay state and the importer's
//! own certificate policy, offline.

use serde_json::json;

use crate::certpolicy::{evaluate, Evaluation};
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

pub(crate) fn print_refusals(e: &Evaluation<'_>) {
    for entry in e.entries() {
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
}

pub(crate) fn run(a: &VerifyArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    let verified = match load_verified(&a.bundle, policy, state.as_ref(), now, |_| {}) {
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
    let eval = evaluate(&verified);
    let outcome = Outcome::of(&eval);
    let h = verified.header();
    let verdict = match outcome {
        Outcome::Ok => "valid",
        Outcome::SomeRefused => "valid-with-refusals",
    };
    if a.common.json {
        let v = json!({
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
            "counts": eval.counts(),
            "entries": eval.entries(),
        });
        println!("{v}");
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
    let c = &eval.counts();
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
    print_refusals(&eval);
    match outcome {
        Outcome::Ok => println!("verdict   VALID: signatures, format and replay rules pass; every certificate passes the policy"),
        Outcome::SomeRefused => println!(
            "verdict   VALID, {} value(s) REFUSED by the certificate policy: they will not be published",
            c.refused
        ),
    }
    Ok(outcome)
}
