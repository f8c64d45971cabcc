//! Writing one plan item into the tenant, and proving that the tenant read what
//! was written.
//!
//! A write counts only once the tenant shows it: every Set-* is read back and
//! compared byte for byte. How the service wants certificate values written is
//! not confirmed publicly (docs/exchange-wire-protocol.md, "Byte arrays"), so a
//! write refused as a parameter-binding error, or read back different, says the
//! write form is wrong ([`WriteError::disproves_form`]); `apply` then tries the
//! other forms on that one recipient ([`probe_forms`]) before anything else is written.

use certferry_format::model::Attribute;
use certferry_format::Sha256;

use crate::exchange::bytes::WriteForm;
use crate::exchange::client::ExoClient;
use crate::exchange::error::{ErrorClass, ExoError};
use crate::exchange::recipient::{property, Recipient, RecipientKind};
use crate::journal::Outcome;
use crate::plan::{Outcome as Item, PlanItem};

/// Most characters of a contact's `Name` (New-MailContact refuses more).
pub const MAX_CONTACT_NAME: usize = 64;
/// Most characters of a contact's `DisplayName`.
pub const MAX_CONTACT_DISPLAY_NAME: usize = 256;

/// A write the tenant confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The recipient written (its write identity).
    pub identity: String,
    /// The request id of the write (or of the read-back that confirmed it).
    pub request_id: Option<String>,
    /// [`Outcome::Written`] or [`Outcome::ConfirmedByReadBack`].
    pub outcome: Outcome,
    /// HTTP attempts of the write.
    pub attempts: u32,
    /// The `Name` a new contact got.
    pub contact_name: Option<String>,
}

/// Why a write did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The service refused to bind the values (`ParameterBindingException`).
    Binding(ExoError),
    /// Written, but the tenant reads back other values.
    ReadBackDiffers {
        /// The attribute that differs.
        attribute: Attribute,
        /// How many values it now holds.
        holds: usize,
    },
    /// The contact was created but its certificates could not be written.
    AfterCreate {
        /// The new contact's identity.
        identity: String,
        /// What failed.
        error: Box<WriteError>,
    },
    /// Any other failure.
    Other(String),
}

impl WriteError {
    /// Whether this failure says the tenant does not take the write form used.
    pub fn disproves_form(&self) -> bool {
        match self {
            Self::Binding(_) | Self::ReadBackDiffers { .. } => true,
            Self::AfterCreate { error, .. } => error.disproves_form(),
            Self::Other(_) => false,
        }
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Binding(e) => write!(f, "the service refused the values: {e}"),
            Self::ReadBackDiffers { attribute, holds } => write!(
                f,
                "{} reads back different bytes from what was written (it holds {holds} values)",
                property(*attribute)
            ),
            Self::AfterCreate { identity, error } => {
                write!(f, "contact {identity} was created, but: {error}")
            }
            Self::Other(m) => f.write_str(m),
        }
    }
}

fn is_binding(e: &ExoError) -> bool {
    e.class == ErrorClass::Invalid
        && (e
            .exception_type
            .as_deref()
            .is_some_and(|t| t.ends_with("ParameterBindingException"))
            || e.message.contains("Cannot bind parameter")
            || e.message.contains("Cannot convert value"))
}

fn is_name_taken(e: &ExoError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.exception_type
        .as_deref()
        .is_some_and(|t| t.ends_with("ADObjectAlreadyExistsException"))
        || (m.contains("name") && m.contains("already") && !m.contains("proxy address"))
}

/// Drops control characters and surrounding space; at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(max)
        .collect()
}

/// The `Name` of a new contact, and the one used when that is taken (documented
/// in docs/usage.md, "New contacts"): the entry's display name (else its address),
/// control characters dropped, at most 64 characters; on a collision, as much of
/// it as fits followed by ` (address)`, or ` (` and the first 8 hex digits of the
/// address's SHA-256 `)` when the address is too long to fit.
pub fn contact_names(display_name: Option<&str>, address: &str) -> (String, String) {
    let base = display_name
        .map(|d| clean(d, MAX_CONTACT_DISPLAY_NAME))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| address.to_owned());
    let first = clean(&base, MAX_CONTACT_NAME);
    let mut suffix = format!(" ({address})");
    if suffix.chars().count() > MAX_CONTACT_NAME - 8 {
        let h = Sha256::digest(address.as_bytes()).to_hex();
        suffix = format!(" ({})", &h[..8]);
    }
    let room = MAX_CONTACT_NAME - suffix.chars().count();
    let second = format!("{}{suffix}", clean(&base, room));
    (first, second)
}

/// Sets the value sets `sets` on the recipient in `form` and reads it back.
pub async fn set_and_confirm(
    client: &ExoClient,
    form: WriteForm,
    kind: RecipientKind,
    identity: &str,
    sets: &[(Attribute, Vec<Vec<u8>>)],
) -> Result<Written, WriteError> {
    let receipt = client
        .set_certificates_as(
            form,
            kind,
            identity,
            &sets
                .iter()
                .map(|(a, values)| (*a, values.as_slice()))
                .collect::<Vec<_>>(),
        )
        .await
        .map_err(|e| {
            if is_binding(&e) {
                WriteError::Binding(e)
            } else {
                WriteError::Other(e.to_string())
            }
        })?;
    let (back, outcome, request_id) = match receipt.confirmed_by_read_back {
        Some(r) => (r, Outcome::ConfirmedByReadBack, receipt.request_id),
        None => {
            // Read back what was written: the write counts only once the tenant shows it.
            let back = client
                .get_recipient(kind, identity)
                .await
                .map_err(|e| WriteError::Other(e.to_string()))?;
            let Some((r, _)) = back else {
                return Err(WriteError::Other(
                    "the recipient vanished after the write".into(),
                ));
            };
            (r, Outcome::Written, receipt.request_id)
        }
    };
    differs(&back, sets)?;
    Ok(Written {
        identity: identity.to_owned(),
        request_id,
        outcome,
        attempts: receipt.attempts,
        contact_name: None,
    })
}

fn differs(back: &Recipient, sets: &[(Attribute, Vec<Vec<u8>>)]) -> Result<(), WriteError> {
    for (attribute, values) in sets {
        if back.values(*attribute) != values.as_slice() {
            return Err(WriteError::ReadBackDiffers {
                attribute: *attribute,
                holds: back.values(*attribute).len(),
            });
        }
    }
    Ok(())
}

/// Writes one plan item (a change, or a contact to create and then write) in
/// `form`; `sets` are the bytes of its value sets ([`crate::plan::Plan::value_sets`]).
pub async fn write_item(
    client: &ExoClient,
    item: &PlanItem,
    form: WriteForm,
    sets: &[(Attribute, Vec<Vec<u8>>)],
) -> Result<Written, WriteError> {
    match &item.outcome {
        Item::Change { .. } => {
            let t = item
                .target
                .as_ref()
                .ok_or_else(|| WriteError::Other("no target".into()))?;
            set_and_confirm(client, form, t.kind, &t.identity, sets).await
        }
        Item::CreateContact {
            address,
            display_name,
            ..
        } => {
            let (name, other) = contact_names(display_name.as_deref(), address);
            let display = display_name
                .as_deref()
                .map(|d| clean(d, MAX_CONTACT_DISPLAY_NAME))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| address.clone());
            let made = match client.new_mail_contact(&name, &display, address).await {
                Ok(m) => (m, name),
                Err(e) if is_name_taken(&e) => client
                    .new_mail_contact(&other, &display, address)
                    .await
                    .map(|m| (m, other))
                    .map_err(|e| WriteError::Other(e.to_string()))?,
                Err(e) => return Err(WriteError::Other(e.to_string())),
            };
            let identity = made.0.recipient.write_identity().to_owned();
            let mut w = set_and_confirm(client, form, RecipientKind::MailContact, &identity, sets)
                .await
                .map_err(|e| WriteError::AfterCreate {
                    identity: identity.clone(),
                    error: Box::new(e),
                })?;
            w.contact_name = Some(made.1);
            Ok(w)
        }
        _ => Err(WriteError::Other("nothing to write".into())),
    }
}

/// After the first write of a run failed to prove `tried`: the other forms, each
/// written to the same recipient and read back, until one round-trips. Returns
/// that form and its confirmed write, or every form's failure.
pub async fn probe_forms(
    client: &ExoClient,
    kind: RecipientKind,
    identity: &str,
    sets: &[(Attribute, Vec<Vec<u8>>)],
    tried: WriteForm,
) -> Result<(WriteForm, Written), Vec<(WriteForm, WriteError)>> {
    let mut failures = Vec::new();
    for form in WriteForm::ALL.into_iter().filter(|f| *f != tried) {
        match set_and_confirm(client, form, kind, identity, sets).await {
            Ok(w) => return Ok((form, w)),
            Err(e) => failures.push((form, e)),
        }
    }
    Err(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_names_come_from_the_display_name_and_fit_64_characters() {
        assert_eq!(
            contact_names(Some("Judy Jones"), "judy@fabrikam.test"),
            (
                "Judy Jones".to_owned(),
                "Judy Jones (judy@fabrikam.test)".to_owned()
            )
        );
        assert_eq!(
            contact_names(None, "judy@fabrikam.test").0,
            "judy@fabrikam.test"
        );
        assert_eq!(contact_names(Some(" \u{1b}[31m "), "a@b.test").0, "[31m");
        let long = "W".repeat(100);
        let (a, b) = contact_names(Some(&long), "judy@fabrikam.test");
        assert_eq!(a.chars().count(), 64);
        assert_eq!(b.chars().count(), 64);
        assert!(b.ends_with(" (judy@fabrikam.test)"), "{b}");
        let addr = format!("{}@fabrikam.test", "x".repeat(70));
        let (_, b) = contact_names(Some("Judy"), &addr);
        assert!(
            b.starts_with("Judy (") && b.len() == "Judy (12345678)".len(),
            "{b}"
        );
        // Multi-byte names count characters, not bytes.
        let (a, _) = contact_names(Some(&"ß".repeat(80)), "x@y.test");
        assert_eq!(a.chars().count(), 64);
    }

    #[test]
    fn binding_errors_and_taken_names_are_told_by_type_or_words() {
        let e = |class, t: Option<&str>, m: &str| {
            let mut e = ExoError::new(class, m);
            e.exception_type = t.map(str::to_owned);
            e
        };
        assert!(is_binding(&e(
            ErrorClass::Invalid,
            Some("ParameterBindingException"),
            "x"
        )));
        assert!(is_binding(&e(
            ErrorClass::Invalid,
            None,
            "Cannot bind parameter 'UserCertificate'."
        )));
        assert!(!is_binding(&e(
            ErrorClass::Invalid,
            Some("DataValidationException"),
            "x"
        )));
        assert!(!is_binding(&e(
            ErrorClass::Transient,
            Some("ParameterBindingException"),
            "x"
        )));
        assert!(is_name_taken(&e(
            ErrorClass::Invalid,
            Some("ADObjectAlreadyExistsException"),
            "x"
        )));
        assert!(is_name_taken(&e(
            ErrorClass::Invalid,
            None,
            "The name 'Judy' is already being used."
        )));
        assert!(!is_name_taken(&e(
            ErrorClass::Invalid,
            Some("ProxyAddressExistsException"),
            "The proxy address \"SMTP:j@x\" is already being used by the proxy addresses or LegacyExchangeDN of \"name\"."
        )));
    }
}
