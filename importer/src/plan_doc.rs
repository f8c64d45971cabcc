//! The plan as one JSON document (`plan --out`, `--json`, `apply --json`),
//! written while its items are made, and a saved one compared with a fresh
//! plan item by item (`apply --plan`): neither is ever held whole, however
//! many entries the plan has.
//!
//! The document is what `serde_json` writes for an object with its members
//! sorted by name (as every JSON output of the importer is), byte for byte:
//! `already_imported` (a plan of the bundle last imported), `bundle_sha256`,
//! `counts`, `format` (`certferry-plan`), `items`, `sequence`, `source`,
//! `version` (1). Each item's members are sorted too.

use std::path::Path;

use certferry_format::Sha256;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::certpolicy::JudgedBundle;
use crate::failure::Failure;
use crate::plan::{Plan, PlanError, PlanItem};
use crate::state::ImportRecord;

/// The plan of `bundle` as a document to serialize (`drift`: the bundle is
/// the last one imported, and this plan shows how the tenant differs).
pub(crate) struct PlanDoc<'a, 'p> {
    bundle: &'a JudgedBundle,
    plan: &'a Plan<'p>,
    drift: Option<&'a ImportRecord>,
}

impl<'a, 'p> PlanDoc<'a, 'p> {
    pub(crate) fn new(
        bundle: &'a JudgedBundle,
        plan: &'a Plan<'p>,
        drift: Option<&'a ImportRecord>,
    ) -> Self {
        Self {
            bundle,
            plan,
            drift,
        }
    }
}

/// An item as the document holds it: a JSON value, so its members are sorted.
fn item_value(item: &PlanItem) -> Result<Value, serde_json::Error> {
    serde_json::to_value(item)
}

impl Serialize for PlanDoc<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.bundle.header();
        let counts = serde_json::to_value(&self.plan.counts).map_err(S::Error::custom)?;
        let mut m = s.serialize_map(None)?;
        if let Some(imp) = self.drift {
            m.serialize_entry(
                "already_imported",
                &json!({"import": imp.id, "imported_at": imp.imported_at}),
            )?;
        }
        m.serialize_entry("bundle_sha256", &self.bundle.sha256().to_hex())?;
        m.serialize_entry("counts", &counts)?;
        m.serialize_entry("format", "certferry-plan")?;
        m.serialize_entry("items", &Items(self.plan))?;
        m.serialize_entry("sequence", &h.sequence)?;
        m.serialize_entry("source", h.source.as_str())?;
        m.serialize_entry("version", &1)?;
        m.end()
    }
}

/// The items, made one at a time as they are written.
struct Items<'a, 'p>(&'a Plan<'p>);

/// An error of the serializer, or of making an item, on the way out of
/// [`Plan::for_each_item`].
struct Halt<E>(E);

impl<E: serde::ser::Error> From<PlanError> for Halt<E> {
    fn from(e: PlanError) -> Self {
        Halt(E::custom(e))
    }
}

impl Serialize for Items<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.counts.items))?;
        self.0
            .for_each_item(|item| {
                let v = item_value(&item).map_err(|e| Halt(S::Error::custom(e)))?;
                seq.serialize_element(&v).map_err(Halt)
            })
            .map_err(|Halt(e)| e)?;
        seq.end()
    }
}

/// How a saved plan compares with the plan made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SavedPlan {
    /// The same bundle and the same items, in order.
    Same,
    /// A plan of another bundle.
    OtherBundle,
    /// The same bundle, other items: the tenant (or the state) changed.
    Changed,
}

/// Compares the saved plan document at `saved` with `plan` of `bundle`,
/// reading the file once and keeping only a digest per fresh item.
pub(crate) fn compare_saved(
    saved: &Path,
    bundle: &JudgedBundle,
    plan: &Plan<'_>,
) -> Result<SavedPlan, Failure> {
    let mut fresh = Vec::with_capacity(plan.counts.items);
    plan.for_each_item(|item| {
        let v = item_value(&item).map_err(|e| Failure::Output(e.to_string()))?;
        fresh.push(digest(&v));
        Ok::<(), Failure>(())
    })?;
    let unreadable =
        |e: &dyn std::fmt::Display| Failure::Usage(format!("{}: {e}", saved.display()));
    let file = std::fs::File::open(saved).map_err(|e| unreadable(&e))?;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
    let found = DocSeed { fresh: &fresh }
        .deserialize(&mut de)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| unreadable(&format_args!("not a plan: {e}")))?;
    Ok(
        if found.bundle_sha256.as_deref() != Some(bundle.sha256().to_hex().as_str()) {
            SavedPlan::OtherBundle
        } else if found.items_same != Some(true) {
            SavedPlan::Changed
        } else {
            SavedPlan::Same
        },
    )
}

/// The SHA-256 of a value's compact JSON (members sorted): equal values, equal digests.
fn digest(v: &Value) -> Sha256 {
    Sha256::digest(v.to_string().as_bytes())
}

/// What a saved document says, as far as the comparison needs.
#[derive(Debug, Default)]
struct Found {
    bundle_sha256: Option<String>,
    /// `None`: the document has no `items`.
    items_same: Option<bool>,
}

/// A saved plan document, its items compared with `fresh` as they are read.
struct DocSeed<'f> {
    fresh: &'f [Sha256],
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = Found;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a certferry plan document (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "bundle_sha256" => found.bundle_sha256 = map.next_value::<Option<String>>()?,
                "items" => {
                    found.items_same = Some(map.next_value_seed(ItemsSeed { fresh: self.fresh })?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// The saved `items`: whether they are the fresh items, in order.
struct ItemsSeed<'f> {
    fresh: &'f [Sha256],
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plan's items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut same = true;
        let mut n = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            same &= self.fresh.get(n) == Some(&digest(&item));
            n += 1;
        }
        Ok(same && n == self.fresh.len())
    }

    // Anything else where the items should be: not the same items.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
}
