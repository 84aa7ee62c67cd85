//! Reconciliation: what a lost webhook leaves behind is put right by one run, and a run never
//! applies anything twice.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::uc::reconcile;
use super::*;
use crate::adapters::memory::{Call, When};
use crate::app::events::apply_intent_event;
use crate::app::reconcile::Summary;
use crate::domain::{IntentStatus, PaymentStatus};
use crate::ports::{Checkpoint, ProviderError, StoreError};

/// A Stripe event as `GET /v1/events` lists it (and as the webhook would have received it).
fn stripe_event(
    id: &str,
    kind: &str,
    booking: BookingId,
    intent: &IntentId,
    created: i64,
) -> Value {
    json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": {
            "id": intent.as_str(),
            "object": "payment_intent",
            "amount": 350,
            "amount_received": if kind == "payment_intent.succeeded" { 350 } else { 0 },
            "currency": "usd",
            "metadata": {"booking_id": booking.to_string()},
        }},
    })
}

/// A booking the driver paid 30 s before `now`, whose webhook never arrived: Stripe has the
/// intent succeeded and the event in its list; the booking is still `pending`.
async fn paid_without_webhook(w: &World, n: u32, now: DateTime<Utc>) -> BookingId {
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let created = (now - Duration::seconds(30)).timestamp();
    w.stripe.emit(stripe_event(
        &format!("evt_paid_{n}"),
        "payment_intent.succeeded",
        id,
        &pi,
        created,
    ));
    id
}

/// Moves the booking's payment to `status`, last updated `ago` before now (as a webhook
/// event applied then would have left it).
async fn stuck(w: &World, id: BookingId, status: PaymentStatus, ago: Duration) {
    let mut booking = w.get(id).await;
    booking.payment_status = status;
    booking.updated_at = Utc::now() - ago;
    w.store.insert(booking);
}

async fn run(w: &World, now: DateTime<Utc>) -> Summary {
    reconcile(&*w.store, &*w.stripe, &Default::default(), now)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_paid_booking_whose_webhook_was_lost_is_completed_in_one_run() {
    let w = World::new();
    let now = Utc::now();
    let id = paid_without_webhook(&w, 1, now).await;
    // An event of a type the webhook does not handle is not even listed (`types[]`).
    w.stripe.emit(
        json!({"id": "evt_charge", "object": "event", "type": "charge.succeeded",
        "created": now.timestamp() - 30, "data": {"object": {"id": "ch_1", "object": "charge"}}}),
    );
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Pending);

    let summary = run(&w, now).await;

    let booking = w.get(id).await;
    assert_eq!(booking.payment_status, PaymentStatus::Completed);
    assert_eq!(booking.payment.unwrap().amount_received_minor, Some(350));
    assert_eq!(summary.events_seen, 1, "{summary:?}");
    assert_eq!(summary.events_applied, 1, "{summary:?}");
    assert_eq!(summary.events_ignored, 0, "{summary:?}");
    for query in w.stripe.event_queries() {
        assert_eq!(
            query.types,
            &crate::domain::event_types::HANDLED_EVENT_TYPES
        );
    }
    assert_eq!(summary.swept_changed, 0, "{summary:?}");
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let w = World::new();
    let now = Utc::now();
    let id = paid_without_webhook(&w, 1, now).await;
    run(&w, now).await;
    let after_first = w.get(id).await;

    let later = now + Duration::seconds(10);
    let second = run(&w, later).await;

    assert_eq!(w.get(id).await, after_first);
    // The event is within the overlap, so listed again: a duplicate, not applied twice.
    assert_eq!(second.events_seen, 1, "{second:?}");
    assert_eq!(second.events_duplicate, 1, "{second:?}");
    assert_eq!(second.events_applied, 0, "{second:?}");
    assert_eq!(second.swept_changed, 0, "{second:?}");
}

#[tokio::test]
async fn with_webhooks_delivered_a_run_finds_nothing_to_do() {
    let w = World::new();
    let now = Utc::now();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let created = now.timestamp() - 30;
    let listed = stripe_event("evt_1", "payment_intent.succeeded", id, &pi, created);
    w.stripe.emit(listed);
    // The webhook's own path applied the same event.
    let delivered = IntentEventIn {
        event_id: "evt_1".into(),
        created,
        event_type: "payment_intent.succeeded".into(),
        intent_id: pi.clone(),
        booking_id: id,
        change: IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        charge_id: None,
        capture_before: None,
    };
    apply_intent_event(&*w.store, &delivered, now)
        .await
        .unwrap();
    let before = w.get(id).await;

    let summary = run(&w, now + Duration::seconds(1)).await;

    assert_eq!(w.get(id).await, before);
    assert_eq!(summary.events_duplicate, 1, "{summary:?}");
    assert_eq!(
        summary.events_applied + summary.swept_changed,
        0,
        "{summary:?}"
    );
}

#[tokio::test]
async fn the_checkpoint_moves_only_after_applying() {
    let w = World::new();
    let now = Utc::now();
    let a = paid_without_webhook(&w, 1, now).await;
    let b = paid_without_webhook(&w, 2, now).await;
    // The run applies both events, then fails to record that it did (DynamoDB fails, or the
    // function is killed, between the two).
    w.store
        .fail_next_checkpoint_move(StoreError::Unavailable("injected".into()));

    let failed = reconcile(&*w.store, &*w.stripe, &Default::default(), now)
        .await
        .unwrap_err();

    assert_eq!(failed.summary.events_applied, 2, "{failed:?}");
    assert_eq!(w.store.reconcile_checkpoint().await.unwrap(), None);
    let after_failure = (w.get(a).await, w.get(b).await);
    assert_eq!(after_failure.0.payment_status, PaymentStatus::Completed);

    // The next run lists them again from the old checkpoint: nothing is applied twice.
    let next = run(&w, now + Duration::seconds(5)).await;

    assert_eq!(next.events_seen, 2, "{next:?}");
    assert_eq!(next.events_duplicate, 2, "{next:?}");
    assert_eq!(next.events_applied, 0, "{next:?}");
    assert_eq!((w.get(a).await, w.get(b).await), after_failure);
    let moved = w.store.reconcile_checkpoint().await.unwrap();
    assert_eq!(moved.as_ref().map(|c| c.created_from), next.checkpoint);
    assert!(moved.is_some());
}

#[tokio::test]
async fn a_run_that_cannot_list_every_event_applies_none_and_keeps_the_checkpoint() {
    let w = World::new();
    let now = Utc::now();
    // Three events: two pages of the fake's two.
    let ids = [
        paid_without_webhook(&w, 1, now).await,
        paid_without_webhook(&w, 2, now).await,
        paid_without_webhook(&w, 3, now).await,
    ];
    let stripe = w.stripe.clone();
    w.stripe.on(
        Call::ListEvents,
        When::After,
        Box::new(move || {
            Box::pin(async move {
                stripe.fail_next(Call::ListEvents, ProviderError::Unavailable("reset".into()));
            })
        }),
    );

    let failed = reconcile(&*w.store, &*w.stripe, &Default::default(), now)
        .await
        .unwrap_err();

    assert_eq!(failed.summary.events_applied, 0, "{failed:?}");
    assert_eq!(w.store.reconcile_checkpoint().await.unwrap(), None);
    let next = run(&w, now).await;
    assert_eq!(next.events_applied, 3, "{next:?}");
    for id in ids {
        assert_eq!(w.get(id).await.payment_status, PaymentStatus::Completed);
    }
}

#[tokio::test]
async fn events_are_listed_from_the_checkpoint_or_three_days_back() {
    let w = World::new();
    let now = Utc::now();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    let at = |ago: Duration| (now - ago).timestamp();
    // Older than Stripe retries for: the first run does not look that far back.
    w.stripe.emit(stripe_event(
        "evt_old",
        "payment_intent.requires_action",
        id,
        &pi,
        at(Duration::days(4)),
    ));
    w.stripe.emit(stripe_event(
        "evt_recent",
        "payment_intent.processing",
        id,
        &pi,
        at(Duration::days(2)),
    ));

    let first = run(&w, now).await;

    assert_eq!(first.events_seen, 1, "{first:?}");
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Processing);
    // The checkpoint trails the run by a minute (Stripe's `created` has second resolution and
    // its list may show an event a moment late); the next run lists from there.
    let checkpoint = w.store.reconcile_checkpoint().await.unwrap().unwrap();
    assert_eq!(checkpoint.created_from, at(Duration::seconds(60)));
    assert_eq!(checkpoint.after, None);
    let second = run(&w, now + Duration::minutes(10)).await;
    assert_eq!(second.events_seen, 0, "{second:?}");
}

#[tokio::test]
async fn two_runs_cannot_both_move_the_checkpoint() {
    let w = World::new();
    let now = Utc::now();
    paid_without_webhook(&w, 1, now).await;
    // Another run moves the checkpoint while this one lists.
    let store = w.store.clone();
    let theirs = Checkpoint {
        created_from: now.timestamp() - 5,
        after: None,
    };
    let moved = theirs.clone();
    w.stripe.on(
        Call::ListEvents,
        When::Before,
        Box::new(move || {
            Box::pin(async move {
                assert!(store.move_reconcile_checkpoint(None, &moved).await.unwrap());
            })
        }),
    );

    let summary = run(&w, now).await;

    assert_eq!(summary.checkpoint, None, "{summary:?}");
    assert_eq!(w.store.reconcile_checkpoint().await.unwrap(), Some(theirs));
}

#[tokio::test]
async fn a_payment_stuck_in_processing_for_over_five_minutes_is_swept() {
    let w = World::new();
    let now = Utc::now();
    let paid = w.booking();
    let paid_pi = w.pay(paid, "3.50").await.unwrap().id;
    stuck(&w, paid, PaymentStatus::Processing, Duration::minutes(6)).await;
    w.stripe.set_status(&paid_pi, IntentStatus::Succeeded);
    // A failed attempt puts the intent back to requires_payment_method.
    let declined = w.booking();
    let declined_pi = w.pay(declined, "3.50").await.unwrap().id;
    stuck(
        &w,
        declined,
        PaymentStatus::RequiresAction,
        Duration::hours(2),
    )
    .await;
    w.stripe
        .set_status(&declined_pi, IntentStatus::RequiresPaymentMethod);

    let summary = run(&w, now).await;

    assert_eq!(summary.events_seen, 0, "no event listed: {summary:?}");
    assert_eq!(summary.swept, 2, "{summary:?}");
    assert_eq!(summary.swept_changed, 2, "{summary:?}");
    let paid = w.get(paid).await;
    assert_eq!(paid.payment_status, PaymentStatus::Completed);
    assert_eq!(paid.payment.unwrap().amount_received_minor, Some(350));
    assert_eq!(w.get(declined).await.payment_status, PaymentStatus::Failed);
    // Swept again, nothing is in flight any more.
    let again = run(&w, now + Duration::minutes(10)).await;
    assert_eq!(again.swept, 0, "{again:?}");
}

#[tokio::test]
async fn a_payment_updated_a_minute_ago_is_not_swept() {
    let w = World::new();
    let now = Utc::now();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    stuck(&w, id, PaymentStatus::Processing, Duration::minutes(1)).await;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);

    let summary = run(&w, now).await;

    assert_eq!(summary.swept, 0, "{summary:?}");
    assert_eq!(w.stripe.calls(Call::Retrieve), 0);
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Processing);
}

#[tokio::test]
async fn pending_is_swept_only_with_an_intent_and_unchanged_intents_are_not_written() {
    let w = World::new();
    let now = Utc::now();
    // Pending with an intent the driver paid: completed.
    let paid = w.booking();
    let paid_pi = w.pay(paid, "3.50").await.unwrap().id;
    stuck(&w, paid, PaymentStatus::Pending, Duration::minutes(30)).await;
    w.stripe.set_status(&paid_pi, IntentStatus::Succeeded);
    // Pending without an intent: nothing to ask Stripe.
    let unpaid = w.booking();
    stuck(&w, unpaid, PaymentStatus::Pending, Duration::minutes(30)).await;
    // Still waiting for 3-D Secure at Stripe too: asked, but nothing to write.
    let waiting = w.booking();
    let waiting_pi = w.pay(waiting, "3.50").await.unwrap().id;
    stuck(
        &w,
        waiting,
        PaymentStatus::RequiresAction,
        Duration::minutes(30),
    )
    .await;
    w.stripe
        .set_status(&waiting_pi, IntentStatus::RequiresAction);
    let before = w.get(waiting).await;

    let summary = run(&w, now).await;

    assert_eq!(summary.swept, 2, "{summary:?}");
    assert_eq!(summary.swept_changed, 1, "{summary:?}");
    assert_eq!(w.stripe.calls(Call::Retrieve), 2);
    assert_eq!(w.get(paid).await.payment_status, PaymentStatus::Completed);
    assert_eq!(w.get(unpaid).await.payment_status, PaymentStatus::Pending);
    assert_eq!(w.get(waiting).await, before);
}

#[tokio::test]
async fn payments_in_flight_for_days_are_left_to_the_event_list() {
    let w = World::new();
    let now = Utc::now();
    let mut ids = Vec::new();
    for (status, ago) in [
        (PaymentStatus::Processing, Duration::days(4)),
        (PaymentStatus::RequiresAction, Duration::days(4)),
        (PaymentStatus::Pending, Duration::hours(2)),
    ] {
        let id = w.booking();
        let pi = w.pay(id, "3.50").await.unwrap().id;
        stuck(&w, id, status, ago).await;
        w.stripe.set_status(&pi, IntentStatus::Succeeded);
        ids.push((id, status));
    }

    let summary = run(&w, now).await;

    assert_eq!(summary.swept, 0, "{summary:?}");
    for (id, status) in ids {
        assert_eq!(w.get(id).await.payment_status, status);
    }
}

#[tokio::test]
async fn an_intent_stripe_refuses_to_show_does_not_stop_the_sweep() {
    let w = World::new();
    let now = Utc::now();
    // An intent Stripe does not have (another account's, or an emulator restarted since).
    let lost = w.booking();
    let mut booking = w.get(lost).await;
    booking.payment = Some(crate::domain::Payment::new(
        IntentId::parse("pi_unknown").unwrap(),
        usd("3.50"),
    ));
    w.store.insert(booking);
    stuck(&w, lost, PaymentStatus::Processing, Duration::minutes(7)).await;
    let paid = w.booking();
    let paid_pi = w.pay(paid, "3.50").await.unwrap().id;
    stuck(&w, paid, PaymentStatus::Processing, Duration::minutes(6)).await;
    w.stripe.set_status(&paid_pi, IntentStatus::Succeeded);

    let summary = run(&w, now).await;

    assert_eq!(summary.swept, 1, "{summary:?}");
    assert_eq!(w.get(paid).await.payment_status, PaymentStatus::Completed);
    assert_eq!(w.get(lost).await.payment_status, PaymentStatus::Processing);
}

/// The refunds the webhook recorded as owed are carried out by the next run, once.
#[tokio::test]
async fn a_run_carries_out_the_refunds_the_webhook_recorded_as_owed() {
    let w = World::new();
    let now = Utc::now();
    let id = w.booking();
    let old = w.pay(id, "3.50").await.unwrap().id;
    w.pay(id, "4.50").await.unwrap();
    w.stripe.set_status(&old, IntentStatus::Succeeded);
    let late = event(
        id,
        &old,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        now.timestamp() - 10,
    );
    apply_intent_event(&*w.store, &late, now).await.unwrap();
    assert_eq!(w.stripe.calls(crate::adapters::memory::Call::Refund), 0);
    let summary = run(&w, now).await;
    assert_eq!(summary.refunds_settled, 1);
    assert_eq!(w.stripe.calls(crate::adapters::memory::Call::Refund), 1);
    assert!(w.get(id).await.payment.unwrap().refunds_owed.is_empty());
    let again = run(&w, now).await;
    assert_eq!(again.refunds_settled, 0);
    assert_eq!(w.stripe.calls(crate::adapters::memory::Call::Refund), 1);
}

/// A charge event the webhook missed (a Dashboard refund) is applied from the event list.
#[tokio::test]
async fn a_missed_refund_event_is_applied_from_the_list() {
    let w = World::new();
    let now = Utc::now();
    let id = paid_without_webhook(&w, 1, now).await;
    run(&w, now).await;
    let pi = w.get(id).await.intent_id().cloned().unwrap();
    w.stripe.emit(serde_json::json!({
        "id": "evt_refund_1",
        "object": "event",
        "type": "charge.refunded",
        "created": now.timestamp() - 5,
        "data": {"object": {
            "id": "ch_missed", "object": "charge", "amount": 350, "amount_refunded": 350,
            "payment_intent": pi.as_str(), "refunded": true
        }},
    }));
    let summary = run(&w, now).await;
    assert_eq!(summary.events_applied, 1, "{summary:?}");
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Refunded);
}
