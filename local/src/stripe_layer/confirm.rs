//! Confirming a PaymentIntent as Stripe does (<https://docs.stripe.com/api/payment_intents/confirm>),
//! where localstripe does not:
//!
//! - In one call: `payment_method` (an id) or `payment_method_data` (a new card) on the confirm
//!   itself, as Stripe.js confirms. localstripe answers that with a 500 "Not implemented"; the
//!   layer attaches the method to the intent (or makes it first), then confirms.
//! - `POST /v1/payment_intents` with `confirm=true` goes the same way: created without
//!   `confirm`, then confirmed here.
//! - The card decides, by Stripe's test-card table (`cards`): a decline is Stripe's 402 card
//!   error (`code`, `decline_code`, `message`, the `payment_intent` and `payment_method`; <https://docs.stripe.com/api/errors>),
//!   the intent goes back to `requires_payment_method` with that error as its
//!   `last_payment_error`, and `payment_intent.payment_failed` is sent. The intent can then be
//!   confirmed again with another card, as on Stripe ("If the payment attempt fails ... the
//!   PaymentIntent's status returns to requires_payment_method", <https://docs.stripe.com/payments/paymentintents/lifecycle>).
//! - `off_session=true` (<https://docs.stripe.com/api/payment_intents/confirm#confirm_payment_intent-off_session>):
//!   4000002500003155 pays without authentication once it was authenticated, 4000002760003184
//!   (and an unauthenticated 3155) declines with `authentication_required`
//!   (<https://docs.stripe.com/testing#regulatory-cards>). localstripe takes no `off_session`
//!   on a confirm and always asks for authentication.
//! - A failed 3-D Secure authentication (`_authenticate?success=false`) sends
//!   `payment_intent.payment_failed` with Stripe's `payment_intent_authentication_failure`
//!   (<https://docs.stripe.com/error-codes#payment-intent-authentication-failure>).
//!
//! The decline is the layer's: localstripe never sees the declined card's charge, so the intent
//! has no failed Charge (Stripe makes one, and sends `charge.failed`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::cards::{Card, Decline, Outcome};
use super::server::Call;
use super::wire::{param, str_of};
use super::{triggers, Answer, Layer};

/// The key the layer uses for its own calls to localstripe (which accepts any `sk_` key).
pub(super) const UPSTREAM_AUTH: &str = "Bearer sk_test_stripe_layer";

/// Confirm parameters the layer handles itself; any other goes to localstripe, which refuses
/// what it does not know.
const HANDLED: [&str; 8] = [
    "key",
    "client_secret",
    "payment_method",
    "off_session",
    "return_url",
    "use_stripe_sdk",
    "expected_payment_method_type",
    "confirm",
];

const AUTHENTICATION_FAILED: &str = "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.";

/// What the layer knows about confirms beyond localstripe.
#[derive(Default)]
pub(super) struct Confirms {
    /// Card payment methods made through the layer → their test card.
    cards: HashMap<String, Card>,
    /// 4000002500003155 methods authenticated once (off-session payments need no more).
    set_up: HashSet<String>,
    /// Intents whose last confirm the layer declined → their `last_payment_error`.
    declined: HashMap<String, Value>,
}

impl Confirms {
    /// A payment method localstripe made from card `number`.
    pub(super) fn payment_method(&mut self, number: Option<&str>, pm: &Value) {
        if let (Some(number), Some(id)) = (number, str_of(pm, "id")) {
            self.cards.insert(id.to_string(), Card::of(number));
        }
    }

    fn card(&self, pm: &str) -> Card {
        self.cards.get(pm).copied().unwrap_or(Card::Pays)
    }

    /// Lays the layer's declines over an intent: `requires_payment_method`, no payment method,
    /// the decline as `last_payment_error`; and Stripe's message for a failed authentication.
    pub(super) fn intent(&self, pi: &mut Map<String, Value>) -> bool {
        let mut changed = false;
        if pi.get("payment_method").and_then(Value::as_str) == Some("") {
            pi.insert("payment_method".into(), Value::Null);
            changed = true;
        }
        let id = pi.get("id").and_then(Value::as_str).unwrap_or_default();
        let unpaid = pi.get("status").and_then(Value::as_str) == Some("requires_payment_method");
        if let Some(error) = self.declined.get(id).filter(|_| unpaid) {
            pi.insert("last_payment_error".into(), error.clone());
            changed = true;
        }
        if let Some(Value::Object(error)) = pi.get_mut("last_payment_error") {
            let code = error.get("code").and_then(Value::as_str);
            if code == Some("payment_intent_authentication_failure") && error.get("type").is_none()
            {
                error.insert("type".into(), json!("invalid_request_error"));
                error.insert("message".into(), json!(AUTHENTICATION_FAILED));
                changed = true;
            }
        }
        changed
    }
}

/// `POST /v1/payment_intents/{id}/confirm`.
pub(super) async fn confirm(layer: &Arc<Layer>, call: &Call, id: &str) -> Answer {
    let body = body_params(call);
    let Some(intent) = layer.upstream_intent(id).await else {
        return no_such_intent(id);
    };
    if let Some(secret) = param(&body, "client_secret") {
        if Some(secret) != str_of(&intent, "client_secret") {
            return secret_mismatch();
        }
    }
    let rest: Vec<(String, String)> = body
        .iter()
        .filter(|(k, _)| !HANDLED.contains(&k.as_str()) && !k.starts_with("payment_method_data"))
        .cloned()
        .collect();
    if !rest.is_empty() {
        // localstripe's own answer ("Unexpected ..."), before anything changes.
        return layer
            .upstream_post(&format!("/v1/payment_intents/{id}/confirm"), &rest)
            .await;
    }
    let status = str_of(&intent, "status").unwrap_or_default();
    if !matches!(status, "requires_payment_method" | "requires_confirmation") {
        return Answer::stripe_error(
            400,
            "invalid_request_error",
            Some("payment_intent_unexpected_state"),
            &format!("You cannot confirm this PaymentIntent because it has a status of {status}."),
        );
    }
    let current = str_of(&intent, "payment_method").filter(|pm| !pm.is_empty());
    let pm = if let Some(pm) = param(&body, "payment_method") {
        pm.to_string()
    } else if param(&body, "payment_method_data[type]").is_some() {
        match new_payment_method(layer, &body).await {
            Ok(pm) => pm,
            Err(refused) => return refused,
        }
    } else if let Some(pm) = current {
        pm.to_string()
    } else {
        return Answer::stripe_error(
            400,
            "invalid_request_error",
            Some("payment_intent_unexpected_state"),
            "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent, specify payment_method or payment_method_data.",
        );
    };
    let off_session = param(&body, "off_session") == Some("true");
    let outcome = {
        let test_mode = layer.test_mode();
        let confirms = &test_mode.confirms;
        confirms
            .card(&pm)
            .on_confirm(off_session, confirms.set_up.contains(&pm))
    };
    layer.test_mode().confirms.declined.remove(id);
    if let Outcome::Declines(decline) = outcome {
        return declined(layer, call, id, &pm, current.is_some(), decline).await;
    }
    if current != Some(pm.as_str()) {
        let attached = layer
            .upstream_post(
                &format!("/v1/payment_intents/{id}"),
                &[("payment_method".into(), pm.clone())],
            )
            .await;
        if !attached.is_success() {
            return attached;
        }
    }
    let confirmed = layer
        .upstream_post(&format!("/v1/payment_intents/{id}/confirm"), &[])
        .await;
    let asks = confirmed
        .json_body()
        .is_some_and(|pi| str_of(&pi, "status") == Some("requires_action"));
    if outcome == Outcome::Pays && asks {
        // A card set up before, paid off-session: no authentication (localstripe asks).
        let secret = str_of(&intent, "client_secret").unwrap_or_default();
        return layer
            .upstream_post(
                &format!("/v1/payment_intents/{id}/_authenticate?success=true"),
                &[("client_secret".into(), secret.to_string())],
            )
            .await;
    }
    confirmed
}

/// `POST /v1/payment_intents` with `confirm=true`: created without it, then confirmed.
pub(super) async fn create_and_confirm(layer: &Arc<Layer>, call: &Call) -> Answer {
    let body = body_params(call);
    let create: Vec<(String, String)> = body
        .iter()
        .filter(|(k, _)| k != "confirm" && k != "off_session")
        .cloned()
        .collect();
    let created = layer.upstream_post("/v1/payment_intents", &create).await;
    let Some(id) = created
        .json_body()
        .filter(|_| created.is_success())
        .and_then(|pi| str_of(&pi, "id").map(str::to_string))
    else {
        return created;
    };
    let mut confirm_params = vec![];
    for name in ["payment_method", "off_session"] {
        if let Some(value) = param(&body, name) {
            confirm_params.push((name.to_string(), value.to_string()));
        }
    }
    let inner = call.with_body(
        &format!("/v1/payment_intents/{id}/confirm"),
        UPSTREAM_AUTH,
        &confirm_params,
    );
    confirm(layer, &inner, &id).await
}

/// After `_authenticate`: an authenticated 3155 is set up for off-session payments; a failed
/// authentication sends `payment_intent.payment_failed`.
pub(super) async fn authenticated(layer: &Arc<Layer>, call: &Call, intent: &Value) {
    match str_of(intent, "status") {
        Some("succeeded" | "requires_capture" | "processing") => {
            let Some(pm) = str_of(intent, "payment_method") else {
                return;
            };
            let mut test_mode = layer.test_mode();
            if test_mode.confirms.card(pm) == Card::AuthenticatesOnce {
                test_mode.confirms.set_up.insert(pm.to_string());
            }
        }
        Some("requires_payment_method") => {
            triggers::intent_event(layer, call, "payment_intent.payment_failed", intent, None)
                .await;
        }
        _ => {}
    }
}

async fn declined(
    layer: &Arc<Layer>,
    call: &Call,
    id: &str,
    pm: &str,
    attached: bool,
    decline: Decline,
) -> Answer {
    if attached {
        // Back to requires_payment_method in localstripe too, so that the next confirm works.
        let cleared = layer
            .upstream_post(
                &format!("/v1/payment_intents/{id}"),
                &[("payment_method".into(), String::new())],
            )
            .await;
        if !cleared.is_success() {
            return cleared;
        }
    }
    let method = layer
        .fetch(&format!("/v1/payment_methods/{pm}"), Some(UPSTREAM_AUTH))
        .await
        .unwrap_or_else(|| json!({"id": pm, "object": "payment_method"}));
    let mut error = json!({
        "type": "card_error",
        "code": decline.code,
        "message": decline.message,
        "doc_url": format!("https://docs.stripe.com/error-codes/{}", decline.code.replace('_', "-")),
        "payment_method": method,
    });
    if let Some(code) = decline.decline_code {
        error["decline_code"] = json!(code);
    }
    layer
        .test_mode()
        .confirms
        .declined
        .insert(id.to_string(), error.clone());
    let intent = layer.upstream_intent(id).await.unwrap_or_else(|| json!({}));
    triggers::intent_event(layer, call, "payment_intent.payment_failed", &intent, None).await;
    error["payment_intent"] = intent;
    Answer::json(402, &json!({ "error": error }))
}

/// A card PaymentMethod from `payment_method_data` (its `type`, `card[...]`, `billing_details[...]`).
async fn new_payment_method(layer: &Layer, body: &[(String, String)]) -> Result<String, Answer> {
    let form: Vec<(String, String)> = body
        .iter()
        .filter_map(|(k, v)| {
            let inner = k.strip_prefix("payment_method_data")?;
            let inner = inner.strip_prefix('[')?;
            let (first, rest) = inner.split_once(']')?;
            Some((format!("{first}{rest}"), v.clone()))
        })
        .collect();
    let made = layer.upstream_post("/v1/payment_methods", &form).await;
    let Some(pm) = made.json_body().filter(|_| made.is_success()) else {
        return Err(made);
    };
    triggers::payment_method_made(layer, param(&form, "card[number]"), &pm);
    str_of(&pm, "id").map(str::to_string).ok_or(made)
}

/// The parameters of the request's body alone (not its query).
pub(super) fn body_params(call: &Call) -> Vec<(String, String)> {
    super::wire::params(None, call.header("content-type"), &call.body)
}

pub(super) fn no_such_intent(id: &str) -> Answer {
    let mut answer = Answer::stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such payment_intent: '{id}'"),
    );
    set_param(&mut answer, "intent");
    answer
}

pub(super) fn secret_mismatch() -> Answer {
    let mut answer = Answer::stripe_error(
        400,
        "invalid_request_error",
        Some("payment_intent_invalid_parameter"),
        "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
    );
    set_param(&mut answer, "client_secret");
    answer
}

fn set_param(answer: &mut Answer, name: &str) {
    if let Some(mut body) = answer.json_body() {
        body["error"]["param"] = json!(name);
        answer.body = Bytes::from(super::idempotency::pretty(&body));
    }
}
