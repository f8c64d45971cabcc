//! `trust-store`: the SST of the CA certificates the accepted certificates
//! chain to, for `Set-SmimeConfig -SMIMECertificateIssuingCA`.

use serde_json::json;

use crate::certpolicy::evaluate;
use crate::cli::TrustStoreArgs;
use crate::context::{load_verified, now, Config};
use crate::exchange::sst;
use crate::failure::{Failure, Outcome};
use crate::output::write_atomically;
use crate::report::terminal_safe;
use crate::trust_store;

pub(crate) fn run(a: &TrustStoreArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    let verified = load_verified(&a.bundle, &cfg.policy, state.as_ref(), now, |_| {})?;
    let eval = evaluate(&verified);
    let store = trust_store::compute(&eval, &cfg.policy.certificates, now);
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
    write_atomically(&a.out, &bytes)
        .map_err(|e| Failure::Output(format!("{}: {e}", a.out.display())))?;
    if a.common.json {
        println!(
            "{}",
            json!({
                "trust_store": a.out,
                "sha256": certferry_format::Sha256::digest(&bytes).to_hex(),
                "bundle_sha256": verified.sha256().to_hex(),
                "store": store,
            })
        );
    } else {
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
        println!(
            "trust store {} ({} CA certificates for {} accepted values; upload with Set-SmimeConfig -SMIMECertificateIssuingCA, which replaces the whole collection)",
            a.out.display(),
            store.certificates.len(),
            store.values
        );
    }
    Ok(if store.left_out_expired.is_empty() {
        Outcome::of(&eval)
    } else {
        Outcome::SomeRefused
    })
}
