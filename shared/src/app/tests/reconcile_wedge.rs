//! Reconcile that cannot wedge (issue 20, item 2): one booking Stripe refuses does not stop the
//! run or block the booking's own operations.

use chrono::{DateTime, Duration, Utc};

use super::uc::cancel_booking;
use super::uc::reconcile;
use super::*;
use crate::adapters::memory::Call;
use crate::app::events::apply_intent_event;
use crate::domain::{BookingStatus, IntentStatus, PaymentStatus};
use crate::ports::ProviderError;

/// Stripe's answer to a refund it will not make (a charge disputed meanwhile).
fn refused() -> ProviderError {
    ProviderError::Rejected {
        status: 400,
        message: "Charge ch_3Poison has been charged back; cannot issue a refund.".into(),
        code: Some("charge_disputed".into()),
    }
}

/// A booking that owes a refund: its first intent was replaced, then paid anyway.
async fn owing(w: &World, now: DateTime<Utc>) -> (BookingId, IntentId) {
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
    assert_eq!(
        w.get(id).await.payment.unwrap().refunds_owed,
        vec![old.clone()]
    );
    (id, old)
}

/// An unpaid booking without an intent whose 15-minute hold passed an hour ago.
async fn lapsed(w: &World, now: DateTime<Utc>) -> BookingId {
    let id = w.booking();
    let mut booking = w.get(id).await;
    booking.created_at = now - Duration::hours(1);
    booking.updated_at = booking.created_at;
    let booking = booking.with_hold(Some(Duration::minutes(15)));
    w.store.insert(booking);
    id
}

#[tokio::test]
async fn a_poisoned_refund_neither_stops_the_run_nor_blocks_the_bookings_cancel() {
    let w = World::new();
    let now = Utc::now();
    let (poisoned, old) = owing(&w, now).await;
    let due = lapsed(&w, now).await;
    w.stripe.fail_next(Call::Refund, refused());

    let run = reconcile(&*w.store, &*w.stripe, &Default::default(), now).await;

    let summary = run.expect("one booking's refusal does not fail the run");
    // The steps after the owed refunds ran: the lapsed hold was expired.
    assert_eq!(summary.holds_expired, 1, "{summary:?}");
    assert_eq!(w.get(due).await.status, BookingStatus::Expired);
    // The refund stays owed, for an operator (and the next run).
    assert_eq!(
        w.get(poisoned).await.payment.unwrap().refunds_owed,
        vec![old.clone()]
    );

    // Stripe keeps refusing; the booking's other operations answer normally all the same,
    // the refusal recorded on it each time (for an operator).
    assert_eq!(w.store.refund_refusals(poisoned).len(), 1);
    assert_eq!(
        w.store.refund_refusals(poisoned)[0].code.as_deref(),
        Some("charge_disputed")
    );
    w.stripe.fail_next(Call::Refund, refused());
    let intent = w
        .pay(poisoned, "4.50")
        .await
        .expect("create-intent answers");
    assert!(w.payable_now(&intent));
    assert_eq!(w.store.refund_refusals(poisoned).len(), 2);
    w.stripe.fail_next(Call::Refund, refused());
    let cancelled = cancel_booking(&*w.store, &*w.stripe, poisoned, Utc::now)
        .await
        .expect("the booking's cancel is not the owed refund's");
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    assert_eq!(cancelled.payment_status, PaymentStatus::Canceled);
    assert_eq!(cancelled.payment.unwrap().refunds_owed, vec![old]);
}

/// `n` bookings paid at Stripe whose webhooks were all lost: `n` `payment_intent.succeeded`
/// events, ten to a second (so pages cut through equal times), the oldest an hour ago.
async fn backlog(w: &World, n: usize, now: DateTime<Utc>) -> Vec<BookingId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = w.booking();
        let pi = w.pay(id, "3.50").await.unwrap().id;
        w.stripe.set_status(&pi, IntentStatus::Succeeded);
        w.stripe.emit(serde_json::json!({
            "id": format!("evt_backlog_{i:05}"),
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": now.timestamp() - 3600 + (i / 10) as i64,
            "data": {"object": {
                "id": pi.as_str(), "object": "payment_intent", "amount": 350,
                "amount_received": 350, "currency": "usd",
                "metadata": {"booking_id": id.to_string()},
            }},
        }));
        ids.push(id);
    }
    ids
}

/// A clock that moves one millisecond each time it is read: the budget's one read per event
/// makes "a time budget that fits about `per_run` events".
fn budget_for(per_run: i64) -> crate::app::reconcile::Budget {
    use std::sync::atomic::{AtomicI64, Ordering};
    let start = Utc::now();
    let ticks = std::sync::Arc::new(AtomicI64::new(0));
    let deadline = start + crate::app::event_list::LATER_STEPS + Duration::milliseconds(per_run);
    crate::app::reconcile::Budget::with_clock(deadline, move || {
        start + Duration::milliseconds(ticks.fetch_add(1, Ordering::Relaxed))
    })
}

#[tokio::test]
async fn a_backlog_of_2000_events_converges_in_runs_of_about_300_each_applied_once() {
    let w = World::new();
    w.stripe.set_event_page_size(100);
    let now = Utc::now();
    let ids = backlog(&w, 2000, now).await;

    let mut runs = 0;
    let (mut applied, mut duplicate) = (0, 0);
    loop {
        runs += 1;
        assert!(runs <= 12, "no convergence after {runs} runs");
        let at = now + Duration::seconds(runs);
        let summary = crate::app::reconcile::reconcile_within(
            &*w.store,
            &*w.stripe,
            &Default::default(),
            &Default::default(),
            at,
            &budget_for(300),
        )
        .await
        .unwrap();
        // About 300: the budget's, and the run's first event, applied before it is asked.
        assert!(summary.events_seen <= 301, "{summary:?}");
        applied += summary.events_applied;
        duplicate += summary.events_duplicate;
        if summary.events_caught_up {
            break;
        }
    }
    // Each event applied once, across runs; every booking completed.
    assert_eq!(applied, 2000, "runs {runs}, duplicates {duplicate}");
    assert!((7..=9).contains(&runs), "runs {runs}");
    for id in ids {
        assert_eq!(w.get(id).await.payment_status, PaymentStatus::Completed);
    }
    // Caught up: the next run lists only the minute before it, and the minute before where
    // the last walk resumed (all duplicates).
    let after = reconcile(
        &*w.store,
        &*w.stripe,
        &Default::default(),
        now + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(after.events_applied, 0, "{after:?}");
    eprintln!("backlog: 2000 events, {runs} runs to converge, {duplicate} listed again");
}

/// A checkpoint older than Stripe's 30-day event list: the run lists from what Stripe still
/// has (an ERROR names the gap) and goes on; one older than the 7-day event records but within
/// Stripe's list is listed from as it is.
#[tokio::test]
async fn a_checkpoint_past_the_retention_is_listed_from_what_stripe_still_has() {
    use crate::ports::Checkpoint;
    let w = World::new();
    let now = Utc::now();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    w.stripe.emit(serde_json::json!({
        "id": "evt_late", "object": "event", "type": "payment_intent.succeeded",
        "created": now.timestamp() - 30,
        "data": {"object": {"id": pi.as_str(), "object": "payment_intent", "amount": 350,
            "amount_received": 350, "currency": "usd",
            "metadata": {"booking_id": id.to_string()}}},
    }));
    let forty_days = Checkpoint {
        created_from: (now - Duration::days(40)).timestamp(),
        after: Some("evt_gone".into()),
    };
    assert!(w
        .store
        .move_reconcile_checkpoint(None, &forty_days)
        .await
        .unwrap());

    let summary = reconcile(&*w.store, &*w.stripe, &Default::default(), now)
        .await
        .expect("the run goes on");

    assert_eq!(summary.events_applied, 1, "{summary:?}");
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Completed);
    let first = &w.stripe.event_queries()[0];
    assert!(
        first.created_gte >= (now - Duration::days(30)).timestamp(),
        "{first:?}"
    );
    // The event it stopped after is gone from Stripe's list too: not asked for.
    assert_eq!(first.ending_before, None, "{first:?}");

    // Ten days: within Stripe's list, listed from as it is.
    let w = World::new();
    let ten_days = Checkpoint {
        created_from: (now - Duration::days(10)).timestamp(),
        after: None,
    };
    assert!(w
        .store
        .move_reconcile_checkpoint(None, &ten_days)
        .await
        .unwrap());
    reconcile(&*w.store, &*w.stripe, &Default::default(), now)
        .await
        .unwrap();
    assert_eq!(
        w.stripe.event_queries()[0].created_gte,
        ten_days.created_from
    );
}

/// Two runs at once: the second finds the lease taken and does nothing, without error.
#[tokio::test]
async fn a_run_that_finds_the_lease_taken_does_nothing() {
    let w = World::new();
    let now = Utc::now();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    assert!(w
        .store
        .take_reconcile_lease("other run", now, now + Duration::minutes(2))
        .await
        .unwrap());
    let budget = crate::app::reconcile::Budget::unbounded();

    let run = crate::app::reconcile::run(
        &*w.store,
        &*w.stripe,
        &Default::default(),
        &Default::default(),
        &budget,
    )
    .await
    .expect("no error");

    assert_eq!(run, None);
    assert_eq!(w.stripe.calls(Call::ListEvents), 0);
    // Given back, the next run runs (and gives it back in turn).
    w.store.release_reconcile_lease("other run").await.unwrap();
    let ran = crate::app::reconcile::run(
        &*w.store,
        &*w.stripe,
        &Default::default(),
        &Default::default(),
        &budget,
    )
    .await
    .unwrap();
    assert!(ran.is_some());
    assert!(crate::app::reconcile::run(
        &*w.store,
        &*w.stripe,
        &Default::default(),
        &Default::default(),
        &budget
    )
    .await
    .unwrap()
    .is_some());
}

/// The event a checkpoint names is gone from Stripe's list: the run lists from the
/// checkpoint's time instead, and goes on.
#[tokio::test]
async fn a_checkpoint_naming_an_event_stripe_no_longer_lists_is_no_wedge() {
    use crate::ports::Checkpoint;
    let w = World::new();
    let now = Utc::now();
    let ids = backlog(&w, 3, now).await;
    let gone = Checkpoint {
        created_from: now.timestamp() - 4000,
        after: Some("evt_gone".into()),
    };
    assert!(w
        .store
        .move_reconcile_checkpoint(None, &gone)
        .await
        .unwrap());

    let summary = reconcile(&*w.store, &*w.stripe, &Default::default(), now)
        .await
        .expect("the run goes on");

    assert_eq!(summary.events_applied, 3, "{summary:?}");
    for id in ids {
        assert_eq!(w.get(id).await.payment_status, PaymentStatus::Completed);
    }
}
