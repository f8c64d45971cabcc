//! The plan: what to write into the tenant, computed from
//! the evaluated bundle, the tenant's recipients and what certferry itself
//! wrote earlier for this source. A pure function: no network, no clock.
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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use certferry_format::model::Attribute;
use certferry_format::Sha256;
use serde::Serialize;

use crate::certpolicy::{
    for_each_entry, EntryEvaluation, JudgedBundle, SpoolError, ValueError, ValueRef,
};
use crate::exchange::recipient::{Recipient, RecipientKind};

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

/// What certferry wrote for one entry in earlier imports of this source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviousEntry {
    /// A label for messages.
    pub label: String,
    /// The entry's SMTP addresses then (lowercased).
    pub addresses: Vec<String>,
    /// The entry's UPN then.
    pub upn: Option<String>,
    /// Per attribute, the SHA-256 (hex) of each value certferry wrote.
    pub written: BTreeMap<Attribute, BTreeSet<String>>,
}

/// The complete new value set of one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeChange {
    /// `userCertificate` or `userSMIMECertificate`.
    #[serde(serialize_with = "ser_attribute")]
    pub attribute: Attribute,
    /// The complete value set to write, in order.
    #[serde(skip)]
    pub values: Vec<Vec<u8>>,
    /// SHA-256 (hex) of each value to write, in order.
    pub value_sha256: Vec<String>,
    /// Values added (SHA-256 hex).
    pub added: Vec<String>,
    /// Values removed (SHA-256 hex).
    pub removed: Vec<String>,
}

fn ser_attribute<S: serde::Serializer>(a: &Attribute, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

/// What happens to one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The recipient already holds exactly the value sets to write.
    Unchanged,
    /// Write these attributes.
    Change {
        /// The attributes and their new value sets.
        changes: Vec<AttributeChange>,
        /// Attributes that would hold more values than allowed: not written.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        over_cap: Vec<CapExceeded>,
    },
    /// No recipient matches, and contacts are not created.
    Unmatched,
    /// No recipient matches: create a mail contact, then write these.
    CreateContact {
        /// The address the contact gets.
        address: String,
        /// The entry's display name (the contact's `Name` and `DisplayName` derive from it).
        display_name: Option<String>,
        /// The attributes to write on it.
        changes: Vec<AttributeChange>,
    },
    /// Several recipients match, or several entries match one recipient.
    Ambiguous {
        /// The recipients involved (write identities).
        candidates: Vec<String>,
    },
    /// The recipient cannot be written from the cloud.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Every attribute that would change would hold more values than allowed.
    OverCap {
        /// The attributes and their counts.
        attributes: Vec<CapExceeded>,
    },
}

/// An attribute that would hold more values than the cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapExceeded {
    /// The attribute.
    #[serde(serialize_with = "ser_attribute")]
    pub attribute: Attribute,
    /// How many values it would hold.
    pub count: usize,
}

/// The recipient an entry matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The identity to write with.
    pub identity: String,
    /// Mailbox, mail user or mail contact.
    pub kind: RecipientKind,
    /// The recipient's display name.
    pub display_name: String,
    /// SHA-256 (hex) over the recipient's current values, to detect a tenant
    /// that changed between `plan` and `apply`.
    pub current_fingerprint: String,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanItem {
    /// The entry key (objectGUID, else lowercased DN).
    pub entry: String,
    /// A label for people.
    pub label: String,
    /// The matched recipient, if any.
    pub target: Option<Target>,
    /// What happens.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Entries (and earlier entries considered for pruning).
    pub items: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// To change.
    pub change: usize,
    /// Unmatched.
    pub unmatched: usize,
    /// Contacts to create.
    pub create_contact: usize,
    /// Ambiguous.
    pub ambiguous: usize,
    /// Skipped (synced from on-premises).
    pub skipped: usize,
    /// With an attribute over the value cap (not written; the other attribute may be).
    pub over_cap: usize,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// One item per entry, in bundle order, then earlier entries being pruned.
    pub items: Vec<PlanItem>,
    /// Totals.
    pub counts: PlanCounts,
}

fn hex_sha(v: &[u8]) -> String {
    Sha256::digest(v).to_hex()
}

/// A fingerprint of a recipient's certificate values.
pub fn fingerprint(r: &Recipient) -> String {
    let mut text = String::new();
    for a in Attribute::ALL {
        // The attribute's fifth letter, lowercase (`c`, `s`): as first written.
        let vals = r.values(a);
        text.push_str(&a.as_str()[4..5].to_ascii_lowercase());
        for v in vals {
            text.push(':');
            text.push_str(&hex_sha(v));
        }
        text.push('\n');
    }
    hex_sha(text.as_bytes())
}

/// The new value set of one attribute, or `None` when nothing changes.
fn attribute_change(
    attribute: Attribute,
    current: &[Vec<u8>],
    bundle: &[ValueRef],
    written_before: Option<&BTreeSet<String>>,
    prune: bool,
    bytes: &ValueBytesOf<'_>,
) -> Result<Option<AttributeChange>, ValueError> {
    let bundle_set: BTreeSet<String> = bundle.iter().map(|v| v.sha256().to_owned()).collect();
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut removed = Vec::new();
    for v in current {
        let h = hex_sha(v);
        let ours_and_gone =
            written_before.is_some_and(|w| w.contains(&h)) && !bundle_set.contains(&h);
        if prune && ours_and_gone {
            removed.push(h);
        } else if seen.insert(h) {
            values.push(v.clone());
        }
    }
    let mut added = Vec::new();
    for v in bundle {
        let h = v.sha256().to_owned();
        if seen.insert(h.clone()) {
            values.push(bytes(v)?.into_owned());
            added.push(h);
        }
    }
    if values.as_slice() == current {
        return Ok(None);
    }
    Ok(Some(AttributeChange {
        attribute,
        value_sha256: values.iter().map(|v| hex_sha(v)).collect(),
        values,
        added,
        removed,
    }))
}

/// Recipients by lowercased SMTP address, UPN, or immutable id.
fn index(recipients: &[Recipient], by: MatchBy) -> HashMap<String, Vec<usize>> {
    let mut idx: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in recipients.iter().enumerate() {
        let keys: Vec<String> = match by {
            MatchBy::Smtp => r.smtp_addresses().map(str::to_ascii_lowercase).collect(),
            MatchBy::Upn => r
                .user_principal_name
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            MatchBy::ImmutableId => r.immutable_id.iter().cloned().collect(),
        };
        let keys: BTreeSet<String> = keys.into_iter().collect();
        for k in keys {
            idx.entry(k).or_default().push(i);
        }
    }
    idx
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
}

/// Reads the bytes a value reference names.
type ValueBytesOf<'b> = dyn Fn(&ValueRef) -> Result<Cow<'b, [u8]>, ValueError> + 'b;

/// Why a plan could not be made: the verdicts or a value could not be read
/// back from the importer's own temporary files.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The verdict spool.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A value.
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// Computes the plan for `bundle`, reading its verdicts one entry at a time
/// and the bytes of a value only when a change writes it. `previous` holds,
/// per entry key, what certferry wrote in earlier imports of this source.
pub fn compute(
    bundle: &JudgedBundle,
    recipients: &[Recipient],
    previous: &HashMap<String, PreviousEntry>,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut wanted = Vec::with_capacity(bundle.entry_count());
    for_each_entry(bundle, |e| {
        wanted.push(Wanted::of(e, opts.match_by));
        Ok::<(), SpoolError>(())
    })?;
    Ok(plan_wanted(wanted, recipients, previous, opts, &|r| {
        bundle.value_bytes(r)
    })?)
}

fn plan_wanted(
    mut wanted: Vec<Wanted>,
    recipients: &[Recipient],
    previous: &HashMap<String, PreviousEntry>,
    opts: &PlanOptions,
    bytes: &ValueBytesOf<'_>,
) -> Result<Plan, ValueError> {
    let idx = index(recipients, opts.match_by);
    if opts.prune {
        // Entries gone from the bundle: their values must go too.
        let present: BTreeSet<String> = wanted.iter().map(|w| w.key.clone()).collect();
        let mut gone: Vec<(&String, &PreviousEntry)> = previous
            .iter()
            .filter(|(k, _)| !present.contains(k.as_str()))
            .collect();
        gone.sort_by(|a, b| a.0.cmp(b.0));
        for (key, p) in gone {
            wanted.push(Wanted {
                key: key.clone(),
                label: p.label.clone(),
                match_keys: match opts.match_by {
                    MatchBy::Smtp => p.addresses.clone(),
                    MatchBy::Upn => p.upn.iter().map(|u| u.to_ascii_lowercase()).collect(),
                    MatchBy::ImmutableId => immutable_id(key).into_iter().collect(),
                },
                primary: None,
                display_name: None,
                values: BTreeMap::new(),
            });
        }
    }

    // Which recipients each entry matches, and how many entries claim each recipient.
    let matches: Vec<BTreeSet<usize>> = wanted
        .iter()
        .map(|w| {
            w.match_keys
                .iter()
                .filter_map(|k| idx.get(k))
                .flatten()
                .copied()
                .collect()
        })
        .collect();
    let mut claims: HashMap<usize, usize> = HashMap::new();
    for m in &matches {
        if m.len() == 1 {
            for r in m {
                *claims.entry(*r).or_default() += 1;
            }
        }
    }

    let mut items = Vec::with_capacity(wanted.len());
    let mut counts = PlanCounts::default();
    for (w, m) in wanted.iter().zip(&matches) {
        let prev = previous.get(&w.key);
        let bundle_values = |a: Attribute| w.values.get(&a).map_or(&[][..], Vec::as_slice);
        let (target, outcome) = match m.len() {
            0 => {
                let outcome = match &w.primary {
                    // Only a contact to create needs the values' bytes.
                    Some(address)
                        if opts.create_contacts && w.values.values().any(|v| !v.is_empty()) =>
                    {
                        let changes = Attribute::ALL
                            .into_iter()
                            .map(|a| attribute_change(a, &[], bundle_values(a), None, false, bytes))
                            .filter_map(Result::transpose)
                            .collect::<Result<Vec<_>, _>>()?;
                        Outcome::CreateContact {
                            address: address.clone(),
                            display_name: w.display_name.clone(),
                            changes,
                        }
                    }
                    _ => Outcome::Unmatched,
                };
                (None, outcome)
            }
            1 => {
                let ri = *m.iter().next().unwrap_or(&0);
                let r = &recipients[ri];
                let target = Target {
                    identity: r.write_identity().to_owned(),
                    kind: r.kind,
                    display_name: r.display_name.clone(),
                    current_fingerprint: fingerprint(r),
                };
                if claims.get(&ri).copied().unwrap_or(0) > 1 {
                    (
                        Some(target),
                        Outcome::Ambiguous {
                            candidates: vec![r.write_identity().to_owned()],
                        },
                    )
                } else {
                    let (changes, over_cap): (Vec<AttributeChange>, Vec<AttributeChange>) =
                        Attribute::ALL
                            .into_iter()
                            .map(|a| {
                                attribute_change(
                                    a,
                                    r.values(a),
                                    bundle_values(a),
                                    prev.and_then(|p| p.written.get(&a)),
                                    opts.prune,
                                    bytes,
                                )
                            })
                            .filter_map(Result::transpose)
                            .collect::<Result<Vec<_>, _>>()?
                            .into_iter()
                            .partition(|c| c.values.len() <= opts.max_values);
                    let over_cap: Vec<CapExceeded> = over_cap
                        .into_iter()
                        .map(|c| CapExceeded {
                            attribute: c.attribute,
                            count: c.values.len(),
                        })
                        .collect();
                    let outcome = if changes.is_empty() && !over_cap.is_empty() {
                        Outcome::OverCap {
                            attributes: over_cap,
                        }
                    } else if changes.is_empty() {
                        Outcome::Unchanged
                    } else if r.is_read_only_synced() {
                        Outcome::Skipped {
                            reason: format!(
                                "{} is synchronised from an on-premises directory and its Exchange attributes are not cloud-managed; write the certificates on-premises or set IsExchangeCloudManaged",
                                r.primary_smtp_address
                            ),
                        }
                    } else {
                        Outcome::Change { changes, over_cap }
                    };
                    (Some(target), outcome)
                }
            }
            _ => (
                None,
                Outcome::Ambiguous {
                    candidates: m
                        .iter()
                        .map(|&i| recipients[i].write_identity().to_owned())
                        .collect(),
                },
            ),
        };
        match &outcome {
            Outcome::Unchanged => counts.unchanged += 1,
            Outcome::Change { over_cap, .. } => {
                counts.change += 1;
                if !over_cap.is_empty() {
                    counts.over_cap += 1;
                }
            }
            Outcome::Unmatched => counts.unmatched += 1,
            Outcome::CreateContact { .. } => counts.create_contact += 1,
            Outcome::Ambiguous { .. } => counts.ambiguous += 1,
            Outcome::Skipped { .. } => counts.skipped += 1,
            Outcome::OverCap { .. } => counts.over_cap += 1,
        }
        items.push(PlanItem {
            entry: w.key.clone(),
            label: w.label.clone(),
            target,
            outcome,
        });
    }
    counts.items = items.len();
    Ok(Plan { items, counts })
}
