//! Events localstripe never sends (<https://docs.stripe.com/api/events/types>): the layer
//! makes them up, lists them with localstripe's own in `GET /v1/events`
//! (<https://docs.stripe.com/api/events/list>), and delivers them signed as Stripe signs
//! (<https://docs.stripe.com/webhooks#verify-manually>) to the endpoints registered through it.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::{intent_form, object, rig, Receiver, Rig, ENDPOINT_SECRET};
use crate::support::product::webhook_signature;
use crate::support::{now, spawn_app, CARD_3DS, CARD_DISPUTED, CARD_OK};

/// Waits for the event of `kind` matching `pred` in the list, then for its delivery, and
/// checks the delivered payload is the listed event.
pub(super) async fn listed_and_delivered(
    rig: &Rig,
    receiver: &Receiver,
    kind: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let listed = rig.wait_event(kind, pred).await;
    let delivered = receiver.wait_for(listed["id"].as_str().unwrap()).await;
    for field in [
        "id",
        "type",
        "created",
        "data",
        "request",
        "api_version",
        "livemode",
    ] {
        assert_eq!(delivered[field], listed[field], "{field} of {kind}");
    }
    listed
}

pub(super) fn is_on(id: &Value) -> impl Fn(&Value) -> bool + '_ {
    move |e: &Value| &object(e)["id"] == id
}

#[tokio::test]
async fn every_event_the_layer_makes_is_listed_and_delivered_signed() {
    let rig = rig().await;
    let receiver = Receiver::start().await;
    assert_eq!(rig.register("tests", &receiver.url(), &[]).await, 200);

    let cancelled = rig.new_intent("350", "cancel").await;
    let pi = cancelled["id"].as_str().unwrap();
    let cancel = format!("/v1/payment_intents/{pi}/cancel");
    assert_eq!(rig.post(&cancel, &[], Some("cancel-key")).await.status, 200);
    let event = listed_and_delivered(
        &rig,
        &receiver,
        "payment_intent.canceled",
        is_on(&cancelled["id"]),
    )
    .await;
    assert_eq!(object(&event)["status"], "canceled");
    assert_eq!(object(&event)["metadata"]["test"], "cancel");
    assert_eq!(event["request"]["idempotency_key"], "cancel-key");

    let three_ds = rig.paid_intent("350", CARD_3DS).await;
    assert_eq!(three_ds["status"], "requires_action");
    let event = listed_and_delivered(
        &rig,
        &receiver,
        "payment_intent.requires_action",
        is_on(&three_ds["id"]),
    )
    .await;
    assert_eq!(object(&event)["next_action"]["type"], "use_stripe_sdk");

    let mut manual = intent_form("800", "manual");
    manual.push(("capture_method", "manual"));
    let made = rig.post("/v1/payment_intents", &manual, None).await;
    let held = rig
        .stripe
        .pay(made.body["id"].as_str().unwrap(), CARD_OK)
        .await;
    assert_eq!(held.body["status"], "requires_capture");
    let event = listed_and_delivered(
        &rig,
        &receiver,
        "payment_intent.amount_capturable_updated",
        is_on(&held.body["id"]),
    )
    .await;
    assert_eq!(object(&event)["amount_capturable"], 800);
    assert!(object(&event)["latest_charge"]
        .as_str()
        .is_some_and(|c| c.starts_with("ch_")));

    let paid = rig.paid_intent("900", CARD_OK).await;
    let charge = paid["latest_charge"]["id"].clone();
    let refund = rig
        .post(
            "/v1/refunds",
            &[("payment_intent", paid["id"].as_str().unwrap())],
            None,
        )
        .await;
    assert_eq!(refund.status, 200, "{:?}", refund.body);
    listed_and_delivered(&rig, &receiver, "charge.refunded", is_on(&charge)).await;
    listed_and_delivered(
        &rig,
        &receiver,
        "charge.refund.updated",
        is_on(&refund.body["id"]),
    )
    .await;

    let disputed = rig.paid_intent("1000", CARD_DISPUTED).await;
    let on_charge = |e: &Value| object(e)["charge"] == disputed["latest_charge"]["id"];
    let opened = listed_and_delivered(&rig, &receiver, "charge.dispute.created", on_charge).await;
    let dispute = object(&opened)["id"].as_str().unwrap().to_string();
    let evidence = rig
        .post(
            &format!("/v1/disputes/{dispute}"),
            &[("evidence[uncategorized_text]", "winning_evidence")],
            None,
        )
        .await;
    assert_eq!(evidence.status, 200, "{:?}", evidence.body);
    listed_and_delivered(&rig, &receiver, "charge.dispute.updated", on_charge).await;
    listed_and_delivered(&rig, &receiver, "charge.dispute.closed", on_charge).await;
}

/// Stripe's example event (`fixtures3-subset.json`): every field, with the intent as
/// localstripe has it and its charge by id.
#[tokio::test]
async fn made_up_events_take_the_shape_of_stripes_example_event() {
    let rig = rig().await;
    let intent = rig.paid_intent("350", CARD_3DS).await;
    let event = rig
        .wait_event("payment_intent.requires_action", is_on(&intent["id"]))
        .await;
    let mut keys: Vec<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "api_version",
            "created",
            "data",
            "id",
            "livemode",
            "object",
            "pending_webhooks",
            "request",
            "type"
        ]
    );
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(
        (event["object"].as_str(), event["livemode"].as_bool()),
        (Some("event"), Some(false))
    );
    assert!(event["api_version"].is_string());
    assert!(event["created"].as_i64().unwrap() >= intent["created"].as_i64().unwrap());
    assert_eq!(event["pending_webhooks"], 0, "no endpoint registered");
    assert!(event["request"]["id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(object(&event)["metadata"]["test"], "paid");
    // The same event by id.
    let by_id = rig
        .get(&format!("/v1/events/{}", event["id"].as_str().unwrap()))
        .await;
    assert_eq!((by_id.status, &by_id.body), (200, &event));
}

#[tokio::test]
async fn the_event_list_merges_localstripes_events_newest_first_with_stripes_filters() {
    let rig = rig().await;
    // localstripe's own event (payment_intent.succeeded), then one of the layer's.
    let paid = rig.paid_intent("350", CARD_OK).await;
    rig.wait_event("payment_intent.succeeded", is_on(&paid["id"]))
        .await;
    let cancelled = rig.new_intent("350", "cancel").await;
    let pi = cancelled["id"].as_str().unwrap();
    rig.post(&format!("/v1/payment_intents/{pi}/cancel"), &[], None)
        .await;

    let all = rig.events("limit=100").await;
    let kinds: Vec<&str> = all.iter().filter_map(|e| e["type"].as_str()).collect();
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("{kind} in {kinds:?}"))
    };
    assert!(
        at("payment_intent.canceled") < at("payment_intent.succeeded"),
        "newest first: {kinds:?}"
    );
    let created: Vec<i64> = all.iter().map(|e| e["created"].as_i64().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    let both = rig
        .events("types[]=payment_intent.canceled&types[]=payment_intent.succeeded")
        .await;
    let kinds: Vec<&str> = both.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["payment_intent.canceled", "payment_intent.succeeded"]
    );
    assert_eq!(rig.events("type=payment_intent.canceled").await.len(), 1);
    let later = created[0] + 1;
    assert!(rig
        .events(&format!("created[gt]={}", created[0]))
        .await
        .is_empty());
    assert!(rig
        .events(&format!("created[gte]={later}"))
        .await
        .is_empty());
    assert_eq!(
        rig.events(&format!("created[gte]={}", created[0])).await[0],
        all[0]
    );

    // Pages: limit and starting_after walk the same list.
    let first = rig.get("/v1/events?limit=1").await;
    assert_eq!(
        (
            first.body["object"].as_str(),
            first.body["has_more"].as_bool()
        ),
        (Some("list"), Some(true))
    );
    assert_eq!(first.body["data"], json!([all[0]]));
    let after = all[0]["id"].as_str().unwrap();
    let next = rig.events(&format!("limit=1&starting_after={after}")).await;
    assert_eq!(next, [all[1].clone()]);
}

#[tokio::test]
async fn an_endpoint_gets_only_the_event_types_it_registered_for() {
    let rig = rig().await;
    let receiver = Receiver::start().await;
    let url = receiver.url();
    assert_eq!(
        rig.register("only-refunds", &url, &["charge.refunded"])
            .await,
        200
    );
    let cancelled = rig.new_intent("350", "cancel").await;
    let pi = cancelled["id"].as_str().unwrap();
    rig.post(&format!("/v1/payment_intents/{pi}/cancel"), &[], None)
        .await;
    let paid = rig.paid_intent("500", CARD_OK).await;
    rig.post(
        "/v1/refunds",
        &[("payment_intent", paid["id"].as_str().unwrap())],
        None,
    )
    .await;
    let refunded = rig.wait_event("charge.refunded", |_| true).await;
    receiver.wait_for(refunded["id"].as_str().unwrap()).await;
    let kinds: Vec<Value> = receiver
        .delivered()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(kinds.iter().all(|k| k == "charge.refunded"), "{kinds:?}");
}

/// The relay takes only what localstripe signed: anyone else posting there is refused, and
/// nothing reaches the endpoint.
#[tokio::test]
async fn a_relay_not_signed_by_localstripe_is_refused() {
    let rig = rig().await;
    let receiver = Receiver::start().await;
    assert_eq!(rig.register("tests", &receiver.url(), &[]).await, 200);
    let body = r#"{"id":"evt_forged","object":"event","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_x","object":"payment_intent"}}}"#;
    let signature = webhook_signature::sign(body.as_bytes(), ENDPOINT_SECRET, now());
    let status = reqwest::Client::new()
        .post(format!("{}/_relay/tests", rig.layer.url()))
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .expect("the layer answers")
        .status()
        .as_u16();
    assert_eq!(status, 400);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.delivered().is_empty());
}

/// The whole stack: an intent cancelled at Stripe, not through the API (the Dashboard, or
/// Stripe itself), reaches the booking through the webhook.
#[tokio::test]
async fn a_cancel_made_at_stripe_reaches_the_booking_through_the_webhook() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    let cancelled = app
        .stripe(
            Method::POST,
            &format!("/v1/payment_intents/{pi}/cancel"),
            &[],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    let booking = app.wait_for_payment_status(&booking_id, "canceled").await;
    assert_eq!(booking["payment_intent_id"], pi);
}
