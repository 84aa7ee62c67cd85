//! create-intent's `receipt_email`: passed to Stripe, part of the intent's terms (the same
//! address reuses the intent, another replaces it), and in its idempotency key only as a
//! digest.

use chrono::Utc;

use super::*;
use crate::app::intents::create_intent_with_receipt;
use crate::domain::receipt_email::ReceiptEmail;
use crate::domain::{HoldRules, IntentStatus};

async fn pay_with(w: &World, id: BookingId, email: Option<&str>) -> Intent {
    let email = email.map(|e| ReceiptEmail::parse(e).unwrap());
    create_intent_with_receipt(
        &*w.store,
        &*w.stripe,
        id,
        usd("3.50"),
        email.as_ref(),
        &HoldRules::default(),
        Utc::now,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_receipt_email_reaches_stripe_and_is_part_of_the_intent_s_terms() {
    let w = World::new();
    let id = w.booking();
    let first = pay_with(&w, id, Some("driver@example.com")).await;
    let at_stripe = w.stripe.intent(&first.id).unwrap();
    assert_eq!(
        at_stripe.receipt_email.as_ref().map(ReceiptEmail::expose),
        Some("driver@example.com")
    );
    // The same address: the same intent.
    assert_eq!(
        pay_with(&w, id, Some("driver@example.com")).await.id,
        first.id
    );
    // Another: a new intent, the first no longer payable.
    let second = pay_with(&w, id, Some("other@example.com")).await;
    assert_ne!(second.id, first.id);
    assert_eq!(
        w.stripe.intent(&first.id).unwrap().status,
        IntentStatus::Canceled
    );
    assert_eq!(
        w.stripe
            .intent(&second.id)
            .unwrap()
            .receipt_email
            .map(|e| e.expose().to_string()),
        Some("other@example.com".into())
    );
    // None: a new intent without one.
    let third = pay_with(&w, id, None).await;
    assert_ne!(third.id, second.id);
    assert_eq!(w.stripe.intent(&third.id).unwrap().receipt_email, None);
}
