//! `hash`: SHA-256 or BLAKE3 of the input, optionally iterated. CPU-bound and
//! deterministic: good for benchmarks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kind::{InvalidInput, JobKind, Output, RunContext, RunError, Running};

/// Input: `{"algorithm": "sha256" | "blake3" (default "sha256"), "data": string (its
/// UTF-8 bytes) or "data_base64": string (exactly one of the two), "iterations":
/// 1..=100000 (default 1)}`.
///
/// Result: `{"algorithm", "iterations", "hex"}`. Iteration 1 hashes the data; each
/// further iteration hashes the previous 32-byte digest.
pub struct Hash;

pub const MAX_ITERATIONS: u64 = 100_000;
/// Iterations between two progress reports (each report costs the worker a write).
const REPORT_EVERY: u64 = 25_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Sha256,
    Blake3,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Blake3 => "blake3",
        }
    }

    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            Algorithm::Sha256 => Sha256::digest(data).into(),
            Algorithm::Blake3 => *blake3::hash(data).as_bytes(),
        }
    }
}

/// The input of `hash`: exactly one of `data` and `data_base64`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// Exactly one of the two as a string (null is absent): with `data`, no `data_base64`;
// without it, `data_base64`.
#[schemars(extend(
    "if" = {"required": ["data"], "properties": {"data": {"type": "string"}}},
    "then" = {"not": {"required": ["data_base64"], "properties": {"data_base64": {"type": "string"}}}},
    "else" = {"required": ["data_base64"], "properties": {"data_base64": {"type": "string"}}},
))]
pub struct HashInput {
    #[serde(default)]
    pub algorithm: Algorithm,
    /// The data as text (its UTF-8 bytes); or give `data_base64`.
    pub data: Option<String>,
    /// The data as base64 (standard alphabet, padding optional).
    #[schemars(regex(pattern = super::BASE64_PATTERN), extend("contentEncoding" = "base64"))]
    pub data_base64: Option<String>,
    /// How many times to hash: the data, then each digest again.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = MAX_ITERATIONS))]
    pub iterations: u64,
}

/// The result of `hash`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HashResult {
    pub algorithm: Algorithm,
    pub iterations: u64,
    /// The final digest, 64 lowercase hex digits.
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub hex: String,
}

fn one() -> u64 {
    1
}

impl HashInput {
    /// The bytes to hash.
    fn data(&self) -> Result<Vec<u8>, InvalidInput> {
        match (&self.data, &self.data_base64) {
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, Some(b64)) => super::decode_base64(b64).map_err(|e| {
                InvalidInput::field("data_base64", format!("is not valid base64 ({e})"))
            }),
            (Some(_), Some(_)) => Err(InvalidInput::whole(
                "give either data or data_base64, not both",
            )),
            (None, None) => Err(InvalidInput::whole(
                "data (a string) or data_base64 is required",
            )),
        }
    }
}

impl JobKind for Hash {
    const NAME: &'static str = "hash";
    type Input = HashInput;
    type Result = HashResult;

    fn check(&self, input: &HashInput) -> Result<(), InvalidInput> {
        super::in_range("iterations", input.iterations, 1..=MAX_ITERATIONS)?;
        input.data().map(drop)
    }

    fn run<'a>(&'a self, p: HashInput, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            let data = p.data().map_err(|e| RunError::Permanent(e.to_string()))?;
            let mut digest = p.algorithm.digest(&data);
            for n in 2..=p.iterations {
                digest = p.algorithm.digest(&digest);
                if n % REPORT_EVERY == 0 && n < p.iterations {
                    let percent = u8::try_from(n * 100 / p.iterations).unwrap_or(99);
                    ctx.progress(percent, Some("hashing"))?;
                }
            }
            Ok(Output::json(&HashResult {
                algorithm: p.algorithm,
                iterations: p.iterations,
                hex: hex::encode(digest),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::kind::RunError;
    use crate::kind::testing::{TestContext, finish};
    use serde_json::{Value, json};

    const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const BLAKE3_ABC: &str = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";

    fn run(input: Value) -> Value {
        let out = finish(Kind::run(&Hash, &input, &mut TestContext::new())).unwrap();
        assert_eq!(out.content_type, "application/json");
        serde_json::from_slice(&out.bytes).unwrap()
    }

    #[test]
    fn sha256_of_abc_matches_the_standard_vector() {
        assert_eq!(
            run(json!({"data": "abc"})),
            json!({"algorithm": "sha256", "iterations": 1, "hex": SHA256_ABC})
        );
    }

    #[test]
    fn blake3_of_abc_matches_the_reference_vector() {
        assert_eq!(
            run(json!({"algorithm": "blake3", "data": "abc"}))["hex"],
            BLAKE3_ABC
        );
    }

    #[test]
    fn base64_data_hashes_the_decoded_bytes() {
        assert_eq!(run(json!({"data_base64": "YWJj"}))["hex"], SHA256_ABC);
    }

    #[test]
    fn each_iteration_hashes_the_previous_digest() {
        let once = Sha256::digest(b"abc");
        let twice = Sha256::digest(once);
        assert_eq!(
            run(json!({"data": "abc", "iterations": 2}))["hex"],
            hex::encode(twice)
        );
        // sha256(sha256("abc")), computed independently.
        assert_eq!(
            hex::encode(twice),
            "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358"
        );
        let b1 = blake3::hash(b"abc");
        let b3 = blake3::hash(blake3::hash(b1.as_bytes()).as_bytes());
        assert_eq!(
            run(json!({"algorithm": "blake3", "data": "abc", "iterations": 3}))["hex"],
            b3.to_hex().as_str()
        );
    }

    #[test]
    fn many_iterations_report_progress_and_stop_when_cancelled() {
        let input = json!({"data": "abc", "iterations": MAX_ITERATIONS});
        let mut ctx = TestContext::new();
        finish(Kind::run(&Hash, &input, &mut ctx)).unwrap();
        assert_eq!(ctx.percents(), [25, 50, 75]);
        let mut ctx = TestContext::new().cancelled_after(1);
        assert_eq!(
            finish(Kind::run(&Hash, &input, &mut ctx)),
            Err(RunError::Cancelled)
        );
    }

    #[test]
    fn hash_refuses_bad_input() {
        for (input, field) in [
            (json!({}), None),
            (json!({"data": "a", "data_base64": "YQ=="}), None),
            (json!({"data": 5}), Some("data")),
            (json!({"data_base64": "***"}), Some("data_base64")),
            (json!({"data": "a", "algorithm": "md5"}), Some("algorithm")),
            (json!({"data": "a", "iterations": 0}), Some("iterations")),
            (
                json!({"data": "a", "iterations": 100_001}),
                Some("iterations"),
            ),
            (json!({"data": "a", "salt": "x"}), Some("salt")),
            (json!("abc"), None),
        ] {
            let err = Hash.validate(&input).unwrap_err();
            assert_eq!(err.field.as_deref(), field, "{input}");
        }
    }
}
