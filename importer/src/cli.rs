//! Command-line definitions (clap). Parsed once into these types, then run by `run.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Check certferry bundles offline, review and approve them, keep the import
/// state, and write a PowerShell script that publishes the accepted S/MIME
/// certificates to Exchange Online.
#[derive(Debug, Parser)]
#[command(name = "certferry-import", version, about, long_about = None)]
#[command(after_help = crate::failure::EXIT_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify a bundle offline (size limits, signatures and roles, format,
    /// replay rules) and apply the certificate policy to every certificate.
    Verify(VerifyArgs),
    /// Show what a bundle would change compared with the last bundle imported
    /// from the same source, as text, CSV and HTML.
    Review(ReviewArgs),
    /// Add your reviewer signature to a bundle that verifies.
    ///
    /// Everything but the reviewer threshold must pass first: signatures of the
    /// other roles, the format and the replay rules. The signature is written
    /// beside the bundle as <BUNDLE>.reviewer.<KEYID>.minisig (SPEC.md 7.3) and
    /// never replaces an existing file. Your key must be a reviewer key of the
    /// policy.
    ///
    /// The same approval can be made with the stock minisign tool:
    ///   minisign -S -s KEY -m BUNDLE -x BUNDLE.reviewer.KEYID.minisig -t
    ///   'certferry-bundle:v1 role=reviewer source=SOURCE seq=SEQUENCE sha256=SHA256'
    Approve(ApproveArgs),
    /// Write a PowerShell script (ExchangeOnlineManagement) that publishes the
    /// certificates that pass the policy.
    ///
    /// One block per recipient with at least one accepted certificate: the
    /// attributes that have accepted values are set to exactly those values
    /// (Set-Mailbox / Set-MailUser by the recipient type found at run time,
    /// Set-MailContact for contacts). Refused values are never written; an
    /// attribute whose values were all refused is left as it is. Run it with
    /// -WhatIf first; it stops at the first error.
    Script(ScriptArgs),
    /// Write the trust store Exchange Online validates S/MIME certificates
    /// against: the pinned and intermediate CA certificates that the accepted
    /// certificates of a bundle chain to, as an SST file for
    /// `Set-SmimeConfig -SMIMECertificateIssuingCA`.
    ///
    /// The upload replaces the tenant's whole collection and fails on any
    /// expired certificate: expired CA certificates are left out and named.
    /// Nothing is written when no accepted certificate chains to a pinned CA.
    TrustStore(TrustStoreArgs),
    /// Show each source's last imported bundle.
    Status(StatusArgs),
    /// Show which certificates a recipient (or a certificate) had after each import.
    History(HistoryArgs),
    /// Compare a verified bundle with the tenant and show what `apply` would
    /// write: per recipient unchanged, to change (added and removed
    /// certificates), unmatched, ambiguous (never written), skipped (synced from
    /// on-premises) or over the 15-value cap. `--out` saves the plan for `apply --plan`.
    Plan(PlanArgs),
    /// Write the certificates into Exchange Online: verify, plan, write each
    /// changed attribute as its complete value set, read it back to confirm, log
    /// every write to the audit log, and record the bundle as imported only when
    /// every write succeeded. Safe to run again after an interruption: what was
    /// written is then unchanged and is not written twice.
    Apply(ApplyArgs),
    /// Check the connection to a tenant before the first import, writing nothing:
    /// the token, the app's role (a harmless read of each recipient kind), the forms
    /// the service uses for certificate values in its answers, throttling headers,
    /// clock skew, the write form proven on this tenant, and a verdict with what to fix.
    Doctor(DoctorArgs),
    /// Audit a folder of archived bundles: verify each one, check each source's
    /// chain (sequence gaps, forks, broken hash links), and answer which
    /// certificates an address had in each snapshot (--address) or which
    /// snapshots and users carried a certificate (--thumbprint).
    Archive(ArchiveArgs),
    /// Maintenance: record a verified bundle as imported (what `apply` does
    /// once every write succeeded). Use only after publishing it by other means.
    #[command(hide = true)]
    MarkImported(MarkImportedArgs),
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Common {
    /// The trust policy file (TOML).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Use this import state database instead of the policy's [state] path.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// A bundle and how to check it.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The bundle file (certferry-<source>-<sequence>.zip), or the part index
    /// of a snapshot in parts (certferry-<source>-<sequence>.sha256, its part
    /// files beside it).
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// A signature file; may be repeated. Default: every <BUNDLE>.minisig and
    /// <BUNDLE>.*.minisig beside the bundle.
    #[arg(long = "signature", value_name = "FILE")]
    pub signatures: Vec<PathBuf>,
    /// Evaluate at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// `review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Also write the report as CSV (the report whose SHA-256 is printed).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Your reviewer secret key (minisign format).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Read the key's password from this file.
    #[arg(long, value_name = "FILE")]
    pub key_password_file: Option<PathBuf>,
    /// Read the key's password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "key_password_file")]
    pub key_password_env: Option<String>,
}

/// `script`.
#[derive(Debug, Args)]
pub struct ScriptArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Where to write the script (.ps1); an existing file is replaced atomically.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Create mail contacts that do not exist in the tenant yet (New-MailContact).
    #[arg(long)]
    pub create_contacts: bool,
}

/// `trust-store`.
#[derive(Debug, Args)]
pub struct TrustStoreArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Where to write the store (.sst); an existing file is replaced atomically.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["apply", "script"])]
    pub out: Option<PathBuf>,
    /// Upload the store to the tenant with Set-SmimeConfig
    /// -SMIMECertificateIssuingCA, after reading its current collection with
    /// Get-SmimeConfig and showing what changes. The upload replaces the whole
    /// collection: the tenant's other CA certificates that are still valid are
    /// uploaded with it, unless --replace.
    #[arg(long)]
    pub apply: bool,
    /// With --apply: upload exactly this store, dropping every other CA
    /// certificate from the tenant's collection (needed when the service does
    /// not show its current collection).
    #[arg(long, requires = "apply")]
    pub replace: bool,
    /// The tenant configuration for --apply (default: tenant.toml next to the policy).
    #[arg(long, value_name = "FILE")]
    pub tenant: Option<PathBuf>,
    /// Write a PowerShell script that uploads the store with Microsoft's
    /// ExchangeOnlineManagement module instead (it shows the current
    /// collection first; -WhatIf previews).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The recipients having this SMTP address.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "thumbprint")]
    pub address: Option<String>,
    /// The recipients having the certificate with this SHA-1 thumbprint (or certificate or value SHA-256).
    #[arg(long, value_name = "HEX")]
    pub thumbprint: Option<String>,
}

/// `mark-imported`.
#[derive(Debug, Args)]
pub struct MarkImportedArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// The SHA-256 of the review report the reviewer approved.
    #[arg(long, value_name = "HEX")]
    pub review_sha256: Option<String>,
}

/// Options shared by `plan` and `apply`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// The tenant configuration (TOML: tenant, client_id, cloud, certificate, ...).
    /// Default: tenant.toml next to the policy file.
    #[arg(long, value_name = "FILE")]
    pub tenant: Option<PathBuf>,
    /// How to match bundle entries to recipients: smtp (mail and smtp: proxy
    /// addresses), upn, or immutable-id (base64 of the objectGUID against the
    /// recipient's ImmutableId).
    #[arg(long, value_name = "HOW", value_enum, default_value_t = MatchByArg::Smtp)]
    pub match_by: MatchByArg,
    /// Create a mail contact for an entry that matches no recipient.
    #[arg(long)]
    pub create_contacts: bool,
    /// Remove certificates that certferry itself wrote earlier for this source
    /// and that the bundle no longer has. Values written by anyone else are never removed.
    #[arg(long)]
    pub prune: bool,
}

/// `--match-by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchByArg {
    /// The entry's mail and smtp: proxy addresses against the recipient's addresses.
    Smtp,
    /// The entry's userPrincipalName against the recipient's.
    Upn,
    /// base64 of the entry's objectGUID against the recipient's ImmutableId.
    ImmutableId,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Tenant options.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Save the plan (JSON) for `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Common options.
    #[command(flatten)]
    pub common: Common,
    /// The bundle.
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Tenant options.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Apply only if the tenant still matches this saved plan (from `plan --out`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Append every write to this audit log (JSON lines). Default: the state
    /// file's path with `.audit.jsonl` appended.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// The SHA-256 of the review report the reviewer approved, recorded with the import.
    #[arg(long, value_name = "HEX")]
    pub review_sha256: Option<String>,
    /// Writes in flight at once (1 to 64; default: tenant.toml's `concurrency`, else 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// Write the last imported bundle again, to undo drift that `plan` showed
    /// (someone changed certificates in the cloud). Without it, apply refuses a
    /// bundle that was already imported. The import record is not changed.
    #[arg(long)]
    pub reapply: bool,
}

/// `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The tenant configuration (TOML). Default: tenant.toml next to --policy.
    #[arg(long, value_name = "FILE", required_unless_present = "policy")]
    pub tenant: Option<PathBuf>,
    /// The trust policy file: its state database tells which write form was proven on this tenant.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Use this import state database instead of the policy's [state] path.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Recipients read of each kind (one page; at most 1000).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub sample: u32,
    /// Print the findings as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The trust policy file (TOML): its signers and thresholds judge each bundle.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The folder of archived bundles (certferry-*.zip, or the .sha256 part index
    /// and parts of a snapshot in parts, with their .minisig files).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The certificates this SMTP address had in each snapshot.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "thumbprint")]
    pub address: Option<String>,
    /// The snapshots and users that carried this certificate (SHA-1 or SHA-256, hex).
    #[arg(long, value_name = "HEX")]
    pub thumbprint: Option<String>,
    /// Write the answer as CSV to this file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print everything as JSON.
    #[arg(long)]
    pub json: bool,
}
