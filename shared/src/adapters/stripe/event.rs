//! Stripe's webhook event payload, read into the use case's `IntentEventIn`.

use serde::Deserialize;

use crate::domain::{BookingId, IntentEvent, IntentId};
use crate::ports::IntentEventIn;

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: EventIntent,
}

#[derive(Debug, Deserialize)]
struct EventIntent {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    last_payment_error: Option<serde_json::Value>,
}

/// A signed payload, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Intent(IntentEventIn),
    /// Not for us: the reason, for the response body and the logs.
    Ignored(&'static str),
}

/// `Err` when the payload is not a Stripe event at all.
pub fn parse(body: &[u8]) -> Result<Parsed, serde_json::Error> {
    let event: Event = serde_json::from_slice(body)?;
    let intent = &event.data.object;
    let reason = intent
        .last_payment_error
        .as_ref()
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_string);
    let Some(change) = IntentEvent::from_stripe(&event.kind, intent.amount_received, reason) else {
        tracing::info!(event_id = %event.id, event_type = %event.kind, "event type not handled");
        return Ok(Parsed::Ignored("event type not handled"));
    };
    let (Some(intent_id), Some("payment_intent")) = (&intent.id, intent.object.as_deref()) else {
        tracing::warn!(event_id = %event.id, "payment_intent event without an intent");
        return Ok(Parsed::Ignored("no payment intent in event"));
    };
    let Ok(intent_id) = IntentId::parse(intent_id) else {
        tracing::warn!(event_id = %event.id, "payment_intent event with a malformed intent id");
        return Ok(Parsed::Ignored("no payment intent in event"));
    };
    let Some(booking_id) = intent
        .metadata
        .as_ref()
        .and_then(|m| m.get("booking_id"))
        .and_then(|b| b.as_str())
        .and_then(|b| BookingId::parse("booking_id", b).ok())
    else {
        tracing::warn!(event_id = %event.id, payment_intent_id = %intent_id, "intent has no booking_id metadata");
        return Ok(Parsed::Ignored("intent is not for a booking"));
    };
    Ok(Parsed::Intent(IntentEventIn {
        event_id: event.id,
        created: event.created,
        event_type: event.kind,
        intent_id,
        booking_id,
        change,
    }))
}
