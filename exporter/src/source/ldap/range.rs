//! Entries from the raw BER of a search result, and AD range retrieval
//! (`attr;range=0-1499` … `attr;range=1500-*`) completing large attributes.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One attribute as returned: its description (type and options) and values.
pub(super) type RawAttribute = (String, Vec<Vec<u8>>);

/// Decodes a SearchResultEntry (`[APPLICATION 4]`) without panicking.
pub(super) fn decode_entry(tag: StructureTag) -> Result<(String, Vec<RawAttribute>), String> {
    let mut parts = tag
        .match_id(4)
        .and_then(StructureTag::expect_constructed)
        .ok_or("not a search result entry")?
        .into_iter();
    let dn = parts
        .next()
        .and_then(StructureTag::expect_primitive)
        .ok_or("entry without a DN")?;
    let dn = String::from_utf8(dn).map_err(|_| "entry DN is not UTF-8")?;
    let list = match parts.next() {
        Some(t) => t
            .expect_constructed()
            .ok_or("attribute list is not a sequence")?,
        None => Vec::new(),
    };
    let mut attrs = Vec::with_capacity(list.len());
    for pa in list {
        let mut pa = pa
            .expect_constructed()
            .ok_or("attribute is not a sequence")?
            .into_iter();
        let name = pa
            .next()
            .and_then(StructureTag::expect_primitive)
            .ok_or("attribute without a type")?;
        let name = String::from_utf8(name).map_err(|_| "attribute type is not UTF-8")?;
        let values = match pa.next() {
            Some(StructureTag {
                payload: PL::C(vals),
                ..
            }) => vals
                .into_iter()
                .map(|v| {
                    v.expect_primitive()
                        .ok_or("attribute value is not an octet string")
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("attribute values are not a set".into()),
            None => Vec::new(),
        };
        attrs.push((name, values));
    }
    Ok((dn, attrs))
}

/// The `range=low-high` option of an attribute description: the description
/// without it, and the high end (`None` for `*`, the last chunk).
pub(super) fn parse_range(description: &str) -> Option<(String, Option<u64>)> {
    let is_range = |o: &&str| o.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("range="));
    // Nearly every description has no range option; that answer allocates
    // nothing (this runs for every attribute of every object).
    let range = description.split(';').skip(1).filter(is_range).last()?;
    let (_low, high) = range[6..].split_once('-')?;
    let high = if high == "*" {
        None
    } else {
        Some(high.parse().ok()?)
    };
    let mut parts = description.split(';');
    let mut base = parts.next().unwrap_or_default().to_owned();
    for option in parts.filter(|o| !is_range(o)) {
        base.push(';');
        base.push_str(option);
    }
    Some((base, high))
}

/// A ranged attribute still to be completed: its description (without the
/// range option) and the index of the next value to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingRange {
    description: String,
    next: u64,
}

/// Adds the attributes of one response to `entry`. Ranged chunks are merged
/// under their attribute; unfinished ones are returned to be fetched.
/// A second description of an attribute that is already present (the server
/// answered both `userCertificate` and `userCertificate;binary`) is dropped
/// when it carries the same values.
pub(super) fn absorb(entry: &mut RawEntry, attrs: Vec<RawAttribute>) -> Vec<PendingRange> {
    let mut pending = Vec::new();
    for (desc, values) in attrs {
        if let Some((base, high)) = parse_range(&desc) {
            entry.extend(base.clone(), values);
            if let Some(high) = high {
                pending.push(PendingRange {
                    description: base,
                    next: high.saturating_add(1),
                });
            }
            continue;
        }
        let key = RawEntry::into_attribute_key(desc);
        // `entry` holds only this response's attributes: a key already there
        // came from another description earlier in it.
        if !values.is_empty() && entry.values(&key) == values.as_slice() {
            continue;
        }
        entry.extend(key, values);
    }
    pending
}

/// Completes ranged attributes: asks `fetch` for `attr;range=N-*` until the
/// server answers with a chunk ending in `*`.
pub(super) fn complete_ranges(
    entry: &mut RawEntry,
    mut pending: Vec<PendingRange>,
    mut fetch: impl FnMut(&str) -> Result<Vec<RawAttribute>, SourceError>,
) -> Result<(), SourceError> {
    let mut rounds = 0u32;
    while let Some(p) = pending.pop() {
        rounds += 1;
        if rounds > 100_000 {
            return Err(SourceError::Search(format!(
                "range retrieval of {} on {} does not end",
                p.description, entry.dn
            )));
        }
        let request = format!("{};range={}-*", p.description, p.next);
        let attrs = fetch(&request)?;
        let wanted = RawEntry::attribute_key(&p.description);
        let mut found = false;
        for (desc, values) in attrs {
            let Some((base, high)) = parse_range(&desc) else {
                continue;
            };
            if RawEntry::attribute_key(&base) != wanted {
                continue;
            }
            found = true;
            for v in values {
                entry.push(&base, v);
            }
            if let Some(high) = high {
                if high < p.next {
                    return Err(SourceError::Search(format!(
                        "range retrieval of {} on {} made no progress (server answered {desc})",
                        p.description, entry.dn
                    )));
                }
                pending.push(PendingRange {
                    description: base,
                    next: high.saturating_add(1),
                });
            }
        }
        if !found {
            return Err(SourceError::Search(format!(
                "range retrieval of {} on {}: the server did not return {request}",
                p.description, entry.dn
            )));
        }
    }
    Ok(())
}
