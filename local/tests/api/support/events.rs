//! Stripe event bodies, as Stripe sends them.

use serde_json::{json, Value};

/// A Stripe event around a PaymentIntent object, as Stripe would send it.
pub fn event(kind: &str, created: i64, intent: &Value) -> String {
    json!({
        "id": format!("evt_test_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "type": kind,
        "created": created,
        "api_version": "2024-06-20",
        "livemode": false,
        "data": { "object": intent },
    })
    .to_string()
}

/// The intent as a `payment_intent.succeeded` event carries it: paid in full.
pub fn succeeded(intent: &Value) -> Value {
    let mut pi = intent.clone();
    pi["status"] = json!("succeeded");
    pi["amount_received"] = pi["amount"].clone();
    pi
}
