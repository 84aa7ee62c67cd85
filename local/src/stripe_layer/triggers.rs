//! What follows a request localstripe executed: the events Stripe would send and localstripe
//! does not, and Stripe's test-mode triggers (<https://docs.stripe.com/testing>).
//!
//! - `POST /v1/payment_intents/{id}/cancel` → `payment_intent.canceled`.
//! - An intent created with `confirm`, confirmed, or authenticated (3-D Secure) that now
//!   `requires_action` → `payment_intent.requires_action`; that now `requires_capture` (manual
//!   capture, <https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>) →
//!   `payment_intent.amount_capturable_updated`.
//! - `POST /v1/refunds` (a Dashboard refund, full or partial) → `charge.refunded` with the
//!   charge's new `amount_refunded`, `charge.refund.updated` and `refund.created` with the
//!   refund (a 5126 refund that fails: `charge.refund.updated` and `refund.failed`). Before it
//!   reaches localstripe, Stripe's rules for the amount (<https://docs.stripe.com/api/refunds/create>):
//!   without `amount` it is what remains unrefunded on the charge (localstripe refunds the
//!   whole charge again), a charge with nothing left is 400 `charge_already_refunded`, more
//!   than what is left is 400 `amount_too_large` (localstripe refunds any amount).
//! - Card 4000000000005126: "the charge succeeds; a refund of it succeeds, then fails" a
//!   moment later: `charge.refund.updated` with `status: failed`, and from then on the refund
//!   reads `failed` and the charge's `amount_refunded` no longer counts it.
//! - Card 4000000000000259: "the charge succeeds, then is disputed as fraudulent": a moment
//!   later `charge.dispute.created` (see `disputes`), and the charge reads `disputed: true`.
//! - A capture (`POST /v1/payment_intents/{id}/capture`, `POST /v1/charges/{id}/capture`) →
//!   `charge.captured` (see `capture`).
//!
//! PaymentIntent events carry the intent as localstripe has it with the `capture` overlay, its
//! charge by id (`latest_charge` is an expandable field: an id unless expanded).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use super::server::{Call, Origin};
use super::wire::{id_of, now, param, str_of};
use super::{capture, confirm, disputes, Answer, Layer};

const CARD_REFUND_FAILS: &str = "4000000000005126";
const CARD_DISPUTED: &str = "4000000000000259";

/// A refund's `failure_reason` when it fails (one of Stripe's documented values).
const REFUND_FAILURE_REASON: &str = "expired_or_canceled_card";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    RefundsFail,
    Disputed,
}

/// What the layer knows beyond localstripe, and lays over localstripe's objects.
#[derive(Default)]
pub(super) struct TestMode {
    /// Payment methods made from a trigger card.
    cards: HashMap<String, Card>,
    /// Charges paid with 4000000000005126.
    refunds_fail: HashSet<String>,
    /// Refunds that failed since: id → (charge, amount).
    failed_refunds: HashMap<String, (String, i64)>,
    pub(super) disputes: disputes::Disputes,
    pub(super) captures: capture::Captures,
    pub(super) confirms: confirm::Confirms,
    pub(super) accepted: super::accepted::Accepted,
}

impl TestMode {
    /// Lays what Stripe would show over localstripe's objects in `value` (anywhere in it: an
    /// intent's `latest_charge`, a list's `data`, an event's `data.object`): failed refunds read
    /// failed and are not counted in their charge's `amount_refunded`; disputed charges read
    /// `disputed: true`; intents and charges get their capture fields (`capture`). Returns
    /// whether anything changed.
    pub(super) fn overlay(&self, value: &mut Value) -> bool {
        match value {
            Value::Array(items) => items.iter_mut().fold(false, |c, v| self.overlay(v) | c),
            Value::Object(map) => {
                let mut changed = map.values_mut().fold(false, |c, v| self.overlay(v) | c);
                let id = map
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                match map.get("object").and_then(Value::as_str) {
                    Some("refund") if self.failed_refunds.contains_key(&id) => {
                        map.insert("status".into(), json!("failed"));
                        map.insert("failure_reason".into(), json!(REFUND_FAILURE_REASON));
                        changed = true;
                    }
                    Some("charge") => {
                        let failed: i64 = self
                            .failed_refunds
                            .values()
                            .filter(|(charge, _)| *charge == id)
                            .map(|(_, amount)| amount)
                            .sum();
                        if failed > 0 {
                            let refunded =
                                map["amount_refunded"].as_i64().unwrap_or_default() - failed;
                            let amount = map["amount"].as_i64().unwrap_or_default();
                            map.insert("amount_refunded".into(), json!(refunded.max(0)));
                            map.insert("refunded".into(), json!(refunded >= amount));
                            changed = true;
                        }
                        if self.disputes.of_charge(&id).is_some() {
                            map.insert("disputed".into(), json!(true));
                            changed = true;
                        }
                        changed |= self.captures.charge(map);
                    }
                    Some("payment_intent") => {
                        changed |= self.confirms.intent(map);
                        changed |= self.captures.intent(map);
                    }
                    _ => {}
                }
                if let Some(kind) = map
                    .get("object")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                {
                    changed |= self.accepted.overlay(&kind, &id, map);
                }
                changed
            }
            _ => false,
        }
    }
}

/// Before `call` goes to localstripe: `Err` answers it instead, `Ok(Some(body))` sends that
/// body instead of the caller's.
pub(super) async fn before(layer: &Layer, call: &Call) -> Result<Option<Bytes>, Answer> {
    if call.method != "POST" || call.segments() != ["v1", "refunds"] {
        return Ok(None);
    }
    let auth = call.header("authorization");
    let charge_id = match (
        param(&call.params, "charge"),
        param(&call.params, "payment_intent"),
    ) {
        (Some(charge), _) => Some(charge.to_string()),
        (None, Some(pi)) => layer
            .fetch(&format!("/v1/payment_intents/{pi}"), auth)
            .await
            .and_then(|intent| id_of(&intent["latest_charge"]).map(str::to_string)),
        (None, None) => None,
    };
    // Whatever is wrong with the request otherwise, localstripe says.
    let Some(charge) = charge_id.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    let Some(charge) = layer.fetch(&format!("/v1/charges/{charge}"), auth).await else {
        return Ok(None);
    };
    let left = charge["amount"].as_i64().unwrap_or_default()
        - charge["amount_refunded"].as_i64().unwrap_or_default();
    let id = str_of(&charge, "id").unwrap_or_default();
    if left <= 0 {
        return Err(Answer::stripe_error(
            400,
            "invalid_request_error",
            Some("charge_already_refunded"),
            &format!("Charge {id} has already been refunded."),
        ));
    }
    match param(&call.params, "amount").map(str::parse::<i64>) {
        Some(Ok(amount)) if amount > left => Err(Answer::stripe_error(
            400,
            "invalid_request_error",
            Some("amount_too_large"),
            &format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            ),
        )),
        Some(_) => Ok(None),
        None => Ok(Some(with_param(call, "amount", left))),
    }
}

/// The request's body with one more parameter.
fn with_param(call: &Call, name: &str, value: i64) -> Bytes {
    let json = call
        .header("content-type")
        .is_some_and(|t| t.contains("json"));
    match serde_json::from_slice::<Value>(&call.body) {
        Ok(Value::Object(mut map)) if json => {
            map.insert(name.into(), json!(value));
            Bytes::from(Value::Object(map).to_string())
        }
        _ => {
            let mut body = call.body.to_vec();
            if !body.is_empty() {
                body.push(b'&');
            }
            body.extend_from_slice(format!("{name}={value}").as_bytes());
            Bytes::from(body)
        }
    }
}

/// After localstripe executed `call` successfully and answered `object`.
pub(super) async fn after(layer: &Arc<Layer>, call: &Call, object: &Value) {
    let segments = call.segments();
    match segments.as_slice() {
        ["v1", "payment_methods"] => {
            payment_method_made(layer, param(&call.params, "card[number]"), object);
        }
        ["v1", "payment_intents", _, "cancel"] => {
            intent_event(layer, call, "payment_intent.canceled", object, None).await;
        }
        ["v1", "payment_intents"]
        | ["v1", "payment_intents", _, "confirm" | "_authenticate" | "capture"] => {
            if segments.last() == Some(&"_authenticate") {
                confirm::authenticated(layer, call, object).await;
            }
            match str_of(object, "status") {
                Some("requires_action") => {
                    intent_event(layer, call, "payment_intent.requires_action", object, None).await;
                }
                Some("requires_capture") => {
                    let before = json!({"amount_capturable": 0});
                    intent_event(
                        layer,
                        call,
                        "payment_intent.amount_capturable_updated",
                        object,
                        Some(before),
                    )
                    .await;
                }
                Some("succeeded") => {
                    charge_succeeded(layer, call, &object["latest_charge"]);
                    if segments.last() == Some(&"capture") {
                        capture::captured(layer, call, &object["latest_charge"]).await;
                    }
                }
                _ => {}
            }
        }
        ["v1", "charges"] if str_of(object, "status") == Some("succeeded") => {
            charge_succeeded(layer, call, object);
        }
        ["v1", "charges", _, "capture"] => capture::captured(layer, call, object).await,
        ["v1", "refunds"] => refunded(layer, call, object).await,
        _ => {}
    }
}

/// A card PaymentMethod localstripe made from `number`: remembered for captures, confirms
/// (Stripe's test cards) and the test-mode triggers.
pub(super) fn payment_method_made(layer: &Layer, number: Option<&str>, pm: &Value) {
    let card = match number {
        Some(CARD_REFUND_FAILS) => Some(Card::RefundsFail),
        Some(CARD_DISPUTED) => Some(Card::Disputed),
        _ => None,
    };
    let mut test_mode = layer.test_mode();
    test_mode.captures.payment_method(pm);
    test_mode.confirms.payment_method(number, pm);
    if let (Some(card), Some(id)) = (card, str_of(pm, "id")) {
        test_mode.cards.insert(id.to_string(), card);
    }
}

/// The intent as a PaymentIntent event carries it: with the amounts of the `capture` overlay,
/// its charge by id, and `canceled_at` once canceled.
fn intent_object(test_mode: &TestMode, intent: &Value) -> Value {
    let mut pi = intent.clone();
    test_mode.overlay(&mut pi);
    let charge = id_of(&intent["latest_charge"]).map(str::to_string);
    pi["latest_charge"] = json!(charge);
    let canceled = str_of(intent, "status") == Some("canceled");
    if canceled && pi.get("canceled_at").is_none_or(Value::is_null) {
        pi["canceled_at"] = json!(now());
    }
    pi
}

pub(super) async fn intent_event(
    layer: &Layer,
    call: &Call,
    kind: &str,
    intent: &Value,
    previous: Option<Value>,
) {
    let auth = call.header("authorization");
    let pi = intent_object(&layer.test_mode(), intent);
    layer.emit(kind, pi, previous, &call.origin, auth).await;
}

/// A charge that succeeded: remember a 5126 charge; a 0259 charge is disputed a moment later.
fn charge_succeeded(layer: &Arc<Layer>, call: &Call, charge: &Value) {
    let (Some(id), Some(pm)) = (str_of(charge, "id"), str_of(charge, "payment_method")) else {
        return;
    };
    let card = {
        let mut test_mode = layer.test_mode();
        let card = test_mode.cards.get(pm).copied();
        if card == Some(Card::RefundsFail) {
            test_mode.refunds_fail.insert(id.to_string());
        }
        card
    };
    if card == Some(Card::Disputed) {
        let (layer2, charge) = (layer.clone(), charge.clone());
        let auth = call.header("authorization").map(str::to_string);
        layer.later(async move { disputes::open(&layer2, &charge, auth.as_deref()).await });
    }
}

/// A refund localstripe made: `charge.refunded` and `charge.refund.updated`; for a 5126
/// charge, a moment later, the refund fails.
async fn refunded(layer: &Arc<Layer>, call: &Call, refund: &Value) {
    let auth = call.header("authorization");
    let Some(charge_id) = str_of(refund, "charge").map(str::to_string) else {
        return;
    };
    let Some(charge) = layer.fetch(&format!("/v1/charges/{charge_id}"), auth).await else {
        return;
    };
    let mut refund = refund.clone();
    if refund["payment_intent"].is_null() {
        refund["payment_intent"] = charge["payment_intent"].clone();
    }
    let amount = refund["amount"].as_i64().unwrap_or_default();
    let now_refunded = charge["amount_refunded"].as_i64().unwrap_or_default();
    let before = json!({
        "amount_refunded": now_refunded - amount,
        "refunded": now_refunded - amount >= charge["amount"].as_i64().unwrap_or_default(),
    });
    layer
        .emit("charge.refunded", charge, Some(before), &call.origin, auth)
        .await;
    layer
        .emit(
            "charge.refund.updated",
            refund.clone(),
            None,
            &call.origin,
            auth,
        )
        .await;
    // Sent for every refund since 2024-10-28.acacia
    // (<https://docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update>).
    let mut shown = refund.clone();
    layer.test_mode().overlay(&mut shown);
    layer
        .emit("refund.created", shown, None, &call.origin, auth)
        .await;

    if !layer.test_mode().refunds_fail.contains(&charge_id) {
        return;
    }
    let layer2 = layer.clone();
    let auth = auth.map(str::to_string);
    layer.later(async move {
        let Some(id) = str_of(&refund, "id").map(str::to_string) else {
            return;
        };
        layer2
            .test_mode()
            .failed_refunds
            .insert(id, (charge_id, amount));
        layer2.test_mode().overlay(&mut refund);
        let before = json!({"status": "succeeded", "failure_reason": null});
        layer2
            .emit(
                "charge.refund.updated",
                refund.clone(),
                Some(before),
                &Origin::default(),
                auth.as_deref(),
            )
            .await;
        // Stripe's `refund.failed` (2024-10-28.acacia, as above).
        layer2
            .emit(
                "refund.failed",
                refund,
                None,
                &Origin::default(),
                auth.as_deref(),
            )
            .await;
    });
}
