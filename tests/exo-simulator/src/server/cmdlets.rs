//! The cmdlets the simulator serves, one function each, behind the
//! authentication and request checks of [`super::process`].

#[allow(clippy::wildcard_imports)]
use super::*;

/// `Get-Mailbox`, `Get-MailUser`, `Get-MailContact`: a page of recipients.
pub(super) fn get(store: &Store, c: &Call<'_>, kind: RecipientKind) -> Reply {
    let Call {
        name,
        params,
        ref role,
        host,
        tenant,
        page_size,
        select,
        selected,
        skiptoken,
        ref server,
        ref context,
        ..
    } = *c;
    if !matches!(role, Role::ReadWrite(_) | Role::ReadOnly(_)) {
        return forbidden(name);
    }
    let identity = match string_param(params, "Identity") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let limit = match params.get("ResultSize") {
            None => None,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("Unlimited") => Some(usize::MAX),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
                Some(n.as_u64().unwrap_or(1) as usize)
            }
            Some(v) => {
                return binding(format!(
                    "Cannot bind parameter 'ResultSize'. Cannot convert value {v} to type \
                     \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\" (\"Unlimited\" or a positive integer)."
                ))
            }
        };
    let all: Vec<usize> = match identity {
        Some(id) => match resolve(store, id, kind, server) {
            Ok(i) => vec![i],
            Err(r) => return r,
        },
        None => (0..store.tenant.recipients.len())
            .filter(|&i| store.tenant.recipients[i].kind == kind)
            .collect(),
    };
    let cap = limit.unwrap_or(DEFAULT_RESULT_SIZE);
    let truncated = limit.is_none() && all.len() > cap;
    let total = all.len().min(cap);
    let fingerprint = page_fingerprint(name, params, select);
    let offset = match &skiptoken {
        None => 0,
        Some(t) => match parse_skiptoken(t, &fingerprint) {
            Some(o) if o <= total => o,
            _ => {
                return bad_request(
                    "The $skiptoken is not valid for this request: follow \
                         @odata.nextLink with the same POST body (cmdlet and parameters) \
                         and the same $select.",
                )
            }
        },
    };
    let end = (offset + page_size).min(total);
    let value: Vec<Value> = all[offset..end]
        .iter()
        .map(|&i| project(&store.tenant.recipients[i], selected, &store.dialect))
        .collect();
    let mut out = Map::new();
    out.insert("@odata.context".into(), context.as_str().into());
    out.insert("value".into(), value.into());
    if end < total {
        let mut next = format!(
            "http://{host}/adminapi/beta/{tenant}/InvokeCommand?$skiptoken={}",
            make_skiptoken(end, &fingerprint)
        );
        if let Some(s) = &select {
            next.push_str("&$select=");
            next.extend(form_urlencoded::byte_serialize(s.as_bytes()));
        }
        out.insert("@odata.nextLink".into(), next.into());
    } else if truncated {
        out.insert(
            "@adminapi.warnings".into(),
            json!([format!(
                "By default, only the first {DEFAULT_RESULT_SIZE} items are returned. Use \
                     the ResultSize parameter to specify the number of items returned. To \
                     return all items, specify \"-ResultSize Unlimited\"."
            )]),
        );
    }
    Reply::json(200, Value::Object(out)).header(
        "Preference-Applied",
        format!("odata.maxpagesize={page_size}"),
    )
}

/// `Set-Mailbox`, `Set-MailUser`, `Set-MailContact`: replace certificate values.
pub(super) fn set(
    store: &mut Store,
    c: &Call<'_>,
    kind: RecipientKind,
    entry: &mut LogEntry,
) -> Reply {
    let Call {
        name,
        params,
        ref role,
        ref server,
        ref context,
        ..
    } = *c;
    if !matches!(role, Role::ReadWrite(_)) {
        return forbidden(name);
    }
    let identity = match string_param(params, "Identity") {
        Ok(Some(i)) => i,
        Ok(None) => {
            return binding(format!(
                "Cannot process command because of one or more missing mandatory \
                     parameters: Identity. ({name})"
            ))
        }
        Err(r) => return r,
    };
    let mut sets: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    for attr in ["UserCertificate", "UserSMimeCertificate"] {
        if let Some(v) = params.get(attr) {
            match store.dialect.bind(attr, v) {
                Ok(vals) => sets.push((attr, vals)),
                Err(m) => return binding(m),
            }
        }
    }
    let i = match resolve(store, identity, kind, server) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let r = &store.tenant.recipients[i];
    entry.target = Some(r.external_directory_object_id.clone());
    if r.is_write_protected() {
        let attrs: Vec<&str> = sets.iter().map(|(a, _)| *a).collect();
        let exception = store.dialect.write_scope_exception.clone();
        return exo_error(
            400,
            Some(&exception),
            &format!(
                "An error occurred while updating object '{0}': The operation on {1} \
                     \"{0}\" failed because it's out of the current user's write scope. The \
                     action '{name}', '{2}', can't be performed on the object '{0}' because \
                     the object is being synchronized from your on-premises organization. \
                     This action should be performed on the object in your on-premises \
                     organization.",
                r.name,
                kind.noun(),
                attrs.join(", ")
            ),
        );
    }
    for (attr, vals) in &sets {
        if vals.len() > MAX_VALUES {
            return exo_error(
                400,
                Some("DataValidationException"),
                &format!(
                    "The property '{attr}' can hold at most {MAX_VALUES} values; the \
                         value provided has {}.",
                    vals.len()
                ),
            );
        }
        for (j, v) in vals.iter().enumerate() {
            if vals[..j].contains(v) {
                return exo_error(
                    400,
                    Some("DataValidationException"),
                    &format!(
                        "The value {j} of property '{attr}' is already present in the collection."
                    ),
                );
            }
        }
    }
    let id = r.external_directory_object_id.clone();
    let display = r.name.clone();
    if sets.is_empty() {
        // What the service answers to `Set-Mailbox -Identity x` alone: nothing
        // written (not counted as a write).
        return Reply::json(
            200,
            json!({"@odata.context": context, "value": [], "@adminapi.warnings": [format!(
                "The command completed successfully but no settings of '{display}' have been modified."
            )]}),
        );
    }
    let r = &mut store.tenant.recipients[i];
    let mut changed = false;
    for (attr, vals) in sets {
        let slot = if attr == "UserCertificate" {
            &mut r.user_certificate
        } else {
            &mut r.user_smime_certificate
        };
        changed |= *slot != vals;
        *slot = vals;
    }
    *store.writes.entry(id).or_insert(0) += 1;
    entry.applied = true;
    let mut out = json!({"@odata.context": context, "value": []});
    if !changed {
        out["@adminapi.warnings"] = json!([format!(
            "The command completed successfully but no settings of '{display}' have been modified."
        )]);
    }
    Reply::json(200, out)
}

/// `New-MailContact`.
pub(super) fn new_contact(store: &mut Store, c: &Call<'_>, entry: &mut LogEntry) -> Reply {
    let Call {
        name,
        params,
        ref role,
        selected,
        ref context,
        ..
    } = *c;
    if !matches!(role, Role::ReadWrite(_)) {
        return forbidden(name);
    }
    let mut got = Vec::new();
    for p in ["Name", "DisplayName", "ExternalEmailAddress"] {
        match string_param(params, p) {
            Ok(v) => got.push(v),
            Err(r) => return r,
        }
    }
    let (Some(cname), display, Some(external)) = (got[0], got[1], got[2]) else {
        return binding(
            "Cannot process command because of one or more missing mandatory \
                 parameters: Name, ExternalEmailAddress. (New-MailContact)",
        );
    };
    for (param, value, max) in [("Name", Some(cname), 64), ("DisplayName", display, 256)] {
        let len = value.map_or(0, |v| v.chars().count());
        if len > max {
            return exo_error(
                400,
                Some("DataValidationException"),
                &format!(
                    "{param}: The length of the property is too long. The maximum length \
                         is {max} and the length of the value provided is {len}."
                ),
            );
        }
    }
    let Some(addr) = external.strip_prefix("SMTP:").filter(|a| valid_address(a)) else {
        return binding(format!(
            "Cannot bind parameter 'ExternalEmailAddress': '{external}' is not \
                 'SMTP:local@domain' (docs/exchange-wire-protocol.md)."
        ));
    };
    if let Some(&i) = store
        .by_address
        .get(&addr.to_lowercase())
        .and_then(|v| v.first())
    {
        return exo_error(
            400,
            Some("ProxyAddressExistsException"),
            &format!(
                "The proxy address \"SMTP:{addr}\" is already being used by the proxy \
                     addresses or LegacyExchangeDN of \"{}\". Please choose another proxy address.",
                store.tenant.recipients[i].name
            ),
        );
    }
    if store
        .tenant
        .recipients
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(cname))
    {
        return exo_error(
            400,
            Some("ADObjectAlreadyExistsException"),
            &format!("The name '{cname}' is already being used. Please try another name."),
        );
    }
    let r = Recipient {
        external_directory_object_id: jwt::uuid_v4(),
        name: cname.to_owned(),
        display_name: display.unwrap_or(cname).to_owned(),
        kind: RecipientKind::MailContact,
        email_addresses: vec![format!("SMTP:{addr}")],
        user_principal_name: None,
        is_dir_synced: false,
        is_exchange_cloud_managed: false,
        immutable_id: None,
        user_certificate: Vec::new(),
        user_smime_certificate: Vec::new(),
    };
    entry.target = Some(r.external_directory_object_id.clone());
    entry.applied = true;
    let wire = project(&r, selected, &store.dialect);
    store.tenant.recipients.push(r);
    let i = store.tenant.recipients.len() - 1;
    store.index(i);
    Reply::json(200, json!({"@odata.context": context, "value": [wire]}))
}

/// `Get-SmimeConfig`: the organisation's one S/MIME configuration, with the
/// issuing-CA collection in the dialect's form (facts: Set-SmimeConfig.md; the
/// answer's shape is *assumed*, see [`crate::dialect::IssuingCaOut`]).
pub(super) fn get_smime_config(store: &Store, c: &Call<'_>) -> Reply {
    if !matches!(c.role, Role::ReadWrite(_) | Role::ReadOnly(_)) {
        return forbidden(c.name);
    }
    if let Err(r) = string_param(c.params, "Identity") {
        return r;
    }
    let mut config = Map::new();
    config.insert("Identity".into(), json!("Default"));
    if let Some(v) = store.dialect.issuing_ca(store.smime_issuing_ca.as_deref()) {
        config.insert("SMIMECertificateIssuingCA".into(), v);
    }
    config.insert("OWADisableCRLCheck".into(), json!(false));
    config.insert("OWACheckCRLOnSend".into(), json!(false));
    Reply::json(200, json!({"@odata.context": c.context, "value": [config]}))
}

/// `Set-SmimeConfig -SMIMECertificateIssuingCA`: replaces the whole
/// collection with the store given. "Each certificate is checked, and if any
/// certificates are expired, the operation will fail" (Set-SmimeConfig.md):
/// the store is refused whole, as is one that is not a store.
pub(super) fn set_smime_config(store: &mut Store, c: &Call<'_>, entry: &mut LogEntry) -> Reply {
    if !matches!(c.role, Role::ReadWrite(_)) {
        return forbidden(c.name);
    }
    if let Err(r) = string_param(c.params, "Identity") {
        return r;
    }
    let Some(v) = c.params.get("SMIMECertificateIssuingCA") else {
        return Reply::json(
            200,
            json!({"@odata.context": c.context, "value": [], "@adminapi.warnings": [
                "The command completed successfully but no settings of 'Default' have been modified."
            ]}),
        );
    };
    let sst = match store.dialect.bind_one("SMIMECertificateIssuingCA", v) {
        Ok(b) => b,
        Err(m) => return binding(m),
    };
    let certificates = match crate::sst::certificates(&sst) {
        Ok(c) => c,
        Err(why) => {
            return exo_error(
                400,
                Some("DataValidationException"),
                &format!("The value of SMIMECertificateIssuingCA is not a serialized certificate store: {why}."),
            )
        }
    };
    let now = i64::try_from(now_secs()).unwrap_or(i64::MAX) + store.clock_offset_secs;
    for der in &certificates {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return exo_error(
                400,
                Some("DataValidationException"),
                "A certificate in SMIMECertificateIssuingCA could not be read.",
            );
        };
        if cert.validity().not_after.timestamp() < now {
            return exo_error(
                400,
                Some("DataValidationException"),
                &format!(
                    "The certificate '{}' in SMIMECertificateIssuingCA has expired.",
                    cert.subject()
                ),
            );
        }
    }
    store.smime_issuing_ca = Some(sst);
    *store.writes.entry("SmimeConfig".into()).or_insert(0) += 1;
    entry.applied = true;
    entry.target = Some("SmimeConfig".into());
    Reply::json(200, json!({"@odata.context": c.context, "value": []}))
}
