//! A verified bundle against a live tenant, shared by `plan`, `apply` and
//! `doctor`: the session (policy, state, judged bundle, tenant client), the
//! tenant's listing, the plan's options and the previous import. The plan's
//! text and JSON forms are in `plan_report.rs`.

use certferry_format::{Limits, SourceId, Timestamp};

use crate::certpolicy::{judge_spooled, JudgedBundle, Values};

use crate::bundle::LoadedBundle;
use crate::cli::{BundleArgs, MatchByArg, TenantArgs};
use crate::context::{now, state_err, tenant_err, tenant_path, Config};
use crate::exchange::bytes::WriteForm;
use crate::exchange::client::{ExoClient, Listing};
use crate::exchange::recipient::RecipientKind;
use crate::failure::Failure;
use crate::plan::MatchBy;
use crate::plan::{NoPrevious, PlanOptions, Previous};
use crate::state::{ImportRecord, StateDb};
use crate::tenant::TenantConfig;
use crate::tenant_listing::{ListingBuilder, TenantListing};

pub(crate) fn options(t: &TenantArgs, max_values: usize) -> PlanOptions {
    PlanOptions {
        match_by: match t.match_by {
            MatchByArg::Smtp => MatchBy::Smtp,
            MatchByArg::Upn => MatchBy::Upn,
            MatchByArg::ImmutableId => MatchBy::ImmutableId,
        },
        create_contacts: t.create_contacts,
        prune: t.prune,
        max_values,
    }
}

/// What certferry wrote for each entry in the last import of `source`, as
/// the plan needs it: only to prune (`opts.prune`), so without `--prune`
/// nothing is read. With it, each entry is looked up in `db` when it is
/// planned, never all at once.
pub(crate) fn previous<'d>(
    db: Option<&'d StateDb>,
    source: &SourceId,
    opts: &PlanOptions,
) -> Result<Box<dyn Previous + 'd>, Failure> {
    let Some(db) = db.filter(|_| opts.prune) else {
        return Ok(Box::new(NoPrevious));
    };
    Ok(match db.last_import(source)? {
        Some(last) => Box::new(db.entries_of(last.id)),
        None => Box::new(NoPrevious),
    })
}

/// A verified bundle and a client for the tenant.
pub(crate) struct Session {
    pub(crate) verified: JudgedBundle,
    pub(crate) now: Timestamp,
    pub(crate) client: ExoClient,
    pub(crate) concurrency: usize,
    pub(crate) tenant: String,
    /// The bundle is the last one imported from its source (plan shows drift).
    pub(crate) already_imported: Option<ImportRecord>,
    /// Where the write form came from, for messages.
    pub(crate) write_form_from: &'static str,
}

/// Reads and verifies the bundle; the last imported bundle of its source is
/// verified without the replay rule (so `plan` can show drift), and said so.
pub(crate) fn verify_for_tenant(
    b: &BundleArgs,
    policy: &crate::policy::Policy,
    db: Option<&StateDb>,
    now: Timestamp,
) -> Result<(JudgedBundle, Option<ImportRecord>), Failure> {
    let loaded = LoadedBundle::read(&b.bundle, &b.signatures, &Limits::default())?;
    let last = match (db, loaded.claimed_source(policy)) {
        (Some(db), Some(source)) => db.last_import(&source).map_err(state_err)?,
        _ => None,
    };
    let sha = loaded.sha256().to_hex();
    let already = last.filter(|l| l.bundle_sha256 == sha);
    let replay_state = if already.is_some() { None } else { db };
    let verified = judge_spooled(loaded, policy, replay_state, now, |_| {}, Values::Kept)?;
    Ok((verified, already))
}

/// Verifies and judges the bundle, reads the tenant configuration and makes
/// the tenant's client, with the write form proven on it earlier if any.
pub(crate) fn prepare(
    config: &Config,
    bundle: &BundleArgs,
    db: Option<&StateDb>,
    tenant: &TenantArgs,
    concurrency: Option<u16>,
) -> Result<Session, Failure> {
    let now = now(bundle)?;
    let (verified, already_imported) = verify_for_tenant(bundle, &config.policy, db, now)?;
    let mut cfg = TenantConfig::load(&tenant_path(&config.policy_path, tenant.tenant.as_ref()))
        .map_err(Failure::Usage)?;
    if let Some(n) = concurrency {
        cfg.set_concurrency(usize::from(n));
    }
    let mut write_form_from = "the default";
    if cfg.write_form.is_some() {
        write_form_from = "tenant.toml";
    } else if let Some(db) = db {
        if let Some((form, _, _)) = db.proven_write_form(&cfg.tenant).map_err(state_err)? {
            if let Some(f) = WriteForm::parse(&form) {
                cfg.exo.write_form = f;
                write_form_from = "proven on this tenant";
            }
        }
    }
    let client = ExoClient::new(cfg.exo, cfg.credential).map_err(tenant_err)?;
    Ok(Session {
        verified,
        now,
        client,
        concurrency: cfg.concurrency,
        tenant: cfg.tenant,
        already_imported,
        write_form_from,
    })
}

/// Every recipient, checked for what the chosen matching needs.
pub(crate) fn read_tenant(
    rt: &tokio::runtime::Runtime,
    client: &ExoClient,
    opts: &PlanOptions,
) -> Result<TenantListing, Failure> {
    let mut builder = ListingBuilder::new(opts.match_by);
    let mut pages = Listing::default();
    for kind in RecipientKind::ALL {
        rt.block_on(client.for_each_recipient(kind, &mut pages, &mut |r| builder.add(r)))
            .map_err(tenant_err)?;
    }
    if opts.match_by == MatchBy::ImmutableId && pages.notes.lacks("ImmutableId") {
        return Err(Failure::Tenant(format!(
            "--match-by immutable-id: none of the {} recipients the service returned carries an \
             ImmutableId member, so no entry could ever match; match by smtp or upn instead \
             (`certferry-import doctor` shows the members the service returns)",
            pages.notes.recipients
        )));
    }
    builder.finish(pages).map_err(|e| {
        Failure::Output(format!(
            "the temporary file holding the tenant's certificate values: {e}"
        ))
    })
}
