//! What the hold tests share: a parking spot booked at `t0` with the 900 s hold.

use chrono::{DateTime, Duration, Utc};

use crate::adapters::memory::Call;
use crate::app::bookings::{availability, create_booking, Created};
use crate::domain::slot::Window;

use super::*;

pub(super) const ASSET: &str = "550e8400-e29b-41d4-a716-4466554400cc";
pub(super) const HOLD: Duration = Duration::seconds(900);

pub(super) fn t0() -> DateTime<Utc> {
    parse_time("t", "2026-04-01T10:00:00Z").unwrap()
}

pub(super) fn new_booking(start: &str, end: &str) -> NewBooking {
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

pub(super) async fn book_at(
    w: &World,
    now: DateTime<Utc>,
    start: &str,
    end: &str,
) -> Result<BookingId, AppError> {
    match create_booking(
        &*w.store,
        &*w.stripe,
        new_booking(start, end),
        None,
        now,
        (Some(HOLD), &Default::default()),
        |_| String::new(),
    )
    .await?
    {
        Created::New { booking, .. } => Ok(booking.id),
        Created::Replayed { .. } => unreachable!(),
    }
}

/// A booking made at t0 with the 900 s hold and an intent (unpaid).
pub(super) async fn held(w: &World) -> (BookingId, IntentId) {
    let id = book_at(w, t0(), "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z")
        .await
        .unwrap();
    let intent = create_intent(&*w.store, &*w.stripe, id, usd("3.50"), t0)
        .await
        .unwrap();
    (id, intent.id)
}

pub(super) fn stripe_calls(w: &World) -> usize {
    [Call::Create, Call::Retrieve, Call::Cancel, Call::Refund]
        .into_iter()
        .map(|c| w.stripe.calls(c))
        .sum()
}

pub(super) async fn busy_at(w: &World, now: DateTime<Utc>) -> usize {
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
