//! Reads bounded by design (issue 24, item 3): an asset with 10,000 unpaid short bookings
//! whose holds have passed. Availability and booking creation read at most
//! `MAX_HOLD_READS` of them per request, `MAX_CONCURRENT_READS` at a time, and answer well
//! within the bookings function's deadline; what they do not read is shown busy (never free).
//! Each read takes as long as a DynamoDB round trip would (the store's read latency), so the
//! reads a request makes at once overlap as they would on Lambda.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::app::bookings::{availability, create_booking, Created};
use crate::app::bounded::{MAX_CONCURRENT_READS, MAX_HOLD_READS};
use crate::domain::slot::Window;
use crate::domain::PaymentStatus;
use crate::ports::StoreError;

use super::*;

const ASSET: &str = "550e8400-e29b-41d4-a716-4466554400cc";
const START: &str = "2026-03-01T00:00:00Z";
/// The bookings function's own deadline (shared/src/http/bookings.rs, under its 15 s timeout).
const DEADLINE: Duration = Duration::from_secs(12);
/// A consistent GetItem, as DynamoDB answers one inside a region.
const READ_LATENCY: Duration = Duration::from_millis(2);

fn t(s: &str) -> DateTime<Utc> {
    parse_time("t", s).unwrap()
}

fn new_booking(start: DateTime<Utc>, minutes: i64) -> NewBooking {
    NewBooking {
        asset_id: AssetId::parse("a", ASSET).unwrap(),
        asset_type: AssetType::ChargingStation,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot: Slot::new(start, start + chrono::Duration::minutes(minutes)).unwrap(),
    }
}

/// `count` back-to-back 5-minute bookings from [`START`], made an hour ago with a 15-minute
/// hold (so every hold has passed), unpaid except those `paid` picks. Their starts.
fn unpaid_holds(w: &World, count: usize, paid: impl Fn(usize) -> bool) -> Vec<DateTime<Utc>> {
    let made = Utc::now() - chrono::Duration::hours(1);
    (0..count)
        .map(|i| {
            let start = t(START) + chrono::Duration::minutes(5 * i as i64);
            let mut b = Booking::new(new_booking(start, 5), BookingId::generate(), made)
                .with_hold(Some(chrono::Duration::minutes(15)));
            if paid(i) {
                b.payment_status = PaymentStatus::Completed;
            }
            w.store.insert(b);
            start
        })
        .collect()
}

async fn create(w: &World, new: NewBooking) -> Result<Created, AppError> {
    let rules = Default::default();
    create_booking(
        &*w.store,
        &*w.stripe,
        new,
        None,
        Utc::now(),
        (None, &rules),
        |_| String::new(),
    )
    .await
}

#[tokio::test]
async fn availability_of_an_asset_with_ten_thousand_dead_holds_is_bounded() {
    let w = World::new();
    // One in 500 was paid: busy whatever is read.
    let is_paid = |i: usize| i % 500 == 250;
    let starts = unpaid_holds(&w, 10_000, is_paid);
    w.store.set_read_latency(READ_LATENCY);

    let window = Window::new(t(START), t(START) + chrono::Duration::days(31)).unwrap();
    let asset = AssetId::parse("a", ASSET).unwrap();
    let began = Instant::now();
    let busy = availability(&*w.store, asset, window, Utc::now())
        .await
        .unwrap();
    let took = began.elapsed();

    let reads = w.store.read_stats();
    assert!(
        reads.total <= MAX_HOLD_READS,
        "{} bookings read for one availability",
        reads.total
    );
    assert!(
        reads.max_in_flight <= MAX_CONCURRENT_READS,
        "{} reads at once",
        reads.max_in_flight
    );
    assert!(took < DEADLINE / 4, "availability took {took:?}");
    // What was read is exact: the earliest holds, read first, are dead and free.
    let starts_busy: std::collections::BTreeSet<_> = busy.iter().map(|b| b.start).collect();
    for start in &starts[..MAX_HOLD_READS.min(250)] {
        assert!(
            !starts_busy.contains(start),
            "a dead hold at {start} shown busy"
        );
    }
    // A paid booking is always busy; what was not read is never shown free.
    let in_window: Vec<usize> = (0..starts.len())
        .filter(|i| starts[*i] < t(START) + chrono::Duration::days(31))
        .collect();
    for i in in_window.iter().copied().filter(|i| is_paid(*i)) {
        assert!(
            starts_busy.contains(&starts[i]),
            "paid booking {i} shown free"
        );
    }
    assert!(busy.len() >= in_window.len() - MAX_HOLD_READS);
}

#[tokio::test]
async fn a_booking_over_more_dead_holds_than_one_request_reads_reads_none_of_them() {
    let w = World::new();
    // A 10-hour booking over 120 dead 5-minute holds.
    unpaid_holds(&w, MAX_HOLD_READS + 20, |_| false);
    w.store.set_read_latency(READ_LATENCY);
    let long = new_booking(t(START), 5 * (MAX_HOLD_READS as i64 + 20));
    let made = create(&w, long).await;
    assert_eq!(made, Err(AppError::Store(StoreError::Overlap)));
    assert!(w.store.read_stats().total <= MAX_HOLD_READS);
}

#[tokio::test]
async fn a_live_hold_in_the_way_is_known_without_a_read() {
    let w = World::new();
    // Held for another quarter of an hour: live.
    let held = Booking::new(new_booking(t(START), 60), BookingId::generate(), Utc::now())
        .with_hold(Some(chrono::Duration::minutes(15)));
    w.store.insert(held);
    w.store.set_read_latency(READ_LATENCY);
    let made = create(&w, new_booking(t(START), 30)).await;
    assert_eq!(made, Err(AppError::Store(StoreError::Overlap)));
    assert_eq!(w.store.read_stats().total, 0);
}

#[tokio::test]
async fn dead_holds_within_the_bound_are_still_taken_over() {
    let w = World::new();
    unpaid_holds(&w, 50, |_| false);
    let over_all = new_booking(t(START), 5 * 50);
    let made = create(&w, over_all).await.unwrap();
    assert!(matches!(made, Created::New { .. }));
}
