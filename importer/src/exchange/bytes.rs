//! The one place where a certificate value (a byte array) is turned into JSON
//! for InvokeCommand and back.
//!
//! **Strict in what we send, liberal in what we read** (docs/exchange-wire-protocol.md,
//! "Byte arrays"):
//!
//! - Reading accepts every form the public facts allow. A public capture of a real
//!   InvokeCommand response annotates the properties `#Collection(String)`: each value
//!   is a base64 string. The service metadata types them as a collection of
//!   `ByteArrayType {Data: Collection(Edm.Byte)}`, so `{"Data": "<base64>"}` and
//!   `{"Data": [48, 130, …]}` are read too. Base64 may be standard or URL-safe, padded
//!   or not; an item may carry `@odata.type` (or any other `@`-annotation). `null`
//!   and `[]` are the empty set. Anything else is an error, never a guess.
//! - Writing uses exactly one [`WriteForm`], a tenant setting whose default is
//!   [`WriteForm::DataBase64`]: what a C# client serialising `ByteArrayType` writes
//!   (Json.NET writes a `byte[]` as a base64 string). Which form the service binds
//!   is not confirmed publicly; `apply` proves it on its first write (read back and
//!   compare) and tries the others on that one recipient if it does not round-trip.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Why a JSON value is not a byte array in any form the service is known to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte array: {0}")]
pub struct BytesError(String);

/// How certificate values are written into `Set-*` parameters (tenant setting
/// `write_form`). Every form is read whatever this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum WriteForm {
    /// `{"Data":"<standard base64 with padding>"}` (the default).
    #[default]
    DataBase64,
    /// `{"Data":[48,130,…]}`: `Collection(Edm.Byte)` as JSON numbers (what
    /// PowerShell's `ConvertTo-Json` makes of a `byte[]`).
    DataIntegers,
    /// `"<standard base64 with padding>"`: the form the service uses in its answers.
    Base64,
}

impl WriteForm {
    /// Every form, the default first: the order in which `apply` tries them.
    pub const ALL: [WriteForm; 3] = [Self::DataBase64, Self::DataIntegers, Self::Base64];

    /// The setting's value in `tenant.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataBase64 => "data-base64",
            Self::DataIntegers => "data-integers",
            Self::Base64 => "base64",
        }
    }

    /// The form a `tenant.toml` value names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// One byte array in this form.
    pub fn encode(self, bytes: &[u8]) -> Value {
        match self {
            Self::DataBase64 => data(Value::String(STANDARD.encode(bytes))),
            Self::DataIntegers => data(Value::Array(
                bytes.iter().map(|&b| Value::from(b)).collect(),
            )),
            Self::Base64 => Value::String(STANDARD.encode(bytes)),
        }
    }

    /// An attribute's complete value set as a JSON array of values in this form.
    pub fn encode_set(self, values: &[Vec<u8>]) -> Value {
        Value::Array(values.iter().map(|v| self.encode(v)).collect())
    }
}

impl fmt::Display for WriteForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn data(inner: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert("Data".to_owned(), inner);
    Value::Object(map)
}

/// Which form a value that was read had: what `doctor` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadForm {
    /// A bare base64 string.
    String {
        /// URL-safe alphabet (`-`, `_`) rather than standard (`+`, `/`).
        url_safe: bool,
        /// Ended with `=` padding (or needed none).
        padded: bool,
    },
    /// `{"Data": "<base64>"}`.
    DataString {
        /// The object carried `@`-annotations (`@odata.type`).
        annotated: bool,
    },
    /// `{"Data": [integers]}`.
    DataIntegers {
        /// The object carried `@`-annotations (`@odata.type`).
        annotated: bool,
    },
}

impl fmt::Display for ReadForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let note = |a: bool| if a { " with @odata.type" } else { "" };
        match *self {
            Self::String { url_safe, padded } => write!(
                f,
                "base64 strings ({}, {})",
                if url_safe { "URL-safe" } else { "standard" },
                if padded { "padded" } else { "unpadded" }
            ),
            Self::DataString { annotated } => {
                write!(f, "{{\"Data\": base64}} objects{}", note(annotated))
            }
            Self::DataIntegers { annotated } => {
                write!(f, "{{\"Data\": [integers]}} objects{}", note(annotated))
            }
        }
    }
}

/// Base64 with either padding: the standard alphabet.
const LIBERAL_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Base64 with either padding: the URL-safe alphabet.
const LIBERAL_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes base64 in either alphabet (not both in one string), padded or not.
fn liberal_base64(s: &str) -> Result<(Vec<u8>, bool, bool), String> {
    let url_safe = s.bytes().any(|b| b == b'-' || b == b'_');
    if url_safe && s.bytes().any(|b| b == b'+' || b == b'/') {
        return Err("base64 mixes the standard and URL-safe alphabets".to_owned());
    }
    let engine = if url_safe {
        &LIBERAL_URL_SAFE
    } else {
        &LIBERAL_STANDARD
    };
    let padded = s.ends_with('=') || s.len().is_multiple_of(4);
    engine
        .decode(s)
        .map(|b| (b, url_safe, padded))
        .map_err(|e| format!("not base64: {e}"))
}

/// One byte array in any known form, with the form it had.
pub fn decode(value: &Value) -> Result<(Vec<u8>, ReadForm), BytesError> {
    match value {
        Value::String(s) => {
            let (bytes, url_safe, padded) = liberal_base64(s).map_err(BytesError)?;
            Ok((bytes, ReadForm::String { url_safe, padded }))
        }
        Value::Object(map) => {
            let mut annotated = false;
            for k in map.keys() {
                if k.contains('@') {
                    annotated = true;
                } else if k != "Data" {
                    return Err(BytesError(format!(
                        "unexpected member {k:?} (known forms: a base64 string, {{\"Data\": base64}}, {{\"Data\": [integers]}})"
                    )));
                }
            }
            match map.get("Data") {
                Some(Value::String(s)) => {
                    let (bytes, _, _) =
                        liberal_base64(s).map_err(|e| BytesError(format!("Data is {e}")))?;
                    Ok((bytes, ReadForm::DataString { annotated }))
                }
                Some(Value::Array(items)) => {
                    let bytes = items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            v.as_u64()
                                .and_then(|n| u8::try_from(n).ok())
                                .ok_or_else(|| {
                                    BytesError(format!("Data[{i}] is not an integer 0..255"))
                                })
                        })
                        .collect::<Result<Vec<u8>, _>>()?;
                    Ok((bytes, ReadForm::DataIntegers { annotated }))
                }
                Some(other) => Err(BytesError(format!(
                    "Data must be a base64 string or an array of integers, found {}",
                    kind(other)
                ))),
                None => Err(BytesError("an object without a Data member".to_owned())),
            }
        }
        other => Err(BytesError(format!(
            "expected a base64 string or an object {{\"Data\": …}}, found {}",
            kind(other)
        ))),
    }
}

/// An attribute's values from a JSON array (or `null`, the empty set), with
/// every form seen reported to `seen`.
pub fn decode_set(
    value: &Value,
    mut seen: impl FnMut(ReadForm),
) -> Result<Vec<Vec<u8>>, BytesError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (bytes, form) =
                    decode(v).map_err(|BytesError(e)| BytesError(format!("value {i}: {e}")))?;
                seen(form);
                Ok(bytes)
            })
            .collect(),
        other => Err(BytesError(format!(
            "expected an array of values or null, found {}",
            kind(other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: &Value) -> Vec<u8> {
        decode(v).unwrap_or_else(|e| panic!("{v}: {e}")).0
    }

    #[test]
    fn each_write_form_has_its_one_shape() {
        let v = [0x30, 0x82, 0xff];
        assert_eq!(WriteForm::DataBase64.encode(&v), json!({"Data": "MIL/"}));
        assert_eq!(
            WriteForm::DataIntegers.encode(&v),
            json!({"Data": [48, 130, 255]})
        );
        assert_eq!(WriteForm::Base64.encode(&v), json!("MIL/"));
        assert_eq!(
            WriteForm::DataBase64.encode(&[0xfb, 0xff]),
            json!({"Data": "+/8="})
        );
        assert_eq!(
            serde_json::to_string(&WriteForm::default().encode(b"a")).unwrap(),
            r#"{"Data":"YQ=="}"#
        );
        for f in WriteForm::ALL {
            assert_eq!(WriteForm::parse(f.as_str()), Some(f));
        }
        assert_eq!(WriteForm::parse("Data-Base64"), None);
    }

    #[test]
    fn every_write_form_reads_back_to_the_same_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        for form in WriteForm::ALL {
            for len in [0, 1, 2, 3, 4, 255, 256] {
                let v = &all[..len];
                assert_eq!(bytes(&form.encode(v)), v, "{form} {len}");
            }
            let set = vec![vec![1, 2, 3], vec![], all.clone()];
            assert_eq!(decode_set(&form.encode_set(&set), |_| {}).unwrap(), set);
        }
    }

    #[test]
    fn reads_every_form_the_public_facts_allow() {
        // 0xfb 0xff 0xfe: both alphabets differ in these bytes ("+//+" vs "-__-").
        let want = vec![0xfb, 0xff, 0xfe];
        for (v, form) in [
            (
                json!("+//+"),
                ReadForm::String {
                    url_safe: false,
                    padded: true,
                },
            ),
            (
                json!("-__-"),
                ReadForm::String {
                    url_safe: true,
                    padded: true,
                },
            ),
            (
                json!({"Data": "+//+"}),
                ReadForm::DataString { annotated: false },
            ),
            (
                json!({"Data": "-__-"}),
                ReadForm::DataString { annotated: false },
            ),
            (
                json!({"@odata.type": "#Exchange.ByteArrayType", "Data": "+//+"}),
                ReadForm::DataString { annotated: true },
            ),
            (
                json!({"Data": [251, 255, 254]}),
                ReadForm::DataIntegers { annotated: false },
            ),
            (
                json!({"Data@odata.type": "#Collection(Byte)", "Data": [251, 255, 254]}),
                ReadForm::DataIntegers { annotated: true },
            ),
        ] {
            assert_eq!(decode(&v).unwrap(), (want.clone(), form), "{v}");
        }
        // Padded and unpadded, in both alphabets.
        let a = vec![0xfb];
        for s in ["+w==", "+w", "-w==", "-w"] {
            assert_eq!(bytes(&json!(s)), a, "{s}");
            assert_eq!(bytes(&json!({ "Data": s })), a, "{s}");
        }
        assert_eq!(
            decode(&json!("+w")).unwrap().1,
            ReadForm::String {
                url_safe: false,
                padded: false
            }
        );
    }

    #[test]
    fn null_and_empty_arrays_are_the_empty_set() {
        let mut seen = Vec::new();
        assert!(decode_set(&Value::Null, |f| seen.push(f))
            .unwrap()
            .is_empty());
        assert!(decode_set(&json!([]), |f| seen.push(f)).unwrap().is_empty());
        assert!(seen.is_empty());
        let set = decode_set(&json!(["MAE=", {"Data": [48, 1]}]), |f| seen.push(f)).unwrap();
        assert_eq!(set, vec![vec![0x30, 0x01], vec![0x30, 0x01]]);
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn unknown_forms_are_errors_never_guesses() {
        for bad in [
            json!({"Data": "YR=="}), // stray bits
            json!("Y Q=="),
            json!("+-=="), // two alphabets
            json!({"Data": [256]}),
            json!({"Data": [-1]}),
            json!({"Data": [1.5]}),
            json!({"Data": ["1"]}),
            json!({"Data": null}),
            json!({}),
            json!({"@odata.type": "#Exchange.ByteArrayType"}),
            json!({"Data": "YQ==", "Length": 1}),
            json!([97]),
            json!(97),
            json!(true),
            Value::Null,
        ] {
            assert!(decode(&bad).is_err(), "{bad} was accepted");
        }
        let err = decode_set(&json!(["YQ==", {"Data": "!"}]), |_| {}).unwrap_err();
        assert!(err.to_string().contains("value 1"), "{err}");
        assert!(decode_set(&json!({"Data": "YQ=="}), |_| {}).is_err());
        assert!(decode_set(&json!("YQ=="), |_| {}).is_err());
    }
}
