//! Command-line definitions (clap). Parsed once into these types, then turned
//! into settings by `run.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Export users' S/MIME certificates from Active Directory into a signed
/// certferry bundle, for transfer across an air gap into Exchange Online.
#[derive(Debug, Parser)]
#[command(name = "certferry-export", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 the bundle was written but private keys found in the directory were \
withheld from it (a security finding: the objects are named on standard error), 2 usage error, \
3 directory error (connection, TLS, bind, search, LDIF), 4 key error (unreadable key, wrong password), \
5 output or state error, 6 refused: the snapshot is empty or smaller than the last one from this source \
beyond the shrink limits (nothing written; see --allow-empty, --allow-shrink), \
130 interrupted (Ctrl-C, SIGTERM, SIGHUP), \
141 standard output's reader went away (as `| head` does; nothing partial is left).\n\
Passwords are never accepted on the command line: use a file, an environment variable or the prompt."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a minisign-compatible signing key pair for this exporter.
    Keygen(KeygenArgs),
    /// Export from a directory server over LDAP (StartTLS) or LDAPS.
    Ldap(LdapArgs),
    /// Export from an LDIF dump (ldifde -f, ldapsearch -LLL).
    Ldif(LdifArgs),
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (created with mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub secret_key: PathBuf,
    /// Where to write the public key (give it to the importer's trust policy).
    #[arg(long, value_name = "FILE")]
    pub public_key: PathBuf,
    /// Read the new key's password from this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the new key's password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Write the secret key without a password (like `minisign -G -W`). Only for
    /// keys kept in a hardware-protected or otherwise secured store.
    #[arg(long, conflicts_with_all = ["password_file", "password_env"])]
    pub unencrypted: bool,
}

/// Options shared by every export.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// A short, stable name for this directory, e.g. `contoso-ad` ([a-z0-9._-], at most 64).
    #[arg(long, value_name = "ID")]
    pub source_id: String,
    /// Directory to write the bundle and its signature into.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// The exporter's secret signing key (minisign format).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Read the signing key's password from this file.
    #[arg(long, value_name = "FILE")]
    pub key_password_file: Option<PathBuf>,
    /// Read the signing key's password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub key_password_env: Option<String>,
    /// The signing key has no password (made with `keygen --unencrypted` or `minisign -G -W`).
    #[arg(long, conflicts_with_all = ["key_password_file", "key_password_env"])]
    pub key_unencrypted: bool,
    /// Export state file (last sequence number and hash per source).
    /// Default: `$XDG_STATE_HOME/certferry/export-SOURCE_ID.json`.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// How long the importer may accept the bundle: e.g. 7d, 36h, 90m.
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub expires_in: String,
    /// PEM file of the CAs you pin (issuing CAs, or your root): certificates
    /// without a certification path to one of them are classified
    /// `untrusted-issuer`. May be repeated.
    #[arg(long, value_name = "FILE")]
    pub trusted_ca: Vec<PathBuf>,
    /// PEM file of intermediate CA certificates that may help build that path
    /// (never trusted for themselves). May be repeated.
    #[arg(long, value_name = "FILE", requires = "trusted_ca")]
    pub intermediate_ca: Vec<PathBuf>,
    /// Carry the directory's CA certificates and CRLs in the bundle, so that the
    /// importer can build certification paths and check revocation offline.
    /// LDAP: read from `CN=Public Key Services,CN=Services` in the configuration
    /// partition (Certification Authorities, AIA, CDP, NTAuthCertificates,
    /// Enrollment Services); LDIF: the CA objects the dump holds. An importer
    /// older than format revision 1.3 refuses such a bundle.
    #[arg(long)]
    pub pki: bool,
    /// Carry the CA certificates of this file too (PEM or DER). May be
    /// repeated; implies carrying CA material. (`--ca-file` of `ldap` is the
    /// TLS trust file for the server, not this.)
    #[arg(long, value_name = "FILE")]
    pub pki_ca_file: Vec<PathBuf>,
    /// Carry the CRLs of this file too (PEM or DER, complete or delta). May
    /// be repeated; implies carrying CA material.
    #[arg(long, value_name = "FILE")]
    pub pki_crl_file: Vec<PathBuf>,
    /// Leave out values that hold no usable certificate (by default the bundle
    /// records every value found, classified: it is an audit snapshot).
    #[arg(long)]
    pub only_usable: bool,
    /// Export mail contacts as well as users.
    #[arg(long)]
    pub contacts: bool,
    /// Export disabled accounts as well.
    #[arg(long)]
    pub include_disabled: bool,
    /// Print the summary as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary text.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Write a bundle even when no object with a certificate value is found.
    /// Refused by default: an empty snapshot usually means a wrong base DN or
    /// filter, or a cut dump.
    #[arg(long)]
    pub allow_empty: bool,
    /// Accept this once when the snapshot is smaller than the last one from
    /// this source by more than the shrink limits (the next run compares with
    /// this one).
    #[arg(long)]
    pub allow_shrink: bool,
    /// Refuse a snapshot whose entries or usable certificates drop by more
    /// than this many since the last one (Entra Connect's deletion threshold).
    #[arg(long, value_name = "N", default_value_t = crate::guard::DEFAULT_MAX_DROP)]
    pub max_shrink: u64,
    /// Refuse a snapshot whose entries or usable certificates drop by more
    /// than this percentage since the last one (drops of fewer than 10 are
    /// never refused by this limit).
    #[arg(long, value_name = "PERCENT", default_value_t = crate::guard::DEFAULT_MAX_DROP_PERCENT,
          value_parser = clap::value_parser!(u64).range(0..=100))]
    pub max_shrink_percent: u64,
    /// Use this creation time instead of the clock (YYYY-MM-DDTHH:MM:SSZ), for
    /// reproducible exports: the same directory and time give the same bytes.
    #[arg(long, value_name = "TIME")]
    pub created: Option<String>,
    /// The bundle format revision to write. 1.4 says each fact once (the
    /// certificates' descriptions are left to the verifier, which derives them
    /// from the bytes anyway) and deflates the three text members: about half
    /// the bytes of 1.3. Write 1.3 only for an importer older than 1.4, which
    /// refuses a 1.4 bundle (it never misreads one).
    #[arg(long, value_name = "REVISION", default_value = "1.4")]
    pub bundle_revision: BundleRevision,
    /// A snapshot larger than this is written in parts (format revision 1.4):
    /// part files of about this size and a signed part index
    /// (`certferry-SOURCE-SEQUENCE.sha256`) that names them, so that no file
    /// outgrows the removable media or the importer's memory (the importer
    /// holds about five times one part while it verifies it, the next part
    /// being read meanwhile: about 0.7 GB at the default). Bytes, or with K, M or G (powers of 1024), from 16K to
    /// 1536M. Ship every part with the index. Not with --bundle-revision 1.3,
    /// which is one file.
    #[arg(long, value_name = "SIZE", default_value = "128M", value_parser = parse_part_size)]
    pub part_size: u64,
}

/// `--part-size`: bytes, or a number with K, M or G (powers of 1024).
fn parse_part_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => s.split_at(at),
        None => (s, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => {
            return Err(format!(
                "{s:?}: a size is bytes, or a number with K, M or G"
            ))
        }
    };
    let size = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{s:?} is not a size"))?;
    if !(16 << 10..=1536 << 20).contains(&size) {
        return Err(format!(
            "{s}: a part is at least 16K and at most 1536M (a verifier accepts files up to 2 GiB)"
        ));
    }
    Ok(size)
}

/// The revisions of the bundle format this exporter writes (SPEC.md §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BundleRevision {
    /// Every member stored, every certificate described: read by every importer.
    #[value(name = "1.3")]
    V1_3,
    /// Lean certificate objects, three text members deflated.
    #[value(name = "1.4")]
    V1_4,
}

impl From<BundleRevision> for certferry_format::Revision {
    fn from(r: BundleRevision) -> Self {
        match r {
            BundleRevision::V1_3 => certferry_format::Revision::V1_3,
            BundleRevision::V1_4 => certferry_format::Revision::V1_4,
        }
    }
}

/// `ldap`.
#[derive(Debug, Args)]
pub struct LdapArgs {
    /// Server URI: ldaps://dc1.contoso.example or ldap://dc1.contoso.example (with -Z).
    #[arg(short = 'H', long = "uri", value_name = "URI")]
    pub uri: String,
    /// Use StartTLS on an ldap:// connection (like ldapsearch -Z).
    #[arg(short = 'Z', long)]
    pub starttls: bool,
    /// Search base. Default: the server's defaultNamingContext.
    #[arg(short = 'b', long, value_name = "DN")]
    pub base: Option<String>,
    /// Bind name: a DN, a UPN (reader@contoso.example) or DOMAIN\user.
    #[arg(short = 'D', long, value_name = "NAME")]
    pub bind: Option<String>,
    /// Read the bind password from this file (like ldapsearch -y).
    #[arg(short = 'y', long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the bind password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Bind anonymously (only when explicitly asked).
    #[arg(long, conflicts_with_all = ["bind", "password_file", "password_env"])]
    pub anonymous: bool,
    /// PEM CA file to verify the server's certificate (default: $LDAPTLS_CACERT,
    /// then the system's trusted CAs).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow a simple bind over an unencrypted connection (the password crosses
    /// the network in clear text). Refused otherwise.
    #[arg(long)]
    pub allow_cleartext_bind: bool,
    /// Extra LDAP filter ANDed with the built-in one, e.g. '(department=Finance)'.
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Paged search page size (1-1000).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub page_size: u32,
    /// Connect timeout in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Timeout for each LDAP operation in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `ldif`.
#[derive(Debug, Args)]
pub struct LdifArgs {
    /// The LDIF file (as written by `ldifde -f` or `ldapsearch -LLL`). Give
    /// several to read them in order as one directory, e.g. the domain's dump
    /// and the configuration partition's (for --pki).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub file: Vec<PathBuf>,
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}
