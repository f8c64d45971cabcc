//! What every command needs before it runs: the policy, the state path, the
//! clock, the verified bundle, the tenant configuration's path, an async
//! runtime, and the mapping of their errors to [`Failure`].

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use certferry_format::{Limits, Timestamp};

use crate::certpolicy::{judge_spooled, JudgedBundle, Values};

use crate::bundle::LoadedBundle;
use crate::cli::{BundleArgs, Common};
use crate::failure::Failure;
use crate::policy::Policy;
use crate::state::StateDb;

/// What a command runs with, built once from its arguments before the
/// command runs (`cmd::run`): the trust policy, read and checked, and where
/// the import state lives.
#[derive(Debug)]
pub(crate) struct Config {
    /// The trust policy (`--policy`).
    pub(crate) policy: Policy,
    /// The import state database: `--state`, else the policy's `[state] path`.
    pub(crate) state_path: PathBuf,
    /// `--policy`, for the files found beside it (tenant.toml).
    pub(crate) policy_path: PathBuf,
}

impl Config {
    /// Reads the policy named by the common arguments.
    pub(crate) fn load(c: &Common) -> Result<Self, Failure> {
        let policy = Policy::load(&c.policy).map_err(|e| Failure::Usage(e.to_string()))?;
        let state_path = c.state.clone().unwrap_or_else(|| policy.state_path.clone());
        Ok(Self {
            policy,
            state_path,
            policy_path: c.policy.clone(),
        })
    }

    /// The state database for reading; `None` when nothing was imported yet.
    pub(crate) fn open_state_ro(&self) -> Result<Option<StateDb>, Failure> {
        StateDb::open_read_only(&self.state_path).map_err(|e| Failure::Output(e.to_string()))
    }

    /// The state database for writing, created when missing.
    pub(crate) fn open_state(&self) -> Result<StateDb, Failure> {
        StateDb::open(&self.state_path).map_err(state_err)
    }
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

/// Reads and verifies the bundle with the full policy (or `adjust`ed),
/// keeping the values' bytes if the command writes them.
pub(crate) fn load_verified(
    b: &BundleArgs,
    policy: &Policy,
    state: Option<&StateDb>,
    now: Timestamp,
    values: Values,
    adjust: impl FnOnce(&mut certferry_format::TrustPolicy),
) -> Result<JudgedBundle, Failure> {
    let loaded = LoadedBundle::read(&b.bundle, &b.signatures, &Limits::default())?;
    Ok(judge_spooled(loaded, policy, state, now, adjust, values)?)
}

/// Reads and verifies the bundle as a reviewer sees it before approving:
/// every check but the reviewer threshold must pass (`review`, `approve`).
pub(crate) fn load_before_review(
    b: &BundleArgs,
    policy: &Policy,
    state: Option<&StateDb>,
    now: Timestamp,
) -> Result<JudgedBundle, Failure> {
    load_verified(b, policy, state, now, Values::NotNeeded, |t| {
        t.required.remove(&certferry_format::Role::Reviewer);
    })
}

pub(crate) fn tenant_path(policy: &Path, t: Option<&PathBuf>) -> PathBuf {
    t.cloned().unwrap_or_else(|| {
        policy
            .parent()
            .unwrap_or(Path::new("."))
            .join("tenant.toml")
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Output(format!("cannot start the async runtime: {e}")))
}

pub(crate) fn tenant_err(e: impl std::fmt::Display) -> Failure {
    Failure::Tenant(e.to_string())
}

pub(crate) fn state_err(e: impl std::fmt::Display) -> Failure {
    Failure::Output(e.to_string())
}
