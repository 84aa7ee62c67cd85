//! `Idempotency-Key` support: the same key with the same request replays the first answer.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// How long a key is remembered (Stripe keeps keys for 24 hours; we match it).
pub const RETENTION: Duration = Duration::hours(24);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Scoped by route, so the same client key on two routes never collides.
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }
}

/// Reads and checks the header: absent is fine, present must be 1..=255 visible ASCII chars.
pub fn key_from_header(
    value: Option<&lambda_http::http::HeaderValue>,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?;
    Ok(Some(key.to_string()))
}

pub fn scoped_key(route: &str, key: &str) -> String {
    format!("{route}#{key}")
}

pub fn hash_request(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    #[test]
    fn header_validation() {
        assert_eq!(key_from_header(None), Ok(None));
        assert_eq!(
            key_from_header(Some(&HeaderValue::from_static("abc-1"))),
            Ok(Some("abc-1".into()))
        );
        assert!(key_from_header(Some(&HeaderValue::from_static(""))).is_err());
        assert!(key_from_header(Some(&HeaderValue::from_static("a b"))).is_err());
        let long = HeaderValue::from_str(&"k".repeat(256)).unwrap();
        assert!(key_from_header(Some(&long)).is_err());
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        assert_eq!(hash_request("a"), hash_request("a"));
        assert_ne!(hash_request("a"), hash_request("b"));
        assert_eq!(hash_request("a").len(), 64);
    }
}
