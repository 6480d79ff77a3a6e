//! The built-in job kinds, one file each, the registry of kinds by name, and the small
//! input-reading helpers they share. Adding a kind: a new file here and one line in
//! `builtin_kinds!` (docs/kinds.md walks through it), or in [`test_only`] for a kind that
//! exists to test the pipeline and must stay off in production.

use std::ops::RangeInclusive;

use crate::kind::{InvalidInput, JobKind, Kind};

/// Declares each built-in kind's module and lists it in [`builtin`]: adding a kind is
/// its file in this directory and one line here (docs/kinds.md).
macro_rules! builtin_kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every kind a deployment offers by default.
        pub fn builtin() -> Vec<Box<dyn Kind>> {
            vec![$(Box::new($module::$kind)),*]
        }

        /// Shows `visitor` every built-in kind as its type (the OpenAPI description
        /// reads each one's input and result types this way).
        pub fn visit_builtin(visitor: &mut impl KindVisitor) {
            $(visitor.visit::<$module::$kind>();)*
        }
    };
}

/// Something that looks at kinds by type: see [`visit_builtin`].
pub trait KindVisitor {
    fn visit<K: JobKind>(&mut self);
}

builtin_kinds! {
    echo::Echo,
    fail::Fail,
    hash::Hash,
    sleep::Sleep,
    thumbnail::Thumbnail,
}

pub mod count;
mod registry;

pub use registry::Registry;

/// The walk-through of docs/kinds.md, whose examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../../docs/kinds.md")]
pub struct WritingAKind;

/// Kinds for testing the pipeline itself, offered only when the `enable_test_kinds`
/// variable is `true` (see `Registry::for_settings`).
pub fn test_only() -> Vec<Box<dyn Kind>> {
    vec![Box::new(count::Count)]
}

/// `value` of the field `name` within `range`, or an error that says the range.
pub fn in_range(name: &str, value: u64, range: RangeInclusive<u64>) -> Result<u64, InvalidInput> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(InvalidInput::field(
            name,
            format!(
                "must be an integer from {} to {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// Base64 as clients send it, as a JSON Schema pattern: the standard alphabet, padding
/// optional.
pub const BASE64_PATTERN: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$";

/// Base64 as clients send it: the standard alphabet, padding optional, and the unused
/// bits of the last character ignored (exactly what [`BASE64_PATTERN`] accepts).
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_range_says_the_range() {
        assert_eq!(in_range("n", 5, 1..=10), Ok(5));
        let err = in_range("n", 11, 1..=10).unwrap_err();
        assert_eq!(err.to_string(), "input.n: must be an integer from 1 to 10");
    }

    #[test]
    fn base64_is_accepted_with_or_without_padding() {
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YWI").unwrap(), b"ab");
        assert!(decode_base64("Y*I").is_err());
    }
}
