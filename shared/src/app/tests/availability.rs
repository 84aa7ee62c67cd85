//! Availability: the confirmed bookings of one asset that overlap a window, each once, whole,
//! sorted by start.

use chrono::{DateTime, Utc};

use super::uc::cancel_booking;
use crate::app::bookings::{availability, create_booking, Busy, Created};
use crate::domain::slot::Window;

use super::*;

const ASSET: &str = "550e8400-e29b-41d4-a716-4466554400aa";

fn t(s: &str) -> DateTime<Utc> {
    parse_time("t", s).unwrap()
}

async fn book(w: &World, asset: &str, start: &str, end: &str) -> BookingId {
    let new = NewBooking {
        asset_id: AssetId::parse("a", asset).unwrap(),
        asset_type: AssetType::ParkingSpot,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot: Slot::new(t(start), t(end)).unwrap(),
    };
    match create_booking(
        &*w.store,
        &*w.stripe,
        new,
        None,
        Utc::now(),
        (None, &Default::default()),
        |_| String::new(),
    )
    .await
    .unwrap()
    {
        Created::New { booking, .. } => booking.id,
        Created::Replayed { .. } => unreachable!(),
    }
}

async fn busy(w: &World, asset: &str, from: &str, to: &str) -> Vec<(String, String)> {
    let window = Window::new(t(from), t(to)).unwrap();
    availability(
        &*w.store,
        AssetId::parse("a", asset).unwrap(),
        window,
        Utc::now(),
    )
    .await
    .unwrap()
    .into_iter()
    .map(|Busy { start, end }| (start.to_rfc3339(), end.to_rfc3339()))
    .collect()
}

fn interval(start: &str, end: &str) -> (String, String) {
    (t(start).to_rfc3339(), t(end).to_rfc3339())
}

#[tokio::test]
async fn an_asset_never_booked_is_free() {
    let w = World::new();
    assert!(
        busy(&w, ASSET, "2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn every_confirmed_booking_overlapping_the_window_once_whole_and_sorted() {
    let w = World::new();
    // Days before the window, reaching into it: whole, not clipped.
    book(&w, ASSET, "2026-03-08T22:00:00Z", "2026-03-10T01:00:00Z").await;
    // Inside, booked out of order.
    book(&w, ASSET, "2026-03-10T15:00:00Z", "2026-03-10T15:05:00Z").await;
    book(&w, ASSET, "2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z").await;
    // From the window's last day into the days after.
    book(&w, ASSET, "2026-03-11T23:00:00Z", "2026-03-14T00:00:00Z").await;
    // Adjacent to the window on either side: not in it.
    book(&w, ASSET, "2026-03-05T00:00:00Z", "2026-03-08T00:00:00Z").await;
    book(&w, ASSET, "2026-03-14T00:00:00Z", "2026-03-14T01:00:00Z").await;
    // Cancelled, and another asset's: not in it.
    let cancelled = book(&w, ASSET, "2026-03-10T12:00:00Z", "2026-03-10T13:00:00Z").await;
    cancel_booking(&*w.store, &*w.stripe, cancelled, Utc::now)
        .await
        .unwrap();
    book(
        &w,
        "550e8400-e29b-41d4-a716-4466554400bb",
        "2026-03-10T12:00:00Z",
        "2026-03-10T13:00:00Z",
    )
    .await;

    assert_eq!(
        busy(&w, ASSET, "2026-03-08T00:00:00Z", "2026-03-12T00:00:00Z").await,
        vec![
            interval("2026-03-08T22:00:00Z", "2026-03-10T01:00:00Z"),
            interval("2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z"),
            interval("2026-03-10T15:00:00Z", "2026-03-10T15:05:00Z"),
            interval("2026-03-11T23:00:00Z", "2026-03-14T00:00:00Z"),
        ]
    );
    // A window inside one booking's day, that booking touching several days.
    assert_eq!(
        busy(&w, ASSET, "2026-03-09T05:00:00Z", "2026-03-09T06:00:00Z").await,
        vec![interval("2026-03-08T22:00:00Z", "2026-03-10T01:00:00Z")]
    );
    // Between two bookings: free.
    assert!(
        busy(&w, ASSET, "2026-03-10T10:00:00Z", "2026-03-10T15:00:00Z")
            .await
            .is_empty()
    );
}
