//! An operator's refund of part or all of a booking's payment (`POST
//! /v1/bookings/{id}/refunds`): what it may ask, and how it is told apart from every other.
//! Pure, so every rule is unit-tested.
//!
//! - `amount`: a JSON number in the payment's currency, positive, exact in its minor unit
//!   (Stripe's trailing zero for three-decimal currencies), at most what is left
//!   (`refund_log::reserve`). No minimum charge: Stripe refunds any positive amount.
//! - `reason`: one of Stripe's refund reasons, passed to Stripe as they are
//!   (<https://docs.stripe.com/api/refunds/create#create_refund-reason>), so the Dashboard, the
//!   booking and the receipt say the same; `fraudulent` also adds the card to the account's
//!   block lists on Stripe. Free text is not taken: it would be shown to whoever reads the
//!   booking, and Stripe keeps none of it.
//! - The request is known by its scoped `Idempotency-Key` (a digest of it, kept on the
//!   booking's entry) and what it asked (a hash); the Stripe idempotency key is derived from
//!   the booking and that digest, so every retry reaches the same refund at Stripe.

use super::error::DomainError;
use super::idempotency::{hash_request, IdempotencyKey};
use super::money::{format_minor, parse_price, Currency, MoneyError};
use super::refund_log::RequestMark;
use super::BookingId;

/// Stripe's refund reasons a request may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

impl RefundReason {
    pub const ALL: [Self; 3] = [Self::Duplicate, Self::Fraudulent, Self::RequestedByCustomer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Fraudulent => "fraudulent",
            Self::RequestedByCustomer => "requested_by_customer",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                DomainError::invalid(
                    "reason must be 'duplicate', 'fraudulent' or 'requested_by_customer'",
                )
            })
    }
}

/// What the request asked: the amount as its JSON number text (checked against the payment's
/// currency once the booking is read) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAsk {
    pub amount_raw: String,
    pub reason: RefundReason,
}

impl RefundAsk {
    /// The amount in minor units of the payment's `currency`.
    pub fn amount_minor(&self, currency: &Currency) -> Result<i64, DomainError> {
        match parse_price(&self.amount_raw, currency) {
            Ok(0) => Err(MoneyError::NotPositive.into()),
            Ok(minor) => Ok(minor),
            Err(e) => Err(e.into()),
        }
    }

    /// The request's mark on the booking: its scoped key (the booking's route) and what it
    /// asked, in minor units.
    pub fn mark(
        &self,
        booking_id: BookingId,
        key: &IdempotencyKey,
        amount_minor: i64,
        currency: &Currency,
    ) -> RequestMark {
        let scoped = key.scoped(&format!("POST /v1/bookings/{booking_id}/refunds"));
        RequestMark {
            key: hash_request(&scoped)[..32].to_string(),
            hash: hash_request(&format!(
                "{amount_minor} {} {}",
                currency.code,
                self.reason.as_str()
            ))[..32]
                .to_string(),
        }
    }
}

/// The Stripe idempotency key of the refund a request makes: the booking and the request's
/// mark, so that retries (ours, the client's) make one refund at Stripe.
pub fn stripe_key(booking_id: BookingId, mark: &RequestMark) -> String {
    format!("refund-{booking_id}-op-{}", mark.key)
}

/// The 400 for an amount above what is left, naming it.
pub fn too_much(refundable_minor: i64, currency: &Currency) -> DomainError {
    DomainError::invalid(format!(
        "amount is more than what is refundable: {} {}",
        format_minor(refundable_minor, currency),
        currency.code
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::currency;

    fn ask(raw: &str) -> RefundAsk {
        RefundAsk {
            amount_raw: raw.into(),
            reason: RefundReason::RequestedByCustomer,
        }
    }

    #[test]
    fn reasons_are_stripe_s() {
        for r in RefundReason::ALL {
            assert_eq!(RefundReason::parse(r.as_str()), Ok(r));
        }
        for bad in [
            "",
            "Duplicate",
            "broken charger",
            "expired_uncaptured_charge",
        ] {
            assert!(RefundReason::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_positive_and_exact_in_the_currency_with_no_minimum() {
        let usd = currency("usd").unwrap();
        let jpy = currency("jpy").unwrap();
        let kwd = currency("kwd").unwrap();
        assert_eq!(ask("1.25").amount_minor(&usd), Ok(125));
        assert_eq!(ask("0.01").amount_minor(&usd), Ok(1), "no minimum");
        assert_eq!(ask("3").amount_minor(&usd), Ok(300));
        assert_eq!(ask("500").amount_minor(&jpy), Ok(500));
        assert_eq!(ask("1.230").amount_minor(&kwd), Ok(1230));
        for bad in [
            "0", "0.00", "-1", "1.255", "\"1.25\"", "null", "true", "1e308",
        ] {
            let err = ask(bad).amount_minor(&usd).unwrap_err().to_string();
            assert!(err.starts_with("amount"), "{bad}: {err}");
        }
        assert!(ask("1.5").amount_minor(&jpy).is_err());
        assert!(ask("1.231").amount_minor(&kwd).is_err());
        assert_eq!(
            too_much(250, &usd).to_string(),
            "amount is more than what is refundable: 2.50 usd"
        );
    }

    #[test]
    fn marks_tell_requests_apart() {
        let b1 = BookingId::parse("id", "6db74bfd-bfba-47a9-86e5-2304af3a6e40").unwrap();
        let b2 = BookingId::parse("id", "7db74bfd-bfba-47a9-86e5-2304af3a6e40").unwrap();
        let usd = currency("usd").unwrap();
        let k = |key: &str, caller: &str| IdempotencyKey::parse(key).unwrap().for_caller(caller);
        let a = ask("1.00");
        let m = a.mark(b1, &k("k1", "api"), 100, &usd);
        assert_eq!(m, a.mark(b1, &k("k1", "api"), 100, &usd));
        assert_ne!(m.key, a.mark(b2, &k("k1", "api"), 100, &usd).key);
        assert_ne!(m.key, a.mark(b1, &k("k2", "api"), 100, &usd).key);
        assert_ne!(m.key, a.mark(b1, &k("k1", "other"), 100, &usd).key);
        // Same key, another request: same key digest, another hash.
        let other = a.mark(b1, &k("k1", "api"), 200, &usd);
        assert_eq!((other.key == m.key, other.hash == m.hash), (true, false));
        let fraud = RefundAsk {
            reason: RefundReason::Fraudulent,
            ..a.clone()
        };
        assert_ne!(fraud.mark(b1, &k("k1", "api"), 100, &usd).hash, m.hash);
        let key = stripe_key(b1, &m);
        assert!(key.len() <= 255 && key.contains(&b1.to_string()), "{key}");
        assert_ne!(key, stripe_key(b2, &m));
    }
}
