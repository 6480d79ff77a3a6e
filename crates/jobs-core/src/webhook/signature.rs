//! Standard Webhooks (v1) signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the tenant's secret
//! (`whsec_` + base64 of its random bytes). During a rotation both secrets sign, and the
//! header carries both signatures, space-separated.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// Random bytes of a new secret (the spec allows 24 to 64).
const SECRET_BYTES: usize = 32;

/// A signing secret, `whsec_` + base64. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

impl Secret {
    /// A new secret from the system's cryptographic random source.
    pub fn generate() -> Result<Secret, String> {
        let mut key = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut key).map_err(|e| e.to_string())?;
        Ok(Secret {
            text: format!("{PREFIX}{}", STANDARD.encode(&key)),
            key,
        })
    }

    /// A stored secret; `None` unless it is `whsec_` + base64 of 1 to 64 bytes (ours
    /// have 32; the specification's own example has 21).
    pub fn parse(text: &str) -> Option<Secret> {
        let key = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (1..=64).contains(&key.len()).then(|| Secret {
            text: text.to_owned(),
            key,
        })
    }

    /// The secret as the receiver configures it.
    pub fn reveal(&self) -> &str {
        &self.text
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, msg_id: &str, timestamp_s: u64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` value: one signature per secret, space-separated.
pub fn signature_header(secrets: &[Secret], msg_id: &str, timestamp_s: u64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp_s, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (v1).
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_generated_secret_parses_back_and_both_secrets_sign_during_a_rotation() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_eq!(Secret::parse(a.reveal()), Some(a.clone()));
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 10, b"{}");
        assert_eq!(
            header,
            format!(
                "{} {}",
                a.sign("msg_1", 10, b"{}"),
                b.sign("msg_1", 10, b"{}")
            )
        );
        for bad in ["", "whsec_", "whsec_!!!", "abc", "c2hvcnQ="] {
            assert!(Secret::parse(bad).is_none(), "{bad}");
        }
        assert!(!format!("{a:?}").contains(a.reveal()));
    }
}
