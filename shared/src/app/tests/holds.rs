//! Holds: an unpaid booking holds its slot until `hold_expires_at`. One with no intent is
//! expired at that instant (for every use case), and a new overlapping booking takes the slot
//! over, deciding on DynamoDB's state only (no Stripe call). One with a live intent waits for
//! Stripe's word: see `passed_holds`.

use chrono::Duration;

use super::uc::cancel_booking;
use crate::adapters::memory::Call;
use crate::app::bookings::{create_booking, Created};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::domain::{BookingStatus, IntentStatus, PaymentStatus};
use crate::ports::StoreError;

use super::*;

use super::holds_support::*;

#[tokio::test]
async fn an_unpaid_booking_is_expired_the_instant_its_hold_passes_and_its_slot_taken_over() {
    let w = World::new();
    let old = book_at(&w, t0(), "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .unwrap();
    let b = w.get(old).await;
    assert_eq!(b.hold_expires_at, Some(t0() + HOLD));

    // Up to the instant, the slot is held.
    let before = t0() + HOLD - Duration::milliseconds(1);
    assert_eq!(
        book_at(&w, before, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
    assert_eq!(b.clone().as_of(before).status, BookingStatus::Confirmed);
    assert_eq!(busy_at(&w, before).await, 1);

    // From it, expired everywhere, and the slot is free.
    let at = t0() + HOLD;
    assert_eq!(b.as_of(at).status, BookingStatus::Expired);
    assert_eq!(busy_at(&w, at).await, 0);
    let calls = stripe_calls(&w);
    let new = book_at(&w, at, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z")
        .await
        .expect("the dead hold is taken over");
    assert_eq!(stripe_calls(&w), calls, "no Stripe call at takeover");
    assert_eq!(w.get(old).await.status, BookingStatus::Expired, "stored");
    assert_eq!(w.get(new).await.status, BookingStatus::Confirmed);
    assert_eq!(busy_at(&w, at).await, 1);
    // And the new one holds its own slot.
    assert_eq!(
        book_at(&w, at, "2026-04-02T11:00:00Z", "2026-04-02T11:30:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
}

#[tokio::test]
async fn a_booking_paying_or_paid_does_not_expire() {
    for (status, late) in [
        // 3-D Secure: for the grace after the hold (600 s by default).
        (
            PaymentStatus::RequiresAction,
            t0() + HOLD + Duration::seconds(599),
        ),
        (PaymentStatus::Processing, t0() + HOLD * 10),
        (PaymentStatus::Completed, t0() + HOLD * 10),
    ] {
        let w = World::new();
        let (id, _) = held(&w).await;
        let mut b = w.get(id).await;
        b.payment_status = status;
        w.store.insert(b);
        assert_eq!(
            book_at(&w, late, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
            Err(AppError::Store(StoreError::Overlap)),
            "{status:?}"
        );
        assert_eq!(w.get(id).await.as_of(late).status, BookingStatus::Confirmed);
        assert_eq!(busy_at(&w, late).await, 1, "{status:?}");
        assert_eq!(w.stripe.calls(Call::Retrieve), 0, "decided without Stripe");
    }
}

#[tokio::test]
async fn holds_off_never_expire() {
    let w = World::new();
    let id = match create_booking(
        &*w.store,
        &*w.stripe,
        new_booking("2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z"),
        None,
        t0(),
        (None, &Default::default()),
        |_| String::new(),
    )
    .await
    .unwrap()
    {
        Created::New { booking, .. } => booking.id,
        Created::Replayed { .. } => unreachable!(),
    };
    let late = t0() + Duration::days(365);
    assert_eq!(w.get(id).await.hold_expires_at, None);
    assert_eq!(
        book_at(&w, late, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
}

#[tokio::test]
async fn create_intent_on_an_expired_booking_is_409_and_cancel_returns_it_unchanged() {
    let w = World::new();
    let id = book_at(&w, t0(), "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .unwrap();
    let at = || t0() + HOLD;
    assert_eq!(
        create_intent(&*w.store, &*w.stripe, id, usd("3.50"), at).await,
        Err(AppError::conflict("Booking has expired"))
    );
    let stored = w.get(id).await;
    let cancelled = cancel_booking(&*w.store, &*w.stripe, id, at).await.unwrap();
    assert_eq!(cancelled.status, BookingStatus::Expired);
    assert_eq!(cancelled.cancelled_at, None);
    assert_eq!(w.get(id).await, stored, "unchanged");
    assert_eq!(stripe_calls(&w), 0, "no intent: nothing to ask Stripe");
}

/// With a live intent, create-intent after the hold asks Stripe first: the unpaid intent is
/// cancelled, and only then is the booking expired (409). A cancel afterwards answers it
/// unchanged, with no Stripe call.
#[tokio::test]
async fn create_intent_after_the_hold_cancels_the_unpaid_intent_then_answers_expired() {
    let w = World::new();
    let (id, pi) = held(&w).await;
    let at = || t0() + HOLD;
    assert_eq!(
        create_intent(&*w.store, &*w.stripe, id, usd("3.50"), at).await,
        Err(AppError::conflict("Booking has expired"))
    );
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    let stored = w.get(id).await;
    assert_eq!(stored.status, BookingStatus::Expired);
    assert_eq!(stored.payment_status, PaymentStatus::Canceled);
    let calls = stripe_calls(&w);
    let cancelled = cancel_booking(&*w.store, &*w.stripe, id, at).await.unwrap();
    assert_eq!(cancelled.status, BookingStatus::Expired);
    assert_eq!(w.get(id).await, stored, "unchanged");
    assert_eq!(stripe_calls(&w), calls);
}

#[tokio::test]
async fn a_payment_that_succeeds_before_the_hold_passes_keeps_the_booking() {
    let w = World::new();
    let (id, pi) = held(&w).await;
    let paid = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        t0().timestamp() + 60,
    );
    let at = t0() + HOLD - Duration::seconds(1);
    assert_eq!(
        apply_intent_event(&*w.store, &paid, at).await.unwrap(),
        EventOutcome::Applied(PaymentStatus::Completed)
    );
    let late = t0() + HOLD * 4;
    let b = w.get(id).await;
    assert_eq!(b.clone().as_of(late).status, BookingStatus::Confirmed);
    assert_eq!(b.shown_hold_expires_at(), None, "null once paid");
    assert_eq!(
        book_at(&w, late, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
}

/// The race the takeover must lose: the payment lands after the taker read the booking dead
/// but before its expiry is written. The expiry's condition (the booking as read) fails, the
/// booking is read again, paid, and the new booking is a 409.
#[tokio::test]
async fn a_payment_landing_between_the_takers_read_and_its_expiry_wins() {
    let w = World::new();
    let (id, pi) = held(&w).await;
    let as_the_taker_read_it = w.get(id).await;
    let paid = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        t0().timestamp() + 60,
    );
    let just_before = t0() + HOLD - Duration::milliseconds(1);
    assert_eq!(
        apply_intent_event(&*w.store, &paid, just_before)
            .await
            .unwrap(),
        EventOutcome::Applied(PaymentStatus::Completed)
    );
    let at = t0() + HOLD;
    assert!(!w
        .store
        .expire_booking(&as_the_taker_read_it, at)
        .await
        .unwrap());
    assert_eq!(
        book_at(&w, at, "2026-04-02T10:30:00Z", "2026-04-02T12:00:00Z").await,
        Err(AppError::Store(StoreError::Overlap))
    );
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Confirmed);
    assert_eq!(b.payment_status, PaymentStatus::Completed);
}

/// A reconcile run writes `expired` for bookings whose hold passed unpaid (freeing their slot
/// items) and cancels their PaymentIntents at Stripe, so none stays payable; a held booking
/// within its hold and a paid one are left alone.
#[tokio::test]
async fn reconcile_expires_due_holds_and_cancels_their_intents() {
    let w = World::new();
    let (due, intent) = held(&w).await;
    let later = t0() + HOLD + Duration::minutes(1);
    let (fresh, fresh_intent) = {
        let id = book_at(&w, later, "2026-04-03T10:00:00Z", "2026-04-03T11:00:00Z")
            .await
            .unwrap();
        let pi = create_intent(&*w.store, &*w.stripe, id, usd("3.50"), || later)
            .await
            .unwrap()
            .id;
        (id, pi)
    };
    let summary = super::uc::reconcile(&*w.store, &*w.stripe, &Default::default(), later)
        .await
        .unwrap();
    assert_eq!(summary.holds_expired, 1, "{summary:?}");
    let stored = w.store.get_booking(due).await.unwrap().unwrap();
    assert_eq!(stored.status, BookingStatus::Expired);
    assert_eq!(
        w.stripe.intent(&intent).unwrap().status,
        IntentStatus::Canceled
    );
    assert_eq!(w.get(fresh).await.status, BookingStatus::Confirmed);
    assert!(w.stripe.intent(&fresh_intent).unwrap().status.is_payable());
    // A second run finds nothing left to expire.
    let again = super::uc::reconcile(&*w.store, &*w.stripe, &Default::default(), later)
        .await
        .unwrap();
    assert_eq!(again.holds_expired, 0);
}
