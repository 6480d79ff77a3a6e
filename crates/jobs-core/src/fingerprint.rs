//! The fingerprint idempotency compares: lowercase hex SHA-256 of a body's canonical
//! JSON (object keys sorted at every level, no whitespace), so a client's re-send that
//! only differs in spacing or key order counts as the same payload.
//!
//! The canonical text is written while the body is parsed, not from a
//! `serde_json::Value` tree of the whole body: on wasm32 a tree costs up to 24 bytes per
//! two bytes of JSON (`[0,0,...]`), and the input's own tree (the kind's check) is held
//! meanwhile. Streaming, arrays and scalars go straight to the output and an object holds
//! only its own members' text until it sorts them: about twice the body at most.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

/// The fingerprint of `body`. A body that is not JSON is fingerprinted as raw bytes (it
/// is refused anyway).
pub fn body_fingerprint(body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    match canonical(body) {
        Some(text) => {
            hasher.update(b"json:");
            hasher.update(text.as_bytes());
        }
        None => {
            hasher.update(b"raw:");
            hasher.update(body);
        }
    }
    hex::encode(hasher.finalize())
}

/// `body`'s canonical JSON, or `None` when it is not one JSON value.
fn canonical(body: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut de = serde_json::Deserializer::from_slice(body);
    Canonical(&mut out).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(out)
}

/// Appends the canonical text of the next value to its string.
struct Canonical<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Canonical<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Canonical<'_> {
    /// Scalars are written as `serde_json` writes them.
    fn scalar<E: de::Error>(&mut self, value: impl serde::Serialize) -> Result<(), E> {
        let text = serde_json::to_string(&value).map_err(E::custom)?;
        self.0.push_str(&text);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Canonical<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push_str("null");
        Ok(())
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        // As a `Value` holds it: a number serde_json cannot hold would be `null`.
        self.scalar(serde_json::Number::from_f64(v))
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push('[');
        let mut first = true;
        loop {
            let mark = self.0.len();
            if !first {
                self.0.push(',');
            }
            if seq.next_element_seed(Canonical(self.0))?.is_none() {
                self.0.truncate(mark);
                break;
            }
            first = false;
        }
        self.0.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut members: Vec<(String, String)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let mut value = String::new();
            map.next_value_seed(Canonical(&mut value))?;
            members.push((key, value));
        }
        // A key given twice keeps its last value, as a parsed object does: the sort is
        // stable, so the last of equal keys is the last of its run.
        members.sort_by(|a, b| a.0.cmp(&b.0));
        self.0.push('{');
        let mut written = 0;
        for (i, (key, value)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if written > 0 {
                self.0.push(',');
            }
            self.scalar::<A::Error>(key.as_str())?;
            self.0.push(':');
            self.0.push_str(value);
            written += 1;
        }
        self.0.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What the fingerprint hashed before it streamed: the body parsed into a `Value`,
    /// then written with its keys sorted. Stored idempotency claims hold fingerprints of
    /// this form, so the streaming text must be the same.
    fn through_a_tree(body: &[u8]) -> Option<String> {
        fn write(value: &Value, out: &mut String) {
            match value {
                Value::Object(map) => {
                    let mut entries: Vec<_> = map.iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    out.push('{');
                    for (i, (k, v)) in entries.into_iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&Value::String(k.clone()).to_string());
                        out.push(':');
                        write(v, out);
                    }
                    out.push('}');
                }
                Value::Array(items) => {
                    out.push('[');
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write(v, out);
                    }
                    out.push(']');
                }
                scalar => out.push_str(&scalar.to_string()),
            }
        }
        let value: Value = serde_json::from_slice(body).ok()?;
        let mut out = String::new();
        write(&value, &mut out);
        Some(out)
    }

    #[test]
    fn the_canonical_text_is_what_a_parsed_tree_wrote() {
        let bodies: &[&str] = &[
            r#"{"kind":"echo","input":{"a":1,"b":[1,2]}}"#,
            "{ \"input\" : { \"b\": [1, 2], \"a\": 1 },\n \"kind\": \"echo\" }",
            r#"{"b\"": "x\n", "a": [true, null, 1.5], "é": "\u00e9\ud83d\ude00"}"#,
            r#"[0, -0, -1, 18446744073709551615, -9223372036854775808, 1e300, 1.0, 0.1, 2.5e-8]"#,
            r#"{"z": {"y": {"x": [{"b": 2, "a": 1}, [], {}]}}, "a": ""}"#,
            r#"{"a": 1, "b": 2, "a": 3}"#,
            r#"{"a": {"k": 1}, "a": [2]}"#,
            r#""just a string""#,
            "123456789012345678901234567890",
            "null",
            "[[[[]]]]",
            r#"{"\u0000\u001f": "\t\"\\/"}"#,
        ];
        for body in bodies {
            let expected = through_a_tree(body.as_bytes()).expect(body);
            assert_eq!(
                canonical(body.as_bytes()).as_deref(),
                Some(&*expected),
                "{body}"
            );
        }
    }

    #[test]
    fn what_a_tree_refuses_is_not_json_here_either() {
        for body in [
            "",
            "not json",
            "{\"a\":1} trailing",
            "[1,]",
            "{\"a\"}",
            "[1] [2]",
        ] {
            assert_eq!(through_a_tree(body.as_bytes()), None, "{body}");
            assert_eq!(canonical(body.as_bytes()), None, "{body}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(through_a_tree(deep.as_bytes()), None);
        assert_eq!(canonical(deep.as_bytes()), None);
    }

    #[test]
    fn the_fingerprint_ignores_whitespace_and_key_order() {
        let a = body_fingerprint(br#"{"kind":"echo","input":{"a":1,"b":[1,2]}}"#);
        let b =
            body_fingerprint(b"{ \"input\" : { \"b\": [1, 2], \"a\": 1 },\n \"kind\": \"echo\" }");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn the_fingerprint_differs_when_the_payload_differs() {
        let a = body_fingerprint(br#"{"kind":"echo","input":{"a":1}}"#);
        let b = body_fingerprint(br#"{"kind":"echo","input":{"a":2}}"#);
        let c = body_fingerprint(br#"{"kind":"echo","input":{"a":"1"}}"#);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            body_fingerprint(b"not json"),
            body_fingerprint(b"not  json")
        );
    }
}
