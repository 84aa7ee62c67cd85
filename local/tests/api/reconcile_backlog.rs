//! Reconcile that cannot wedge (issue 20, item 2), against the local stack: a backlog of
//! missed webhooks drained by runs with a deadline, each event applied once; the lease on the
//! emulator; a refused owed refund recorded on its booking.

use std::time::Instant;

use chrono::{Duration, Utc};
use futures::StreamExt;
use serde_json::json;

use crate::support::product::reconcile::{self, Budget};
use crate::support::product::{
    BookingId, BookingStore, RefundRefusal, Secret, StripeClient, StripeKeys,
};
use crate::support::{get_item, spawn_app, spawn_app_with_stripe, TestApp, CARD_OK};
use local_stack::{default_python, Dynamo, LocalStripe, Stripe};

fn stripe_of(app: &TestApp) -> StripeClient {
    StripeClient::new(
        app.stack.stripe_base.clone(),
        StripeKeys {
            secret_key: Secret::new(app.stack.stripe_secret_key.clone()),
            webhook_secrets: app.stack.webhook_secrets.iter().map(Secret::new).collect(),
        },
    )
}

/// `n` bookings paid with no webhook delivered (the local Stripe has none registered).
async fn paid_without_webhooks(app: &TestApp, n: usize) -> Vec<String> {
    futures::stream::iter(0..n)
        .map(|_| async {
            let (booking_id, intent) = app.booking_with_intent().await;
            let paid = app.pay(intent["id"].as_str().unwrap(), CARD_OK).await;
            assert_eq!(paid.body["status"], "succeeded", "{:?}", paid.body);
            booking_id
        })
        .buffer_unordered(4)
        .collect()
        .await
}

/// 300 missed `payment_intent.succeeded` events, drained by runs whose budget leaves the event
/// list 300 ms each: several runs (how many depends on the machine's load, at most one per
/// event: every run applies at least one), every booking completed, each event applied once.
/// Prints the events per second the local stack applies.
#[tokio::test]
async fn a_backlog_is_drained_by_runs_with_a_deadline_each_event_applied_once() {
    let app = spawn_app_with_stripe(
        Dynamo::Memory,
        Stripe::Local(LocalStripe {
            webhooks: false,
            ..LocalStripe::new(default_python(), 0)
        }),
    )
    .await;
    let n = 300;
    let made = Instant::now();
    let bookings = paid_without_webhooks(&app, n).await;
    eprintln!("backlog: {n} paid bookings in {:?}", made.elapsed());
    let stripe = stripe_of(&app);

    let (mut runs, mut applied, mut duplicate, mut seen) = (0, 0, 0, 0);
    let started = Instant::now();
    loop {
        runs += 1;
        assert!(runs <= n + 1, "no convergence after {runs} runs");
        let budget = Budget::until(
            Utc::now() + shared::app::event_list::LATER_STEPS + Duration::milliseconds(300),
        );
        let summary = reconcile::reconcile_within(
            &app.stack.store,
            &stripe,
            &Default::default(),
            &Default::default(),
            Utc::now(),
            &budget,
        )
        .await
        .expect("the run succeeds");
        eprintln!(
            "backlog run {runs}: seen {} applied {} duplicate {} pages {} caught up {}",
            summary.events_seen,
            summary.events_applied,
            summary.events_duplicate,
            summary.events_pages,
            summary.events_caught_up
        );
        applied += summary.events_applied;
        duplicate += summary.events_duplicate;
        seen += summary.events_seen;
        if summary.events_caught_up {
            break;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "backlog: {n} events, {runs} runs to converge, {applied} applied, {duplicate} listed again, \
         {:.0} events/s listed and applied ({seen} in {elapsed:?})",
        seen as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(applied, n, "each event applied once");
    assert!(runs >= 2, "the deadline stopped no run: {runs}");
    for id in bookings {
        assert_eq!(app.booking(&id).await["payment_status"], "completed");
    }
    // Nothing left: a run applies nothing.
    let again = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(again.events_applied, 0, "{again:?}");
}

/// The lease item on the emulator: one holder until it expires; only its owner gives it back;
/// a run that finds it taken does nothing and is no error.
#[tokio::test]
async fn the_lease_keeps_a_second_run_out_until_it_expires() {
    let app = spawn_app().await;
    let store = &app.stack.store;
    let now = Utc::now();
    assert!(store
        .take_reconcile_lease("a", now, now + Duration::seconds(60))
        .await
        .unwrap());
    assert!(!store
        .take_reconcile_lease("b", now, now + Duration::seconds(60))
        .await
        .unwrap());
    // Another owner's release leaves it.
    store.release_reconcile_lease("b").await.unwrap();
    assert_eq!(app.stack.try_reconcile_now().await.unwrap(), None);
    // Expired: taken over.
    let later = now + Duration::seconds(61);
    assert!(store
        .take_reconcile_lease("b", later, later + Duration::seconds(60))
        .await
        .unwrap());
    store.release_reconcile_lease("b").await.unwrap();
    assert!(app.stack.try_reconcile_now().await.unwrap().is_some());
}

/// A refused owed refund is recorded on the booking's item (for an operator), and the
/// booking reads as before.
#[tokio::test]
async fn a_refused_refund_is_recorded_on_the_booking() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let before = app.booking(&booking_id).await;
    let refusal = RefundRefusal {
        intent_id: shared::domain::IntentId::parse(intent["id"].as_str().unwrap()).unwrap(),
        status: 400,
        code: Some("charge_disputed".into()),
        at: Utc::now(),
    };
    let id = BookingId::parse("id", &booking_id).unwrap();
    app.stack
        .store
        .record_refund_refusal(id, &refusal)
        .await
        .unwrap();
    let item = get_item(app.dynamodb(), "bookings", "id", &booking_id)
        .await
        .unwrap();
    let recorded = item["refund_refusal"].as_m().unwrap();
    assert_eq!(recorded["code"].as_s().unwrap(), "charge_disputed");
    assert_eq!(
        recorded["payment_intent_id"].as_s().unwrap(),
        intent["id"].as_str().unwrap()
    );
    // Shown in GET (Stripe's code, never its message), nothing else of the booking moved,
    // and a later payment write keeps it.
    let mut shown = app.booking(&booking_id).await;
    assert_eq!(
        shown["refund_refusal"],
        json!({"payment_intent_id": intent["id"], "code": "charge_disputed",
               "at": recorded["at"].as_s().unwrap()})
    );
    shown.as_object_mut().unwrap().remove("refund_refusal");
    assert_eq!(shown, before);
    let replaced = app
        .create_intent(&json!({"amount": 4.0, "currency": "usd", "booking_id": booking_id}))
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(
        app.booking(&booking_id).await["refund_refusal"]["code"],
        "charge_disputed"
    );
}

/// A run writes `expired` for an unpaid booking whose hold passed (freeing its slot items, an
/// UpdateItem on the slots table in the same transaction), through the reconcile function's
/// own store.
#[tokio::test]
async fn a_run_expires_a_hold_that_passed_unpaid() {
    let app = spawn_app().await;
    let booking_id = app.new_booking().await;
    let a_minute_ago =
        (Utc::now() - Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.dynamodb()
        .update_item()
        .table_name("bookings")
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(booking_id.clone()),
        )
        .update_expression("SET hold_expires_at = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::S(a_minute_ago),
        )
        .send()
        .await
        .unwrap();

    let run = app.stack.reconcile_now().await.expect("the run succeeds");

    assert_eq!(run.holds_expired, 1, "{run:?}");
    let item = get_item(app.dynamodb(), "bookings", "id", &booking_id)
        .await
        .unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "expired");
}
