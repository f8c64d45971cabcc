//! The tenant configuration: which Exchange Online organisation to write to
//! and how to authenticate, in a small TOML file kept next to the trust
//! policy (`tenant.toml`). Secrets are never in it: the certificate's key
//! password comes from a file or an environment variable it names.
//!
//! ```toml
//! tenant = "contoso.onmicrosoft.com"   # or the tenant id (GUID)
//! client_id = "3d9a4c21-7b6e-4f08-8e15-c0ffee5a1b2c"
//! cloud = "global"                     # global | gcc-high | dod | china
//! certificate = "app.pfx"              # PFX, or PEM holding the certificate (and key)
//! # key = "app.key"                    # a separate PEM key
//! # password_file = "app.pfx.password" # or password_env = "CERTFERRY_APP_PASSWORD"
//! concurrency = 8                      # writes in flight at once
//! # write_form = "data-base64"         # data-base64 | data-integers | base64 (see doctor)
//! # [endpoints]                        # only to point at a test service
//! # login = "http://127.0.0.1:8080"
//! # exo = "http://127.0.0.1:8080"
//! # dangerous_allow_http_loopback = true
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exchange::auth::Credential;
use crate::exchange::bytes::WriteForm;
use crate::exchange::client::ExoConfig;
use crate::exchange::cloud::{Cloud, Endpoints};
use crate::secret::PasswordSource;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    tenant: String,
    client_id: String,
    #[serde(default)]
    cloud: Option<String>,
    certificate: PathBuf,
    #[serde(default)]
    key: Option<PathBuf>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    write_form: Option<String>,
    #[serde(default)]
    endpoints: Option<RawEndpoints>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    login: String,
    exo: String,
    #[serde(default)]
    dangerous_allow_http_loopback: bool,
}

/// A loaded tenant configuration.
#[derive(Debug)]
pub struct TenantConfig {
    /// The client configuration.
    pub exo: ExoConfig,
    /// The app credential.
    pub credential: Credential,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// The tenant as named in the file (the key of its state: journal, write form).
    pub tenant: String,
    /// `write_form`, when the file sets it.
    pub write_form: Option<WriteForm>,
}

/// Default number of writes in flight.
pub const DEFAULT_CONCURRENCY: usize = 8;

impl TenantConfig {
    /// Sets the writes in flight (and the client's bound on requests in flight).
    pub fn set_concurrency(&mut self, n: usize) {
        self.concurrency = n.clamp(1, 64);
        self.exo.max_in_flight = self.concurrency;
    }

    /// Reads the file, the certificate and its key. Errors name the file (and
    /// the line, for TOML errors).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let raw: Raw = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("{} line {l}: {}", path.display(), e.message()),
                None => format!("{}: {}", path.display(), e.message()),
            }
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        let endpoints = match &raw.endpoints {
            Some(e) if e.dangerous_allow_http_loopback => {
                Endpoints::dangerous_allow_http_loopback(&e.login, &e.exo)
            }
            Some(e) => Endpoints::new(&e.login, &e.exo),
            None => {
                let name = raw.cloud.as_deref().unwrap_or("global");
                Ok(name
                    .parse::<Cloud>()
                    .map_err(|e| format!("{}: cloud: {e}", path.display()))?
                    .endpoints())
            }
        }
        .map_err(|e| format!("{}: endpoints: {e}", path.display()))?;
        let password = match (&raw.password_file, &raw.password_env) {
            (None, None) => None,
            (f, e) => Some(
                PasswordSource::choose(f.as_deref().map(rel), e.clone())
                    .read("certificate key password")
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            ),
        };
        let credential = Credential::from_file(
            &rel(&raw.certificate),
            raw.key.as_deref().map(rel).as_deref(),
            password.as_ref(),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let write_form = match &raw.write_form {
            None => None,
            Some(w) => Some(WriteForm::parse(w).ok_or_else(|| {
                let all: Vec<&str> = WriteForm::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "{}: write_form {w:?} is not one of {}",
                    path.display(),
                    all.join(", ")
                )
            })?),
        };
        let concurrency = raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY).clamp(1, 64);
        let tenant = raw.tenant.clone();
        let mut exo = ExoConfig::new(raw.tenant, raw.client_id, endpoints);
        exo.max_in_flight = concurrency;
        exo.write_form = write_form.unwrap_or_default();
        Ok(Self {
            exo,
            credential,
            concurrency,
            tenant,
            write_form,
        })
    }
}
