//! Client idempotency: the same key with the same request replays the first answer.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::error::DomainError;

/// How long a key is remembered (Stripe keeps keys for 24 hours; we match it).
pub const RETENTION: Duration = Duration::hours(24);

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok =
            !text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ))
        }
    }

    /// Scoped by route, so the same client key on two routes never collides.
    pub fn scoped(&self, route: &str) -> String {
        format!("{route}#{}", self.0)
    }
}

/// The first answer given for a key, replayed for a repeat of the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The scoped key ([`IdempotencyKey::scoped`]).
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

pub fn hash_request(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validation() {
        assert!(IdempotencyKey::parse("abc-1").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse("é").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        assert_eq!(hash_request("a"), hash_request("a"));
        assert_ne!(hash_request("a"), hash_request("b"));
        assert_eq!(hash_request("a").len(), 64);
    }
}
