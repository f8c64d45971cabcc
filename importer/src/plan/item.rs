//! One line of a plan and what it says: the outcome for an entry, the
//! complete value sets it writes (as references to values, by SHA-256), the
//! recipient it writes to, and the totals.

use certferry_format::model::Attribute;
use serde::Serialize;

use crate::certpolicy::ValueRef;
use crate::exchange::recipient::RecipientKind;
use crate::tenant_listing::TenantValue;

/// One value of a planned value set: one the recipient holds now, or one of
/// the bundle's. Its bytes are read only when it is written ([`Plan::value_sets`]).
#[derive(Debug, Clone)]
pub enum PlannedValue {
    /// A value the recipient holds now (kept).
    Current(TenantValue),
    /// A value of the bundle (added).
    Bundle(ValueRef),
}

impl PlannedValue {
    /// SHA-256 of the value, hex.
    pub fn sha256_hex(&self) -> String {
        match self {
            Self::Current(v) => v.sha256.to_hex(),
            Self::Bundle(r) => r.sha256().to_owned(),
        }
    }
}

/// The complete new value set of one attribute.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeChange {
    /// `userCertificate` or `userSMIMECertificate`.
    #[serde(serialize_with = "ser_attribute")]
    pub attribute: Attribute,
    /// The complete value set to write, in order.
    #[serde(skip)]
    pub values: Vec<PlannedValue>,
    /// SHA-256 (hex) of each value to write, in order.
    pub value_sha256: Vec<String>,
    /// Values added (SHA-256 hex).
    pub added: Vec<String>,
    /// Values removed (SHA-256 hex).
    pub removed: Vec<String>,
}

impl PartialEq for AttributeChange {
    /// Equal when they set the same attribute to the same values (by digest).
    fn eq(&self, other: &Self) -> bool {
        self.attribute == other.attribute
            && self.value_sha256 == other.value_sha256
            && self.added == other.added
            && self.removed == other.removed
    }
}

impl Eq for AttributeChange {}

/// The value sets of one write, with their bytes: what a Set cmdlet is sent.
pub type ValueSets = Vec<(Attribute, Vec<Vec<u8>>)>;

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

impl PlanCounts {
    pub(super) fn add(&mut self, outcome: &Outcome) {
        self.items += 1;
        match outcome {
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Change { over_cap, .. } => {
                self.change += 1;
                if !over_cap.is_empty() {
                    self.over_cap += 1;
                }
            }
            Outcome::Unmatched => self.unmatched += 1,
            Outcome::CreateContact { .. } => self.create_contact += 1,
            Outcome::Ambiguous { .. } => self.ambiguous += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::OverCap { .. } => self.over_cap += 1,
        }
    }
}
