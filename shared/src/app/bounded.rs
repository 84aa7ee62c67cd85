//! Reads bounded by design: a request reads at most [`MAX_HOLD_READS`] bookings whose hold has
//! passed (to learn whether each is dead or paid since), [`MAX_CONCURRENT_READS`] at a time.
//! One asset can gather thousands of unpaid short bookings; reading them all, all at once,
//! would cost a consistent read unit each, open thousands of connections at once, and miss
//! the API's deadline.

/// Bookings whose hold has passed one request reads at most.
pub const MAX_HOLD_READS: usize = 100;
/// Of those, how many are read at once.
pub const MAX_CONCURRENT_READS: usize = 8;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::AppError;
use crate::domain::BookingId;
use crate::ports::{Booked, BookingStore};

/// Whether a slot entry's hold has passed at `now` (so the booking may be dead: read it to
/// know). No hold, or one still running: live, whatever its payment, without a read.
pub fn hold_passed(booked: &Booked, now: DateTime<Utc>) -> bool {
    booked
        .hold_expires_ms
        .is_some_and(|h| h <= now.timestamp_millis())
}

/// Of `candidates` (bookings whose hold passed, in the order they matter most), the ones
/// that are dead at `now` (expired, or gone), reading at most [`MAX_HOLD_READS`] of them,
/// [`MAX_CONCURRENT_READS`] at a time. One not read is not in the answer: it counts as live,
/// so a caller never frees time it did not check.
pub async fn dead_among<S: BookingStore>(
    store: &S,
    candidates: &[BookingId],
    now: DateTime<Utc>,
) -> Result<HashSet<BookingId>, AppError> {
    let read = candidates.len().min(MAX_HOLD_READS);
    if read < candidates.len() {
        tracing::warn!(
            holds_passed = candidates.len(),
            read,
            "more bookings past their hold than one request reads; the rest count as busy until expired"
        );
    }
    stream::iter(candidates[..read].iter().copied())
        .map(|id| async move { Ok::<_, AppError>((id, store.get_booking(id).await?)) })
        .buffer_unordered(MAX_CONCURRENT_READS)
        .try_filter_map(|(id, booking)| async move {
            Ok(booking.is_none_or(|b| b.is_expired(now)).then_some(id))
        })
        .try_collect()
        .await
}

/// Whether a new booking may try to take its slot over from `in_the_way` (the slot entries
/// overlapping it): only if every one's hold has passed (one that has not is live: no read
/// needed to know) and there are no more of them than one request reads.
pub fn may_take_over(in_the_way: &[&Booked], now: DateTime<Utc>) -> bool {
    let ids: HashSet<BookingId> = in_the_way.iter().map(|b| b.booking_id).collect();
    ids.len() <= MAX_HOLD_READS && in_the_way.iter().all(|b| hold_passed(b, now))
}
