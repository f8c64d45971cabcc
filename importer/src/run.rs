//! Runs a parsed command: loads the policy and state, verifies, evaluates,
//! prints and writes. Every failure becomes a [`Failure`] with a documented
//! exit code and a one-line message that never contains a secret.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use certferry_format::keys::SecretKey;
use certferry_format::{
    sign_bundle, signature_file_name, BundleDigests, Limits, Role, Timestamp, VerifiedBundle,
};
use serde_json::json;

use crate::bundle::{LoadError, LoadedBundle};
use crate::certpolicy::{evaluate, Evaluation};
use crate::cli::{
    ApproveArgs, BundleArgs, Command, Common, HistoryArgs, MarkImportedArgs, ReviewArgs,
    ScriptArgs, StatusArgs, VerifyArgs,
};
use crate::output::{write_atomically, write_new};
use crate::policy::Policy;
use crate::review::compare;
use crate::secret::PasswordSource;
use crate::state::{NewImport, StateDb};
use crate::{report, script};

/// A failed run: the exit code and the message for standard error.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments or policy file (exit 2).
    Usage(String),
    /// The bundle is invalid (exit 3); the message starts with the SPEC.md §10 class.
    Invalid {
        /// The SPEC.md §10 error class, when the format library named one.
        class: Option<String>,
        /// The message.
        message: String,
    },
    /// The secret key could not be used (exit 4).
    Key(String),
    /// State or output could not be read or written (exit 5).
    Output(String),
    /// Exchange Online refused or failed (exit 6): the import is incomplete;
    /// running `apply` again finishes it.
    Tenant(String),
}

impl Failure {
    /// The process exit code (documented in `--help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Invalid { .. } => 3,
            Failure::Key(_) => 4,
            Failure::Output(_) => 5,
            Failure::Tenant(_) => 6,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Key(m) | Failure::Output(m) | Failure::Tenant(m) => m,
            Failure::Invalid { message, .. } => message,
        }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        match &e {
            LoadError::Invalid { error, .. } => Failure::Invalid {
                class: Some(error.class().name().to_owned()),
                message: e.to_string(),
            },
            // A bundle or signature file that cannot be read is a wrong path, not a bad bundle.
            LoadError::Io(m) => Failure::Usage(m.clone()),
            LoadError::State(s) => Failure::Output(s.to_string()),
        }
    }
}

/// A successful run: whether every certificate passed the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: the bundle is valid but some certificates are refused.
    SomeRefused,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::SomeRefused => 1,
        }
    }

    fn of(e: &Evaluation<'_>) -> Self {
        if e.all_accepted() {
            Outcome::Ok
        } else {
            Outcome::SomeRefused
        }
    }
}

/// Runs a parsed command.
pub fn run(command: Command) -> Result<Outcome, Failure> {
    match command {
        Command::Verify(a) => verify(&a),
        Command::Review(a) => review(&a),
        Command::Approve(a) => approve(&a),
        Command::Script(a) => script_cmd(&a),
        Command::Status(a) => status(&a),
        Command::History(a) => history(&a),
        Command::MarkImported(a) => mark_imported(&a),
        Command::Plan(a) => crate::online::plan_cmd(&a),
        Command::Archive(a) => archive_cmd(&a),
        Command::Apply(a) => crate::online::apply_cmd(&a),
        Command::Doctor(a) => crate::doctor::doctor_cmd(&a),
    }
}

pub(crate) fn load_policy(c: &Common) -> Result<Policy, Failure> {
    Policy::load(&c.policy).map_err(|e| Failure::Usage(e.to_string()))
}

pub(crate) fn state_path(c: &Common, p: &Policy) -> PathBuf {
    c.state.clone().unwrap_or_else(|| p.state_path.clone())
}

fn open_state_ro(c: &Common, p: &Policy) -> Result<Option<StateDb>, Failure> {
    StateDb::open_read_only(&state_path(c, p)).map_err(|e| Failure::Output(e.to_string()))
}

/// `--now`, else the clock.
pub(crate) fn now(b: &BundleArgs) -> Result<Timestamp, Failure> {
    match &b.now {
        Some(t) => Timestamp::parse(t)
            .ok_or_else(|| Failure::Usage(format!("--now {t:?}: expected YYYY-MM-DDTHH:MM:SSZ"))),
        None => clock(),
    }
}

pub(crate) fn clock() -> Result<Timestamp, Failure> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
        .ok_or_else(|| Failure::Usage("the system clock is out of range".into()))
}

/// Reads and verifies the bundle with the full policy (or `adjust`ed).
pub(crate) fn load_verified(
    b: &BundleArgs,
    policy: &Policy,
    state: Option<&StateDb>,
    now: Timestamp,
    adjust: impl FnOnce(&mut certferry_format::TrustPolicy),
) -> Result<VerifiedBundle, Failure> {
    let loaded = LoadedBundle::read(&b.bundle, &b.signatures, &Limits::default())?;
    Ok(loaded.verify(policy, state, now, adjust)?)
}

fn signers_json(v: &VerifiedBundle) -> serde_json::Value {
    v.signers()
        .iter()
        .map(|s| json!({"name": s.name, "role": s.role.as_str(), "key_id": s.key_id.to_string(), "file": s.file}))
        .collect()
}

fn print_refusals(e: &Evaluation<'_>) {
    for entry in &e.entries {
        for v in entry.values.iter().filter(|v| !v.accepted) {
            let mut what = v.certificate.as_ref().map_or_else(
                || format!("value {}", v.file),
                |c| format!("{} (thumbprint {})", c.subject, c.sha1),
            );
            // Every certificate of a container, not only the one the verdict names.
            let shown = v.certificate.as_ref().map(|c| c.sha1.as_str());
            for o in v
                .certificates
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
                .refusals
                .iter()
                .map(|r| format!("{}: {}", r.code, r.text))
                .collect();
            let line = format!(
                "refused   entry {} {} {}: {what}: {}",
                entry.index,
                entry.label,
                v.attribute.as_str(),
                reasons.join(" ")
            );
            println!("{}", report::terminal_safe(&line));
        }
    }
}

fn verify(a: &VerifyArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let now = now(&a.bundle)?;
    let state = open_state_ro(&a.common, &policy)?;
    let verified = match load_verified(&a.bundle, &policy, state.as_ref(), now, |_| {}) {
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
    let eval = evaluate(&verified, &policy.certificates, now);
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
            "counts": eval.counts,
            "entries": eval.entries,
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
    for s in verified.signers() {
        println!("signer    {} ({}, key {})", s.name, s.role, s.key_id);
    }
    let c = &eval.counts;
    println!(
        "counts    {} entries, {} values: {} accepted, {} refused by policy ({} entries affected)",
        c.entries, c.values, c.accepted, c.refused, c.entries_with_refusals
    );
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

fn review(a: &ReviewArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let now = now(&a.bundle)?;
    let state = open_state_ro(&a.common, &policy)?;
    // The reviewer reads this report before approving: every check but the
    // reviewer threshold must pass (as for `approve`).
    let verified = load_verified(&a.bundle, &policy, state.as_ref(), now, |t| {
        t.required.remove(&Role::Reviewer);
    })?;
    let eval = evaluate(&verified, &policy.certificates, now);
    let st = |e: crate::state::StateError| Failure::Output(e.to_string());
    let previous = match &state {
        Some(db) => match db.last_import(&verified.header().source).map_err(st)? {
            Some(imp) => {
                let recs = db.recipients(imp.id).map_err(st)?;
                Some((imp, recs))
            }
            None => None,
        },
        None => None,
    };
    let r = compare(
        &verified,
        &eval,
        previous.as_ref().map(|(i, r)| (i, r.as_slice())),
        now,
    );
    let csv = report::csv(&r);
    let hash = report::report_sha256(&csv);
    let out = |p: &Path, data: &[u8]| {
        write_atomically(p, data).map_err(|e| Failure::Output(format!("{}: {e}", p.display())))
    };
    if let Some(p) = &a.csv {
        out(p, &csv)?;
    }
    if let Some(p) = &a.html {
        out(p, report::html(&r, &hash).as_bytes())?;
    }
    if a.common.json {
        println!("{}", json!({"review": r, "report_sha256": hash}));
    } else {
        print!("{}", report::text(&r, &hash));
    }
    Ok(Outcome::of(&eval))
}

fn approve(a: &ApproveArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let now = now(&a.bundle)?;
    let state = open_state_ro(&a.common, &policy)?;
    // Everything but the reviewer threshold must already hold: a reviewer
    // never approves a bundle that fails verification.
    let verified = load_verified(&a.bundle, &policy, state.as_ref(), now, |t| {
        t.required.remove(&Role::Reviewer);
    })?;
    let key_bytes = std::fs::read(&a.key)
        .map_err(|e| Failure::Key(format!("cannot read secret key {}: {e}", a.key.display())))?;
    let key_err = |e: certferry_format::Error| {
        Failure::Key(format!("secret key {}: {}", a.key.display(), e.message()))
    };
    let key = match SecretKey::from_file_bytes(&key_bytes, None) {
        Ok(k) => k,
        Err(e) if e.message().contains("password is required") => {
            let pw =
                PasswordSource::choose(a.key_password_file.clone(), a.key_password_env.clone())
                    .read("secret key password")
                    .map_err(|e| Failure::Key(e.to_string()))?;
            SecretKey::from_file_bytes(&key_bytes, Some(pw.expose())).map_err(key_err)?
        }
        Err(e) => return Err(key_err(e)),
    };
    let pk = key.public_key();
    match policy
        .signers
        .iter()
        .find(|s| s.key.as_bytes() == pk.as_bytes())
    {
        Some(s) if s.role == Role::Reviewer => {}
        Some(s) => {
            return Err(Failure::Key(format!(
                "key {} is trusted as {} ({}), not as a reviewer, in {}",
                pk.key_id(),
                s.role,
                s.name,
                policy.file.display()
            )))
        }
        None => {
            return Err(Failure::Key(format!(
                "key {} is not a reviewer key of the policy {}; its signature would not count",
                pk.key_id(),
                policy.file.display()
            )))
        }
    }
    let eval = evaluate(&verified, &policy.certificates, now);
    let h = verified.header();
    let digests = BundleDigests::of_bytes(verified.bytes());
    let sig = sign_bundle(&digests, &key, Role::Reviewer, &h.source, h.sequence)
        .map_err(|e| Failure::Key(e.to_string()))?;
    let name = a
        .bundle
        .bundle
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Failure::Usage(format!("{}: not a file name", a.bundle.bundle.display())))?;
    let path = crate::output::parent_dir(&a.bundle.bundle).join(signature_file_name(
        name,
        Role::Reviewer,
        &key.key_id(),
    ));
    write_new(&path, &sig.to_bytes()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::Output(format!(
                "{} already exists: this key has already approved the bundle",
                path.display()
            ))
        } else {
            Failure::Output(format!("{}: {e}", path.display()))
        }
    })?;
    if a.common.json {
        println!(
            "{}",
            json!({"approved": a.bundle.bundle, "signature": path, "key_id": key.key_id().to_string(), "sha256": digests.sha256.to_hex(), "source": h.source.as_str(), "sequence": h.sequence})
        );
    } else {
        println!(
            "approved  {} ({} sequence {}, sha256 {})",
            a.bundle.bundle.display(),
            h.source,
            h.sequence,
            digests.sha256
        );
        println!(
            "signature {} (reviewer key {})",
            path.display(),
            key.key_id()
        );
        println!(
            "policy    {} values accepted, {} refused by the certificate policy (they will not be published)",
            eval.counts.accepted, eval.counts.refused
        );
    }
    Ok(Outcome::Ok)
}

fn script_cmd(a: &ScriptArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let now = now(&a.bundle)?;
    let state = open_state_ro(&a.common, &policy)?;
    let verified = load_verified(&a.bundle, &policy, state.as_ref(), now, |_| {})?;
    let eval = evaluate(&verified, &policy.certificates, now);
    let text = script::render(
        &verified,
        &eval,
        script::ScriptOptions {
            create_contacts: a.create_contacts,
        },
        &now.to_string(),
    );
    // UTF-8 with a byte order mark: Windows PowerShell 5.1 reads a file
    // without one in the ANSI code page and would garble non-ASCII names.
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(text.as_bytes());
    write_atomically(&a.out, &bytes)
        .map_err(|e| Failure::Output(format!("{}: {e}", a.out.display())))?;
    if a.common.json {
        println!(
            "{}",
            json!({"script": a.out, "sha256": verified.sha256().to_hex(), "counts": eval.counts})
        );
    } else {
        println!(
            "script    {} ({} values accepted, {} refused and left out)",
            a.out.display(),
            eval.counts.accepted,
            eval.counts.refused
        );
        print_refusals(&eval);
    }
    Ok(Outcome::of(&eval))
}

fn status(a: &StatusArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let path = state_path(&a.common, &policy);
    let sources = match open_state_ro(&a.common, &policy)? {
        Some(db) => db.sources().map_err(|e| Failure::Output(e.to_string()))?,
        None => Vec::new(),
    };
    if a.common.json {
        println!("{}", json!({"state": path, "sources": sources}));
        return Ok(Outcome::Ok);
    }
    println!("state     {}", path.display());
    if sources.is_empty() {
        println!("nothing imported yet");
    }
    for s in sources {
        println!(
            "source    {}: sequence {} (sha256 {}, created {}), imported {}",
            s.source, s.last_sequence, s.last_sha256, s.last_created, s.last_imported_at
        );
    }
    Ok(Outcome::Ok)
}

fn history(a: &HistoryArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let db = open_state_ro(&a.common, &policy)?;
    let st = |e: crate::state::StateError| Failure::Output(e.to_string());
    let Some(db) = db else {
        if a.common.json {
            println!("[]");
        } else {
            println!("nothing imported yet");
        }
        return Ok(Outcome::Ok);
    };
    let items = match (&a.address, &a.thumbprint) {
        (Some(addr), _) => db.history_by_address(addr).map_err(st)?,
        (None, Some(t)) => db.history_by_thumbprint(t).map_err(st)?,
        (None, None) => {
            let imports = db.imports().map_err(st)?;
            if a.common.json {
                println!("{}", json!(imports));
            } else {
                for i in imports {
                    println!(
                        "import {}  {} sequence {}  imported {}  sha256 {}  review {}  {} recipients, {} values",
                        i.id,
                        i.source,
                        i.sequence,
                        i.imported_at,
                        i.bundle_sha256,
                        i.review_sha256.as_deref().unwrap_or("-"),
                        i.entries,
                        i.values_written
                    );
                }
            }
            return Ok(Outcome::Ok);
        }
    };
    if a.common.json {
        println!("{}", json!(items));
        return Ok(Outcome::Ok);
    }
    for item in items {
        let i = &item.import;
        println!(
            "import {}  {} sequence {}  imported {}",
            i.id, i.source, i.sequence, i.imported_at
        );
        if item.recipients.is_empty() {
            println!("    (not present)");
        }
        for r in &item.recipients {
            println!(
                "{}",
                report::terminal_safe(&format!("    {} ({}, {})", r.label, r.kind, r.dn))
            );
            if r.values.is_empty() {
                println!("        no certificate published");
            }
            for v in &r.values {
                let line = format!(
                    "        {} {} thumbprint {} expires {}",
                    v.attribute,
                    v.subject.as_deref().unwrap_or("(opaque value)"),
                    v.cert_sha1.as_deref().unwrap_or("-"),
                    v.not_after.as_deref().unwrap_or("-")
                );
                println!("{}", report::terminal_safe(&line));
            }
        }
    }
    Ok(Outcome::Ok)
}

fn mark_imported(a: &MarkImportedArgs) -> Result<Outcome, Failure> {
    let policy = load_policy(&a.common)?;
    let now = now(&a.bundle)?;
    if let Some(h) = &a.review_sha256 {
        if h.len() != 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Failure::Usage(format!(
                "--review-sha256 {h:?}: expected 64 lowercase hex digits"
            )));
        }
    }
    let path = state_path(&a.common, &policy);
    let mut db = StateDb::open(&path).map_err(|e| Failure::Output(e.to_string()))?;
    let verified = load_verified(&a.bundle, &policy, Some(&db), now, |_| {})?;
    let eval = evaluate(&verified, &policy.certificates, now);
    let rec = NewImport::from_verified(&verified, &eval, now, a.review_sha256.clone());
    let id = db
        .record_import(&rec)
        .map_err(|e| Failure::Output(e.to_string()))?;
    if a.common.json {
        println!(
            "{}",
            json!({"import": id, "source": rec.source, "sequence": rec.sequence, "sha256": rec.bundle_sha256.to_hex()})
        );
    } else {
        println!(
            "recorded  import {id}: {} sequence {} ({} recipients, {} values written)",
            rec.source,
            rec.sequence,
            rec.recipients.len(),
            eval.counts.accepted
        );
    }
    Ok(Outcome::Ok)
}

fn archive_cmd(a: &crate::cli::ArchiveArgs) -> Result<Outcome, Failure> {
    use crate::archive::{answer, chain_problems, load, to_csv, Query};
    let policy = Policy::load(&a.policy).map_err(|e| Failure::Usage(e.to_string()))?;
    let (snaps, rejected) = load(&a.dir, &policy).map_err(Failure::Usage)?;
    let problems = chain_problems(&snaps);
    let query = match (&a.address, &a.thumbprint) {
        (Some(x), _) => Some(Query::Address(x.clone())),
        (None, Some(t)) => Some(Query::Thumbprint(t.clone())),
        _ => None,
    };
    let rows = query
        .as_ref()
        .map(|q| answer(&snaps, q))
        .unwrap_or_default();
    if let Some(csv) = &a.csv {
        write_atomically(csv, &to_csv(&rows))
            .map_err(|e| Failure::Output(format!("{}: {e}", csv.display())))?;
    }
    if a.json {
        let snapshots: Vec<serde_json::Value> = snaps
            .iter()
            .map(|s| json!({"file": s.path, "source": s.bundle.header().source.as_str(), "sequence": s.bundle.header().sequence, "created": s.bundle.header().created.to_string(), "sha256": s.bundle.sha256().to_hex(), "entries": s.bundle.entry_count()}))
            .collect();
        println!(
            "{}",
            json!({"snapshots": snapshots, "rejected": rejected, "chain_problems": problems, "rows": rows})
        );
    } else {
        for s in &snaps {
            let h = s.bundle.header();
            println!(
                "snapshot  {} sequence {} created {} sha256 {} ({} entries)",
                h.source,
                h.sequence,
                h.created,
                s.bundle.sha256(),
                s.bundle.entry_count()
            );
        }
        for r in &rejected {
            println!(
                "{}",
                report::terminal_safe(&format!("REJECTED  {}: {}", r.path, r.reason))
            );
        }
        for p in &problems {
            println!(
                "{}",
                report::terminal_safe(&format!(
                    "CHAIN     {}",
                    serde_json::to_string(p).unwrap_or_default()
                ))
            );
        }
        for r in &rows {
            println!(
                "{}",
                report::terminal_safe(&format!(
                    "{} #{} {}  {}  {} sha1 {}  {}  expires {}  ({})",
                    r.source,
                    r.sequence,
                    r.created,
                    r.entry,
                    r.attribute,
                    r.sha1,
                    r.subject,
                    r.not_after,
                    r.class
                ))
            );
        }
    }
    if rejected.is_empty() && problems.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(Failure::Invalid {
            class: None,
            message: format!(
                "{} bundle(s) rejected, {} chain problem(s)",
                rejected.len(),
                problems.len()
            ),
        })
    }
}
