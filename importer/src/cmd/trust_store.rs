//! `trust-store`: the SST of the CA certificates the accepted certificates
//! chain to, for `Set-SmimeConfig -SMIMECertificateIssuingCA`: written to a
//! file, uploaded through the REST endpoint (after reading and showing the
//! tenant's current collection: the upload replaces it whole), or written
//! into a PowerShell script for Microsoft's module.

use certferry_format::cert::chain::CaCertificate;
use certferry_format::pki::PkiKind;
use serde_json::json;

use crate::certpolicy::{JudgedBundle, Values};
use crate::cli::{MatchByArg, TenantArgs, TrustStoreArgs};
use crate::context::{load_verified, now, runtime, tenant_err, Config};
use crate::exchange::client::IssuingCaCollection;
use crate::exchange::sst;
use crate::failure::{Failure, Outcome};
use crate::journal::AuditLog;
use crate::output::write_atomically;
use crate::report::terminal_safe;
use crate::session;
use crate::trust_store::{self, Upload};

/// The CA certificates the bundle carries (helpers for the paths).
fn bundle_cas(verified: &JudgedBundle) -> Vec<CaCertificate> {
    verified
        .pki()
        .filter(|p| p.record().kind == PkiKind::Certificate)
        .filter_map(|p| CaCertificate::from_der(p.bytes()).ok())
        .collect()
}

pub(crate) fn run(a: &TrustStoreArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let state = cfg.open_state_ro()?;
    let mut client = None;
    let (verified, now) = if a.apply {
        let tenant = TenantArgs {
            tenant: a.tenant.clone(),
            match_by: MatchByArg::Smtp,
            create_contacts: false,
            prune: false,
        };
        let s = session::prepare(cfg, &a.bundle, state.as_ref(), &tenant, None)?;
        client = Some(s.client);
        (s.verified, s.now)
    } else {
        let now = now(&a.bundle)?;
        (
            load_verified(
                &a.bundle,
                &cfg.policy,
                state.as_ref(),
                now,
                Values::NotNeeded,
                |_| {},
            )?,
            now,
        )
    };
    let store = trust_store::compute(
        &verified,
        &cfg.policy.certificates,
        &bundle_cas(&verified),
        now,
    )?;
    if store.certificates.is_empty() {
        // An empty store would replace the tenant's collection with nothing.
        return Err(Failure::Usage(format!(
            "{}: no accepted certificate chains to a pinned CA that is still valid ({} left out as expired): nothing written",
            a.bundle.bundle.display(),
            store.left_out_expired.len()
        )));
    }
    let ders: Vec<&[u8]> = store
        .certificates
        .iter()
        .map(|c| c.der.as_slice())
        .collect();
    let bytes = sst::write(&ders)
        .ok_or_else(|| Failure::Output("a CA certificate is too large for an SST".into()))?;
    let write = |path: &std::path::Path, data: &[u8]| {
        write_atomically(path, data)
            .map_err(|e| Failure::Output(format!("{}: {e}", path.display())))
    };
    if let Some(out) = &a.out {
        write(out, &bytes)?;
    }
    if let Some(path) = &a.script {
        write(
            path,
            crate::script::render_trust_store(&verified, &store, &bytes).as_bytes(),
        )?;
    }
    let upload = match &client {
        Some(c) => {
            let mut log_path = cfg.state_path.clone().into_os_string();
            log_path.push(".audit.jsonl");
            let log = AuditLog::open(std::path::Path::new(&log_path)).map_err(|e| {
                Failure::Output(format!("audit log {}: {e}", log_path.to_string_lossy()))
            })?;
            let audit = Audit {
                log: &log,
                bundle_sha256: verified.sha256().to_hex(),
            };
            Some(upload(c, &store, a.replace, now, &audit)?)
        }
        None => None,
    };
    if a.common.json {
        println!(
            "{}",
            json!({
                "trust_store": a.out,
                "script": a.script,
                "sha256": certferry_format::Sha256::digest(&bytes).to_hex(),
                "bundle_sha256": verified.sha256().to_hex(),
                "store": store,
                "upload": upload.as_ref().map(|(u, confirmed)| json!({"changes": u, "read_back": confirmed})),
            })
        );
    } else {
        print_store(&store);
        if let Some(out) = &a.out {
            println!(
                "trust store {} ({} CA certificates for {} accepted values; Set-SmimeConfig -SMIMECertificateIssuingCA replaces the whole collection)",
                out.display(),
                store.certificates.len(),
                store.values
            );
        }
        if let Some(path) = &a.script {
            println!("script      {} (Set-SmimeConfig with Microsoft's module; run it with -WhatIf first)", path.display());
        }
        if let Some((u, confirmed)) = &upload {
            print_upload(u, confirmed);
        }
    }
    Ok(if store.left_out_expired.is_empty() {
        Outcome::of_counts(verified.counts())
    } else {
        Outcome::SomeRefused
    })
}

fn print_store(store: &trust_store::TrustStore) {
    for c in &store.certificates {
        println!(
            "{}",
            terminal_safe(&format!(
                "{:<12} {} (SHA-256 {}, until {}; {} certificate(s) chain through it)",
                c.role, c.subject, c.sha256, c.not_after, c.used_by
            ))
        );
    }
    for c in &store.left_out_expired {
        println!(
            "{}",
            terminal_safe(&format!(
                "left out    {} expired on {}: the upload would fail with it; {} certificate(s) chain to it and will not validate until it is renewed",
                c.subject, c.not_after, c.used_by
            ))
        );
    }
}

fn print_upload(u: &Upload, confirmed: &str) {
    let line = |tag: &str, s: &trust_store::Shown, why: &str| {
        println!(
            "{}",
            terminal_safe(&format!(
                "{tag:<12}{} (SHA-256 {}{}){why}",
                s.subject,
                s.sha256,
                if s.not_after.is_empty() {
                    String::new()
                } else {
                    format!(", until {}", s.not_after)
                }
            ))
        );
    };
    for s in &u.added {
        line("tenant +", s, "");
    }
    for s in &u.kept {
        line("tenant =", s, ": already in the tenant's collection, kept");
    }
    for (s, why) in &u.removed {
        line("tenant -", s, &format!(": removed, {why}"));
    }
    if u.unchanged {
        println!(
            "tenant      the collection already holds exactly these certificates: nothing uploaded"
        );
    } else {
        println!(
            "tenant      uploaded {} CA certificate(s) with Set-SmimeConfig -SMIMECertificateIssuingCA; {confirmed}",
            u.certificates.len()
        );
    }
}

/// Where an upload is recorded: the import audit log (state path +
/// `.audit.jsonl`), one line before the upload is sent and one after.
struct Audit<'a> {
    log: &'a AuditLog,
    bundle_sha256: String,
}

impl Audit<'_> {
    fn record(
        &self,
        outcome: &str,
        sst: &[u8],
        plan: &Upload,
        detail: &str,
    ) -> Result<(), Failure> {
        let line = json!({
            "time": crate::context::clock().map(|t| t.to_string()).unwrap_or_default(),
            "action": "set-smime-issuing-ca",
            "outcome": outcome,
            "bundle_sha256": self.bundle_sha256,
            "store_sha256": certferry_format::Sha256::digest(sst).to_hex(),
            "added": plan.added,
            "kept": plan.kept,
            "removed": plan.removed,
            "detail": detail,
        });
        self.log
            .append(&line)
            .map_err(|e| Failure::Output(format!("audit log {}: {e}", self.log.path().display())))
    }
}

/// Reads the tenant's collection, plans the upload, sends it unless it
/// changes nothing, and reads it back; the upload is audited before it is
/// sent and after. Returns the plan and what the read back showed.
fn upload(
    client: &crate::exchange::client::ExoClient,
    store: &trust_store::TrustStore,
    replace: bool,
    now: certferry_format::Timestamp,
    audit: &Audit<'_>,
) -> Result<(Upload, String), Failure> {
    let rt = runtime()?;
    let current = rt
        .block_on(client.get_smime_issuing_ca())
        .map_err(tenant_err)?;
    let current = match current {
        IssuingCaCollection::NotShown => None,
        IssuingCaCollection::Empty => Some(Vec::new()),
        IssuingCaCollection::Store(sst) => Some(sst::read(&sst).map_err(|e| {
            Failure::Tenant(format!(
                "Get-SmimeConfig: the tenant's SMIMECertificateIssuingCA is not a store certferry can read ({e}); nothing uploaded"
            ))
        })?),
    };
    let plan = trust_store::plan_upload(store, current.as_deref(), replace, now)
        .map_err(Failure::Usage)?;
    if plan.unchanged {
        return Ok((plan, "unchanged".to_owned()));
    }
    let ders: Vec<&[u8]> = plan.certificates.iter().map(Vec::as_slice).collect();
    let sst_bytes = sst::write(&ders)
        .ok_or_else(|| Failure::Output("a CA certificate is too large for an SST".into()))?;
    audit.record("sending", &sst_bytes, &plan, "")?;
    if let Err(e) = rt.block_on(client.set_smime_issuing_ca(&sst_bytes)) {
        audit.record("failed", &sst_bytes, &plan, &e.to_string())?;
        return Err(tenant_err(e));
    }
    // Prove the upload: read the collection back and compare.
    let confirmed = match rt
        .block_on(client.get_smime_issuing_ca())
        .map_err(tenant_err)?
    {
        IssuingCaCollection::Store(back) if back == sst_bytes => {
            "read back: the tenant holds exactly this store".to_owned()
        }
        IssuingCaCollection::Store(back) => {
            let same = sst::read(&back).is_ok_and(|certs| {
                let mut a: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
                let mut b = ders.clone();
                a.sort();
                b.sort();
                a == b
            });
            if !same {
                return Err(Failure::Tenant(
                    "Set-SmimeConfig succeeded, but Get-SmimeConfig shows another collection than the one uploaded".to_owned(),
                ));
            }
            "read back: the tenant holds these certificates (its store bytes differ)".to_owned()
        }
        IssuingCaCollection::Empty => {
            return Err(Failure::Tenant(
                "Set-SmimeConfig succeeded, but Get-SmimeConfig shows no collection".to_owned(),
            ))
        }
        IssuingCaCollection::NotShown => {
            "not confirmed: the service does not show the collection (Get-SmimeConfig has no SMIMECertificateIssuingCA)".to_owned()
        }
    };
    audit.record("uploaded", &sst_bytes, &plan, &confirmed)?;
    Ok((plan, confirmed))
}
