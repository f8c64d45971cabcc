//! `approve`: a reviewer's co-signature, written beside the bundle.

use certferry_format::keys::SecretKey;
use certferry_format::{sign_bundle, signature_file_name, BundleDigests, Role};
use serde_json::json;

use crate::cli::ApproveArgs;
use crate::context::{load_before_review, now, Config};
use crate::failure::{Failure, Outcome};
use crate::output::write_new;
use crate::secret::PasswordSource;

pub(crate) fn run(a: &ApproveArgs, cfg: &Config) -> Result<Outcome, Failure> {
    let policy = &cfg.policy;
    let now = now(&a.bundle)?;
    let state = cfg.open_state_ro()?;
    // Everything but the reviewer threshold must already hold: a reviewer
    // never approves a bundle that fails verification.
    let verified = load_before_review(&a.bundle, policy, state.as_ref(), now)?;
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
    let h = verified.header();
    let digests = BundleDigests::of_bytes(verified.signed_bytes());
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
            verified.counts().accepted, verified.counts().refused
        );
    }
    Ok(Outcome::Ok)
}
