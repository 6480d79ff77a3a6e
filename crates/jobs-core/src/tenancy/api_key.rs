//! API keys: `ajk_{id}_{secret}`. The id (16 hex digits) is public: it names the key in
//! listings and revocations and finds its record. The secret (32 random bytes, base64url)
//! is shown once, when the key is issued; only the SHA-256 of the whole key is stored,
//! and a presented key is compared with it in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "ajk_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;
/// The length of every key: `ajk_`, the id, `_`, the secret.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;

/// A key as presented or issued. Its `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({PREFIX}{}_…)", self.id())
    }
}

/// Why randomness for a new key could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness for a new API key: {0}")]
pub struct NoRandomness(String);

impl ApiKey {
    /// A new key from the system's cryptographic random source.
    pub fn generate() -> Result<ApiKey, NoRandomness> {
        let mut bytes = [0u8; 8 + 32];
        getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
        let (id, secret) = bytes.split_at(8);
        Ok(ApiKey(format!(
            "{PREFIX}{}_{}",
            hex::encode(id),
            URL_SAFE_NO_PAD.encode(secret)
        )))
    }

    /// A presented key, if it has the shape of one (nothing is looked up yet).
    pub fn parse(s: &str) -> Option<ApiKey> {
        let rest = s.strip_prefix(PREFIX)?;
        let ok = s.len() == KEY_LEN
            && rest.as_bytes()[..ID_LEN]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            && rest.as_bytes()[ID_LEN] == b'_'
            && rest.as_bytes()[ID_LEN + 1..]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
        ok.then(|| ApiKey(s.to_owned()))
    }

    /// The public id.
    pub fn id(&self) -> &str {
        &self.0[PREFIX.len()..PREFIX.len() + ID_LEN]
    }

    /// The public part, as listings show it: `ajk_{id}`.
    pub fn prefix(&self) -> String {
        prefix_of(self.id())
    }

    /// The whole key, to hand to its owner once.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// What is stored: the SHA-256 of the key, in hex.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Whether this key's hash is `stored`, looking at every byte whatever the outcome.
    pub fn matches(&self, stored: &str) -> bool {
        let ours = Sha256::digest(self.0.as_bytes());
        let Ok(theirs) = hex::decode(stored) else {
            return false;
        };
        same_bytes(&ours, &theirs)
    }
}

/// Whether `a` and `b` are equal, looking at every byte pair whatever the outcome (the
/// lengths are not secret: both sides are digests).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The public part of the key with this id.
pub fn prefix_of(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// Whether `s` is a key id (16 lowercase hex digits).
pub fn is_key_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_and_matches_only_its_own_hash() {
        let key = ApiKey::generate().unwrap();
        assert_eq!(key.reveal().len(), KEY_LEN);
        let parsed = ApiKey::parse(key.reveal()).unwrap();
        assert_eq!(parsed, key);
        assert!(is_key_id(key.id()));
        assert!(parsed.matches(&key.hash()));
        let other = ApiKey::generate().unwrap();
        assert_ne!(other.id(), key.id());
        assert!(!other.matches(&key.hash()));
        assert!(!key.matches("not hex"));
        assert!(
            !format!("{key:?}").contains(&key.reveal()[21..]),
            "Debug hides the secret"
        );
    }

    #[test]
    fn only_the_shape_of_a_key_parses() {
        let key = ApiKey::generate().unwrap();
        let s = key.reveal();
        for bad in [
            "",
            "ajk_",
            &s[..KEY_LEN - 1],
            &format!("{s}x"),
            &s.replacen("ajk_", "xyz_", 1),
            &format!("ajk_{}_{}", "G".repeat(16), &s[21..]),
            &format!("{}!{}", &s[..20], &s[21..]),
            &format!("{}{}", &s[..KEY_LEN - 1], "="),
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
        }
    }
}
