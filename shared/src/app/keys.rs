//! Stripe idempotency keys. Deterministic: the same booking, predecessor and amount always give
//! the same key, so a retry or a racing instance reaches the same object on Stripe.

use crate::domain::{BookingId, IntentId, Money};

pub fn intent_key(booking_id: BookingId, replaces: Option<&IntentId>, amount: &Money) -> String {
    format!(
        "booking-{booking_id}-after-{}-{}{}",
        replaces.map_or("none", IntentId::as_str),
        amount.minor,
        amount.currency.code
    )
}

/// Not deterministic, unlike the others: cancelling is idempotent by nature (a second cancel
/// is refused and the caller reads the intent again), while a fixed key would make Stripe
/// replay, for 24 hours, a refusal saved when the intent could not be cancelled (mid-payment),
/// even once it can again. The client's own retries of one call reuse the call's key.
pub fn cancel_key(intent_id: &IntentId) -> String {
    format!("cancel-{intent_id}-{}", uuid::Uuid::new_v4().simple())
}

/// Deterministic: a retried refund must never refund twice.
pub fn refund_key(intent_id: &IntentId) -> String {
    format!("refund-{intent_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::currency;

    #[test]
    fn keys_are_deterministic_and_distinct() {
        let b = BookingId::parse("id", "6db74bfd-bfba-47a9-86e5-2304af3a6e40").unwrap();
        let usd = currency("usd").unwrap();
        let a350 = Money::parse("3.50", usd).unwrap();
        let a450 = Money::parse("4.50", usd).unwrap();
        let pi = IntentId::parse("pi_1").unwrap();
        assert_eq!(intent_key(b, None, &a350), intent_key(b, None, &a350));
        assert_eq!(
            intent_key(b, None, &a350),
            "booking-6db74bfd-bfba-47a9-86e5-2304af3a6e40-after-none-350usd"
        );
        assert_ne!(intent_key(b, None, &a350), intent_key(b, None, &a450));
        assert_ne!(intent_key(b, None, &a350), intent_key(b, Some(&pi), &a350));
        let long = IntentId::parse(&"x".repeat(100)).unwrap();
        assert!(intent_key(b, Some(&long), &a350).len() <= 255);
    }
}
