//! Stripe idempotency keys. Deterministic: the same booking, predecessor and amount always give
//! the same key, so a retry or a racing instance reaches the same object on Stripe.

use crate::domain::receipt_email::ReceiptEmail;
use crate::domain::{BookingId, CaptureMethod, IntentId, Money};

/// The capture method is part of the terms: a manual intent is a different intent. Automatic
/// keys keep the form they had before manual capture existed.
pub fn intent_key(
    booking_id: BookingId,
    replaces: Option<&IntentId>,
    amount: &Money,
    method: CaptureMethod,
) -> String {
    let manual = match method {
        CaptureMethod::Automatic => "",
        CaptureMethod::Manual => "-manual",
    };
    format!(
        "booking-{booking_id}-after-{}-{}{}{manual}",
        replaces.map_or("none", IntentId::as_str),
        amount.minor,
        amount.currency.code
    )
}

/// [`intent_key`] of an intent that sends its receipt to `receipt`: the address is part of
/// the intent's terms (its digest, never the address: keys can reach logs). Without one the
/// key is what it always was.
pub fn with_receipt(key: String, receipt: Option<&ReceiptEmail>) -> String {
    match receipt {
        Some(email) => format!("{key}-receipt-{}", email.digest()),
        None => key,
    }
}

/// Deterministic: a retried capture must capture once, and a capture of another amount must
/// not be answered with the first one's saved result (Stripe refuses it: the intent was
/// captured already).
pub fn capture_key(intent_id: &IntentId, amount_minor: i64) -> String {
    format!("capture-{intent_id}-{amount_minor}")
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

/// Deterministic, one per intent whatever the amount: every refund a cancellation under terms
/// makes (everything, or what was paid minus the fee). Two cancels deciding differently (one
/// each side of the free window's end) send different parameters with the same key, and
/// Stripe answers the second `idempotency_error`: exactly one of them is done, and the other
/// looks again.
pub fn cancel_refund_key(intent_id: &IntentId) -> String {
    format!("cancel-refund-{intent_id}")
}

/// Deterministic: the late-cancellation fee captured from a booking's hold, once.
pub fn late_cancel_key(booking_id: BookingId, intent_id: &IntentId, fee_minor: i64) -> String {
    format!("late-cancel-{booking_id}-{intent_id}-{fee_minor}")
}

/// Deterministic, per booking: the no-show fee captured from its hold, once across racing
/// runs, retries and a cancel that finds the no-show decided.
pub fn no_show_key(booking_id: BookingId, intent_id: &IntentId, fee_minor: i64) -> String {
    format!("no-show-{booking_id}-{intent_id}-{fee_minor}")
}

/// How long to let a racer's request finish at Stripe before asking again with its key
/// (jittered, so racers do not come back in step).
pub(super) async fn pause_for_key_in_use() {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 100) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(150 + jitter)).await;
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
        let auto = CaptureMethod::Automatic;
        let manual = CaptureMethod::Manual;
        assert_eq!(
            intent_key(b, None, &a350, auto),
            intent_key(b, None, &a350, auto)
        );
        assert_eq!(
            intent_key(b, None, &a350, auto),
            "booking-6db74bfd-bfba-47a9-86e5-2304af3a6e40-after-none-350usd"
        );
        assert_ne!(
            intent_key(b, None, &a350, auto),
            intent_key(b, None, &a450, auto)
        );
        assert_ne!(
            intent_key(b, None, &a350, auto),
            intent_key(b, Some(&pi), &a350, auto)
        );
        assert_ne!(
            intent_key(b, None, &a350, auto),
            intent_key(b, None, &a350, manual)
        );
        let long = IntentId::parse(&"x".repeat(100)).unwrap();
        assert!(intent_key(b, Some(&long), &a350, manual).len() <= 255);
        let key = intent_key(b, None, &a350, auto);
        let email = ReceiptEmail::parse("driver@example.com").unwrap();
        let other = ReceiptEmail::parse("other@example.com").unwrap();
        assert_eq!(with_receipt(key.clone(), None), key);
        assert_ne!(with_receipt(key.clone(), Some(&email)), key);
        assert_ne!(
            with_receipt(key.clone(), Some(&email)),
            with_receipt(key.clone(), Some(&other))
        );
        assert!(!with_receipt(key.clone(), Some(&email)).contains("driver"));
        assert!(with_receipt(intent_key(b, Some(&long), &a350, manual), Some(&email)).len() <= 255);
        assert_eq!(capture_key(&pi, 275), capture_key(&pi, 275));
        assert_ne!(capture_key(&pi, 275), capture_key(&pi, 276));
        // The fee keys: their own, per booking and amount; a cancellation's refund one per
        // intent.
        assert_eq!(late_cancel_key(b, &pi, 100), late_cancel_key(b, &pi, 100));
        assert_ne!(late_cancel_key(b, &pi, 100), no_show_key(b, &pi, 100));
        assert_ne!(late_cancel_key(b, &pi, 100), capture_key(&pi, 100));
        assert_ne!(no_show_key(b, &pi, 100), no_show_key(b, &pi, 200));
        assert_ne!(cancel_refund_key(&pi), refund_key(&pi));
        assert!(no_show_key(b, &long, 99_999_999).len() <= 255);
    }
}
