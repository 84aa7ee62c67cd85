//! Client idempotency: the same key with the same request replays the first answer.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::error::DomainError;

/// How long a key is remembered (Stripe keeps keys for 24 hours; we match it).
pub const RETENTION: Duration = Duration::hours(24);

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters, and who sent it (the API
/// key's id, never its value): keys are scoped per caller as Stripe scopes them per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    key: String,
    caller: String,
}

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok =
            !text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self {
                key: text.to_string(),
                caller: String::new(),
            })
        } else {
            Err(DomainError::invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ))
        }
    }

    /// The key as sent by `caller` (API Gateway's `apiKeyId`; empty where none is known).
    /// `#` cannot appear in the caller part, so scoped keys never run into each other.
    pub fn for_caller(mut self, caller: &str) -> Self {
        self.caller = caller.replace('#', "%23");
        self
    }

    /// Scoped by route and by caller, so the same client key on two routes, or from two API
    /// keys, never collides.
    pub fn scoped(&self, route: &str) -> String {
        format!("{route}#{}#{}", self.caller, self.key)
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
    fn scopes_never_run_into_each_other() {
        let k = |key: &str, caller: &str| IdempotencyKey::parse(key).unwrap().for_caller(caller);
        let route = "POST /v1/bookings";
        assert_ne!(k("a", "x").scoped(route), k("a", "y").scoped(route));
        assert_ne!(k("a", "x").scoped(route), k("a", "x").scoped("POST /other"));
        assert_ne!(k("b#a", "x").scoped(route), k("a", "x#b").scoped(route));
        assert_ne!(k("a", "").scoped(route), k("a", "x").scoped(route));
        assert_eq!(k("a", "x").scoped(route), k("a", "x").scoped(route));
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        assert_eq!(hash_request("a"), hash_request("a"));
        assert_ne!(hash_request("a"), hash_request("b"));
        assert_eq!(hash_request("a").len(), 64);
    }
}
