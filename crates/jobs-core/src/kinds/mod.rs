//! The built-in job kinds, one file each, and the small input-reading helpers they
//! share. Adding a kind: a new file here and one line in [`builtin`] (or in [`test_only`]
//! for a kind that exists to test the pipeline and must stay off in production).

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::kind::{InvalidInput, Kind, RunError};

pub mod count;
pub mod echo;
pub mod fail;
pub mod hash;
mod registry;
pub mod sleep;
pub mod thumbnail;

pub use registry::Registry;

/// Every kind a deployment offers by default.
pub fn builtin() -> Vec<Box<dyn Kind>> {
    vec![
        Box::new(echo::Echo),
        Box::new(fail::Fail),
        Box::new(hash::Hash),
        Box::new(sleep::Sleep),
        Box::new(thumbnail::Thumbnail),
    ]
}

/// Kinds for testing the pipeline itself, offered only when the `enable_test_kinds`
/// variable is `true` (see `Registry::for_settings`).
pub fn test_only() -> Vec<Box<dyn Kind>> {
    vec![Box::new(count::Count)]
}

/// At run time the input has passed `validate`; if it no longer does (the kind's rules
/// changed between intake and run), retrying cannot help.
pub(crate) fn revalidation_failed(e: InvalidInput) -> RunError {
    RunError::Permanent(format!("the stored input is no longer valid: {e}"))
}

/// A kind's input object, with its fields checked against the names the kind knows so
/// a misspelt option is an error rather than silently ignored. A `null` field counts as
/// absent.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(input: &'a Value, known: &[&str]) -> Result<Fields<'a>, InvalidInput> {
        let map = input
            .as_object()
            .ok_or_else(|| InvalidInput::whole("must be a JSON object"))?;
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = if known.is_empty() {
                "this kind takes no fields".to_owned()
            } else {
                format!("unknown field; expected one of: {}", known.join(", "))
            };
            return Err(InvalidInput::field(
                unknown.chars().take(64).collect::<String>(),
                expected,
            ));
        }
        Ok(Fields { map })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// An integer field within `range`; `default` when absent, or an error when absent
    /// and `default` is `None` (required).
    pub(crate) fn u64_in(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
        default: Option<u64>,
    ) -> Result<u64, InvalidInput> {
        let out_of_range = || {
            InvalidInput::field(
                name,
                format!(
                    "must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        };
        match self.get(name) {
            None => default.ok_or_else(|| {
                InvalidInput::field(
                    name,
                    format!(
                        "is required (an integer from {} to {})",
                        range.start(),
                        range.end()
                    ),
                )
            }),
            Some(v) => v
                .as_u64()
                .filter(|n| range.contains(n))
                .ok_or_else(out_of_range),
        }
    }

    pub(crate) fn bool_or(&self, name: &str, default: bool) -> Result<bool, InvalidInput> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| InvalidInput::field(name, "must be true or false")),
        }
    }

    pub(crate) fn str_opt(&self, name: &str) -> Result<Option<&'a str>, InvalidInput> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| InvalidInput::field(name, "must be a string")),
        }
    }
}

/// Base64 as clients send it: the standard alphabet, padding optional.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_refuse_non_objects_and_unknown_names() {
        let err = Fields::of(&json!([1]), &["a"]).err().unwrap();
        assert_eq!(err.to_string(), "input: must be a JSON object");
        let err = Fields::of(&json!({"a": 1, "b": 2}), &["a"]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "input.b: unknown field; expected one of: a"
        );
    }

    #[test]
    fn integer_fields_check_presence_type_and_range() {
        let input = json!({"n": 5, "s": "5", "neg": -1, "null": null});
        let f = Fields::of(&input, &["n", "s", "neg", "null"]).unwrap();
        assert_eq!(f.u64_in("n", 1..=10, None), Ok(5));
        assert!(f.u64_in("n", 6..=10, None).is_err());
        assert!(f.u64_in("s", 1..=10, None).is_err());
        assert!(f.u64_in("neg", 0..=10, None).is_err());
        assert_eq!(f.u64_in("null", 0..=10, Some(3)), Ok(3));
        let err = f.u64_in("missing", 0..=10, None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("missing"));
        assert!(err.reason.starts_with("is required"));
    }

    #[test]
    fn base64_is_accepted_with_or_without_padding() {
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YWI").unwrap(), b"ab");
        assert!(decode_base64("Y*I").is_err());
    }
}
