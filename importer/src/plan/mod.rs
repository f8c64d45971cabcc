//! The plan: what to write into the tenant, computed from
//! the evaluated bundle, the tenant's recipients and what certferry itself
//! wrote earlier for this source. No network and no clock: it reads the
//! verdicts and values the importer spooled, the tenant as listed, and (to
//! prune) the last import through [`Previous`]; the same inputs give the
//! same plan, so its items are made again whenever they are asked for.
//!
//! Rules:
//! - An entry matches the recipients holding any of its SMTP addresses (or,
//!   with [`MatchBy::Upn`], its UPN). No recipient: unmatched (a contact is
//!   created for it when asked). Several recipients, or a recipient claimed by
//!   several entries: ambiguous, never written.
//! - Each attribute is written as its complete value set: the recipient's
//!   current values, minus (with `prune`) the values certferry wrote earlier
//!   for this entry that the bundle no longer has, plus the bundle's accepted
//!   values not yet present. Values someone else wrote are never removed.
//! - More than `max_values` values in an attribute: that attribute is not written
//!   (Entra's cap); the other attribute is judged on its own.
//! - A recipient synchronised from on-premises and not cloud-managed cannot be
//!   written from the cloud: skipped with that reason.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use certferry_format::model::Attribute;
use certferry_format::Sha256;
use serde::Serialize;

use crate::certpolicy::{
    for_each_entry, EntryEvaluation, JudgedBundle, SpoolError, ValueError, ValueRef,
};
use crate::tenant_listing::{ListedRecipient, TenantListing, TenantValue};

mod item;
mod previous;
pub use item::{
    AttributeChange, CapExceeded, Outcome, PlanCounts, PlanItem, PlannedValue, Target, ValueSets,
};
pub use previous::{NoPrevious, Previous, PreviousEntry, PreviousError};

/// How entries are matched to recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchBy {
    /// The entry's mail and `smtp:` proxy addresses against the recipient's addresses.
    Smtp,
    /// The entry's userPrincipalName against the recipient's.
    Upn,
    /// base64 of the entry's objectGUID (Entra's immutable id) against the
    /// recipient's `ImmutableId`.
    ImmutableId,
}

/// The immutable id of an objectGUID string (`xxxxxxxx-xxxx-…`, SPEC.md §6.1):
/// base64 of the 16 bytes as AD stores them (the first three groups little-endian).
pub fn immutable_id(guid: &str) -> Option<String> {
    use base64::Engine as _;
    let hex: String = guid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(base64::engine::general_purpose::STANDARD.encode(b))
}

/// Planning options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// How to match entries to recipients.
    pub match_by: MatchBy,
    /// Create a mail contact for an unmatched entry.
    pub create_contacts: bool,
    /// Remove values certferry wrote earlier that the bundle no longer has.
    pub prune: bool,
    /// Most values an attribute may hold (Entra: 15).
    pub max_values: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            match_by: MatchBy::Smtp,
            create_contacts: false,
            prune: false,
            max_values: 15,
        }
    }
}

/// The plan: which recipient each entry matches, and the totals. Its items
/// are made again, one at a time, each time they are asked for
/// ([`Plan::for_each_item`]): the same inputs give the same items, and no
/// more than one item is held, however large the directory and the tenant.
pub struct Plan<'a> {
    bundle: &'a JudgedBundle,
    tenant: &'a TenantListing,
    previous: &'a dyn Previous,
    opts: PlanOptions,
    /// Per entry (the bundle's, then the earlier entries being pruned): the
    /// recipients it matches.
    matches: Vec<Matched>,
    /// Earlier entries gone from the bundle whose values are pruned, by key.
    gone: Vec<String>,
    /// Recipients matched alone by more than one entry.
    contested: HashSet<u32>,
    /// Totals.
    pub counts: PlanCounts,
}

/// The recipients one entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matched {
    None,
    One(u32),
    Many(Box<[u32]>),
}

impl Matched {
    fn of(mut found: Vec<u32>) -> Self {
        found.sort_unstable();
        found.dedup();
        match found.as_slice() {
            [] => Self::None,
            [one] => Self::One(*one),
            _ => Self::Many(found.into_boxed_slice()),
        }
    }
}

fn hex_sha(v: &[u8]) -> String {
    Sha256::digest(v).to_hex()
}

/// A fingerprint of a recipient's certificate values: SHA-256 over one line
/// per attribute, its fifth letter lowercased (`c`, `s`) then `:` and the hex
/// SHA-256 of each value.
pub fn fingerprint(r: &ListedRecipient) -> String {
    let mut text = String::new();
    for a in Attribute::ALL {
        text.push_str(&a.as_str()[4..5].to_ascii_lowercase());
        for v in r.values(a) {
            text.push(':');
            text.push_str(&v.sha256.to_hex());
        }
        text.push('\n');
    }
    hex_sha(text.as_bytes())
}

/// The new value set of one attribute, or `None` when nothing changes.
fn attribute_change(
    attribute: Attribute,
    current: &[TenantValue],
    bundle: &[ValueRef],
    written_before: Option<&BTreeSet<String>>,
    prune: bool,
) -> Option<AttributeChange> {
    let bundle_set: BTreeSet<&str> = bundle.iter().map(ValueRef::sha256).collect();
    let mut values: Vec<PlannedValue> = Vec::new();
    let mut hashes: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut removed = Vec::new();
    let mut kept_as_is = true;
    for v in current {
        let h = v.sha256.to_hex();
        let ours_and_gone =
            written_before.is_some_and(|w| w.contains(&h)) && !bundle_set.contains(h.as_str());
        if prune && ours_and_gone {
            removed.push(h);
            kept_as_is = false;
        } else if seen.insert(h.clone()) {
            values.push(PlannedValue::Current(*v));
            hashes.push(h);
        } else {
            // A value the recipient holds twice is written once.
            kept_as_is = false;
        }
    }
    let mut added = Vec::new();
    for v in bundle {
        let h = v.sha256().to_owned();
        if seen.insert(h.clone()) {
            values.push(PlannedValue::Bundle(v.clone()));
            hashes.push(h.clone());
            added.push(h);
        }
    }
    if kept_as_is && added.is_empty() {
        return None;
    }
    Some(AttributeChange {
        attribute,
        values,
        value_sha256: hashes,
        added,
        removed,
    })
}

/// One entry to plan: from the bundle, or an earlier entry being pruned.
/// Its accepted values are references: their bytes are read only for a
/// change that writes them.
struct Wanted {
    key: String,
    label: String,
    match_keys: Vec<String>,
    primary: Option<String>,
    display_name: Option<String>,
    values: BTreeMap<Attribute, Vec<ValueRef>>,
}

impl Wanted {
    fn of(e: &EntryEvaluation<'_>, match_by: MatchBy) -> Self {
        let mut values: BTreeMap<Attribute, Vec<ValueRef>> = BTreeMap::new();
        for a in Attribute::ALL {
            values.insert(a, e.accepted(a).map(|v| v.value_ref()).collect());
        }
        Wanted {
            key: e.key().to_owned(),
            label: e.label().to_owned(),
            match_keys: match match_by {
                MatchBy::Smtp => e.addresses().to_vec(),
                MatchBy::Upn => e.upn().iter().map(|u| u.to_ascii_lowercase()).collect(),
                MatchBy::ImmutableId => immutable_id(e.key()).into_iter().collect(),
            },
            primary: e.primary_smtp().map(str::to_ascii_lowercase),
            display_name: e.display_name().map(str::to_owned),
            values,
        }
    }

    /// An earlier entry, gone from the bundle: matched as it was then, with no values.
    fn gone(key: &str, p: &PreviousEntry, match_by: MatchBy) -> Self {
        Wanted {
            key: key.to_owned(),
            label: p.label.clone(),
            match_keys: match match_by {
                MatchBy::Smtp => p.addresses.clone(),
                MatchBy::Upn => p.upn.iter().map(|u| u.to_ascii_lowercase()).collect(),
                MatchBy::ImmutableId => immutable_id(key).into_iter().collect(),
            },
            primary: None,
            display_name: None,
            values: BTreeMap::new(),
        }
    }

    fn matched(&self, tenant: &TenantListing) -> Matched {
        Matched::of(
            self.match_keys
                .iter()
                .flat_map(|k| tenant.holders(k))
                .copied()
                .collect(),
        )
    }
}

/// An earlier entry gone from the bundle, as recorded (it was listed a moment ago).
fn gone_entry(previous: &dyn Previous, key: &str) -> Result<PreviousEntry, PlanError> {
    previous.get(key)?.ok_or_else(|| {
        PlanError::Previous(PreviousError::Malformed(format!(
            "entry {key} of the last import vanished while it was read"
        )))
    })
}

/// Why a plan could not be made: the verdicts or a value could not be read
/// back from the importer's own temporary files, or the last import from the
/// state database.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The last import.
    #[error(transparent)]
    Previous(#[from] PreviousError),
    /// The verdict spool.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A value.
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// Computes the plan for `bundle` against the tenant's recipients as listed.
/// `previous` holds, per entry key, what certferry wrote in earlier imports of
/// this source; only pruning reads it (`opts.prune`), so without it the map
/// may be empty. The verdicts are read one entry at a time, twice: once to
/// match each entry, once to count the items.
pub fn compute<'a>(
    bundle: &'a JudgedBundle,
    tenant: &'a TenantListing,
    previous: &'a dyn Previous,
    opts: &PlanOptions,
) -> Result<Plan<'a>, PlanError> {
    let mut matches = Vec::with_capacity(bundle.entry_count());
    let mut present: HashSet<String> = HashSet::new();
    for_each_entry(bundle, |e| {
        let w = Wanted::of(e, opts.match_by);
        matches.push(w.matched(tenant));
        if opts.prune {
            present.insert(w.key);
        }
        Ok::<(), SpoolError>(())
    })?;
    let mut gone: Vec<String> = Vec::new();
    if opts.prune {
        // Entries gone from the bundle: their values must go too.
        previous.for_each_key(&mut |key| {
            if !present.contains(key) {
                gone.push(key.to_owned());
            }
            Ok(())
        })?;
        for key in &gone {
            let p = gone_entry(previous, key)?;
            matches.push(Wanted::gone(key, &p, opts.match_by).matched(tenant));
        }
    }
    drop(present);
    // A recipient matched alone by several entries is written by none of them.
    let mut claimed: HashSet<u32> = HashSet::new();
    let mut contested: HashSet<u32> = HashSet::new();
    for m in &matches {
        if let Matched::One(r) = m {
            if !claimed.insert(*r) {
                contested.insert(*r);
            }
        }
    }
    drop(claimed);
    let mut plan = Plan {
        bundle,
        tenant,
        previous,
        opts: opts.clone(),
        matches,
        gone,
        contested,
        counts: PlanCounts::default(),
    };
    let mut counts = PlanCounts::default();
    plan.for_each_item(|item| {
        counts.add(&item.outcome);
        Ok::<(), PlanError>(())
    })?;
    plan.counts = counts;
    Ok(plan)
}

impl Plan<'_> {
    /// Hands every item to `each`, in bundle order, then the earlier entries
    /// being pruned; each is made from the spooled verdicts and dropped after.
    pub fn for_each_item<E: From<PlanError>>(
        &self,
        mut each: impl FnMut(PlanItem) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut i = 0;
        for_each_entry(self.bundle, |e| {
            let w = Wanted::of(e, self.opts.match_by);
            let item = self
                .item(&w, &self.matches[i])
                .map_err(|e| EachError::Each(E::from(e)))?;
            i += 1;
            each(item).map_err(EachError::Each)
        })
        .map_err(|e: EachError<E>| match e {
            EachError::Spool(s) => E::from(PlanError::Spool(s)),
            EachError::Each(e) => e,
        })?;
        for key in &self.gone {
            let p = gone_entry(self.previous, key)?;
            let w = Wanted::gone(key, &p, self.opts.match_by);
            let item = self.item(&w, &self.matches[i])?;
            i += 1;
            each(item)?;
        }
        Ok(())
    }

    /// The bytes of `changes`' value sets, read from the bundle (or the value
    /// spool) and from the copy of the tenant's values, each checked against
    /// its SHA-256.
    pub fn value_sets(&self, changes: &[AttributeChange]) -> Result<ValueSets, PlanError> {
        changes
            .iter()
            .map(|c| {
                let bytes =
                    c.values
                        .iter()
                        .map(|v| match v {
                            PlannedValue::Current(t) => self.tenant.value_bytes(t).map_err(|e| {
                                PlanError::Value(ValueError::Spool(SpoolError::Io(e)))
                            }),
                            PlannedValue::Bundle(r) => self
                                .bundle
                                .value_bytes(r)
                                .map(std::borrow::Cow::into_owned)
                                .map_err(PlanError::Value),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                Ok((c.attribute, bytes))
            })
            .collect()
    }

    fn item(&self, w: &Wanted, m: &Matched) -> Result<PlanItem, PlanError> {
        let opts = &self.opts;
        // Only pruning reads what certferry wrote before.
        let prev = if opts.prune {
            self.previous.get(&w.key)?
        } else {
            None
        };
        let prev = prev.as_ref();
        let bundle_values = |a: Attribute| w.values.get(&a).map_or(&[][..], Vec::as_slice);
        let (target, outcome) = match m {
            Matched::None => {
                let outcome = match &w.primary {
                    // Only a contact to create needs the values' bytes.
                    Some(address)
                        if opts.create_contacts && w.values.values().any(|v| !v.is_empty()) =>
                    {
                        Outcome::CreateContact {
                            address: address.clone(),
                            display_name: w.display_name.clone(),
                            changes: Attribute::ALL
                                .into_iter()
                                .filter_map(|a| {
                                    attribute_change(a, &[], bundle_values(a), None, false)
                                })
                                .collect(),
                        }
                    }
                    _ => Outcome::Unmatched,
                };
                (None, outcome)
            }
            Matched::One(ri) => {
                let r = self.tenant.recipient(*ri);
                let target = Target {
                    identity: r.write_identity().to_owned(),
                    kind: r.kind,
                    display_name: r.display_name().to_owned(),
                    current_fingerprint: fingerprint(r),
                };
                if self.contested.contains(ri) {
                    (
                        Some(target),
                        Outcome::Ambiguous {
                            candidates: vec![r.write_identity().to_owned()],
                        },
                    )
                } else {
                    (Some(target), self.change_outcome(r, w, prev))
                }
            }
            Matched::Many(all) => (
                None,
                Outcome::Ambiguous {
                    candidates: all
                        .iter()
                        .map(|&i| self.tenant.recipient(i).write_identity().to_owned())
                        .collect(),
                },
            ),
        };
        Ok(PlanItem {
            entry: w.key.clone(),
            label: w.label.clone(),
            target,
            outcome,
        })
    }

    fn change_outcome(
        &self,
        r: &ListedRecipient,
        w: &Wanted,
        prev: Option<&PreviousEntry>,
    ) -> Outcome {
        let opts = &self.opts;
        let (changes, over_cap): (Vec<AttributeChange>, Vec<AttributeChange>) = Attribute::ALL
            .into_iter()
            .filter_map(|a| {
                attribute_change(
                    a,
                    r.values(a),
                    w.values.get(&a).map_or(&[][..], Vec::as_slice),
                    prev.and_then(|p| p.written.get(&a)),
                    opts.prune,
                )
            })
            .partition(|c| c.values.len() <= opts.max_values);
        let over_cap: Vec<CapExceeded> = over_cap
            .into_iter()
            .map(|c| CapExceeded {
                attribute: c.attribute,
                count: c.values.len(),
            })
            .collect();
        if changes.is_empty() && !over_cap.is_empty() {
            Outcome::OverCap {
                attributes: over_cap,
            }
        } else if changes.is_empty() {
            Outcome::Unchanged
        } else if r.is_read_only_synced() {
            Outcome::Skipped {
                reason: format!(
                    "{} is synchronised from an on-premises directory and its Exchange attributes are not cloud-managed; write the certificates on-premises or set IsExchangeCloudManaged",
                    r.primary_smtp_address()
                ),
            }
        } else {
            Outcome::Change { changes, over_cap }
        }
    }
}

/// An error of [`Plan::for_each_item`]'s walk over the spool: the spool's or the caller's.
enum EachError<E> {
    Spool(SpoolError),
    Each(E),
}

impl<E> From<SpoolError> for EachError<E> {
    fn from(e: SpoolError) -> Self {
        Self::Spool(e)
    }
}
