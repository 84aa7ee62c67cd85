//! Stripe's webhook event payload, read into the use cases' event types. Shapes as in Stripe's
//! published example objects (event, payment_intent, charge, refund, dispute); every field is
//! read leniently (only what is used).

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{BookingId, IntentEvent, IntentId, MoneyEvent, RefundStatus, StripeAmounts};
use crate::ports::{IntentEventIn, MoneyEventIn};

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    /// Stripe sends it on every event: `true` for live mode.
    #[serde(default)]
    livemode: Option<bool>,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// A signed payload, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Intent(IntentEventIn),
    Money(MoneyEventIn),
    /// Not for us: the reason, for the response body and the logs.
    Ignored(&'static str),
}

fn text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field)?.as_str()
}

/// An expandable reference: Stripe sends an id, or the whole object when expanded.
fn reference(object: &Value, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(id) => Some(id.clone()),
        Value::Object(o) => o.get("id")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// `Err` when the payload is not a Stripe event at all.
pub fn parse(body: &[u8]) -> Result<Parsed, serde_json::Error> {
    parse_in_mode(body, None)
}

/// [`parse`] for a deployment in one Stripe mode (`Some(true)` live): an event of the other
/// mode, or one that does not say its mode, is ignored (logged at WARN), so a test-mode secret
/// mixed into a live deployment's list cannot move a live booking.
pub fn parse_in_mode(body: &[u8], livemode: Option<bool>) -> Result<Parsed, serde_json::Error> {
    let event: Event = serde_json::from_slice(body)?;
    if let Some(ours) = livemode {
        if event.livemode != Some(ours) {
            tracing::warn!(
                event_id = %event.id,
                event_type = %event.kind,
                event_livemode = ?event.livemode,
                deployment_livemode = ours,
                "event from the other Stripe mode ignored"
            );
            return Ok(Parsed::Ignored("event from the other Stripe mode"));
        }
    }
    if event.kind.starts_with("payment_intent.") {
        return Ok(intent_event(event));
    }
    if event.kind.starts_with("charge.") || event.kind.starts_with("refund.") {
        return Ok(money_event(event));
    }
    tracing::info!(event_id = %event.id, event_type = %event.kind, "event type not handled");
    Ok(Parsed::Ignored("event type not handled"))
}

fn intent_event(event: Event) -> Parsed {
    let intent = &event.data.object;
    let reason = intent
        .get("last_payment_error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let amounts = StripeAmounts {
        amount_received: intent.get("amount_received").and_then(Value::as_i64),
        amount_capturable: intent.get("amount_capturable").and_then(Value::as_i64),
    };
    let Some(change) = IntentEvent::from_stripe(&event.kind, amounts, reason) else {
        tracing::info!(event_id = %event.id, event_type = %event.kind, "event type not handled");
        return Parsed::Ignored("event type not handled");
    };
    let (Some(intent_id), Some("payment_intent")) = (text(intent, "id"), text(intent, "object"))
    else {
        tracing::warn!(event_id = %event.id, "payment_intent event without an intent");
        return Parsed::Ignored("no payment intent in event");
    };
    let Ok(intent_id) = IntentId::parse(intent_id) else {
        tracing::warn!(event_id = %event.id, "payment_intent event with a malformed intent id");
        return Parsed::Ignored("no payment intent in event");
    };
    let Some(booking_id) = intent
        .get("metadata")
        .and_then(|m| m.get("booking_id"))
        .and_then(Value::as_str)
        .and_then(|b| BookingId::parse("booking_id", b).ok())
    else {
        tracing::warn!(event_id = %event.id, payment_intent_id = %intent_id, "intent has no booking_id metadata");
        return Parsed::Ignored("intent is not for a booking");
    };
    Parsed::Intent(IntentEventIn {
        event_id: event.id,
        created: event.created,
        event_type: event.kind,
        intent_id,
        booking_id,
        change,
        charge_id: reference(intent, "latest_charge"),
        capture_before: super::wire::capture_before(intent.get("latest_charge")),
    })
}

/// What of a charge was released uncaptured, not refunded: Stripe counts the part of a hold
/// that was never captured (all of it, for a hold released by cancelling its intent) in the
/// charge's `amount_refunded`, but that money never left the driver
/// (<https://docs.stripe.com/api/charges/object>: `amount_captured`, `captured`).
fn released(charge: &Value) -> i64 {
    let amount = charge.get("amount").and_then(Value::as_i64).unwrap_or(0);
    match (
        charge.get("captured").and_then(Value::as_bool),
        charge.get("amount_captured").and_then(Value::as_i64),
    ) {
        (Some(false), _) => amount,
        (_, Some(captured)) => (amount - captured).max(0),
        _ => 0,
    }
}

/// `charge.refunded` (a charge), `charge.refund.updated` and `refund.*` (a refund) and
/// `charge.dispute.created|updated|closed` (a dispute). Each names its charge and, when Stripe
/// knows it, the PaymentIntent.
fn money_event(event: Event) -> Parsed {
    let object = &event.data.object;
    let change = match event.kind.as_str() {
        "charge.refunded" => {
            object
                .get("amount_refunded")
                .and_then(Value::as_i64)
                .map(|amount_refunded| MoneyEvent::ChargeRefunded {
                    amount_refunded: (amount_refunded - released(object)).max(0),
                })
        }
        // A refund object: `charge.refund.updated` (sent at our pinned API version), and
        // `refund.created|updated|failed`, which Stripe sends for every refund since
        // 2024-10-28.acacia (<https://docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update>)
        // and which carry a Dashboard refund's id, amount and reason (`charge.refunded`'s
        // charge no longer lists its refunds since 2022-11-15).
        "charge.refund.updated" | "refund.created" | "refund.updated" | "refund.failed" => {
            let status = text(object, "status").and_then(RefundStatus::parse);
            match (
                text(object, "id"),
                object.get("amount").and_then(Value::as_i64),
                status,
            ) {
                (Some(id), Some(amount), Some(status)) => Some(MoneyEvent::RefundUpdated {
                    refund_id: id.to_string(),
                    amount,
                    status,
                    reason: text(object, "reason").map(str::to_string),
                    created: object.get("created").and_then(Value::as_i64),
                }),
                _ => None,
            }
        }
        "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed" => {
            text(object, "status").map(|status| MoneyEvent::Dispute {
                status: status.to_string(),
                reason: text(object, "reason").map(str::to_string),
            })
        }
        _ => {
            tracing::info!(event_id = %event.id, event_type = %event.kind, "event type not handled");
            return Parsed::Ignored("event type not handled");
        }
    };
    let Some(change) = change else {
        tracing::warn!(event_id = %event.id, event_type = %event.kind, "event without the fields it needs");
        return Parsed::Ignored("event without the fields it needs");
    };
    // A charge event's object is the charge itself; refunds and disputes name theirs.
    let charge_id = if event.kind == "charge.refunded" {
        text(object, "id").map(str::to_string)
    } else {
        reference(object, "charge")
    };
    let intent_id = reference(object, "payment_intent").and_then(|id| IntentId::parse(&id).ok());
    if charge_id.is_none() && intent_id.is_none() {
        return Parsed::Ignored("event names no charge or payment intent");
    }
    Parsed::Money(MoneyEventIn {
        event_id: event.id,
        created: event.created,
        event_type: event.kind,
        intent_id,
        charge_id,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser acts on exactly the types of `HANDLED_EVENT_TYPES` (the list the webhook is
    /// registered for and reconcile lists): each, with the fields it needs, is applied; other
    /// types of the same families are ignored.
    #[test]
    fn the_parser_acts_on_exactly_the_handled_event_types() {
        use crate::domain::event_types::HANDLED_EVENT_TYPES;
        let object = serde_json::json!({
            "id": "re_1", "object": "any", "amount": 350, "amount_refunded": 350,
            "amount_received": 350, "amount_capturable": 350, "status": "succeeded",
            "charge": "ch_1", "payment_intent": "pi_1", "currency": "usd",
            "metadata": {"booking_id": "550e8400-e29b-41d4-a716-446655440000"},
        });
        let parsed = |kind: &str| {
            let mut object = object.clone();
            if kind.starts_with("payment_intent.") {
                object["id"] = "pi_1".into();
                object["object"] = "payment_intent".into();
            }
            let body = serde_json::json!({
                "id": "evt_1", "type": kind, "created": 1770000000,
                "data": {"object": object},
            });
            parse(body.to_string().as_bytes()).unwrap()
        };
        for kind in HANDLED_EVENT_TYPES {
            assert!(!matches!(parsed(kind), Parsed::Ignored(_)), "{kind}");
        }
        for kind in [
            "payment_intent.created",
            "payment_intent.partially_funded",
            "charge.succeeded",
            "charge.captured",
            "charge.refund.created",
            "charge.dispute.funds_withdrawn",
            "refund.something_new",
        ] {
            assert!(matches!(parsed(kind), Parsed::Ignored(_)), "{kind}");
        }
    }

    fn charge_refunded(charge: Value) -> MoneyEvent {
        let body = serde_json::json!({
            "id": "evt_1", "type": "charge.refunded", "created": 1770000000,
            "data": {"object": charge},
        });
        match parse(body.to_string().as_bytes()).unwrap() {
            Parsed::Money(event) => event.change,
            other => panic!("{other:?}"),
        }
    }

    /// Stripe counts the uncaptured part of a hold in the charge's `amount_refunded`; it was
    /// never taken, so it is not a refund.
    #[test]
    fn the_released_part_of_a_hold_is_not_refunded() {
        let base = serde_json::json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 800});
        let with = |fields: Value| {
            let mut c = base.clone();
            for (k, v) in fields.as_object().unwrap() {
                c[k] = v.clone();
            }
            charge_refunded(c)
        };
        let refunded = |amount_refunded| MoneyEvent::ChargeRefunded { amount_refunded };
        // Automatic capture: everything refunded is a refund.
        assert_eq!(
            with(
                serde_json::json!({"captured": true, "amount_captured": 800, "amount_refunded": 300})
            ),
            refunded(300)
        );
        // 2.75 captured of 8.00: 5.25 released; then 1.00 refunded.
        assert_eq!(
            with(
                serde_json::json!({"captured": true, "amount_captured": 275, "amount_refunded": 525})
            ),
            refunded(0)
        );
        assert_eq!(
            with(
                serde_json::json!({"captured": true, "amount_captured": 275, "amount_refunded": 625})
            ),
            refunded(100)
        );
        // A hold released whole (its intent cancelled).
        assert_eq!(
            with(
                serde_json::json!({"captured": false, "amount_captured": 0, "amount_refunded": 800})
            ),
            refunded(0)
        );
        // Older payloads without amount_captured.
        assert_eq!(
            with(serde_json::json!({"amount_refunded": 350})),
            refunded(350)
        );
    }

    #[test]
    fn an_authorization_event_carries_the_amount_held_and_its_charge() {
        let body = serde_json::json!({
            "id": "evt_2", "type": "payment_intent.amount_capturable_updated", "created": 1770000000,
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "status": "requires_capture",
                "amount": 800, "amount_capturable": 800, "amount_received": 0, "latest_charge": "ch_1",
                "metadata": {"booking_id": "6db74bfd-bfba-47a9-86e5-2304af3a6e40"}}},
        });
        let Parsed::Intent(event) = parse(body.to_string().as_bytes()).unwrap() else {
            panic!("an intent event");
        };
        assert_eq!(
            event.change,
            IntentEvent::Authorized {
                amount_capturable: Some(800)
            }
        );
        assert_eq!(event.charge_id.as_deref(), Some("ch_1"));
        assert_eq!(event.capture_before, None);
    }
}
