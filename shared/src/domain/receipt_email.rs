//! The address a payment's receipt goes to (`receipt_email` on create-intent, passed to
//! Stripe's PaymentIntent: <https://docs.stripe.com/api/payment_intents/create#create_payment_intent-receipt_email>).
//! Personal data: its `Debug` never shows it, so it cannot reach a log line, and the intent's
//! idempotency key carries only a digest of it.

use std::fmt;

use super::error::DomainError;
use super::idempotency::hash_request;

#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptEmail(String);

/// The longest address taken: RFC 5321's 254-character path limit.
pub const MAX_LEN: usize = 254;

impl ReceiptEmail {
    /// An address: one `@`, 1 to 64 characters before it, a dotted domain of letters, digits
    /// and hyphens after it, no spaces or control characters, at most 254 characters.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::invalid("receipt_email must be an e-mail address");
        let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let ok = text.len() <= MAX_LEN
            && (1..=64).contains(&local.len())
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != ',')
            && domain.contains('.')
            && domain.split('.').all(label_ok);
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(invalid())
        }
    }

    /// What Stripe shows on an intent, as it is.
    pub fn from_stripe(text: &str) -> Self {
        Self(text.to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A digest of the address, for the intent's idempotency key.
    pub fn digest(&self) -> String {
        hash_request(&self.0.to_ascii_lowercase())[..16].to_string()
    }
}

impl fmt::Debug for ReceiptEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptEmail(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_never_printed() {
        for ok in ["driver@example.com", "a.b+c@mail.example.co.uk", "x@b-c.io"] {
            let email = ReceiptEmail::parse(ok).unwrap();
            assert_eq!(email.expose(), ok);
            assert!(!format!("{email:?}").contains('@'));
        }
        let long = format!("{}@example.com", "a".repeat(65));
        for bad in [
            "",
            "driver",
            "@example.com",
            "driver@",
            "driver@example",
            "a b@example.com",
            "a@b@example.com",
            "a@.example.com",
            "a@example..com",
            "a@-x.com",
            "a@exa_mple.com",
            long.as_str(),
        ] {
            assert_eq!(
                ReceiptEmail::parse(bad).unwrap_err().to_string(),
                "receipt_email must be an e-mail address",
                "{bad}"
            );
        }
        let a = ReceiptEmail::parse("Driver@Example.com").unwrap();
        let b = ReceiptEmail::parse("driver@example.com").unwrap();
        let c = ReceiptEmail::parse("other@example.com").unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
        assert!(!a.digest().contains("driver"));
    }
}
