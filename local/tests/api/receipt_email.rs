//! create-intent's `receipt_email` through the real handler and the Stripe layer (which takes
//! it as Stripe does; localstripe alone refuses it): it reaches Stripe's PaymentIntent, and a
//! bad one is a 400 that changes nothing. Stripe sends no receipt in test mode: what Stripe
//! holds is what is checked.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn the_receipt_email_reaches_stripe() {
    let app = spawn_app().await;
    let booking_id = app.new_booking().await;
    let bad = app
        .create_intent(
            &json!({"amount": 3.50, "booking_id": booking_id, "receipt_email": "driver"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body),
        (
            400,
            json!({"detail": "receipt_email must be an e-mail address"})
        )
    );
    assert!(app.stripe_intents_for(&booking_id).await.is_empty());
    let made = app
        .create_intent(&json!({
            "amount": 3.50, "booking_id": booking_id, "receipt_email": "driver@example.com"
        }))
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let pi = made.body["payment_intent_id"].as_str().unwrap();
    let at_stripe = app.stripe_intent(pi).await;
    assert_eq!(
        at_stripe["receipt_email"], "driver@example.com",
        "{at_stripe}"
    );
    // The same request: the same intent. Another address: a new one.
    let again = app
        .create_intent(&json!({
            "amount": 3.50, "booking_id": booking_id, "receipt_email": "driver@example.com"
        }))
        .await;
    assert_eq!(
        again.body["payment_intent_id"],
        made.body["payment_intent_id"]
    );
    let other = app
        .create_intent(&json!({
            "amount": 3.50, "booking_id": booking_id, "receipt_email": "other@example.com"
        }))
        .await;
    assert_eq!(other.status, 200, "{:?}", other.body);
    assert_ne!(
        other.body["payment_intent_id"],
        made.body["payment_intent_id"]
    );
    let replaced = app.stripe_intent(pi).await;
    assert_eq!(replaced["status"], "canceled");
    let new = app
        .stripe_intent(other.body["payment_intent_id"].as_str().unwrap())
        .await;
    assert_eq!(new["receipt_email"], "other@example.com");
}
