//! Reconciliation against the real local stack (dynoxide, localstripe): with webhook delivery
//! switched off, a paid booking is `completed` after one run; with webhooks on, a run finds
//! nothing to do.
//!
//! "Switched off" here is the local Stripe with no webhook registered: it records every event
//! (`GET /v1/events` lists them, through the layer, as Stripe lists them) and delivers none,
//! as when Stripe cannot reach the webhook.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SecondsFormat, Utc};
use local_stack::{default_python, Dynamo, LocalStripe, StackConfig, Stripe};
use serde_json::json;

use crate::support::product::{BookingStore, Checkpoint, Tables};
use crate::support::{
    example_booking, get_item, new_id, spawn_app, spawn_app_with_stripe, StripeApi, TestApp, Turn,
    API_KEY, CARD_3DS, CARD_OK,
};

/// The app, with a Stripe (localstripe behind the layer, which lists events as Stripe does:
/// `types[]`, `ending_before`) that delivers no webhook.
async fn spawn_app_without_webhooks() -> TestApp {
    spawn_app_with_stripe(Dynamo::Memory, no_webhooks()).await
}

fn no_webhooks() -> Stripe {
    Stripe::Local(LocalStripe {
        webhooks: false,
        ..LocalStripe::new(default_python(), 0)
    })
}

#[tokio::test]
async fn without_webhooks_a_paid_booking_is_completed_after_one_run() {
    let app = spawn_app_without_webhooks().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    let paid = app.pay(pi, CARD_OK).await;
    assert_eq!(paid.body["status"], "succeeded", "{:?}", paid.body);
    // localstripe delivers a webhook about a second after the payment; none comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.booking(&booking_id).await["payment_status"], "pending");

    let run = app.stack.reconcile_now().await.expect("the run succeeds");

    let booking = app.booking(&booking_id).await;
    assert_eq!(booking["payment_status"], "completed", "{booking}");
    assert_eq!(booking["amount_received_minor"], 350);
    assert_eq!(run.events_applied, 1, "{run:?}");
    assert!(run.checkpoint.is_some(), "{run:?}");

    // A second run lists the same event again (it is within the overlap) and finds it applied.
    let again = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(again.events_applied, 0, "{again:?}");
    assert_eq!(again.events_duplicate, 1, "{again:?}");
    assert_eq!(app.booking(&booking_id).await, booking);
}

#[tokio::test]
async fn with_webhooks_on_a_run_finds_nothing_to_do() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    app.pay(intent["id"].as_str().unwrap(), CARD_OK).await;
    let completed = app.wait_for_payment_status(&booking_id, "completed").await;

    let run = app.stack.reconcile_now().await.expect("the run succeeds");

    assert_eq!(run.events_applied, 0, "{run:?}");
    assert_eq!(run.events_duplicate, 1, "the webhook's event: {run:?}");
    assert_eq!(run.swept_changed, 0, "{run:?}");
    assert_eq!(app.booking(&booking_id).await, completed);
}

/// The sweep's query runs on the emulator's index: a payment waiting for 3-D Secure that the
/// booking does not show (its event applied and then lost, say a restore), is found once it
/// has waited over five minutes.
#[tokio::test]
async fn a_payment_in_flight_for_over_five_minutes_is_found_through_the_index() {
    let app = spawn_app_without_webhooks().await;
    let (waiting, intent) = app.booking_with_intent().await;
    let confirm = app.pay(intent["id"].as_str().unwrap(), CARD_3DS).await;
    assert_eq!(
        confirm.body["status"], "requires_action",
        "{:?}",
        confirm.body
    );
    let (recent, recent_intent) = app.booking_with_intent().await;
    app.pay(recent_intent["id"].as_str().unwrap(), CARD_3DS)
        .await;
    // The Stripe layer sends `payment_intent.requires_action`, as Stripe does: the event list
    // applies both.
    let listed = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(listed.events_applied, 2, "{listed:?}");
    // Then one booking shows `pending` again, six minutes without news, as written by the
    // functions (`updated_at` to the millisecond); its event is recorded as applied.
    let six_minutes_ago =
        (Utc::now() - chrono::Duration::minutes(6)).to_rfc3339_opts(SecondsFormat::Millis, true);
    app.dynamodb()
        .update_item()
        .table_name("bookings")
        .key("id", AttributeValue::S(waiting.clone()))
        .update_expression("SET updated_at = :t, payment_status = :p")
        .expression_attribute_values(":t", AttributeValue::S(six_minutes_ago))
        .expression_attribute_values(":p", AttributeValue::S("pending".into()))
        .send()
        .await
        .unwrap();

    let run = app.stack.reconcile_now().await.expect("the run succeeds");

    assert_eq!(run.swept, 1, "{run:?}");
    assert_eq!(run.swept_changed, 1, "{run:?}");
    assert_eq!(
        app.booking(&waiting).await["payment_status"],
        "requires_action"
    );
    assert_eq!(
        app.booking(&recent).await["payment_status"],
        "requires_action"
    );
}

/// `reconcile_interval` (`RECONCILE_INTERVAL_SECONDS`): the stack runs it on its own.
#[tokio::test]
async fn the_stack_runs_it_every_interval() {
    let _turn = Turn::shared().await;
    let stack = local_stack::start(StackConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        api_keys: vec![API_KEY.to_string()],
        dynamo: Dynamo::Memory,
        tables: Tables {
            bookings: "bookings".into(),
            slots: "booking-slots".into(),
            idempotency: "idempotency".into(),
            events: "stripe-events".into(),
            tariffs: "tariffs".into(),
        },
        stripe: no_webhooks(),
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.into(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.into()],
        reconcile_interval: Some(Duration::from_secs(1)),
        holds: Default::default(),
        bridge: None,
    })
    .await
    .expect("local stack starts");
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", stack.url()))
            .header("x-api-key", API_KEY)
    };
    let created: serde_json::Value = api(reqwest::Method::POST, "/v1/bookings")
        .json(&example_booking(&new_id(), &new_id()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let booking_id = created["id"].as_str().unwrap().to_string();
    let intent: serde_json::Value = api(reqwest::Method::POST, "/v1/payments/create-intent")
        .json(&json!({"amount": 3.50, "booking_id": booking_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stripe = StripeApi::new(
        http.clone(),
        &stack.stripe_base,
        local_stack::LOCAL_SECRET_KEY,
    );
    stripe
        .pay(intent["payment_intent_id"].as_str().unwrap(), CARD_OK)
        .await;

    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let booking: serde_json::Value =
            api(reqwest::Method::GET, &format!("/v1/bookings/{booking_id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        status = booking["payment_status"].clone();
        if status == "completed" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no scheduled run completed the booking within 10 s: {status}");
}

/// The checkpoint item on the emulator: moved only over the value read (its time and the
/// event a walk stopped after), and never expired by the events table's TTL.
#[tokio::test]
async fn the_checkpoint_moves_only_over_the_value_read() {
    let app = spawn_app().await;
    let store = &app.stack.store;
    let at = |created_from: i64, after: Option<&str>| Checkpoint {
        created_from,
        after: after.map(str::to_string),
    };
    assert_eq!(store.reconcile_checkpoint().await.unwrap(), None);
    assert!(store
        .move_reconcile_checkpoint(None, &at(100, None))
        .await
        .unwrap());
    // Another run read "none" too: refused.
    assert!(!store
        .move_reconcile_checkpoint(None, &at(200, None))
        .await
        .unwrap());
    assert!(!store
        .move_reconcile_checkpoint(Some(&at(99, None)), &at(200, None))
        .await
        .unwrap());
    assert!(store
        .move_reconcile_checkpoint(Some(&at(100, None)), &at(200, Some("evt_1")))
        .await
        .unwrap());
    assert_eq!(
        store.reconcile_checkpoint().await.unwrap(),
        Some(at(200, Some("evt_1")))
    );
    // The same time with another event (or none) is another value.
    assert!(!store
        .move_reconcile_checkpoint(Some(&at(200, None)), &at(300, None))
        .await
        .unwrap());
    assert!(!store
        .move_reconcile_checkpoint(Some(&at(200, Some("evt_0"))), &at(300, None))
        .await
        .unwrap());
    assert!(store
        .move_reconcile_checkpoint(Some(&at(200, Some("evt_1"))), &at(300, None))
        .await
        .unwrap());
    assert_eq!(
        store.reconcile_checkpoint().await.unwrap(),
        Some(at(300, None))
    );
    let item = get_item(
        app.dynamodb(),
        "stripe-events",
        "pk",
        "reconcile#checkpoint",
    )
    .await
    .expect("the checkpoint item");
    assert!(!item.contains_key("expires_at"), "{item:?}");
}
