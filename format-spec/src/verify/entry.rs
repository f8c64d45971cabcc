//! Steps 8.2 to 8.4 of SPEC.md §8 for one entry: its line's grammar, its
//! withheld records and value file names, then each value against its
//! description (decoded here, once).

use std::ops::Range;

use super::header::{check_text, parse_canonical};
use super::verified::StoredValue;
use crate::cert;
use crate::ids::Sha256;
use crate::layout;
use crate::limits::Limits;
use crate::model::{self, CertObject, CertRecord, Counts, Entry, Value, WireCert};
use crate::{err, Result};

fn check_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

fn check_sid(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("S")
        && parts.next() == Some("1")
        && s.split('-').count() >= 3
        && s.split('-').skip(2).all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        })
}

/// Step 8.2 for one line: canonical JSON, field grammar, the form of each
/// certificate object, the withheld records, and the value file names'
/// syntax. Returns the entry and the numbers of the value files it names.
pub(super) fn parse_entry(
    line: &[u8],
    n: usize,
    limits: &Limits,
) -> Result<(Entry<CertObject>, Vec<u64>)> {
    let wire: Entry<WireCert> = parse_canonical(line, || format!("entries.jsonl line {n}"))?;
    let entry = certificate_forms(wire).map_err(|(label, position)| {
        err!(
            Content,
            "entries.jsonl line {n} ({label}): value {position} has a certificate object that is neither described nor lean (SPEC.md §6.3)"
        )
    })?;
    // Messages name the line and the object; built only when one is needed.
    let who = || format!("entries.jsonl line {n} ({})", entry.label());
    for (f, name) in [
        (entry.upn.as_deref(), "upn"),
        (entry.sam_account_name.as_deref(), "sam_account_name"),
        (entry.mail.as_deref(), "mail"),
        (entry.display_name.as_deref(), "display_name"),
        (Some(entry.dn.as_str()), "dn"),
    ] {
        if let Some(f) = f {
            check_text(f, || format!("{} {name}", who()))?;
        }
    }
    for p in &entry.proxy_addresses {
        check_text(p, || format!("{} proxy address", who()))?;
    }
    if entry.dn.is_empty() {
        return Err(err!(Content, "{}: dn is empty", who()));
    }
    if entry.kind == model::ObjectKind::Contact && entry.disabled {
        return Err(err!(
            Content,
            "{}: a contact has no account to disable; disabled must be false",
            who()
        ));
    }
    if entry.values.is_empty() {
        return Err(err!(
            Content,
            "{}: an entry holds at least one value (objects without one are not exported)",
            who()
        ));
    }
    if let Some(g) = &entry.object_guid {
        if !check_guid(g) {
            return Err(err!(
                Content,
                "{}: object_guid {g:?} is not a lowercase GUID string",
                who()
            ));
        }
    }
    if let Some(s) = &entry.object_sid {
        if !check_sid(s) {
            return Err(err!(
                Content,
                "{}: object_sid {s:?} is not an S-1-... string",
                who()
            ));
        }
    }
    if entry.values.len() > limits.max_values_per_entry {
        return Err(err!(
            SizeLimit,
            "{}: {} values, the limit is {}",
            who(),
            entry.values.len(),
            limits.max_values_per_entry
        ));
    }
    let mut files = Vec::with_capacity(entry.values.len());
    for (position, v) in entry.values.iter().enumerate() {
        if let Some(w) = &v.withheld {
            // A withheld value (SPEC.md §6.2): no file, no certificates; its
            // length and hash are the exporter's word (there are no bytes to check).
            if v.container != model::WITHHELD_PRIVATE_KEY
                || v.file.is_some()
                || !v.certificates.is_empty()
            {
                return Err(err!(
                    Content,
                    "{}: value {} is withheld, so it must have container {}, file null and no certificates",
                    who(),
                    position + 1,
                    model::WITHHELD_PRIVATE_KEY
                ));
            }
            if w.length == 0 {
                return Err(err!(
                    Content,
                    "{}: withheld value {} has length 0",
                    who(),
                    position + 1
                ));
            }
            continue;
        }
        if v.container == model::WITHHELD_PRIVATE_KEY {
            return Err(err!(
                Content,
                "{}: value {} has container {} but no withheld record",
                who(),
                position + 1,
                model::WITHHELD_PRIVATE_KEY
            ));
        }
        let file = v.file.as_deref().ok_or_else(|| {
            err!(
                Content,
                "{}: value {} names no value file",
                who(),
                position + 1
            )
        })?;
        let num = file
            .strip_prefix(layout::VALUES_DIR)
            .and_then(|r| r.strip_suffix(".bin"))
            .filter(|_| layout::is_allowed_name(file))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| {
                err!(
                    Content,
                    "{}: value file {file:?} is not a value file name",
                    who()
                )
            })?;
        files.push(num);
    }
    Ok((entry, files))
}

/// Each certificate object in its form; `Err` names the entry and the
/// value (from 1) whose object mixes the two.
fn certificate_forms(
    wire: Entry<WireCert>,
) -> std::result::Result<Entry<CertObject>, (String, usize)> {
    let label = wire.label().to_owned();
    let mut position = 0;
    wire.try_map_values(|v| {
        position += 1;
        let certificates = v
            .certificates
            .into_iter()
            .map(WireCert::form)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| (label.clone(), position))?;
        Ok(Value {
            attribute: v.attribute,
            file: v.file,
            container: v.container,
            certificates,
            withheld: v.withheld,
        })
    })
}

/// Step 8.4 for one entry whose references 8.3 will check: each value's
/// size, private-key material, and decoding against its description (a
/// described certificate object) or into it (a lean one). Returns the entry
/// with every certificate described, its counts and, per value, where its
/// bytes lie in the bundle and what they decoded to (`None`: withheld).
pub(super) fn check_values(
    bytes: &[u8],
    entry: Entry<CertObject>,
    n: usize,
    values: &[Range<usize>],
    digests: &[Sha256],
    limits: &Limits,
) -> Result<(Entry, Counts, Vec<StoredValue>)> {
    let label = entry.label().to_owned();
    let who = || format!("entries.jsonl line {n} ({label})");
    let mut counts = Counts::default();
    let mut stored = Vec::with_capacity(entry.values.len());
    let entry = entry.try_map_values(|v| {
        counts.values += 1;
        let Value {
            attribute,
            file,
            container,
            certificates,
            withheld,
        } = v;
        let Some(file) = file else {
            // Withheld: checked in 8.2; it has no bytes and no certificates.
            let record = Value {
                attribute,
                file: None,
                container,
                certificates: Vec::new(),
                withheld,
            };
            stored.push(StoredValue::withheld(&record));
            return Ok(record);
        };
        let num: u64 = file[layout::VALUES_DIR.len()..file.len() - 4]
            .parse()
            .unwrap_or(0);
        // A reference 8.3 will refuse, and does before this error is seen.
        let Some((range, digest)) = usize::try_from(num.wrapping_sub(1))
            .ok()
            .and_then(|i| Some((values.get(i)?, *digests.get(i)?)))
        else {
            return Err(err!(FileSet, "{}: {file} is not in the bundle", who()));
        };
        if range.len() as u64 > limits.max_value_bytes {
            return Err(err!(
                SizeLimit,
                "{}: {file}: {} bytes, the limit is {}",
                who(),
                range.len(),
                limits.max_value_bytes
            ));
        }
        let raw = &bytes[range.clone()];
        if let Some(what) = cert::find_private_key_material(raw) {
            return Err(err!(
                PrivateKey,
                "{}: {file} holds private key material ({what})",
                who()
            ));
        }
        let decoded = cert::decode_value_hashed(raw, digest);
        if container != decoded.container.as_str() {
            return Err(err!(
                Content,
                "{}: {} is recorded as {} but decodes as {}",
                who(),
                file,
                container,
                decoded.container.as_str()
            ));
        }
        if certificates.len() != decoded.certificates.len() {
            return Err(err!(
                Content,
                "{}: {} records {} certificates, the value holds {}",
                who(),
                file,
                certificates.len(),
                decoded.certificates.len()
            ));
        }
        if decoded.container == cert::Container::Unparseable {
            counts.unparseable_values += 1;
        }
        let mut records = Vec::with_capacity(certificates.len());
        for (object, info) in certificates.into_iter().zip(&decoded.certificates) {
            for name in &info.rfc822_names {
                check_text(name, || {
                    format!("{}: {} certificate rfc822Name", who(), file)
                })?;
            }
            let rec = match object {
                CertObject::Described(rec) if rec.describes(info) => rec,
                CertObject::Described(_) => {
                    return Err(err!(
                        Content,
                        "{}: {} certificate {}: recorded description differs from the certificate",
                        who(),
                        file,
                        info.sha256
                    ));
                }
                CertObject::Lean { class, reasons } => CertRecord::judged(info, class, reasons),
            };
            check_classification(&rec.class, &rec.reasons).map_err(|m| {
                err!(
                    Content,
                    "{}: {} certificate {}: {m}",
                    who(),
                    file,
                    info.sha256
                )
            })?;
            counts.certificates += 1;
            match rec.class.as_str() {
                "encryption" => counts.encryption += 1,
                "signing-only" => counts.signing_only += 1,
                _ => counts.unusable += 1,
            }
            records.push(rec);
        }
        stored.push(StoredValue {
            range: range.clone(),
            sha256: digest,
            decoded: Some(decoded),
        });
        Ok(Value {
            attribute,
            file: Some(file),
            container,
            certificates: records,
            withheld,
        })
    })?;
    Ok((entry, counts, stored))
}

/// The exporter's class and reasons must use the v1 vocabulary, reasons sorted
/// and unique, and `unusable` exactly when there is a reason.
fn check_classification(class: &str, reasons: &[String]) -> std::result::Result<(), String> {
    let class = class
        .parse::<cert::CertClass>()
        .map_err(|_| format!("unknown class {class:?}"))?;
    let mut parsed = Vec::with_capacity(reasons.len());
    for r in reasons {
        parsed.push(
            r.parse::<cert::Reason>()
                .map_err(|_| format!("unknown reason {r:?}"))?,
        );
    }
    if parsed.windows(2).any(|w| w[0] >= w[1]) {
        return Err("reasons are not sorted and unique".into());
    }
    if (class == cert::CertClass::Unusable) == parsed.is_empty() {
        return Err("class must be unusable exactly when reasons are given".into());
    }
    Ok(())
}
