//! Issue 20, item 1: a hold ends only when Stripe says the booking's intent can no longer take
//! money. A booking whose hold passed with a live intent stays confirmed (its slot busy) until
//! someone who needs the answer asks Stripe: a payment Stripe accepted before is kept, never
//! refunded; an EV authorization is kept, never released; a payable intent is cancelled and
//! only then does the booking expire.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::adapters::memory::{Call, When};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::intents::Terms;
use crate::domain::{BookingStatus, CaptureMethod, IntentStatus, PaymentStatus};
use crate::ports::StoreError;

use super::holds_support::*;
use super::*;

/// A held booking whose driver started 3-D Secure at t0 + 10 min (its event applied) and
/// never finished it.
async fn started_3ds(w: &World) -> (BookingId, IntentId) {
    let (id, pi) = held(w).await;
    w.stripe.set_status(&pi, IntentStatus::RequiresAction);
    let started = event(
        id,
        &pi,
        IntentEvent::RequiresAction,
        (t0() + Duration::minutes(10)).timestamp(),
    );
    apply_intent_event(&*w.store, &started, t0() + Duration::minutes(10))
        .await
        .unwrap();
    (id, pi)
}

/// The driver pays at 14:58 of a 15-minute hold; Stripe's event is delayed and arrives at
/// 15:01. The payment is the booking's: completed, confirmed, nothing owed back, slot busy.
#[tokio::test]
async fn a_payment_accepted_before_the_hold_whose_event_arrives_late_keeps_the_booking() {
    let w = World::new();
    let (id, pi) = held(&w).await;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let paid = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        (t0() + HOLD - Duration::seconds(2)).timestamp(),
    );
    let arrives = t0() + HOLD + Duration::minutes(1);
    assert_eq!(
        apply_intent_event(&*w.store, &paid, arrives).await.unwrap(),
        EventOutcome::Applied(PaymentStatus::Completed)
    );
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Confirmed);
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    assert!(b.payment.unwrap().refunds_owed.is_empty(), "nothing owed");
    assert_eq!(w.stripe.calls(Call::Refund), 0);
    assert_eq!(busy_at(&w, arrives).await, 1);
}

/// Before the delayed event arrives, a new booking tries to take the slot at 15:00: the taker
/// asks Stripe, finds the money in, records it as the webhook would, and answers 409. The late
/// event then changes nothing.
#[tokio::test]
async fn a_takeover_finds_the_payment_at_stripe_and_loses() {
    let w = World::new();
    let (id, pi) = held(&w).await;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let at = t0() + HOLD;
    assert_eq!(
        book_at(&w, at, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Confirmed);
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    assert_eq!(w.stripe.calls(Call::Cancel), 0, "never cancelled");
    let late = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        (t0() + HOLD - Duration::seconds(2)).timestamp(),
    );
    let outcome = apply_intent_event(&*w.store, &late, at + Duration::minutes(1))
        .await
        .unwrap();
    assert!(matches!(outcome, EventOutcome::Ignored(_)), "{outcome:?}");
    assert_eq!(w.get(id).await, b, "the late event changes nothing");
    assert_eq!(w.stripe.calls(Call::Refund), 0);
}

/// An EV driver's card was authorized at 14:59 (manual capture); no event yet. A takeover at
/// 15:00 records the authorization and loses: the hold on the card is kept, not released.
#[tokio::test]
async fn an_ev_authorization_just_before_the_hold_is_kept() {
    let w = World::new();
    let id = book_at(&w, t0(), "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .unwrap();
    let terms = Terms {
        amount: usd("8.00"),
        capture_method: CaptureMethod::Manual,
    };
    let pi = create_intent(&*w.store, &*w.stripe, id, terms, t0)
        .await
        .unwrap()
        .id;
    w.stripe.set_status(&pi, IntentStatus::RequiresCapture);
    let at = t0() + HOLD;
    assert_eq!(
        book_at(&w, at, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Confirmed);
    assert_eq!(b.payment_status, PaymentStatus::Authorized);
    assert_eq!(
        w.stripe.intent(&pi).unwrap().status,
        IntentStatus::RequiresCapture,
        "not released"
    );
}

/// The driver started 3-D Secure and walked away: the booking is kept for the grace after its
/// hold (a takeover inside it loses, with no Stripe call), then the intent is cancelled and the
/// slot taken over.
#[tokio::test]
async fn an_abandoned_3ds_keeps_the_booking_for_the_grace_then_ends() {
    let w = World::new();
    let (id, pi) = started_3ds(&w).await;
    let inside = t0() + HOLD + Duration::minutes(9);
    assert_eq!(
        book_at(&w, inside, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
    assert_eq!(w.stripe.calls(Call::Cancel), 0);
    assert_eq!(
        w.get(id).await.hold_expires_at,
        Some(t0() + HOLD),
        "shown unchanged"
    );
    let after = t0() + HOLD + Duration::minutes(10);
    let new = book_at(&w, after, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z")
        .await
        .expect("after the grace the slot is taken over");
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    let old = w.get(id).await;
    assert_eq!(old.status, BookingStatus::Expired);
    assert_eq!(old.payment_status, PaymentStatus::Canceled);
    assert_eq!(w.get(new).await.status, BookingStatus::Confirmed);
    // Stripe's late news of the abandoned attempt changes nothing.
    for late in [
        IntentEvent::PaymentFailed { reason: None },
        IntentEvent::RequiresAction,
        IntentEvent::Canceled,
    ] {
        let e = event(id, &pi, late, (after + Duration::seconds(5)).timestamp());
        let outcome = apply_intent_event(&*w.store, &e, after + Duration::seconds(6))
            .await
            .unwrap();
        assert!(matches!(outcome, EventOutcome::Ignored(_)), "{outcome:?}");
    }
    assert_eq!(w.get(id).await, old, "unchanged");
}

/// create-intent read the booking within its hold, but its attach write lands after the hold
/// passed: the write is refused, the new intent cancelled (nobody was given it), and the
/// caller told the booking expired.
#[tokio::test]
async fn an_intent_attached_after_the_hold_passed_is_refused_and_released() {
    let w = World::new();
    let id = book_at(&w, t0(), "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .unwrap();
    let clock = Arc::new(AtomicI64::new(
        (t0() + HOLD - Duration::milliseconds(1)).timestamp_millis(),
    ));
    let ticks = clock.clone();
    w.stripe.on(
        Call::Create,
        When::During,
        Box::new(move || {
            Box::pin(async move {
                ticks.store((t0() + HOLD).timestamp_millis(), Ordering::SeqCst);
            })
        }),
    );
    let now = move || -> DateTime<Utc> {
        DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst)).unwrap()
    };
    assert_eq!(
        create_intent(&*w.store, &*w.stripe, id, usd("3.50"), now).await,
        Err(AppError::conflict("Booking has expired"))
    );
    let b = w.get(id).await;
    assert!(b.payment.is_none(), "nothing attached");
    let created = w.stripe.intents();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].status, IntentStatus::Canceled, "released");
}

/// The scheduled run settles passed holds oldest first, a bounded number per run, and repeated
/// runs reach every one (issue 24, item 3): 120 dead holds, more than one run's 50. A booking
/// whose intent Stripe shows paid is kept and counted, never expired.
#[tokio::test]
async fn repeated_reconcile_runs_settle_every_passed_hold_and_keep_a_paid_one() {
    let w = World::new();
    let (paid, pi) = held(&w).await;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let mut dead = Vec::new();
    for i in 0..120 {
        let day = 3 + i / 20;
        let hour = 10 + (i % 20) / 2;
        let minute = (i % 2) * 30;
        let start = format!("2026-04-{day:02}T{hour:02}:{minute:02}:00Z");
        let end = format!("2026-04-{day:02}T{hour:02}:{:02}:00Z", minute + 29);
        let at = t0() + Duration::seconds(i64::from(i));
        dead.push(book_at(&w, at, &start, &end).await.unwrap());
    }
    // Past the sweep's hour for pending intents: the hold step is the one that asks Stripe.
    let now = t0() + Duration::hours(2);
    let mut runs = 0;
    let (mut expired, mut kept) = (0, 0);
    while runs < 5 {
        runs += 1;
        let summary = super::uc::reconcile(&*w.store, &*w.stripe, &Default::default(), now)
            .await
            .unwrap();
        expired += summary.holds_expired;
        kept += summary.holds_kept;
        if summary.holds_expired + summary.holds_kept == 0 {
            break;
        }
    }
    for id in &dead {
        assert_eq!(w.get(*id).await.status, BookingStatus::Expired, "{id}");
    }
    assert_eq!((expired, kept), (120, 1));
    let b = w.get(paid).await;
    assert_eq!(
        (b.status, b.payment_status),
        (BookingStatus::Confirmed, PaymentStatus::Completed)
    );
    assert!(runs <= 4, "{runs} runs");
}

/// In the 3-D Secure grace the driver can finish the payment started (the same terms get the
/// same intent back), but no new intent is attached after the hold: other terms are a 409,
/// with the old intent left as it was (never cancelled into a 503 loop).
#[tokio::test]
async fn in_the_3ds_grace_the_started_payment_can_finish_but_nothing_new_is_attached() {
    let w = World::new();
    let (id, pi) = started_3ds(&w).await;
    let inside = || t0() + HOLD + Duration::minutes(5);
    let same = create_intent(&*w.store, &*w.stripe, id, usd("3.50"), inside)
        .await
        .unwrap();
    assert_eq!(same.id, pi);
    assert_eq!(
        create_intent(&*w.store, &*w.stripe, id, usd("5.00"), inside).await,
        Err(AppError::conflict(
            "The booking's hold has passed; only the payment already started can still complete"
        ))
    );
    assert_eq!(w.stripe.calls(Call::Cancel), 0);
    assert_eq!(w.stripe.intents().len(), 1, "nothing new created");
    assert_eq!(w.get(id).await.intent_id(), Some(&pi));
}
