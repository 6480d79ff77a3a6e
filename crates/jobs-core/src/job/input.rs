//! A job's input, inline in the record or stored apart.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Inputs larger than this (bytes of JSON text) are stored apart, under their own key.
pub const INLINE_INPUT_MAX: usize = 8 * 1024;

/// A job's input. A job just submitted also keeps the exact JSON text its input came in,
/// and its record is written with that text: encoding the input again (escaping every
/// byte of a large base64 image) was the largest cost of acknowledging a `thumbnail`.
/// Read back from a record, an input holds the parsed value only.
///
/// An input larger than [`INLINE_INPUT_MAX`] is stored *apart*, under its
/// own key (`i:`), written once at submit: the record, which every status poll reads and
/// every transition rewrites, stays small. Such a record holds `"input": null` and
/// `"input_apart": true`; the worker loads the input's text before it runs the job, and
/// parses it only then ([`JobInput::value`]): a tree of `serde_json::Value`s takes up to
/// 24 bytes per 2 of JSON on wasm32 (`[0,0,…]`), so a batch of inputs parsed at once
/// would hold twelve times or more the bytes it read.
#[derive(Debug, Clone)]
pub struct JobInput {
    /// The parsed input; `None` when only `text` holds it (stored apart, loaded).
    value: Option<serde_json::Value>,
    text: Option<Box<RawValue>>,
    apart: bool,
}

impl JobInput {
    /// An input as submitted: `text` is the JSON that `value` was parsed from.
    pub fn submitted(value: serde_json::Value, text: Box<RawValue>) -> Self {
        let apart = text.get().len() > INLINE_INPUT_MAX;
        JobInput {
            value: Some(value),
            text: Some(text),
            apart,
        }
    }

    /// An input made here rather than submitted (a retry's copy of a finished job's):
    /// stored apart or inline by its encoded size, as a submitted one.
    pub fn new(value: serde_json::Value) -> Self {
        let text = serde_json::value::to_raw_value(&value).expect("a JSON value always serializes");
        JobInput::submitted(value, text)
    }

    /// The input of a record that says it is stored apart, not loaded yet (`null`).
    pub fn apart() -> Self {
        JobInput {
            value: Some(serde_json::Value::Null),
            text: None,
            apart: true,
        }
    }

    /// Whether the input is stored under its own key rather than in the record.
    pub fn is_apart(&self) -> bool {
        self.apart
    }

    /// Gives an input stored apart its text, read from its key; it is parsed when
    /// [`JobInput::value`] asks.
    pub fn load(&mut self, text: Box<RawValue>) {
        self.value = None;
        self.text = Some(text);
    }

    /// The JSON text of the input: as submitted or loaded when known, else encoded from
    /// the value.
    pub fn to_json(&self) -> Vec<u8> {
        // The raw value's own buffer, handed over without another copy.
        Box::<str>::from(self.to_raw())
            .into_boxed_bytes()
            .into_vec()
    }

    /// The input's JSON text, without parsing it: the text held, else the value encoded.
    pub fn to_raw(&self) -> Box<RawValue> {
        match (&self.text, &self.value) {
            (Some(text), _) => text.clone(),
            (None, value) => {
                let null = serde_json::Value::Null;
                serde_json::value::to_raw_value(value.as_ref().unwrap_or(&null))
                    .expect("a JSON value always serializes")
            }
        }
    }

    /// The input as a JSON value: borrowed when parsed already, else parsed from its text
    /// now (a loaded input stored apart; each call parses again, so take it once). `Err`
    /// when that text does not parse as a value (deeper than the parser's limit).
    pub fn value(&self) -> Result<Cow<'_, serde_json::Value>, serde_json::Error> {
        match (&self.value, &self.text) {
            (Some(value), _) => Ok(Cow::Borrowed(value)),
            (None, Some(text)) => serde_json::from_str(text.get()).map(Cow::Owned),
            (None, None) => Ok(Cow::Owned(serde_json::Value::Null)),
        }
    }
}

/// Why job `id` cannot have its input, stored apart: its text `e` says.
pub fn unreadable_input(id: &super::JobId, e: impl std::fmt::Display) -> String {
    format!("the stored input of job {id} is unreadable: {e}")
}

impl From<serde_json::Value> for JobInput {
    fn from(value: serde_json::Value) -> Self {
        JobInput {
            value: Some(value),
            text: None,
            apart: false,
        }
    }
}

/// Inputs are equal when their values and places are: the text is only how it was
/// written. (An input whose text does not parse equals none.)
impl PartialEq for JobInput {
    fn eq(&self, other: &Self) -> bool {
        match (self.value(), other.value()) {
            (Ok(a), Ok(b)) => a == b && self.apart == other.apart,
            _ => false,
        }
    }
}

/// In a record: the input itself, or `null` when it is stored apart.
impl Serialize for JobInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (&self.text, &self.value) {
            _ if self.apart => serializer.serialize_unit(),
            (Some(text), _) => text.serialize(serializer),
            (None, Some(value)) => value.serialize(serializer),
            (None, None) => serializer.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for JobInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(JobInput::from)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::codec;

    #[test]
    fn an_input_loaded_as_text_is_parsed_only_when_its_value_is_asked_for() {
        let text = r#"{ "a" : [0,0,0], "s": "\u00e9" }"#;
        let mut input = JobInput::apart();
        input.load(codec::decode_input(text.as_bytes().to_vec()).unwrap());
        // Held as text: written back byte for byte, parsed on each ask.
        assert_eq!(input.to_json(), text.as_bytes());
        assert_eq!(input.to_raw().get(), text);
        assert!(matches!(input.value(), Ok(Cow::Owned(_))));
        assert_eq!(*input.value().unwrap(), json!({"a": [0, 0, 0], "s": "é"}));
        assert!(input.is_apart());
        // A value read from a record is lent, not parsed again.
        let inline = JobInput::from(json!({"n": 1}));
        assert!(matches!(inline.value(), Ok(Cow::Borrowed(_))));
        assert_eq!(inline.to_raw().get(), r#"{"n":1}"#);
    }

    #[test]
    fn stored_text_that_is_not_json_is_refused_when_read_and_too_deep_when_parsed() {
        assert!(codec::decode_input(b"{\"a\":".to_vec()).is_err());
        assert!(codec::decode_input(vec![b'"', 0xff, b'"']).is_err());
        // Checking the text does not build the tree, so it takes any depth; the parse
        // for the run stops at serde_json's limit, and the job fails rather than the worker.
        let deep = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
        let mut input = JobInput::apart();
        input.load(codec::decode_input(deep.into_bytes()).unwrap());
        assert!(input.value().is_err());
    }
}
