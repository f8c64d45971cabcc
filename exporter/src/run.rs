//! Turns parsed arguments into settings, runs the export core, and writes the
//! outputs crash-safely. Every failure becomes a [`Failure`] with a documented
//! exit code and a one-line message that never contains a secret.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use certferry_format::cert::chain::CaCertificate;
use certferry_format::cert::TrustedIssuer;
use certferry_format::keys::{generate_keypair, SecretKey};
use certferry_format::{sign_bundle, signature_file_name, Role, SourceId, Timestamp};

use crate::cli::{Command, KeygenArgs, LdapArgs, LdifArgs, OutputArgs};
use crate::export::{export, CaMaterialSettings, ExportError, ExportSettings};
use crate::follow_hash::{self, Progress, Publishing};
use crate::guard::{self, Limits};
use crate::output::{locked_temp, parent_dir, persist_new, remove_leftovers};
use crate::part_files::{self, FileParts};
use crate::secret::{PasswordSource, Secret};
use crate::source::ldap::{Bind, LdapOptions, LdapSource};
use crate::source::ldif::LdifFiles;
use crate::source::{DirectorySource, Scope};
use crate::state::{self, ExportState};
use certferry_cli::duration::parse_duration;

/// A failed run: the exit code and the message for standard error.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments (exit 2).
    Usage(String),
    /// The directory could not be read (exit 3).
    Source(String),
    /// The signing key could not be used (exit 4).
    Key(String),
    /// Output or state could not be written (exit 5).
    Output(String),
    /// The snapshot is empty or shrank beyond the limits (exit 6); nothing
    /// was written.
    Refused(String),
    /// Interrupted by Ctrl-C (exit 130).
    Interrupted,
}

impl Failure {
    /// The process exit code (documented in `--help` and the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Source(_) => 3,
            Failure::Key(_) => 4,
            Failure::Output(_) => 5,
            Failure::Refused(_) => 6,
            Failure::Interrupted => 130,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m)
            | Failure::Source(m)
            | Failure::Key(m)
            | Failure::Output(m)
            | Failure::Refused(m) => m,
            Failure::Interrupted => "interrupted; nothing was written",
        }
    }
}

/// A run that wrote what it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 1: the bundle was written, but this many values held private key
    /// material and were withheld. A security finding: the objects named must
    /// be cleaned.
    PrivateKeysWithheld(usize),
}

impl Outcome {
    /// The process exit code (documented in `--help` and the README).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::PrivateKeysWithheld(_) => 1,
        }
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Source(e) => Failure::Source(e.to_string()),
            ExportError::Decode(e) => Failure::Source(e.to_string()),
            ExportError::Write(e) => Failure::Output(e.to_string()),
            ExportError::Interrupted => Failure::Interrupted,
        }
    }
}

/// Runs a parsed command.
pub fn run(command: Command, cancel: &AtomicBool) -> Result<Outcome, Failure> {
    match command {
        Command::Keygen(args) => keygen(&args).map(|()| Outcome::Done),
        Command::Ldap(args) => ldap(&args, cancel),
        Command::Ldif(args) => ldif(&args, cancel),
    }
}

fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let password = if args.unencrypted {
        None
    } else {
        let src = PasswordSource::choose(args.password_file.clone(), args.password_env.clone());
        let first = src
            .read("new key password")
            .map_err(|e| Failure::Usage(e.to_string()))?;
        if src == PasswordSource::Prompt {
            let again = src
                .read("repeat the password")
                .map_err(|e| Failure::Usage(e.to_string()))?;
            if again != first {
                return Err(Failure::Usage(
                    "the two passwords differ; no key was written".into(),
                ));
            }
        }
        if first.expose().is_empty() {
            return Err(Failure::Usage(
                "empty password; use --unencrypted for a key without a password".into(),
            ));
        }
        Some(first)
    };
    let (pk, sk) = generate_keypair().map_err(|e| Failure::Key(e.to_string()))?;
    let secret_text = sk
        .to_file_string(password.as_ref().map(Secret::expose))
        .map_err(|e| Failure::Key(e.to_string()))?;
    write_new(&args.secret_key, secret_text.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&args.public_key, pk.to_file_string().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&args.secret_key);
        return Err(e);
    }
    println!(
        "key pair {} written: secret key {}, public key {}",
        pk.key_id(),
        args.secret_key.display(),
        args.public_key.display()
    );
    Ok(())
}

/// Writes a new file (never replacing one) with the given mode, crash-safely.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), Failure> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let fail = |e: std::io::Error| Failure::Output(format!("{}: {e}", path.display()));
    if path.exists() {
        return Err(Failure::Output(format!(
            "{} already exists; not overwriting it",
            path.display()
        )));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".certferry-")
        .tempfile_in(parent_dir(path))
        .map_err(fail)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    tmp.write_all(data).map_err(fail)?;
    persist_new(tmp, path).map_err(fail)?;
    Ok(())
}

fn ldif(args: &LdifArgs, cancel: &AtomicBool) -> Result<Outcome, Failure> {
    let prepared = prepare(&args.output)?;
    let mut source = LdifFiles::open(&args.file).map_err(|e| Failure::Source(e.to_string()))?;
    finish(&mut source, &args.output, prepared, cancel)
}

fn ldap(args: &LdapArgs, cancel: &AtomicBool) -> Result<Outcome, Failure> {
    let tls = args.uri.to_ascii_lowercase().starts_with("ldaps://") || args.starttls;
    if !args.anonymous && !tls && !args.allow_cleartext_bind {
        return Err(Failure::Usage(format!(
            "refusing a simple bind over unencrypted {}: use ldaps:// or -Z (StartTLS), or --allow-cleartext-bind",
            args.uri
        )));
    }
    let prepared = prepare(&args.output)?;
    let bind = if args.anonymous {
        Bind::Anonymous
    } else {
        let name = args.bind.clone().ok_or_else(|| {
            Failure::Usage("give a bind name with -D (or --anonymous to bind anonymously)".into())
        })?;
        let password =
            PasswordSource::choose(args.password_file.clone(), args.password_env.clone())
                .read("bind password")
                .map_err(|e| Failure::Usage(e.to_string()))?;
        Bind::Simple { name, password }
    };
    let opts = LdapOptions {
        url: args.uri.clone(),
        starttls: args.starttls,
        ca_file: args.ca_file.clone(),
        bind,
        base: args.base.clone(),
        scope: Scope {
            contacts: args.output.contacts,
            include_disabled: args.output.include_disabled,
            extra_filter: args.filter.clone(),
        },
        page_size: args.page_size,
        connect_timeout: Duration::from_secs(args.connect_timeout),
        operation_timeout: Duration::from_secs(args.timeout),
    };
    let mut source = LdapSource::connect(&opts).map_err(|e| Failure::Source(e.to_string()))?;
    let mut prepared = prepared;
    if let Some(ca) = prepared
        .settings
        .ca_material
        .as_mut()
        .filter(|c| c.from_directory)
    {
        // The server's public key services first: their CA certificates help
        // classify the users (the bundle carries them after the entries).
        let objects: Vec<_> = source
            .ca_material()
            .map_err(|e| Failure::Source(e.to_string()))?
            .iter()
            .flat_map(crate::ca_material::from_entry)
            .collect();
        if prepared.settings.trusted_issuers.is_some() {
            prepared.settings.intermediates.extend(helpers_in(&objects));
        }
        ca.files.extend(objects);
        ca.source_read = true;
    }
    finish(&mut source, &args.output, prepared, cancel)
}

/// The CA certificates among CA material objects, as path helpers for the
/// exporter's own classification (never anchors).
fn helpers_in(objects: &[crate::ca_material::CaObject]) -> Vec<CaCertificate> {
    objects
        .iter()
        .filter(|o| {
            certferry_format::pki::describe_pki(&o.bytes).kind
                == certferry_format::pki::PkiKind::Certificate
        })
        .filter_map(|o| CaCertificate::from_der(&o.bytes).ok())
        .collect()
}

/// Everything checked and loaded before the directory is touched, so that a
/// bad key or state fails fast.
struct Prepared {
    settings: ExportSettings,
    key: SecretKey,
    state_path: PathBuf,
    /// The last bundle from this source, if any.
    last: Option<ExportState>,
    limits: Limits,
}

fn prepare(out: &OutputArgs) -> Result<Prepared, Failure> {
    let source_id = SourceId::parse(&out.source_id)
        .map_err(|e| Failure::Usage(format!("--source-id: {}", e.message())))?;
    let created = match &out.created {
        Some(t) => Timestamp::parse(t).ok_or_else(|| {
            Failure::Usage(format!("--created {t:?}: expected YYYY-MM-DDTHH:MM:SSZ"))
        })?,
        None => {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
                .ok_or_else(|| Failure::Usage("the system clock is out of range".into()))?
        }
    };
    let lifetime = parse_duration(&out.expires_in).ok_or_else(|| {
        Failure::Usage(format!(
            "--expires-in {:?}: expected e.g. 7d, 36h, 90m",
            out.expires_in
        ))
    })?;
    let expires = created.saturating_add(lifetime);
    match std::fs::metadata(&out.out) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Failure::Output(format!(
                "--out {} is a file, not a directory: give the folder the bundle is written into",
                out.out.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::Output(format!(
                "output directory {} does not exist",
                out.out.display()
            )))
        }
        Err(e) => {
            return Err(Failure::Output(format!(
                "output directory {}: {e}",
                out.out.display()
            )))
        }
    }
    let issuers = read_pem_files("--trusted-ca", &out.trusted_ca, TrustedIssuer::from_pem)?;
    let intermediates = read_pem_files(
        "--intermediate-ca",
        &out.intermediate_ca,
        CaCertificate::from_pem,
    )?;
    let ca_material = read_ca_material(out)?;
    let mut intermediates = intermediates;
    if !issuers.is_empty() {
        if let Some(ca) = &ca_material {
            intermediates.extend(helpers_in(&ca.files));
        }
    }
    // The key before the directory: a wrong password should not cost a 10-minute export.
    let key_bytes = std::fs::read(&out.key).map_err(|e| {
        Failure::Key(format!(
            "cannot read signing key {}: {e}",
            out.key.display()
        ))
    })?;
    let password = if out.key_unencrypted {
        None
    } else {
        Some(
            PasswordSource::choose(out.key_password_file.clone(), out.key_password_env.clone())
                .read("signing key password")
                .map_err(|e| Failure::Key(e.to_string()))?,
        )
    };
    let key = SecretKey::from_file_bytes(&key_bytes, password.as_ref().map(Secret::expose))
        .map_err(|e| {
            Failure::Key(format!(
                "signing key {}: {}",
                out.key.display(),
                e.message()
            ))
        })?;
    let state_path = match &out.state {
        Some(p) => p.clone(),
        None => state::default_path(source_id.as_str()).ok_or_else(|| {
            Failure::Usage("no --state given and neither XDG_STATE_HOME nor HOME is set".into())
        })?,
    };
    let last = state::load(&state_path, source_id.as_str())
        .map_err(|e| Failure::Output(format!("{e}; nothing was exported")))?;
    state::check_writable(&state_path)
        .map_err(|e| Failure::Output(format!("{e}; nothing was exported")))?;
    let (sequence, previous_sha256) = match &last {
        Some(s) => (s.sequence + 1, Some(s.sha256)),
        None => (1, None),
    };
    if let Some(s) = &last {
        if created < s.created {
            return Err(Failure::Usage(format!(
                "creation time {created} is before the last bundle's ({}); an importer would refuse it as stale",
                s.created
            )));
        }
    }
    Ok(Prepared {
        settings: ExportSettings {
            source_id,
            sequence,
            created,
            expires,
            previous_sha256,
            trusted_issuers: (!issuers.is_empty()).then_some(issuers),
            intermediates,
            contacts: out.contacts,
            include_disabled: out.include_disabled,
            only_usable: out.only_usable,
            ca_material,
            // Parts are a revision 1.4 form: a 1.3 bundle is one file.
            part_size: (out.bundle_revision == crate::cli::BundleRevision::V1_4)
                .then_some(out.part_size),
        },
        key,
        state_path,
        last,
        limits: Limits {
            allow_empty: out.allow_empty,
            allow_shrink: out.allow_shrink,
            max_drop: out.max_shrink,
            max_drop_percent: out.max_shrink_percent,
        },
    })
}

/// While the bundle is written, its data is synced to disk every this many
/// bytes, so that the final fsync does not have to write it all.
const SYNC_EVERY: u64 = 64 << 20;

/// A helper thread's result; a thread that panicked is an I/O failure.
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, std::io::Result<T>>) -> std::io::Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(std::io::Error::other("helper thread failed")))
}

/// The conventional bundle file name (SPEC.md §1).
pub fn bundle_file_name(source: &SourceId, sequence: u64) -> String {
    format!("certferry-{source}-{sequence:010}.zip")
}

fn finish(
    source: &mut (dyn DirectorySource + Send),
    out: &OutputArgs,
    p: Prepared,
    cancel: &AtomicBool,
) -> Result<Outcome, Failure> {
    let io = |what: &str, e: std::io::Error| Failure::Output(format!("{what}: {e}"));
    let name = bundle_file_name(&p.settings.source_id, p.settings.sequence);
    let bundle_path = out.out.join(&name);
    let sig_name = signature_file_name(&name, Role::Exporter, &p.key.key_id());
    let sig_path = out.out.join(&sig_name);
    for path in [&bundle_path, &sig_path] {
        if path.exists() {
            return Err(Failure::Output(format!(
                "{} already exists: the export state ({}) is behind the output directory \
                 (restored from a backup, or another state file?); refusing to overwrite. \
                 Give the state file that wrote it with --state, or move the bundle and its \
                 signature away if they were never shipped",
                path.display(),
                p.state_path.display()
            )));
        }
    }
    for (path, removed) in remove_leftovers(&out.out) {
        let path = certferry_format::text::terminal_safe(&path.display().to_string(), false);
        match removed {
            Ok(size) => eprintln!(
                "note       removed {path} ({size} bytes), left by an export that was killed"
            ),
            Err(e) => eprintln!(
                "warning    {path} was left by an export that was killed and cannot be removed: {e}"
            ),
        }
    }
    let tmp =
        locked_temp(&out.out, ".zip.tmp").map_err(|e| io(&out.out.display().to_string(), e))?;
    let file = tmp.reopen().map_err(|e| io("temporary bundle file", e))?;

    let show = !out.quiet && !out.json && std::io::stderr().is_terminal();
    let bar = show.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let mut progress = |n: u64| {
        if let Some(b) = &bar {
            if n.is_multiple_of(64) || n < 64 {
                b.set_message(format!("read {n} directory objects"));
            }
        }
    };
    // The two digests are computed by threads that read the file behind the
    // writer; the file is flushed to disk while they finish. Both must
    // succeed before anything is signed or renamed into place.
    let reader = tmp.reopen().map_err(|e| io("temporary bundle file", e))?;
    let published = Progress::new();
    let (result, synced, digests) = std::thread::scope(|s| {
        let digests = s.spawn(|| follow_hash::digests_behind(&reader, &published));
        let synced_behind = s.spawn(|| follow_hash::sync_behind(&file, &published, SYNC_EVERY));
        // No BufWriter: the bundle writer buffers its output itself.
        let mut sink = FileParts::new(
            &out.out,
            out.bundle_revision.into(),
            Publishing::new(&file, &published),
        );
        let result = export(source, &mut sink, &p.settings, &mut progress, cancel)
            .map_err(|e| match e {
                ExportError::Write(e) => Failure::Output(format!(
                    "cannot write the bundle into {}: {e}; nothing was written",
                    out.out.display()
                )),
                other => other.into(),
            })
            .map(|(headers, summary)| (headers, summary, sink.first_part, sink.later));
        let synced = result.as_ref().ok().map(|_| {
            joined(synced_behind)?;
            file.sync_all()
        });
        (result, synced, joined(digests))
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (headers, summary, first_part, later) = result?;
    let written = || format!("the bundle in {}", out.out.display());
    if let Some(synced) = synced {
        synced.map_err(|e| io(&written(), e))?;
    }
    let counts = guard::Counts {
        entries: summary.entries,
        usable: summary.usable(),
    };
    let objects_read = summary.entries + summary.skipped;
    guard::check(
        counts,
        p.last.as_ref().and_then(ExportState::counts),
        objects_read,
        &p.limits,
    )
    .map_err(|r| {
        let last = p.last.as_ref().map_or_else(String::new, |l| {
            format!("sequence {}, {}", l.sequence, l.created)
        });
        Failure::Refused(r.message(&p.limits, &last))
    })?;
    let digests = digests.map_err(|e| io(&written(), e))?;
    let mut header = headers
        .first()
        .cloned()
        .ok_or_else(|| Failure::Output("the export wrote no file".into()))?;
    let first_number = first_part.flatten();
    // The file the signature is over: the bundle, or the part index.
    let (signed_name, index) = match first_number {
        None => (name.clone(), None),
        Some(n) => {
            let index = part_files::index_of(&header, n, digests.sha256, &later);
            (
                certferry_format::layout::part_index_name(&header.source, header.sequence),
                Some(index),
            )
        }
    };
    let signed_digests = match &index {
        None => digests,
        Some(index) => certferry_format::BundleDigests::of_bytes(&index.render()),
    };
    let sig = sign_bundle(
        &signed_digests,
        &p.key,
        Role::Exporter,
        &header.source,
        header.sequence,
    )
    .map_err(|e| Failure::Key(e.to_string()))?;
    let mut sig_tmp =
        locked_temp(&out.out, ".minisig.tmp").map_err(|e| io(&out.out.display().to_string(), e))?;
    std::io::Write::write_all(&mut sig_tmp, &sig.to_bytes()).map_err(|e| io("signature", e))?;
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Failure::Interrupted);
    }
    let (bundle_path, sig_path, parts) = match (first_number, index) {
        (Some(n), Some(index)) => {
            let sig_path = out.out.join(signature_file_name(
                &signed_name,
                Role::Exporter,
                &p.key.key_id(),
            ));
            let parts = std::iter::once((n, tmp))
                .chain(later.into_iter().map(|l| (l.number, l.tmp)))
                .collect();
            let published = part_files::publish(&out.out, &index, parts, sig_tmp, &sig_path)
                .map_err(|e| io(&written(), e))?;
            // The snapshot's header: the parts' common members, the counts summed.
            header.counts = certferry_format::model::Counts::default();
            for h in &headers {
                header.counts.add(&h.counts);
            }
            header.part = None;
            (published.index.clone(), sig_path, Some(published))
        }
        _ => {
            // Bundles and signatures are public data meant to be copied: 0644, not tempfile's 0600.
            for f in [tmp.as_file(), sig_tmp.as_file()] {
                use std::os::unix::fs::PermissionsExt as _;
                f.set_permissions(std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| io("permissions", e))?;
            }
            // Signature first, then the bundle: a bundle never appears without its signature.
            persist_new(sig_tmp, &sig_path).map_err(|e| io(&sig_path.display().to_string(), e))?;
            if let Err(e) = persist_new(tmp, &bundle_path) {
                let _ = std::fs::remove_file(&sig_path);
                return Err(io(&bundle_path.display().to_string(), e));
            }
            (bundle_path, sig_path, None)
        }
    };
    // The bundle and its state go together: a bundle whose state could not be
    // saved is taken back, or every later run would find it in the way.
    let saved = state::save(
        &p.state_path,
        &ExportState {
            source: header.source.to_string(),
            sequence: header.sequence,
            sha256: signed_digests.sha256,
            created: header.created,
            bundle: signed_name,
            entries: Some(counts.entries),
            usable_certificates: Some(counts.usable),
        },
    );
    if let Err(e) = saved {
        let removed = match &parts {
            Some(published) => published.take_back(&sig_path),
            None => std::fs::remove_file(&bundle_path)
                .and_then(|()| std::fs::remove_file(&sig_path))
                .and_then(|()| crate::output::sync_dir(&out.out)),
        };
        return Err(Failure::Output(match removed {
            Ok(()) => format!("{e}; the bundle was taken back: nothing was written"),
            Err(r) => format!(
                "{e}; and the bundle {} could not be taken back ({r}): delete it and its \
                 signature before the next run",
                bundle_path.display()
            ),
        }));
    }
    let part_list = parts.as_ref().map_or(&[][..], |p| p.parts.as_slice());
    crate::summary::report(
        out,
        &bundle_path,
        &sig_path,
        &header,
        &signed_digests,
        part_list,
        &summary,
    );
    Ok(match summary.private_keys.len() {
        0 => Outcome::Done,
        n => Outcome::PrivateKeysWithheld(n),
    })
}

/// What CA material to carry: `None` unless `--pki` or a `--pki-*-file` is
/// given; the files are read (and refused by name) before the directory is.
fn read_ca_material(out: &OutputArgs) -> Result<Option<CaMaterialSettings>, Failure> {
    use crate::ca_material::{from_file, FileKind};
    if !out.pki && out.pki_ca_file.is_empty() && out.pki_crl_file.is_empty() {
        return Ok(None);
    }
    let mut files = Vec::new();
    for (flag, paths, kind) in [
        ("--pki-ca-file", &out.pki_ca_file, FileKind::Certificates),
        ("--pki-crl-file", &out.pki_crl_file, FileKind::Crls),
    ] {
        for path in paths {
            files.extend(from_file(path, kind).map_err(|e| Failure::Usage(format!("{flag} {e}")))?);
        }
    }
    Ok(Some(CaMaterialSettings {
        from_directory: out.pki,
        files,
        source_read: false,
    }))
}

/// Reads the certificates of each PEM file given with `flag`; a file that
/// cannot be read, holds something else or holds no certificate is a usage
/// error naming the flag and the file.
fn read_pem_files<T>(
    flag: &str,
    files: &[PathBuf],
    parse: impl Fn(&[u8]) -> certferry_format::Result<Vec<T>>,
) -> Result<Vec<T>, Failure> {
    let mut out = Vec::new();
    for f in files {
        let pem =
            std::fs::read(f).map_err(|e| Failure::Usage(format!("{flag} {}: {e}", f.display())))?;
        let found = parse(&pem)
            .map_err(|e| Failure::Usage(format!("{flag} {}: {}", f.display(), e.message())))?;
        if found.is_empty() {
            return Err(Failure::Usage(format!(
                "{flag} {}: no certificate in the file",
                f.display()
            )));
        }
        out.extend(found);
    }
    Ok(out)
}
