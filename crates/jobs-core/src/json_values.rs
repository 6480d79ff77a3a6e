//! How many values a JSON text holds, counted without parsing it and weighed by what
//! they cost parsed: the bound that keeps a submission's memory in proportion to what it
//! may cost once parsed. A tree of `serde_json::Value`s takes 24 bytes a value on wasm32
//! and more while its vectors grow, so `[0,0,…]` costs twelve times its text or more; an
//! object is a B-tree whose first node alone takes about 408 bytes, so `[{"a":0},…]`
//! costs some fifty times its text; and a checked input is parsed more than once (a
//! tree, then the kind's own types).

/// Most JSON values a submission's body may hold (every array, object, string, number,
/// boolean and null, nested ones included; an object weighs [`OBJECT_WEIGHT`] and each of
/// its members [`MEMBER_WEIGHT`] more): about 24 MiB of tree. A body of 2 MiB of
/// `[0,0,…]` is just within, as is 400 KiB of `[{"a":0},…]`; an image as base64 is one
/// string.
pub const MAX_VALUES: usize = 1 << 20;

/// What an object weighs beyond its one value: its B-tree's first node, about 408 bytes
/// on wasm32 however few members it has, is 17 values' worth.
pub const OBJECT_WEIGHT: usize = 16;

/// What an object's member weighs beyond its value: its share of the B-tree's nodes
/// (from 37 to 74 bytes, as they are half to wholly full) and its key.
pub const MEMBER_WEIGHT: usize = 2;

/// Deepest nesting of arrays and objects a submission's body may have. A job's input
/// sits a few levels deeper in its record and its webhook event, and those are read back
/// by a parser that stops at 128 levels: a body accepted must stay readable.
pub const MAX_DEPTH: usize = 64;

/// How many values `text` holds, at most, weighed: one for the whole, and one more for
/// every array or object opened and every `,` between elements or members, outside
/// strings; an object and each `:` weigh more ([`OBJECT_WEIGHT`], [`MEMBER_WEIGHT`]).
/// Exact for arrays of scalars and arrays without empty ones (each counts one more than
/// it holds), and cheap, a pass over the bytes with no allocation. Not a validator: text
/// that is not JSON gets some count, and its parse refuses it afterwards.
pub fn count(text: &[u8]) -> usize {
    measure(text).values
}

/// What [`measure`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The weighed count of values ([`count`]).
    pub values: usize,
    /// The deepest nesting of arrays and objects, outside strings (`0` for a scalar).
    pub depth: usize,
}

/// [`count`] and the deepest nesting of `text`, in the same pass.
pub fn measure(text: &[u8]) -> Measure {
    let mut count = 1;
    let (mut depth, mut deepest) = (0usize, 0);
    let mut at = 0;
    while let Some(b) = text.get(at) {
        at += 1;
        match b {
            // A string: skip to its closing quote, past escapes, a word at a time (an
            // image as base64 is one long string).
            b'"' => loop {
                match memchr::memchr2(b'"', b'\\', &text[at.min(text.len())..]) {
                    Some(i) if text[at + i] == b'\\' => at += i + 2,
                    Some(i) => {
                        at += i + 1;
                        break;
                    }
                    None => {
                        return Measure {
                            values: count,
                            depth: deepest,
                        };
                    }
                }
            },
            b'[' | b'{' => {
                count += if *b == b'{' { 1 + OBJECT_WEIGHT } else { 1 };
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => count += 1,
            b':' => count += MEMBER_WEIGHT,
            _ => {}
        }
    }
    Measure {
        values: count,
        depth: deepest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a parser finds in `text`, keys of objects not counted, objects and
    /// their members weighed as [`count`] weighs them.
    fn parsed(text: &str) -> usize {
        fn walk(v: &serde_json::Value) -> usize {
            1 + match v {
                serde_json::Value::Array(a) => a.iter().map(walk).sum(),
                serde_json::Value::Object(o) => {
                    OBJECT_WEIGHT + o.values().map(|v| MEMBER_WEIGHT + walk(v)).sum::<usize>()
                }
                _ => 0,
            }
        }
        walk(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn the_count_is_the_parsers_and_never_below_it() {
        for text in [
            "0",
            r#""a,b[c{""#,
            r#"[0,0,0]"#,
            r#"{"kind":"echo","input":{"a":[1,2.5,"x"],"b":{"c":null}}}"#,
            r#"["\"", "\\", "\\\"[,", "é,"]"#,
            " [ 1 , [ 2 , 3 ] , { \"k\" : true } ] ",
        ] {
            assert_eq!(count(text.as_bytes()), parsed(text), "{text}");
        }
        // An empty array or object counts one more than it holds: an upper bound.
        for text in ["[]", "{}", "[[],{}]", r#"{"a":[]}"#] {
            assert!(count(text.as_bytes()) > parsed(text), "{text}");
        }
        let zeros = format!("[{}0]", "0,".repeat(999));
        assert_eq!(count(zeros.as_bytes()), 1_001);
        // Not JSON: some count (an unclosed string ends it), never a panic.
        for text in ["\"", "\"\\", "[\"a\\", "[\"a\\\"", ",,\"", ""] {
            let _ = count(text.as_bytes());
        }
        assert_eq!(count(b"[1,\"a"), 3);
        // Small objects weigh what their nodes cost: a member-less array would count 3.
        assert_eq!(
            count(br#"[{"a":0},{"a":0}]"#),
            1 + 2 * (1 + OBJECT_WEIGHT + MEMBER_WEIGHT + 1)
        );
    }

    #[test]
    fn the_depth_is_the_deepest_nesting_outside_strings() {
        for (text, depth) in [
            ("0", 0),
            ("[]", 1),
            (r#"{"a":[1,{"b":[]}],"c":{}}"#, 4),
            (r#"["[[[{{{", "\"[[["]"#, 1),
            ("[[]],[[[]]]", 3),
        ] {
            assert_eq!(measure(text.as_bytes()).depth, depth, "{text}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(measure(deep.as_bytes()).depth, 200);
        // Not JSON: some depth, never a panic or an underflow.
        assert_eq!(measure(b"]]][").depth, 1);
    }
}
