//! Where the public facts leave a wire detail open, the simulator can answer each
//! way: a [`Dialect`], chosen per test (`SimConfig::dialect`, `SimHandle::set_dialect`,
//! `POST /_sim/dialect`). A test double that could only agree with the client would
//! never catch a wrong choice; every importer test of an open question runs against
//! every variant here.
//!
//! Each default below is the variant the public facts point to, with its source; the
//! others are marked *assumed* (plausible readings, not observed). Sources:
//! docs/exchange-wire-protocol.md and ../shared/design/exchange-online.md.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How certificate values appear in Get-*/New-* answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValuesOut {
    /// `"UserCertificate@odata.type":"#Collection(String)"` and each value a standard,
    /// padded base64 string. **Default. Source:** a public capture of a real
    /// InvokeCommand response (exchange-online.md, "Byte arrays").
    #[default]
    Strings,
    /// Base64 strings without the collection annotation. *Assumed.*
    StringsUnannotated,
    /// URL-safe, unpadded base64 strings (OData's Edm.Binary alphabet). *Assumed.*
    StringsUrlSafe,
    /// `[{"Data":"<base64>"}]`: the metadata's ByteArrayType with Data as base64. *Assumed.*
    DataBase64,
    /// `[{"@odata.type":"#Exchange.ByteArrayType","Data":"<base64>"}]`. *Assumed.*
    DataBase64Typed,
    /// `[{"Data":[48,130,…]}]`: the metadata's `Collection(Edm.Byte)` as JSON
    /// numbers. *Assumed* (the literal reading of the service metadata).
    DataIntegers,
}

impl ValuesOut {
    /// Every variant.
    pub const ALL: [ValuesOut; 6] = [
        Self::Strings,
        Self::StringsUnannotated,
        Self::StringsUrlSafe,
        Self::DataBase64,
        Self::DataBase64Typed,
        Self::DataIntegers,
    ];
}

/// How an attribute without values appears in answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyOut {
    /// `[]`. **Default** (*assumed*: the capture's empty attributes are not public).
    #[default]
    EmptyArray,
    /// `null`. *Assumed.*
    Null,
}

/// A form a `Set-*` parameter value can take (what the client sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteForm {
    /// `{"Data":"<standard base64 with padding>"}`.
    DataBase64,
    /// `{"Data":[48,130,…]}`.
    DataIntegers,
    /// `"<standard base64 with padding>"`.
    Base64,
}

impl WriteForm {
    /// Every form.
    pub const ALL: [WriteForm; 3] = [Self::DataBase64, Self::DataIntegers, Self::Base64];

    fn of(v: &Value) -> Option<(WriteForm, Vec<u8>)> {
        match v {
            Value::String(s) => Some((Self::Base64, STANDARD.decode(s).ok()?)),
            Value::Object(m) if m.len() == 1 => match m.get("Data")? {
                Value::String(s) => Some((Self::DataBase64, STANDARD.decode(s).ok()?)),
                Value::Array(items) => Some((
                    Self::DataIntegers,
                    items
                        .iter()
                        .map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
                        .collect::<Option<Vec<u8>>>()?,
                )),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What the service does with a value in a form it does not bind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtherWriteForm {
    /// 400 `ParameterBindingException` "Cannot bind parameter …". **Default**
    /// (*assumed*: how PowerShell refuses a value it cannot convert).
    #[default]
    BindingError,
    /// The value is bound, but to other bytes: the UTF-8 of its JSON text. The write
    /// succeeds and reads back different bytes. *Assumed*: the silent failure a
    /// client must catch by reading back.
    StoreJsonText,
}

/// How `Get-SmimeConfig` shows `SMIMECertificateIssuingCA`. No public source shows
/// that cmdlet's output (its reference page lists no output fields), so every
/// variant is *assumed*.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuingCaOut {
    /// A standard base64 string (how the service answers other byte arrays).
    /// **Default**, *assumed*.
    #[default]
    Base64,
    /// `{"Data":"<base64>"}`. *Assumed.*
    DataBase64,
    /// `[48,130,…]`, the bytes as JSON numbers. *Assumed.*
    Integers,
    /// The member is not in the answer at all. *Assumed*: the collection cannot be read back.
    Absent,
}

impl IssuingCaOut {
    /// Every variant.
    pub const ALL: [IssuingCaOut; 4] =
        [Self::Base64, Self::DataBase64, Self::Integers, Self::Absent];
}

/// The open wire details, one choice each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dialect {
    /// Certificate values in answers.
    pub values_out: ValuesOut,
    /// Empty attributes in answers.
    pub empty_out: EmptyOut,
    /// The forms `Set-*` binds. **Default** `data-base64` and `data-integers`
    /// (*assumed*: the two readings of the metadata's `ByteArrayType {Data:
    /// Collection(Edm.Byte)}`; public client code sends `{"Data": …}`).
    pub write_forms: Vec<WriteForm>,
    /// What happens to any other form.
    pub other_write_form: OtherWriteForm,
    /// `x-ExceptionType` of the refusal to write a synced object. **Default**
    /// `System.InvalidOperationException` (**source:** the public capture of the
    /// refusal); `RecipientTaskException` is *assumed* (the error's own class).
    pub write_scope_exception: String,
    /// Whether a 429 carries `Retry-After`. **Default** yes (**source:** Microsoft's
    /// throttling guidance); a concurrency 429 without it is *assumed* possible.
    pub retry_after_on_429: bool,
    /// Whether mailboxes and mail users carry `ImmutableId` (Get-Mailbox's output has
    /// it: **source** the cmdlet reference; contacts never do). `false`: *assumed*, a
    /// service (or `$select`) that leaves it out.
    pub immutable_id_member: bool,
    /// `SMIMECertificateIssuingCA` in Get-SmimeConfig's answer.
    pub issuing_ca_out: IssuingCaOut,
}

impl Default for Dialect {
    fn default() -> Self {
        Self {
            values_out: ValuesOut::default(),
            empty_out: EmptyOut::default(),
            write_forms: vec![WriteForm::DataBase64, WriteForm::DataIntegers],
            other_write_form: OtherWriteForm::default(),
            write_scope_exception: "System.InvalidOperationException".into(),
            retry_after_on_429: true,
            immutable_id_member: true,
            issuing_ca_out: IssuingCaOut::default(),
        }
    }
}

impl Dialect {
    /// A dialect that binds exactly `forms` and treats others as `other`.
    pub fn writes(forms: &[WriteForm], other: OtherWriteForm) -> Self {
        Self {
            write_forms: forms.to_vec(),
            other_write_form: other,
            ..Self::default()
        }
    }

    /// An attribute's values as this dialect answers them: the member's value and,
    /// if any, its `@odata.type` annotation.
    pub fn values(&self, values: &[Vec<u8>]) -> (Value, Option<&'static str>) {
        if values.is_empty() && self.empty_out == EmptyOut::Null {
            return (Value::Null, None);
        }
        let items = values.iter().map(|v| match self.values_out {
            ValuesOut::Strings | ValuesOut::StringsUnannotated => json!(STANDARD.encode(v)),
            ValuesOut::StringsUrlSafe => json!(URL_SAFE_NO_PAD.encode(v)),
            ValuesOut::DataBase64 => json!({"Data": STANDARD.encode(v)}),
            ValuesOut::DataBase64Typed => {
                json!({"@odata.type": "#Exchange.ByteArrayType", "Data": STANDARD.encode(v)})
            }
            ValuesOut::DataIntegers => json!({ "Data": v }),
        });
        let note = (self.values_out == ValuesOut::Strings).then_some("#Collection(String)");
        (Value::Array(items.collect()), note)
    }

    /// Puts attribute `name` with `values` into a wire object.
    pub fn insert_values(&self, m: &mut Map<String, Value>, name: &str, values: &[Vec<u8>]) {
        let (v, note) = self.values(values);
        if let Some(t) = note {
            m.insert(format!("{name}@odata.type"), t.into());
        }
        m.insert(name.to_owned(), v);
    }

    /// Binds a single byte-array parameter (`Set-SmimeConfig
    /// -SMIMECertificateIssuingCA`) in the forms `Set-*` binds.
    pub fn bind_one(&self, param: &str, v: &Value) -> Result<Vec<u8>, String> {
        if v.is_array() {
            // A collection for a single value: refused as PowerShell refuses it.
            return Err(format!(
                "Cannot bind parameter '{param}': expected one byte array, got a collection."
            ));
        }
        let accepted: Vec<&str> = self.write_forms.iter().map(|f| form_name(*f)).collect();
        let bytes = match WriteForm::of(v) {
            Some((form, bytes)) if self.write_forms.contains(&form) => bytes,
            _ => match self.other_write_form {
                OtherWriteForm::BindingError => {
                    return Err(format!(
                        "Cannot bind parameter '{param}'. Cannot convert the value to type \"System.Byte[]\" (this service binds {}).",
                        accepted.join(", ")
                    ))
                }
                OtherWriteForm::StoreJsonText => v.to_string().into_bytes(),
            },
        };
        if bytes.is_empty() {
            return Err(format!(
                "Cannot bind parameter '{param}': the value is empty."
            ));
        }
        Ok(bytes)
    }

    /// `SMIMECertificateIssuingCA` as Get-SmimeConfig answers it (`None`: left out).
    pub fn issuing_ca(&self, sst: Option<&[u8]>) -> Option<Value> {
        let Some(sst) = sst else {
            return (self.issuing_ca_out != IssuingCaOut::Absent).then_some(Value::Null);
        };
        match self.issuing_ca_out {
            IssuingCaOut::Base64 => Some(json!(STANDARD.encode(sst))),
            IssuingCaOut::DataBase64 => Some(json!({"Data": STANDARD.encode(sst)})),
            IssuingCaOut::Integers => Some(json!(sst)),
            IssuingCaOut::Absent => None,
        }
    }

    /// Binds a `Set-*` attribute parameter: the value set, or the binding error text.
    pub fn bind(&self, param: &str, v: &Value) -> Result<Vec<Vec<u8>>, String> {
        let Value::Array(items) = v else {
            return Err(format!(
                "Cannot bind parameter '{param}': expected a JSON array of values (the \
                 attribute's complete value set; [] clears it)."
            ));
        };
        let accepted: Vec<&str> = self.write_forms.iter().map(|f| form_name(*f)).collect();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let bytes = match WriteForm::of(item) {
                Some((form, bytes)) if self.write_forms.contains(&form) => bytes,
                _ => match self.other_write_form {
                    OtherWriteForm::BindingError => {
                        return Err(format!(
                            "Cannot bind parameter '{param}'. Cannot convert value {i} to type \
                             \"Microsoft.Exchange.Data.ByteArrayType\" (this service binds {}).",
                            accepted.join(", ")
                        ))
                    }
                    OtherWriteForm::StoreJsonText => item.to_string().into_bytes(),
                },
            };
            if bytes.is_empty() {
                return Err(format!(
                    "Cannot bind parameter '{param}': value {i} is empty."
                ));
            }
            out.push(bytes);
        }
        Ok(out)
    }
}

fn form_name(f: WriteForm) -> &'static str {
    match f {
        WriteForm::DataBase64 => "{\"Data\":\"<base64>\"}",
        WriteForm::DataIntegers => "{\"Data\":[<bytes>]}",
        WriteForm::Base64 => "\"<base64>\"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_value_form() {
        let v = vec![vec![0xfb, 0xff]];
        let mut d = Dialect::default();
        assert_eq!(d.values(&v), (json!(["+/8="]), Some("#Collection(String)")));
        d.values_out = ValuesOut::StringsUrlSafe;
        assert_eq!(d.values(&v), (json!(["-_8"]), None));
        d.values_out = ValuesOut::DataIntegers;
        assert_eq!(d.values(&v), (json!([{"Data": [251, 255]}]), None));
        d.empty_out = EmptyOut::Null;
        assert_eq!(d.values(&[]), (Value::Null, None));
    }

    #[test]
    fn binds_only_its_forms() {
        let d = Dialect::writes(&[WriteForm::Base64], OtherWriteForm::BindingError);
        assert_eq!(d.bind("P", &json!(["MAE="])).unwrap(), vec![vec![0x30, 1]]);
        assert!(d.bind("P", &json!([{"Data": "MAE="}])).is_err());
        let d = Dialect::writes(&[WriteForm::DataIntegers], OtherWriteForm::StoreJsonText);
        assert_eq!(
            d.bind("P", &json!([{"Data": [48, 1]}])).unwrap(),
            vec![vec![0x30, 1]]
        );
        assert_eq!(
            d.bind("P", &json!(["MAE="])).unwrap(),
            vec![b"\"MAE=\"".to_vec()]
        );
        assert!(Dialect::default()
            .bind("P", &json!([{"Data": ""}]))
            .is_err());
        assert!(Dialect::default()
            .bind("P", &json!({"Data": "MAE="}))
            .is_err());
    }
}
