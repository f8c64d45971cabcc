//! `doctor`: what a newcomer runs first against a real tenant. It writes
//! nothing (not to the tenant, not locally) and answers, check by check, what
//! the public documentation cannot: does the token come, does the app's role
//! allow reading each recipient kind, in which forms does this service return
//! certificate values, which throttling headers does it send, how far is this
//! machine's clock from the service's, and which write form is proven here.

use serde::Serialize;
use serde_json::json;

use crate::cli::DoctorArgs;
use crate::context::tenant_path;
use crate::exchange::client::ExoClient;
use crate::exchange::error::ErrorClass;
use crate::exchange::recipient::{RecipientKind, WireNotes};
use crate::failure::{Failure, Outcome};
use crate::policy::Policy;
use crate::report::terminal_safe;
use crate::state::StateDb;
use crate::tenant::TenantConfig;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Must be fixed before `apply` can work.
    Fail,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(check: &'static str, status: Status, detail: String, fix: Option<String>) -> Check {
    Check {
        check,
        status,
        detail,
        fix,
    }
}

/// Clock skew beyond this is a warning.
const SKEW_WARN_SECS: i64 = 60;

/// Beyond this the identity platform refuses client assertions (5 minutes).
const SKEW_FAIL_SECS: i64 = 300;

/// The write form in use and where it comes from, for the report.
fn write_form_check(cfg: &TenantConfig, proven: Option<(String, String, String)>) -> Check {
    let used = cfg.exo.write_form;
    match (cfg.write_form, proven) {
        (Some(set), Some((form, at, _))) if set.as_str() != form => check(
            "write form",
            Status::Warn,
            format!("tenant.toml sets {set}, but {form} was proven on this tenant {at}"),
            Some(format!("remove write_form from tenant.toml, or set it to \"{form}\"")),
        ),
        (_, Some((form, at, recipient))) => check(
            "write form",
            Status::Ok,
            format!("{form}: proven on this tenant {at} (written to {recipient} and read back identical)"),
            None,
        ),
        (set, None) => check(
            "write form",
            Status::Ok,
            format!(
                "{used} ({}), not yet proven here: the first write of apply is sent alone and read back; if the tenant does not take it, apply tries the other forms on that one recipient and stops",
                if set.is_some() { "tenant.toml" } else { "the default" }
            ),
            None,
        ),
    }
}

fn forms_check(notes: &WireNotes) -> Check {
    if notes.forms.is_empty() {
        return check(
            "value forms",
            Status::Warn,
            format!(
                "none of the {} recipients read holds a certificate, so the service's form is not observed yet (every known form is read)",
                notes.recipients
            ),
            Some("run doctor with a larger --sample, or after the first apply".into()),
        );
    }
    let forms: Vec<String> = notes.forms.iter().map(ToString::to_string).collect();
    let mut detail = format!("certificate values come as {}", forms.join("; "));
    if !notes.annotations.is_empty() {
        let a: Vec<&str> = notes.annotations.iter().map(String::as_str).collect();
        detail.push_str(&format!(" (annotations: {})", a.join(", ")));
    }
    check("value forms", Status::Ok, detail, None)
}

fn members_check(notes: &WireNotes) -> Check {
    let missing: Vec<&str> = crate::exchange::recipient::RECIPIENT_MEMBERS
        .iter()
        .copied()
        .filter(|m| notes.lacks(m))
        .collect();
    if missing.is_empty() {
        check(
            "members",
            Status::Ok,
            "every member certferry asks for was returned".into(),
            None,
        )
    } else {
        check(
            "members",
            Status::Warn,
            format!("the service returned no {}", missing.join(", ")),
            missing.contains(&"ImmutableId").then(|| {
                "--match-by immutable-id cannot work on this tenant; match by smtp or upn".into()
            }),
        )
    }
}

fn skew_check(skew: Option<i64>) -> Check {
    match skew {
        None => check(
            "clock",
            Status::Warn,
            "no response carried a Date header".into(),
            None,
        ),
        Some(s) if s.abs() > SKEW_FAIL_SECS => check(
            "clock",
            Status::Fail,
            format!(
                "this machine's clock is {} s {} the service's",
                s.abs(),
                if s > 0 { "behind" } else { "ahead of" }
            ),
            Some(
                "set the clock (NTP): client assertions more than 5 minutes off are refused".into(),
            ),
        ),
        Some(s) if s.abs() > SKEW_WARN_SECS => check(
            "clock",
            Status::Warn,
            format!(
                "this machine's clock is {} s {} the service's",
                s.abs(),
                if s > 0 { "behind" } else { "ahead of" }
            ),
            Some("set the clock (NTP)".into()),
        ),
        Some(s) => check(
            "clock",
            Status::Ok,
            format!("within {} s of the service's", s.abs()),
            None,
        ),
    }
}

/// `doctor`.
pub(crate) fn run(a: &DoctorArgs) -> Result<Outcome, Failure> {
    let policy = match &a.policy {
        Some(p) => Some(Policy::load(p).map_err(|e| Failure::Usage(e.to_string()))?),
        None => None,
    };
    let tenant_file = match (&a.tenant, &a.policy) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => tenant_path(p, None),
        (None, None) => return Err(Failure::Usage("give --tenant or --policy".into())),
    };
    let cfg = TenantConfig::load(&tenant_file).map_err(Failure::Usage)?;
    let state_path = a
        .state
        .clone()
        .or_else(|| policy.as_ref().map(|p| p.state_path.clone()));
    let proven = match &state_path {
        Some(p) => StateDb::open_read_only(p)
            .map_err(|e| Failure::Output(e.to_string()))?
            .map(|db| db.proven_write_form(&cfg.tenant))
            .transpose()
            .map_err(|e| Failure::Output(e.to_string()))?
            .flatten(),
        None => None,
    };
    let form = write_form_check(&cfg, proven);
    let tenant = cfg.tenant.clone();
    let client = ExoClient::new(cfg.exo.clone(), cfg.credential)
        .map_err(|e| Failure::Tenant(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Output(format!("cannot start the async runtime: {e}")))?;
    let mut checks = Vec::new();
    let started = std::time::Instant::now();
    match rt.block_on(client.authenticate()) {
        Ok(()) => checks.push(check(
            "token",
            Status::Ok,
            format!("issued in {} ms", started.elapsed().as_millis()),
            None,
        )),
        Err(e) => checks.push(check(
            "token",
            Status::Fail,
            e.to_string(),
            Some("check tenant, client_id and the app's certificate in tenant.toml against the app registration (its certificate credential and thumbprint)".into()),
        )),
    }
    let mut notes = WireNotes::default();
    if checks.iter().all(|c| c.status != Status::Fail) {
        for kind in RecipientKind::ALL {
            let name = match kind {
                RecipientKind::Mailbox => "read mailboxes",
                RecipientKind::MailUser => "read mail users",
                RecipientKind::MailContact => "read mail contacts",
            };
            match rt.block_on(client.sample_recipients(kind, a.sample)) {
                Ok(l) => {
                    checks.push(check(
                        name,
                        Status::Ok,
                        format!("{} read with {}", l.recipients.len(), kind.get_cmdlet()),
                        None,
                    ));
                    notes.merge(l.notes);
                }
                Err(e) => {
                    let fix = match e.class {
                        ErrorClass::Permission | ErrorClass::Unauthorized => Some(
                            "give the app Exchange.ManageAsApp with admin consent and an Exchange role (Exchange Recipient Administrator is the least that can write)".to_owned(),
                        ),
                        ErrorClass::Throttled | ErrorClass::Transient => {
                            Some("the service is busy or unreachable: try again later".to_owned())
                        }
                        _ => None,
                    };
                    checks.push(check(name, Status::Fail, e.to_string(), fix));
                }
            }
        }
        checks.push(forms_check(&notes));
        checks.push(members_check(&notes));
    }
    let observed = client.observed();
    checks.push(if observed.throttling_headers.is_empty() {
        check(
            "throttling",
            Status::Ok,
            "no Rate-Limit-* or Retry-After headers seen".into(),
            None,
        )
    } else {
        let h: Vec<String> = observed
            .throttling_headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        check("throttling", Status::Ok, h.join(", "), None)
    });
    checks.push(if observed.statuses.is_empty() {
        // The token already failed: the clock is not a finding of its own.
        check(
            "clock",
            Status::Ok,
            "not measured (no InvokeCommand request was answered)".into(),
            None,
        )
    } else {
        skew_check(observed.clock_skew_secs)
    });
    checks.push(form);
    let ready = checks.iter().all(|c| c.status != Status::Fail);
    if a.json {
        println!(
            "{}",
            json!({"tenant": tenant, "tenant_file": tenant_file, "ready": ready, "checks": checks})
        );
    } else {
        println!(
            "{}",
            terminal_safe(&format!("tenant    {tenant} ({})", tenant_file.display()))
        );
        for c in &checks {
            println!(
                "{}",
                terminal_safe(&format!(
                    "{:<5} {:<19} {}",
                    c.status.word(),
                    c.check,
                    c.detail
                ))
            );
            if let Some(f) = &c.fix {
                println!("{}", terminal_safe(&format!("{:<25} fix: {f}", "")));
            }
        }
        if ready {
            println!("verdict   READY: nothing was written; run plan, then apply (its first write proves the write form)");
        } else {
            let fails: Vec<&str> = checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| c.check)
                .collect();
            println!(
                "verdict   NOT READY: fix {} (see above); nothing was written",
                fails.join(", ")
            );
        }
    }
    if ready {
        Ok(Outcome::Ok)
    } else {
        Err(Failure::Tenant(format!(
            "doctor: {} check(s) failed",
            checks.iter().filter(|c| c.status == Status::Fail).count()
        )))
    }
}
