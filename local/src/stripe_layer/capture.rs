//! Manual capture as Stripe shows it (<https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>):
//! localstripe holds and captures, but its PaymentIntents have no `amount_capturable` or
//! `amount_received` and its charges no `amount_captured` or `payment_method_details`, and
//! after a partial capture nothing in its objects tells the captured amount from a refund. The
//! layer remembers what each capture through it took, and lays Stripe's fields over
//! localstripe's intents and charges wherever they appear (API answers, `GET /v1/events`,
//! relayed events):
//!
//! - PaymentIntent (<https://docs.stripe.com/api/payment_intents/object>): `amount_capturable`
//!   "amount that can be captured": the amount while `requires_capture`, else 0;
//!   `amount_received`: 0 until it succeeds, then what was captured (`amount_to_capture`, the
//!   whole amount without it: <https://docs.stripe.com/api/payment_intents/capture>).
//! - Charge (<https://docs.stripe.com/api/charges/object>): `amount_captured` "can be less
//!   than the amount attribute on the charge if a partial capture was made" (0 while
//!   uncaptured); `payment_method_details` of a card charge, with `card.capture_before` while
//!   it is uncaptured: online card authorizations expire 7 days after the charge ("place a
//!   hold": validity windows, customer-initiated transactions).
//! - A capture sends `charge.captured`, "Occurs whenever a previously uncaptured charge is
//!   captured" (<https://docs.stripe.com/api/events/types>).
//!
//! `amount_refunded` stays as localstripe has it: it counts the released remainder of a partial
//! capture, as Stripe's does (a consumer must not take that part for a refund). No
//! `charge.refunded` is made for it: it is not a refund anyone asked for.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::server::Call;
use super::wire::{id_of, param, str_of};
use super::Layer;

/// How long an online card authorization holds (the customer-initiated window of Visa,
/// Mastercard, American Express and Discover: 7 days).
const AUTHORIZATION_VALIDITY_SECS: i64 = 7 * 24 * 60 * 60;

/// The fields of a payment method's `card` that a charge's `payment_method_details.card`
/// repeats (Stripe's example charge).
const CARD_FIELDS: [&str; 7] = [
    "brand",
    "country",
    "exp_month",
    "exp_year",
    "fingerprint",
    "funding",
    "last4",
];

#[derive(Default)]
pub(super) struct Captures {
    /// Intents and charges captured through the layer → the amount captured.
    captured: HashMap<String, i64>,
    /// Card payment methods made through the layer → what a charge repeats of the card.
    cards: HashMap<String, Value>,
}

impl Captures {
    /// Remembers a card payment method (localstripe's answer to `POST /v1/payment_methods`).
    pub(super) fn payment_method(&mut self, pm: &Value) {
        let (Some(id), Some("card")) = (str_of(pm, "id"), str_of(pm, "type")) else {
            return;
        };
        let card: Map<String, Value> = CARD_FIELDS
            .iter()
            .filter_map(|f| Some((f.to_string(), pm["card"].get(*f)?.clone())))
            .collect();
        self.cards.insert(id.to_string(), Value::Object(card));
    }

    /// Lays Stripe's amounts over a PaymentIntent; whether anything changed.
    pub(super) fn intent(&self, pi: &mut Map<String, Value>) -> bool {
        let status = pi.get("status").and_then(Value::as_str).unwrap_or_default();
        let amount = pi.get("amount").and_then(Value::as_i64).unwrap_or_default();
        let id = pi.get("id").and_then(Value::as_str).unwrap_or_default();
        let capturable = if status == "requires_capture" {
            amount
        } else {
            0
        };
        let received = match status {
            "succeeded" => self.captured.get(id).copied().unwrap_or(amount),
            _ => 0,
        };
        let mut changed = false;
        for (field, value) in [
            ("amount_capturable", capturable),
            ("amount_received", received),
        ] {
            if !pi.contains_key(field) {
                pi.insert(field.into(), json!(value));
                changed = true;
            }
        }
        changed
    }

    /// Lays Stripe's capture fields over a charge; whether anything changed.
    pub(super) fn charge(&self, charge: &mut Map<String, Value>) -> bool {
        let text = |field: &str| {
            charge
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (id, status) = (text("id").to_string(), text("status").to_string());
        let card = self.cards.get(text("payment_method")).cloned();
        let amount = charge
            .get("amount")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let captured = charge.get("captured").and_then(Value::as_bool);
        let mut changed = false;
        if !charge.contains_key("amount_captured") {
            // localstripe marks a charge made to be captured `captured` even if it failed.
            let taken = match (captured, status.as_str()) {
                (Some(true), "succeeded") => self.captured.get(&id).copied().unwrap_or(amount),
                _ => 0,
            };
            charge.insert("amount_captured".into(), json!(taken));
            changed = true;
        }
        if let (Some(mut card), false) = (card, charge.contains_key("payment_method_details")) {
            // An authorization that holds: the charge succeeded and is not captured yet.
            if captured == Some(false) && status == "succeeded" {
                let created = charge.get("created").and_then(Value::as_i64);
                card["capture_before"] = json!(created.map(|t| t + AUTHORIZATION_VALIDITY_SECS));
            }
            charge.insert(
                "payment_method_details".into(),
                json!({"type": "card", "card": card}),
            );
            changed = true;
        }
        changed
    }
}

/// Before the overlay reads localstripe's answer to a capture: remembers what it took
/// (`amount_to_capture` of an intent, `amount` of a charge; the whole amount without).
pub(super) fn record(layer: &Layer, call: &Call, answer: &Value) {
    let segments = call.segments();
    let (intent, charge, asked) = match segments.as_slice() {
        ["v1", "payment_intents", _, "capture"] => (
            str_of(answer, "id"),
            id_of(&answer["latest_charge"]),
            param(&call.params, "amount_to_capture"),
        ),
        ["v1", "charges", _, "capture"] => (
            str_of(answer, "payment_intent"),
            str_of(answer, "id"),
            param(&call.params, "amount"),
        ),
        _ => return,
    };
    let amount = match asked.map(str::parse::<i64>) {
        Some(Ok(amount)) => amount,
        _ => answer["amount"].as_i64().unwrap_or_default(),
    };
    let captures = &mut layer.test_mode().captures;
    for id in [intent, charge].into_iter().flatten() {
        captures.captured.insert(id.to_string(), amount);
    }
}

/// After a capture: `charge.captured` with the charge as it is now (overlaid).
pub(super) async fn captured(layer: &Layer, call: &Call, charge: &Value) {
    let auth = call.header("authorization");
    let charge = match charge {
        Value::Object(_) => Some(charge.clone()),
        _ => match id_of(charge) {
            Some(id) => layer.fetch(&format!("/v1/charges/{id}"), auth).await,
            None => None,
        },
    };
    if let Some(charge) = charge {
        layer
            .emit("charge.captured", charge, None, &call.origin, auth)
            .await;
    }
}
