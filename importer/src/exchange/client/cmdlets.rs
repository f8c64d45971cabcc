//! The cmdlets certferry calls, as typed methods of [`ExoClient`]: listing
//! recipients, reading one back, setting certificates, creating a contact.
//!
//! Protocol: docs/exchange-wire-protocol.md ("Cmdlets").

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use super::super::bytes::WriteForm;
use super::super::error::{ErrorClass, ExoError};
use super::super::recipient::{property, Recipient, RecipientKind};
use super::transport::{gave_up, protocol, refused_fresh_token};
use super::{ExoClient, Listing, NewContact, WriteReceipt};
use certferry_format::model::Attribute;

impl ExoClient {
    /// Every mailbox (`Get-Mailbox -ResultSize Unlimited`, all pages).
    pub async fn get_mailboxes(&self) -> Result<Listing, ExoError> {
        self.get_recipients(RecipientKind::Mailbox).await
    }

    /// Every mail user (`Get-MailUser -ResultSize Unlimited`, all pages).
    pub async fn get_mail_users(&self) -> Result<Listing, ExoError> {
        self.get_recipients(RecipientKind::MailUser).await
    }

    /// Every mail contact (`Get-MailContact -ResultSize Unlimited`, all pages).
    pub async fn get_mail_contacts(&self) -> Result<Listing, ExoError> {
        self.get_recipients(RecipientKind::MailContact).await
    }

    /// Every recipient of the three kinds: mailboxes, then mail users, then contacts.
    pub async fn get_all_recipients(&self) -> Result<Listing, ExoError> {
        let mut all = Listing::default();
        for kind in RecipientKind::ALL {
            let l = self.get_recipients(kind).await?;
            all.recipients.extend(l.recipients);
            all.request_ids.extend(l.request_ids);
            all.warnings.extend(l.warnings);
            all.notes.merge(l.notes);
        }
        Ok(all)
    }

    /// Every recipient of `kind`, following `@odata.nextLink` (same body) to the last page.
    pub async fn get_recipients(&self, kind: RecipientKind) -> Result<Listing, ExoError> {
        self.list(kind, json!("Unlimited")).await
    }

    /// The first page of recipients of `kind` (at most `n`, `Get-* -ResultSize n`):
    /// a harmless read, for `doctor`.
    pub async fn sample_recipients(
        &self,
        kind: RecipientKind,
        n: u32,
    ) -> Result<Listing, ExoError> {
        self.list(kind, json!(n.max(1))).await
    }

    async fn list(&self, kind: RecipientKind, result_size: Value) -> Result<Listing, ExoError> {
        let mut listing = Listing::default();
        let mut recipients = Vec::new();
        self.list_each(kind, result_size, &mut listing, &mut |r| recipients.push(r))
            .await?;
        listing.recipients = recipients;
        Ok(listing)
    }

    /// Every recipient of `kind` (all pages), handed to `each` as it is read
    /// and not kept; the pages' request ids, warnings and wire notes are added
    /// to `pages` (whose `recipients` stay as they are).
    pub async fn for_each_recipient(
        &self,
        kind: RecipientKind,
        pages: &mut Listing,
        each: &mut (dyn FnMut(Recipient) + Send),
    ) -> Result<(), ExoError> {
        self.list_each(kind, json!("Unlimited"), pages, each).await
    }

    async fn list_each(
        &self,
        kind: RecipientKind,
        result_size: Value,
        pages: &mut Listing,
        each: &mut (dyn FnMut(Recipient) + Send),
    ) -> Result<(), ExoError> {
        let cmdlet = kind.get_cmdlet();
        let body = cmdlet_body(cmdlet, params([("ResultSize", result_size)]));
        let mut url = self.inner.get_url.clone();
        let mut seen = HashSet::new();
        loop {
            let reply = self
                .invoke(&url, &body)
                .await
                .map_err(|e| e.context(cmdlet))?;
            let rid = reply.request_id.clone();
            for v in &reply.value {
                let r = Recipient::from_json_noting(v, kind, &mut pages.notes)
                    .map_err(|m| protocol(format!("{cmdlet}: {m}"), &rid))?;
                each(r);
            }
            pages.request_ids.extend(rid.clone());
            pages.warnings.extend(reply.warnings);
            match reply.next_link {
                None => return Ok(()),
                Some(link) => {
                    url = self
                        .checked_next_link(&link)
                        .map_err(|m| protocol(format!("{cmdlet}: {m}"), &rid))?;
                    if !seen.insert(url.to_string()) {
                        return Err(protocol(
                            format!("{cmdlet}: the service repeated a next link"),
                            &rid,
                        ));
                    }
                }
            }
        }
    }

    /// One recipient of `kind` by identity (object id, SMTP address, …), or
    /// `None` when the service says there is none.
    pub async fn get_recipient(
        &self,
        kind: RecipientKind,
        identity: &str,
    ) -> Result<Option<(Recipient, Option<String>)>, ExoError> {
        let cmdlet = kind.get_cmdlet();
        let body = cmdlet_body(
            cmdlet,
            params([
                ("Identity", json!(identity)),
                ("ResultSize", json!("Unlimited")),
            ]),
        );
        let reply = match self.invoke(&self.inner.get_url, &body).await {
            Ok(r) => r,
            Err(e) if e.class == ErrorClass::NotFound => return Ok(None),
            Err(e) => return Err(e.context(format_args!("{cmdlet} {identity}"))),
        };
        let rid = reply.request_id;
        match reply.value.as_slice() {
            [] => Ok(None),
            [one] => Recipient::from_json(one, kind)
                .map(|r| Some((r, rid.clone())))
                .map_err(|m| protocol(format!("{cmdlet} {identity}: {m}"), &rid)),
            many => Err(protocol(
                format!(
                    "{cmdlet} {identity}: {} recipients answer to it",
                    many.len()
                ),
                &rid,
            )),
        }
    }

    /// Writes a recipient's certificate attributes with `Set-Mailbox`,
    /// `Set-MailUser` or `Set-MailContact`, in the client's [`WriteForm`]. Each
    /// `(attribute, values)` of `changes` is that attribute's **complete** new
    /// value set (`&[]` clears it); an attribute not listed is left alone. At
    /// least one must be listed.
    ///
    /// The 15-value cap is the caller's (the plan's) to respect; the service
    /// refuses more with a `DataValidationException` ([`ErrorClass::Invalid`]).
    pub async fn set_certificates(
        &self,
        kind: RecipientKind,
        identity: &str,
        changes: &[(Attribute, &[Vec<u8>])],
    ) -> Result<WriteReceipt, ExoError> {
        self.set_certificates_as(self.inner.write_form, kind, identity, changes)
            .await
    }

    /// [`Self::set_certificates`] with the values written in `form`.
    ///
    /// Set-* replaces the attribute's whole value set, so repeating it is safe. But
    /// after an ambiguous failure (dropped connection, timeout, 5xx: the write may
    /// or may not have been applied) the recipient is read back first: when it
    /// already holds exactly these values the write is done, is not sent again,
    /// and the receipt says so ([`WriteReceipt::confirmed_by_read_back`]).
    /// Throttled (429) and 401 requests were refused before the cmdlet ran and
    /// are repeated directly.
    pub async fn set_certificates_as(
        &self,
        form: WriteForm,
        kind: RecipientKind,
        identity: &str,
        changes: &[(Attribute, &[Vec<u8>])],
    ) -> Result<WriteReceipt, ExoError> {
        let cmdlet = kind.set_cmdlet();
        if changes.is_empty() {
            return Err(ExoError::new(
                ErrorClass::Invalid,
                format!("{cmdlet} {identity}: nothing to write"),
            ));
        }
        let mut p = params([("Identity", json!(identity))]);
        for (attribute, values) in changes {
            p.insert(property(*attribute).to_owned(), form.encode_set(values));
        }
        let body = cmdlet_body(cmdlet, p);
        let ctx = |e: ExoError| e.context(format_args!("{cmdlet} {identity}"));
        let holds = |r: &Recipient| changes.iter().all(|(a, v)| r.values(*a) == *v);
        let mut attempt = 0u32;
        let mut ambiguous = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let (result, generation) = self.send_once(&self.inner.invoke_url, &body).await;
            let err = match result {
                // No request was sent: getting a token failed (after its own retries).
                Err(e) if generation.is_none() => return Err(ctx(e)),
                Ok(reply) => {
                    return Ok(WriteReceipt {
                        request_id: reply.request_id,
                        warnings: reply.warnings,
                        attempts: attempt + u32::from(reauthenticated),
                        ambiguous_failures: ambiguous,
                        confirmed_by_read_back: None,
                    })
                }
                Err(e) => e,
            };
            match err.class {
                ErrorClass::Unauthorized if !reauthenticated => {
                    reauthenticated = true;
                    self.reauthenticate(generation).await;
                    attempt -= 1;
                    continue;
                }
                ErrorClass::Unauthorized => return Err(ctx(refused_fresh_token(err))),
                ErrorClass::Throttled => {}
                ErrorClass::Transient => {
                    ambiguous += 1;
                    if let Some((r, request_id)) = self.get_recipient(kind, identity).await? {
                        if holds(&r) {
                            return Ok(WriteReceipt {
                                request_id,
                                warnings: Vec::new(),
                                attempts: attempt + u32::from(reauthenticated),
                                ambiguous_failures: ambiguous,
                                confirmed_by_read_back: Some(r),
                            });
                        }
                    }
                }
                _ => return Err(ctx(err)),
            }
            match self.next_delay(attempt, err.retry_after) {
                Some(d) => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(d).await;
                }
                None => return Err(ctx(gave_up(err, attempt))),
            }
        }
    }

    /// Creates a mail contact (`New-MailContact -Name -DisplayName
    /// -ExternalEmailAddress SMTP:address`). Its certificates are then written
    /// with [`Self::set_certificates`] (`New-MailContact` has no such parameters).
    ///
    /// Not idempotent: a second call creates nothing but fails. So after an
    /// ambiguous failure (dropped connection, timeout, 5xx: the contact may have
    /// been created) the contact is looked up by its address first, and the
    /// request is repeated only if it is not there. Throttled (429) and 401
    /// requests were refused before the cmdlet ran and are repeated directly.
    pub async fn new_mail_contact(
        &self,
        name: &str,
        display_name: &str,
        address: &str,
    ) -> Result<NewContact, ExoError> {
        let cmdlet = "New-MailContact";
        let address = strip_smtp_prefix(address);
        if address.is_empty() || !address.contains('@') || address.chars().any(char::is_whitespace)
        {
            return Err(ExoError::new(
                ErrorClass::Invalid,
                format!("{cmdlet}: {address:?} is not an SMTP address"),
            ));
        }
        let body = cmdlet_body(
            cmdlet,
            params([
                ("Name", json!(name)),
                ("DisplayName", json!(display_name)),
                ("ExternalEmailAddress", json!(format!("SMTP:{address}"))),
            ]),
        );
        let ctx = |e: ExoError| e.context(format_args!("{cmdlet} {address}"));
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let (result, generation) = self.send_once(&self.inner.invoke_url, &body).await;
            let err = match result {
                // No request was sent: getting a token failed (after its own retries).
                Err(e) if generation.is_none() => return Err(ctx(e)),
                Ok(reply) => {
                    let rid = reply.request_id;
                    let Some(first) = reply.value.first() else {
                        return Err(ctx(protocol(
                            "the service returned no contact".into(),
                            &rid,
                        )));
                    };
                    let recipient = Recipient::from_json(first, RecipientKind::MailContact)
                        .map_err(|m| ctx(protocol(m, &rid)))?;
                    return Ok(NewContact {
                        recipient,
                        request_id: rid,
                        found_after_ambiguous_failure: false,
                    });
                }
                Err(e) => e,
            };
            match err.class {
                ErrorClass::Unauthorized if !reauthenticated => {
                    reauthenticated = true;
                    self.reauthenticate(generation).await;
                    attempt -= 1;
                    continue;
                }
                ErrorClass::Unauthorized => return Err(ctx(refused_fresh_token(err))),
                ErrorClass::Throttled => {}
                ErrorClass::Transient => {
                    if let Some((recipient, request_id)) = self
                        .get_recipient(RecipientKind::MailContact, address)
                        .await?
                    {
                        return Ok(NewContact {
                            recipient,
                            request_id,
                            found_after_ambiguous_failure: true,
                        });
                    }
                }
                _ => return Err(ctx(err)),
            }
            match self.next_delay(attempt, err.retry_after) {
                Some(d) => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(d).await;
                }
                None => return Err(ctx(gave_up(err, attempt))),
            }
        }
    }
}

pub(super) fn cmdlet_body(cmdlet: &str, parameters: Map<String, Value>) -> Value {
    json!({"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}})
}

pub(super) fn params<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(super) fn strip_smtp_prefix(address: &str) -> &str {
    match address.split_once(':') {
        Some((p, rest)) if p.eq_ignore_ascii_case("smtp") => rest,
        _ => address,
    }
    .trim()
}
