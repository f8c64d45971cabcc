//! The trust policy: a TOML file saying which keys may sign bundles and in
//! which roles, how many distinct keys each role needs, which sources are
//! accepted with which limits, the certificate policy, and where the import
//! state lives. See `fixtures/policy/example-policy.toml` for a commented example.
//!
//! Every error names the file, the line and the key (`signers[1].public_key`),
//! so an administrator can fix the file without guessing. Unknown keys are
//! errors: a misspelt `reject_expird = true` must not silently leave a rule off.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use certferry_format::cert::chain::CaCertificate;
use certferry_format::cert::TrustedIssuer;
use certferry_format::keys::PublicKey;
use certferry_format::replay::ReplayRules;
use certferry_format::{Role, SourceId, TrustPolicy, TrustedKey};
use serde::Deserialize;
use toml::Spanned;

use crate::certpolicy::{CertificatePolicy, OverLimit, RevocationPolicy};

/// A policy file that cannot be used. The message names file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// The accepted sources and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePolicy {
    /// The source id.
    pub id: SourceId,
    /// The largest allowed step from the last imported sequence number.
    pub max_sequence_jump: u64,
    /// The largest allowed age of a bundle (now − created), in seconds.
    pub max_age_secs: Option<i64>,
}

/// A loaded, checked trust policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy file, as given.
    pub file: PathBuf,
    /// The trusted keys with name and role.
    pub signers: Vec<TrustedKey>,
    /// For each role, how many distinct keys must have signed.
    pub required: BTreeMap<Role, usize>,
    /// The accepted sources.
    pub sources: Vec<SourcePolicy>,
    /// The importer's own certificate policy.
    pub certificates: CertificatePolicy,
    /// The import state database.
    pub state_path: PathBuf,
}

/// Default for `max_sequence_jump` (SPEC.md §8 step 9.5).
pub const DEFAULT_MAX_SEQUENCE_JUMP: u64 = 1000;

impl Policy {
    /// The format library's trust policy for a bundle that claims to come from
    /// `source`. Only the listed sources are accepted; the limits are those of
    /// `source` when it is listed.
    pub fn trust_policy(&self, source: Option<&SourceId>) -> TrustPolicy {
        let this = source.and_then(|s| self.sources.iter().find(|p| &p.id == s));
        TrustPolicy {
            keys: self.signers.clone(),
            required: self.required.clone(),
            replay: ReplayRules {
                accepted_sources: Some(self.sources.iter().map(|s| s.id.clone()).collect()),
                max_sequence_jump: Some(
                    this.map_or(DEFAULT_MAX_SEQUENCE_JUMP, |s| s.max_sequence_jump),
                ),
                max_age_secs: this.and_then(|s| s.max_age_secs),
                ..ReplayRules::default()
            },
        }
    }

    /// Reads and checks a policy file. Relative paths inside it are relative
    /// to the directory holding it.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PolicyError(format!(
                "cannot read the policy file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy text; `path` names the file in messages and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PolicyError> {
        let ctx = Ctx { text, file: path };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            // toml's message may span several lines (a caret diagram); keep the first.
            let msg = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .trim()
                .to_owned();
            ctx.error(span, None, &msg)
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let signers = load_signers(&ctx, &raw.signers, &base)?;
        let required = load_required(&ctx, raw.require.as_ref(), &signers)?;
        let sources = load_sources(&ctx, &raw.sources)?;
        let certificates = load_certificates(&ctx, &raw.certificates, &base)?;
        let state_path = base.join(raw.state.path.get_ref());
        if raw.state.path.get_ref().is_empty() {
            return Err(ctx.error(
                raw.state.path.span(),
                Some("state.path"),
                "must not be empty",
            ));
        }
        Ok(Self {
            file: path.to_path_buf(),
            signers,
            required,
            sources,
            certificates,
            state_path,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    signers: Vec<RawSigner>,
    require: Option<Spanned<RawRequire>>,
    #[serde(default)]
    sources: Vec<RawSource>,
    certificates: Spanned<RawCertificates>,
    state: RawState,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigner {
    name: Spanned<String>,
    role: Spanned<String>,
    public_key: Option<Spanned<String>>,
    public_key_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequire {
    exporter: Option<Spanned<i64>>,
    reviewer: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    id: Spanned<String>,
    max_sequence_jump: Option<Spanned<i64>>,
    max_age: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificates {
    trusted_ca: Option<Spanned<Vec<Spanned<String>>>>,
    intermediate_ca: Option<Spanned<Vec<Spanned<String>>>>,
    require_email_protection: Option<bool>,
    require_matching_address: Option<bool>,
    reject_expired: Option<bool>,
    reject_not_yet_valid: Option<bool>,
    max_values_per_attribute: Option<Spanned<i64>>,
    over_limit: Option<Spanned<String>>,
    min_rsa_bits: Option<Spanned<i64>>,
    reject_unparseable: Option<bool>,
    revocation: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Spanned<String>,
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Ctx<'_> {
    /// `<file> line N: <key>: <message>`. Without an explicit key, the key is
    /// worked out from the text around the span.
    fn error(&self, span: Range<usize>, key: Option<&str>, msg: &str) -> PolicyError {
        let start = span.start.min(self.text.len());
        let line = self.text[..start].bytes().filter(|&b| b == b'\n').count() + 1;
        let key = key
            .map(str::to_owned)
            .or_else(|| key_path_at(self.text, start));
        let file = self.file.display();
        PolicyError(match key {
            Some(k) => format!("{file} line {line}: {k}: {msg}"),
            None => format!("{file} line {line}: {msg}"),
        })
    }
}

/// The dotted path of the key on the line holding byte `offset`, with the
/// enclosing table (`[certificates]`) or array of tables (`[[signers]]`,
/// numbered from 0), e.g. `signers[1].public_key`. Best effort: plain
/// `key = value` lines and headers, which is what policy files contain.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let mut table: Option<String> = None;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut pos = 0;
    for raw_line in text.split_inclusive('\n') {
        let line = raw_line.trim();
        let on_line = offset >= pos && offset < pos + raw_line.len().max(1);
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = name.trim().to_owned();
            let n = counts.entry(name.clone()).or_insert(0);
            table = Some(format!("{name}[{n}]"));
            *n += 1;
            if on_line {
                return table;
            }
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = Some(name.trim().to_owned());
            if on_line {
                return table;
            }
        } else if on_line {
            let key = line
                .split('=')
                .next()
                .map(str::trim)
                .filter(|k| !k.is_empty() && line.contains('=') && !k.starts_with('#'));
            return match (key, &table) {
                (Some(k), Some(t)) => Some(format!("{t}.{k}")),
                (Some(k), None) => Some(k.to_owned()),
                (None, t) => t.clone(),
            };
        }
        pos += raw_line.len();
    }
    table
}

fn load_signers(
    ctx: &Ctx<'_>,
    raw: &[RawSigner],
    base: &Path,
) -> Result<Vec<TrustedKey>, PolicyError> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let key_name = |k: &str| format!("signers[{i}].{k}");
        let name = s.name.get_ref().trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(ctx.error(
                s.name.span(),
                Some(&key_name("name")),
                "must be a non-empty name without control characters",
            ));
        }
        let role: Role = s.role.get_ref().parse().map_err(|_| {
            ctx.error(
                s.role.span(),
                Some(&key_name("role")),
                &format!(
                    "{:?} is not a role: use \"exporter\" or \"reviewer\"",
                    s.role.get_ref()
                ),
            )
        })?;
        let key = match (&s.public_key, &s.public_key_file) {
            (Some(k), None) => PublicKey::from_base64(k.get_ref().trim()).map_err(|e| {
                ctx.error(
                    k.span(),
                    Some(&key_name("public_key")),
                    &format!("not a minisign public key ({})", e.message()),
                )
            })?,
            (None, Some(f)) => {
                let p = base.join(f.get_ref());
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    ctx.error(
                        f.span(),
                        Some(&key_name("public_key_file")),
                        &format!("cannot read {}: {e}", p.display()),
                    )
                })?;
                PublicKey::parse_file(&text).map_err(|e| {
                    ctx.error(
                        f.span(),
                        Some(&key_name("public_key_file")),
                        &format!(
                            "{} is not a minisign public key file ({})",
                            p.display(),
                            e.message()
                        ),
                    )
                })?
            }
            (Some(k), Some(_)) => {
                return Err(ctx.error(
                    k.span(),
                    Some(&key_name("public_key")),
                    "give either public_key or public_key_file, not both",
                ))
            }
            (None, None) => {
                return Err(ctx.error(
                    s.name.span(),
                    Some(&format!("signers[{i}]")),
                    "needs public_key or public_key_file",
                ))
            }
        };
        if let Some((j, _)) = out
            .iter()
            .enumerate()
            .find(|(_, t)| t.key.as_bytes() == key.as_bytes())
        {
            let span = s
                .public_key
                .as_ref()
                .or(s.public_key_file.as_ref())
                .map_or(0..0, Spanned::span);
            return Err(ctx.error(
                span,
                Some(&key_name(if s.public_key.is_some() { "public_key" } else { "public_key_file" })),
                &format!("key {} is already listed as signers[{j}]; each key may appear once (one key is one signer, whatever its names)", key.key_id()),
            ));
        }
        out.push(TrustedKey {
            name: name.to_owned(),
            role,
            key,
        });
    }
    Ok(out)
}

fn load_required(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<RawRequire>>,
    signers: &[TrustedKey],
) -> Result<BTreeMap<Role, usize>, PolicyError> {
    let mut required = BTreeMap::new();
    let Some(raw) = raw else {
        // No [require] table: one exporter signature, as the safe minimum.
        required.insert(Role::Exporter, 1);
        return check_satisfiable(ctx, None, &required, signers).map(|()| required);
    };
    for (role, v) in [
        (Role::Exporter, &raw.get_ref().exporter),
        (Role::Reviewer, &raw.get_ref().reviewer),
    ] {
        if let Some(v) = v {
            let n = usize::try_from(*v.get_ref())
                .ok()
                .filter(|n| *n <= 16)
                .ok_or_else(|| {
                    ctx.error(
                        v.span(),
                        Some(&format!("require.{role}")),
                        "must be a number from 0 to 16",
                    )
                })?;
            if n > 0 {
                required.insert(role, n);
            }
        }
    }
    if required.values().sum::<usize>() == 0 {
        return Err(ctx.error(
            raw.span(),
            Some("require"),
            "at least one signature must be required",
        ));
    }
    check_satisfiable(ctx, Some(raw.span()), &required, signers)?;
    Ok(required)
}

fn check_satisfiable(
    ctx: &Ctx<'_>,
    span: Option<Range<usize>>,
    required: &BTreeMap<Role, usize>,
    signers: &[TrustedKey],
) -> Result<(), PolicyError> {
    for (role, need) in required {
        let have = signers.iter().filter(|s| s.role == *role).count();
        if have < *need {
            let msg = format!("{need} distinct {role} key(s) required, but only {have} {role} key(s) are listed in [[signers]]");
            return Err(match &span {
                Some(span) => ctx.error(span.clone(), Some(&format!("require.{role}")), &msg),
                // No [require] table: the default applies, there is no line to name.
                None => PolicyError(format!(
                    "{}: require.{role} (default): {msg}",
                    ctx.file.display()
                )),
            });
        }
    }
    Ok(())
}

fn load_sources(ctx: &Ctx<'_>, raw: &[RawSource]) -> Result<Vec<SourcePolicy>, PolicyError> {
    if raw.is_empty() {
        return Err(ctx.error(
            0..0,
            Some("sources"),
            "no [[sources]] listed: name every source whose bundles may be imported",
        ));
    }
    let mut out: Vec<SourcePolicy> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let k = |n: &str| format!("sources[{i}].{n}");
        let id = SourceId::parse(s.id.get_ref())
            .map_err(|e| ctx.error(s.id.span(), Some(&k("id")), e.message()))?;
        if out.iter().any(|o| o.id == id) {
            return Err(ctx.error(
                s.id.span(),
                Some(&k("id")),
                &format!("source {id} is listed twice"),
            ));
        }
        let max_sequence_jump = match &s.max_sequence_jump {
            None => DEFAULT_MAX_SEQUENCE_JUMP,
            Some(v) => u64::try_from(*v.get_ref())
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    ctx.error(
                        v.span(),
                        Some(&k("max_sequence_jump")),
                        "must be a positive number",
                    )
                })?,
        };
        let max_age_secs = match &s.max_age {
            None => None,
            Some(v) => Some(parse_duration(v.get_ref()).ok_or_else(|| {
                ctx.error(
                    v.span(),
                    Some(&k("max_age")),
                    &format!(
                        "{:?} is not a duration: use e.g. \"30d\", \"36h\", \"90m\"",
                        v.get_ref()
                    ),
                )
            })?),
        };
        out.push(SourcePolicy {
            id,
            max_sequence_jump,
            max_age_secs,
        });
    }
    Ok(out)
}

fn load_certificates(
    ctx: &Ctx<'_>,
    raw: &Spanned<RawCertificates>,
    base: &Path,
) -> Result<CertificatePolicy, PolicyError> {
    let c = raw.get_ref();
    let Some(cas) = &c.trusted_ca else {
        return Err(ctx.error(
            raw.span(),
            Some("certificates.trusted_ca"),
            "missing: list the issuing CA certificate file(s) whose certificates may be published",
        ));
    };
    if cas.get_ref().is_empty() {
        return Err(ctx.error(
            cas.span(),
            Some("certificates.trusted_ca"),
            "lists no file: at least one issuing CA must be pinned",
        ));
    }
    let issuers = read_certificates(
        ctx,
        cas.get_ref(),
        "certificates.trusted_ca",
        base,
        TrustedIssuer::from_pem,
        |d| TrustedIssuer::from_der(d).map(|i| vec![i]),
    )?;
    let intermediates = match &c.intermediate_ca {
        None => Vec::new(),
        Some(list) => read_certificates(
            ctx,
            list.get_ref(),
            "certificates.intermediate_ca",
            base,
            CaCertificate::from_pem,
            |d| CaCertificate::from_der(d).map(|i| vec![i]),
        )?,
    };
    let max_values_per_attribute = match &c.max_values_per_attribute {
        None => CertificatePolicy::DEFAULT_MAX_VALUES,
        Some(v) => usize::try_from(*v.get_ref())
            .ok()
            .filter(|n| (1..=256).contains(n))
            .ok_or_else(|| {
                ctx.error(
                    v.span(),
                    Some("certificates.max_values_per_attribute"),
                    "must be a number from 1 to 256 (Exchange Online keeps at most 15)",
                )
            })?,
    };
    let over_limit = match &c.over_limit {
        None => OverLimit::Newest,
        Some(v) => OverLimit::parse(v.get_ref()).ok_or_else(|| {
            ctx.error(
                v.span(),
                Some("certificates.over_limit"),
                "must be \"newest\" (publish the newest values up to the limit) or \"refuse-attribute\" (publish none, as Entra Connect)",
            )
        })?,
    };
    let min_rsa_bits = match &c.min_rsa_bits {
        None => CertificatePolicy::DEFAULT_MIN_RSA_BITS,
        Some(v) => u32::try_from(*v.get_ref())
            .ok()
            .filter(|n| (512..=16384).contains(n))
            .ok_or_else(|| {
                ctx.error(
                    v.span(),
                    Some("certificates.min_rsa_bits"),
                    "must be a number of bits from 512 to 16384 (default 2048)",
                )
            })?,
    };
    let revocation = match &c.revocation {
        None => RevocationPolicy::Warn,
        Some(v) => RevocationPolicy::parse(v.get_ref()).ok_or_else(|| {
            ctx.error(
                v.span(),
                Some("certificates.revocation"),
                "must be \"require\" (refuse a certificate no current CRL in the bundle decides), \"warn\" (accept it and say so; the default) or \"ignore\"",
            )
        })?,
    };
    Ok(CertificatePolicy {
        revocation,
        over_limit,
        min_rsa_bits,
        trusted_issuers: issuers,
        intermediates,
        require_email_protection: c.require_email_protection.unwrap_or(true),
        require_matching_address: c.require_matching_address.unwrap_or(true),
        reject_expired: c.reject_expired.unwrap_or(true),
        reject_not_yet_valid: c.reject_not_yet_valid.unwrap_or(true),
        max_values_per_attribute,
        reject_unparseable: c.reject_unparseable.unwrap_or(true),
    })
}

/// Reads the certificate files listed under `key` (PEM bundles or single DER
/// certificates, relative to `base`); every error names the file and the key.
fn read_certificates<T>(
    ctx: &Ctx<'_>,
    files: &[Spanned<String>],
    key: &str,
    base: &Path,
    from_pem: impl Fn(&[u8]) -> certferry_format::Result<Vec<T>>,
    from_der: impl Fn(&[u8]) -> certferry_format::Result<Vec<T>>,
) -> Result<Vec<T>, PolicyError> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let p = base.join(f.get_ref());
        let bytes = std::fs::read(&p).map_err(|e| {
            ctx.error(
                f.span(),
                Some(&key),
                &format!("cannot read {}: {e}", p.display()),
            )
        })?;
        let found =
            if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                from_pem(&bytes)
            } else {
                from_der(&bytes)
            }
            .map_err(|e| {
                ctx.error(
                    f.span(),
                    Some(&key),
                    &format!("{}: {}", p.display(), e.message()),
                )
            })?;
        if found.is_empty() {
            return Err(ctx.error(
                f.span(),
                Some(&key),
                &format!("{} holds no certificate", p.display()),
            ));
        }
        out.extend(found);
    }
    Ok(out)
}

pub use certferry_cli::duration::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("3600"), Some(3600));
        for bad in ["", "d", "-1d", "1y", "1.5h", "0d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_paths_follow_tables() {
        let text = "[[signers]]\nname = \"a\"\n\n[[signers]]\nname = \"b\"\npublic_key = \"x\"\n[certificates]\nreject_expired = 3\n";
        let at = |needle: &str| text.find(needle).map(|o| key_path_at(text, o));
        assert_eq!(at("name = \"a\""), Some(Some("signers[0].name".into())));
        assert_eq!(at("public_key"), Some(Some("signers[1].public_key".into())));
        assert_eq!(
            at("reject_expired"),
            Some(Some("certificates.reject_expired".into()))
        );
    }
}
