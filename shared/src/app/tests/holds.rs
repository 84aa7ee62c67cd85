//! Holds: an unpaid booking holds its slot until `hold_expires_at`; after that it is expired at
//! once (for every use case), and a new overlapping booking takes the slot over, deciding on
//! DynamoDB's state only (no Stripe call).

use chrono::{DateTime, Duration, Utc};

use crate::adapters::memory::Call;
use crate::app::bookings::{availability, cancel_booking, create_booking, Created};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::domain::slot::Window;
use crate::domain::{BookingStatus, IntentStatus, PaymentStatus};
use crate::ports::StoreError;

use super::*;

const ASSET: &str = "550e8400-e29b-41d4-a716-4466554400cc";
const HOLD: Duration = Duration::seconds(900);

fn t0() -> DateTime<Utc> {
    parse_time("t", "2026-04-01T10:00:00Z").unwrap()
}

fn new_booking(start: &str, end: &str) -> NewBooking {
    NewBooking {
        asset_id: AssetId::parse("a", ASSET).unwrap(),
        asset_type: AssetType::ParkingSpot,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot: Slot::new(
            parse_time("s", start).unwrap(),
            parse_time("e", end).unwrap(),
        )
        .unwrap(),
    }
}

async fn book_at(
    w: &World,
    now: DateTime<Utc>,
    start: &str,
    end: &str,
) -> Result<BookingId, AppError> {
    match create_booking(
        &*w.store,
        new_booking(start, end),
        None,
        now,
        Some(HOLD),
        |_| String::new(),
    )
    .await?
    {
        Created::New { booking, .. } => Ok(booking.id),
        Created::Replayed { .. } => unreachable!(),
    }
}

/// A booking made at t0 with the 900 s hold and an intent (unpaid).
async fn held(w: &World) -> (BookingId, IntentId) {
    let id = book_at(w, t0(), "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .unwrap();
    let intent = create_intent(&*w.store, &*w.stripe, id, usd("3.50"), t0)
        .await
        .unwrap();
    (id, intent.id)
}

fn stripe_calls(w: &World) -> usize {
    [Call::Create, Call::Retrieve, Call::Cancel, Call::Refund]
        .into_iter()
        .map(|c| w.stripe.calls(c))
        .sum()
}

async fn busy_at(w: &World, now: DateTime<Utc>) -> usize {
    let window = Window::new(
        parse_time("f", "2026-04-02T00:00:00Z").unwrap(),
        parse_time("t", "2026-04-03T00:00:00Z").unwrap(),
    )
    .unwrap();
    availability(&*w.store, AssetId::parse("a", ASSET).unwrap(), window, now)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_unpaid_booking_is_expired_the_instant_its_hold_passes_and_its_slot_taken_over() {
    let w = World::new();
    let (old, _) = held(&w).await;
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
    let late = t0() + HOLD * 10;
    for status in [
        PaymentStatus::RequiresAction,
        PaymentStatus::Processing,
        PaymentStatus::Completed,
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
    }
}

#[tokio::test]
async fn holds_off_never_expire() {
    let w = World::new();
    let id = match create_booking(
        &*w.store,
        new_booking("2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z"),
        None,
        t0(),
        None,
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
    let (id, _) = held(&w).await;
    let at = || t0() + HOLD;
    let calls = stripe_calls(&w);
    assert_eq!(
        create_intent(&*w.store, &*w.stripe, id, usd("3.50"), at).await,
        Err(AppError::conflict("Booking has expired"))
    );
    let stored = w.get(id).await;
    let cancelled = cancel_booking(&*w.store, &*w.stripe, id, at).await.unwrap();
    assert_eq!(cancelled.status, BookingStatus::Expired);
    assert_eq!(cancelled.cancelled_at, None);
    assert_eq!(w.get(id).await, stored, "unchanged");
    assert_eq!(stripe_calls(&w), calls);
}

#[tokio::test]
async fn a_payment_that_succeeds_after_the_hold_is_owed_back_and_the_slot_stays_free() {
    let w = World::new();
    let (id, pi) = held(&w).await;
    // The driver pays at Stripe just after the hold passed.
    w.stripe
        .set_status(&pi, crate::domain::IntentStatus::Succeeded);
    let paid = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        (t0() + HOLD).timestamp(),
    );
    let at = t0() + HOLD + Duration::seconds(1);
    let outcome = apply_intent_event(&*w.store, &paid, at).await.unwrap();
    assert_eq!(outcome, EventOutcome::Applied(PaymentStatus::Completed));
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Expired);
    assert_eq!(b.payment.unwrap().refunds_owed, vec![pi.clone()]);
    assert_eq!(busy_at(&w, at).await, 0);
    book_at(&w, at, "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .expect("the slot is free");
    // Cancelling carries the owed refund out, as for a cancelled booking.
    cancel_booking(&*w.store, &*w.stripe, id, move || at)
        .await
        .unwrap();
    assert_eq!(w.stripe.calls(Call::Refund), 1);
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
    assert!(as_the_taker_read_it.is_expired(at));
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
    let summary =
        crate::app::reconcile::reconcile(&*w.store, &*w.stripe, &Default::default(), later)
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
    let again = crate::app::reconcile::reconcile(&*w.store, &*w.stripe, &Default::default(), later)
        .await
        .unwrap();
    assert_eq!(again.holds_expired, 0);
}
