//! A job's input, inline in the record or stored apart.

use serde::{Deserialize, Serialize};

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
/// `"input_apart": true`; the worker loads the value before it runs the job.
#[derive(Debug, Clone)]
pub struct JobInput {
    value: serde_json::Value,
    text: Option<Box<serde_json::value::RawValue>>,
    apart: bool,
}

impl JobInput {
    /// An input as submitted: `text` is the JSON that `value` was parsed from.
    pub fn submitted(value: serde_json::Value, text: Box<serde_json::value::RawValue>) -> Self {
        let apart = text.get().len() > INLINE_INPUT_MAX;
        JobInput {
            value,
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
            value: serde_json::Value::Null,
            text: None,
            apart: true,
        }
    }

    /// Whether the input is stored under its own key rather than in the record.
    pub fn is_apart(&self) -> bool {
        self.apart
    }

    /// Gives an input stored apart its value, read from its key.
    pub fn load(&mut self, value: serde_json::Value) {
        self.value = value;
        self.text = None;
    }

    /// The JSON text of the input: as submitted when known, else encoded from the value.
    pub fn to_json(&self) -> Vec<u8> {
        match &self.text {
            Some(text) => text.get().as_bytes().to_vec(),
            None => serde_json::to_vec(&self.value).expect("a JSON value always serializes"),
        }
    }

    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }
}

impl From<serde_json::Value> for JobInput {
    fn from(value: serde_json::Value) -> Self {
        JobInput {
            value,
            text: None,
            apart: false,
        }
    }
}

impl std::ops::Deref for JobInput {
    type Target = serde_json::Value;

    fn deref(&self) -> &serde_json::Value {
        &self.value
    }
}

/// Inputs are equal when their values and places are: the text is only how it was
/// written.
impl PartialEq for JobInput {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.apart == other.apart
    }
}

/// In a record: the input itself, or `null` when it is stored apart.
impl Serialize for JobInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.text {
            _ if self.apart => serializer.serialize_unit(),
            Some(text) => text.serialize(serializer),
            None => self.value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for JobInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(JobInput::from)
    }
}
