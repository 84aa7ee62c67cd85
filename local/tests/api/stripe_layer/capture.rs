//! Manual capture (<https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>): a
//! hold, then a capture of what was used, as the PaymentIntent
//! (<https://docs.stripe.com/api/payment_intents/object>) and its charge
//! (<https://docs.stripe.com/api/charges/object>) show it through the layer: in API answers,
//! in `GET /v1/events`, and in localstripe's own events, which the layer relays to the
//! endpoints registered through it.

use std::time::Duration;

use serde_json::Value;

use super::events::{is_on, listed_and_delivered};
use super::{intent_form, object, rig, Receiver, Rig};
use crate::support::CARD_OK;

/// Stripe: an online card authorization expires after 7 days (`capture_before`).
const SEVEN_DAYS: i64 = 7 * 24 * 60 * 60;

/// A manual-capture intent of `amount`, paid with the test card: held, `requires_capture`.
async fn held_intent(rig: &Rig, amount: &str) -> Value {
    let mut form = intent_form(amount, "hold");
    form.push(("capture_method", "manual"));
    let made = rig.post("/v1/payment_intents", &form, None).await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let held = rig
        .stripe
        .pay(made.body["id"].as_str().unwrap(), CARD_OK)
        .await;
    assert_eq!(held.status, 200, "{:?}", held.body);
    assert_eq!(held.body["status"], "requires_capture");
    held.body
}

/// The id of an intent's `latest_charge` (an id, or the expanded charge).
fn charge_id(intent: &Value) -> String {
    let charge = &intent["latest_charge"];
    charge
        .as_str()
        .or_else(|| charge["id"].as_str())
        .unwrap_or_else(|| panic!("no charge on {intent}"))
        .to_string()
}

async fn got(rig: &Rig, path: &str) -> Value {
    let got = rig.get(path).await;
    assert_eq!(got.status, 200, "{path}: {:?}", got.body);
    got.body
}

#[tokio::test]
async fn a_hold_is_capturable_and_its_authorization_expires_seven_days_after_the_charge() {
    let rig = rig().await;
    let receiver = Receiver::start().await;
    assert_eq!(rig.register("tests", &receiver.url(), &[]).await, 200);

    let held = held_intent(&rig, "1000").await;
    let (pi, ch) = (held["id"].as_str().unwrap(), charge_id(&held));
    assert_eq!(
        (&held["amount_capturable"], &held["amount_received"]),
        (&Value::from(1000), &Value::from(0)),
        "the confirm's answer"
    );
    let event = listed_and_delivered(
        &rig,
        &receiver,
        "payment_intent.amount_capturable_updated",
        is_on(&held["id"]),
    )
    .await;
    assert_eq!(object(&event)["amount_capturable"], 1000);
    assert_eq!(object(&event)["latest_charge"], ch.as_str());

    let charge = got(&rig, &format!("/v1/charges/{ch}")).await;
    assert_eq!(
        (&charge["captured"], &charge["amount_captured"]),
        (&Value::from(false), &Value::from(0))
    );
    let created = charge["created"].as_i64().unwrap();
    let card = &charge["payment_method_details"];
    assert_eq!(card["type"], "card", "{charge}");
    assert_eq!(card["card"]["capture_before"], created + SEVEN_DAYS);

    // What the product reads to know until when it may capture.
    let expanded = got(
        &rig,
        &format!("/v1/payment_intents/{pi}?expand[]=latest_charge"),
    )
    .await;
    assert_eq!(expanded["latest_charge"]["id"], ch.as_str());
    assert_eq!(
        expanded["latest_charge"]["payment_method_details"]["card"]["capture_before"],
        created + SEVEN_DAYS
    );
    let retrieved = got(&rig, &format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(
        (
            &retrieved["amount_capturable"],
            &retrieved["amount_received"]
        ),
        (&Value::from(1000), &Value::from(0))
    );
}

#[tokio::test]
async fn a_partial_capture_receives_what_was_captured_and_a_full_refund_returns_only_that() {
    let rig = rig().await;
    let receiver = Receiver::start().await;
    assert_eq!(rig.register("tests", &receiver.url(), &[]).await, 200);

    let held = held_intent(&rig, "1000").await;
    let (pi, ch) = (held["id"].as_str().unwrap(), charge_id(&held));
    let captured = rig
        .post(
            &format!("/v1/payment_intents/{pi}/capture"),
            &[("amount_to_capture", "600")],
            None,
        )
        .await;
    assert_eq!(captured.status, 200, "{:?}", captured.body);
    assert_eq!(captured.body["status"], "succeeded");
    assert_eq!(
        (
            &captured.body["amount_received"],
            &captured.body["amount_capturable"]
        ),
        (&Value::from(600), &Value::from(0)),
        "the capture's answer"
    );

    // localstripe's own event, relayed by the layer: listed and delivered alike.
    let succeeded = listed_and_delivered(
        &rig,
        &receiver,
        "payment_intent.succeeded",
        is_on(&held["id"]),
    )
    .await;
    assert_eq!(object(&succeeded)["amount_received"], 600, "{succeeded}");
    assert_eq!(object(&succeeded)["amount_capturable"], 0);
    let retrieved = got(&rig, &format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(retrieved["amount_received"], 600);

    let charge = got(&rig, &format!("/v1/charges/{ch}")).await;
    assert_eq!(
        (&charge["captured"], &charge["amount_captured"]),
        (&Value::from(true), &Value::from(600))
    );
    assert!(
        charge["payment_method_details"]["card"]["capture_before"].is_null(),
        "captured: nothing left to expire"
    );
    // The released remainder counts in amount_refunded, as at Stripe; it is not a refund
    // anyone asked for, so no charge.refunded.
    assert_eq!(charge["amount_refunded"], 400);
    let captured_event = listed_and_delivered(&rig, &receiver, "charge.captured", |e| {
        object(e)["id"] == ch.as_str()
    })
    .await;
    assert_eq!(object(&captured_event)["amount_captured"], 600);
    let refunded = rig.events("type=charge.refunded").await;
    assert!(refunded.is_empty(), "{refunded:?}");

    // A refund without an amount refunds what is left: the captured amount.
    let refund = rig
        .post("/v1/refunds", &[("payment_intent", pi)], None)
        .await;
    assert_eq!(refund.status, 200, "{:?}", refund.body);
    assert_eq!(refund.body["amount"], 600);
    let charge = got(&rig, &format!("/v1/charges/{ch}")).await;
    assert_eq!(
        (&charge["amount_refunded"], &charge["refunded"]),
        (&Value::from(1000), &Value::from(true))
    );
    let again = rig
        .post("/v1/refunds", &[("payment_intent", pi)], None)
        .await;
    assert_eq!(again.status, 400, "{:?}", again.body);
    assert_eq!(again.body["error"]["code"], "charge_already_refunded");
}

#[tokio::test]
async fn an_automatic_intent_receives_its_amount_and_each_endpoint_gets_its_event_once() {
    let rig = rig().await;
    let everything = Receiver::start().await;
    let succeeded_only = Receiver::start().await;
    assert_eq!(rig.register("all", &everything.url(), &[]).await, 200);
    let only = ["payment_intent.succeeded"];
    assert_eq!(
        rig.register("succeeded", &succeeded_only.url(), &only)
            .await,
        200
    );

    let paid = rig.paid_intent("500", CARD_OK).await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(
        (&paid["amount_received"], &paid["amount_capturable"]),
        (&Value::from(500), &Value::from(0))
    );
    let charge = got(&rig, &format!("/v1/charges/{}", charge_id(&paid))).await;
    assert_eq!(
        (&charge["captured"], &charge["amount_captured"]),
        (&Value::from(true), &Value::from(500))
    );
    assert!(charge["payment_method_details"]["card"]["capture_before"].is_null());

    let event = listed_and_delivered(
        &rig,
        &everything,
        "payment_intent.succeeded",
        is_on(&paid["id"]),
    )
    .await;
    assert_eq!(object(&event)["amount_received"], 500);
    succeeded_only.wait_for(event["id"].as_str().unwrap()).await;
    // localstripe delivers about a second after the event: give a second delivery time.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for receiver in [&everything, &succeeded_only] {
        let got: Vec<Value> = receiver
            .delivered()
            .into_iter()
            .filter(|e| e["type"] == "payment_intent.succeeded")
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
    }
}
