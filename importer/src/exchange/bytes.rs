//! The one place where a certificate value (a byte array) is turned into JSON
//! for InvokeCommand and back.
//!
//! certferry's choice (docs/exchange-wire-protocol.md, "Byte arrays"): a value is
//! `{"Data":"<standard base64 with padding>"}` and an attribute is a JSON array of
//! these. The service metadata types the properties as a collection of
//! `ByteArrayType {Data: Collection(Edm.Byte)}`; whether the real service wants
//! `Data` as a base64 string or as an array of integers is not confirmed publicly,
//! so if that turns out different, this file (and the simulator) is what changes.
//!
//! Decoding is strict: exactly one member `Data`, a string of canonical standard
//! base64 (padding required, no whitespace, no stray bits). A value that is not
//! exactly what we write is an error, never a guess.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Why a JSON value is not a byte array in certferry's encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte array: {0}")]
pub struct BytesError(String);

/// One byte array as `{"Data":"<base64>"}`.
pub fn encode(bytes: &[u8]) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert("Data".to_owned(), Value::String(STANDARD.encode(bytes)));
    Value::Object(map)
}

/// One byte array from `{"Data":"<base64>"}`, strictly.
pub fn decode(value: &Value) -> Result<Vec<u8>, BytesError> {
    let Value::Object(map) = value else {
        return Err(BytesError(format!(
            "expected an object {{\"Data\": \"<base64>\"}}, found {}",
            kind(value)
        )));
    };
    if let Some(other) = map.keys().find(|k| k.as_str() != "Data") {
        return Err(BytesError(format!("unexpected member {other:?}")));
    }
    match map.get("Data") {
        Some(Value::String(s)) => STANDARD
            .decode(s)
            .map_err(|e| BytesError(format!("Data is not canonical standard base64: {e}"))),
        Some(other) => Err(BytesError(format!(
            "Data must be a base64 string, found {}",
            kind(other)
        ))),
        None => Err(BytesError("missing member Data".to_owned())),
    }
}

/// An attribute's complete value set as a JSON array of encoded values.
pub fn encode_set(values: &[Vec<u8>]) -> Value {
    Value::Array(values.iter().map(|v| encode(v)).collect())
}

/// An attribute's values from a JSON array; `null` (what the service shows for an
/// attribute without values) is the empty set.
pub fn decode_set(value: &Value) -> Result<Vec<Vec<u8>>, BytesError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| decode(v).map_err(|BytesError(e)| BytesError(format!("value {i}: {e}"))))
            .collect(),
        other => Err(BytesError(format!(
            "expected an array of values, found {}",
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

    #[test]
    fn encodes_as_data_with_padded_standard_base64() {
        assert_eq!(encode(&[0x30, 0x82, 0xff]), json!({"Data": "MIL/"}));
        assert_eq!(encode(&[0xfb, 0xff]), json!({"Data": "+/8="}));
        assert_eq!(encode(&[]), json!({"Data": ""}));
        assert_eq!(
            serde_json::to_string(&encode(b"a")).unwrap(),
            r#"{"Data":"YQ=="}"#
        );
    }

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        for len in [0, 1, 2, 3, 4, 255, 256] {
            let v = &all[..len];
            assert_eq!(decode(&encode(v)).unwrap(), v);
        }
        let set = vec![vec![1, 2, 3], vec![], all.clone()];
        assert_eq!(decode_set(&encode_set(&set)).unwrap(), set);
    }

    #[test]
    fn decode_is_strict() {
        for bad in [
            json!("YQ=="),
            json!({"Data": "YQ"}),
            json!({"Data": "YR=="}),
            json!({"Data": "Y Q=="}),
            json!({"Data": "-_8="}),
            json!({"Data": [97]}),
            json!({"Data": null}),
            json!({}),
            json!({"Data": "YQ==", "Length": 1}),
            json!([{"Data": "YQ=="}]),
        ] {
            assert!(decode(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn decode_set_accepts_null_and_names_the_bad_value() {
        assert_eq!(decode_set(&Value::Null).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(decode_set(&json!([])).unwrap(), Vec::<Vec<u8>>::new());
        let err = decode_set(&json!([{"Data": "YQ=="}, {"Data": "!"}])).unwrap_err();
        assert!(err.to_string().contains("value 1"), "{err}");
        assert!(decode_set(&json!({"Data": "YQ=="})).is_err());
    }
}
