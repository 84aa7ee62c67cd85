//! `BookingStore` in memory, with the same conditions as the DynamoDB adapter: a booking is
//! stored only if no confirmed booking of its asset overlaps it, payment writes apply only if
//! the booking is still as expected, and an event id is recorded at most once, in the same
//! step as its effect.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{
    AssetId, Booking, BookingId, BookingStatus, IdempotencyRecord, IntentId, Payment,
    PaymentStatus, UserId,
};
use crate::ports::{Booked, Checkpoint, InFlight, RefundRefusal};
use crate::ports::{
    BookingStore, EventWrite, Expected, Page, PaymentWrite, ProcessedEvent, StoreError,
};

#[derive(Default)]
struct State {
    bookings: HashMap<BookingId, Booking>,
    idempotency: HashMap<String, IdempotencyRecord>,
    events: HashSet<String>,
    /// As the DynamoDB adapter's lookup items: every intent ever attached, and every charge
    /// of a success, to its booking (an intent replaced since still maps to its booking).
    refs: HashMap<String, BookingId>,
}

#[derive(Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
    /// The reconciliation's checkpoint, lease and recorded refusals.
    reconciliation: Mutex<Reconciliation>,
    /// `get_booking` as a test sees it: how many, how many at once, and how long each takes.
    reads: Reads,
    /// Tariffs and their assignments (`memory::tariffs`), and how many reads they answered.
    pub(super) tariffs: Mutex<super::tariffs::Tariffs>,
    pub(super) tariff_reads: std::sync::atomic::AtomicUsize,
}

/// Booking reads counted, for tests that bound them.
#[derive(Default)]
struct Reads {
    total: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Each read takes this long (as a DynamoDB round trip does); none by default.
    latency: Mutex<Option<std::time::Duration>>,
}

/// What [`InMemoryStore::read_stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    pub total: usize,
    pub max_in_flight: usize,
}

mod reconciliation;
use reconciliation::Reconciliation;

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a booking as it is, for a test's starting point.
    pub fn insert(&self, booking: Booking) {
        self.lock().bookings.insert(booking.id, booking);
    }

    /// Every later `get_booking` takes `latency` (so reads made at once overlap, as they do
    /// against DynamoDB), and the counts start again.
    pub fn set_read_latency(&self, latency: std::time::Duration) {
        *self.reads.latency.lock().unwrap_or_else(|e| e.into_inner()) = Some(latency);
        self.reads.total.store(0, Ordering::SeqCst);
        self.reads.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// `get_booking` calls since the start (or [`InMemoryStore::set_read_latency`]), and the
    /// most that were in flight at once.
    pub fn read_stats(&self) -> ReadStats {
        ReadStats {
            total: self.reads.total.load(Ordering::SeqCst),
            max_in_flight: self.reads.max_in_flight.load(Ordering::SeqCst),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn matches(booking: &Booking, expected: &Expected) -> bool {
    booking.payment_status == expected.payment_status
        && booking.intent_id() == expected.intent_id.as_ref()
        && expected.status.is_none_or(|s| booking.status == s)
        && expected.updated_at.is_none_or(|u| booking.updated_at == u)
        && expected
            .hold_open_at
            .is_none_or(|at| booking.hold_expires_at.is_none_or(|h| h > at))
}

/// As the DynamoDB update: a given payment replaces every payment attribute; none leaves them.
fn write_payment(
    booking: &mut Booking,
    status: PaymentStatus,
    payment: Option<&Payment>,
    now: DateTime<Utc>,
) {
    booking.payment_status = status;
    if let Some(p) = payment {
        // A refused refund is recorded by its own write; no payment write sets or drops it.
        let refusal = booking
            .payment
            .as_ref()
            .and_then(|p| p.refund_refusal.clone());
        let mut p = p.clone();
        p.refund_refusal = refusal;
        booking.payment = Some(p);
    }
    booking.updated_at = now;
}

impl BookingStore for InMemoryStore {
    async fn create_booking(
        &self,
        booking: &Booking,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(record) = idempotency {
            if state
                .idempotency
                .get(&record.key)
                .is_some_and(|r| r.is_live(Utc::now()))
            {
                return Err(StoreError::IdempotencyKeyTaken);
            }
        }
        let overlaps = state.bookings.values().any(|b| {
            b.asset_id == booking.asset_id
                && b.status == BookingStatus::Confirmed
                && booking.slot.overlaps(b.slot.start_ms(), b.slot.end_ms())
        });
        if overlaps {
            return Err(StoreError::Overlap);
        }
        if state.bookings.contains_key(&booking.id) {
            return Err(StoreError::Corrupt(format!(
                "booking id {} already exists",
                booking.id
            )));
        }
        state.bookings.insert(booking.id, booking.clone());
        if let Some(record) = idempotency {
            state.idempotency.insert(record.key.clone(), record.clone());
        }
        Ok(())
    }

    async fn get_booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError> {
        let reads = &self.reads;
        reads.total.fetch_add(1, Ordering::SeqCst);
        let latency = *reads.latency.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(latency) = latency {
            let now = reads.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            reads.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(latency).await;
            reads.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(self.lock().bookings.get(&id).cloned())
    }

    async fn list_user_bookings(
        &self,
        user_id: UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Option<Page>, StoreError> {
        // The cursor is the last item's (created_at, id), bound to the user like DynamoDB's.
        let after = match cursor {
            None => None,
            Some(c) => match c.split_once('|') {
                Some((user, rest)) if user == user_id.to_string() => Some(rest.to_string()),
                _ => return Ok(None),
            },
        };
        let state = self.lock();
        let mut mine: Vec<&Booking> = state
            .bookings
            .values()
            .filter(|b| b.user_id == user_id)
            .collect();
        let sort_key = |b: &Booking| format!("{}#{}", b.created_at.to_rfc3339(), b.id);
        mine.sort_by_key(|b| std::cmp::Reverse(sort_key(b)));
        let items: Vec<Booking> = mine
            .into_iter()
            .filter(|b| after.as_ref().is_none_or(|a| sort_key(b) < *a))
            .take(limit as usize)
            .cloned()
            .collect();
        let next_cursor = (items.len() == limit as usize)
            .then(|| items.last().map(|b| format!("{user_id}|{}", sort_key(b))))
            .flatten();
        Ok(Some(Page { items, next_cursor }))
    }

    async fn booked_on_days(
        &self,
        asset_id: AssetId,
        days: &[NaiveDate],
    ) -> Result<Vec<Booked>, StoreError> {
        // As the slot items: one entry per confirmed booking per day it touches.
        let state = self.lock();
        let mut found = Vec::new();
        for b in state.bookings.values() {
            if b.asset_id != asset_id || b.status != BookingStatus::Confirmed {
                continue;
            }
            for day in b.slot.days() {
                if days.contains(&day) {
                    found.push(Booked {
                        booking_id: b.id,
                        start_ms: b.slot.start_ms(),
                        end_ms: b.slot.end_ms(),
                        hold_expires_ms: b.hold_expires_at.map(|t| t.timestamp_millis()),
                    });
                }
            }
        }
        Ok(found)
    }

    async fn expire_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(stored) = state.bookings.get_mut(&booking.id) else {
            return Ok(false);
        };
        if stored.status != BookingStatus::Confirmed || stored.updated_at != booking.updated_at {
            return Ok(false);
        }
        stored.status = BookingStatus::Expired;
        stored.updated_at = now.max(booking.updated_at + chrono::Duration::milliseconds(1));
        Ok(true)
    }

    async fn cancel_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
    ) -> Result<bool, StoreError> {
        let expected = Expected {
            status: Some(BookingStatus::Confirmed),
            updated_at: Some(booking.updated_at),
            ..Expected::from_booking(booking)
        };
        let now = now.max(booking.updated_at + chrono::Duration::milliseconds(1));
        let mut state = self.lock();
        let Some(current) = state.bookings.get_mut(&booking.id) else {
            return Ok(false);
        };
        if !matches(current, &expected) {
            return Ok(false);
        }
        write_payment(current, payment_status, payment, now);
        current.status = BookingStatus::Cancelled;
        current.cancelled_at = Some(now);
        Ok(true)
    }

    async fn check_in(&self, booking: &Booking, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(current) = state.bookings.get_mut(&booking.id) else {
            return Ok(false);
        };
        let no_show = current
            .payment
            .as_ref()
            .is_some_and(|p| p.no_show_fee.is_some());
        if current.status != BookingStatus::Confirmed
            || current.updated_at != booking.updated_at
            || current.checked_in_at.is_some()
            || no_show
        {
            return Ok(false);
        }
        current.checked_in_at = Some(at);
        current.updated_at = at.max(booking.updated_at + chrono::Duration::milliseconds(1));
        Ok(true)
    }

    async fn update_payment(
        &self,
        booking_id: BookingId,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let mut state = self.lock();
        let Some(current) = state.bookings.get_mut(&booking_id) else {
            return Ok(PaymentWrite::Conflict);
        };
        if !matches(current, expected) {
            return Ok(PaymentWrite::Conflict);
        }
        write_payment(current, payment_status, Some(payment), now);
        if expected.intent_id.as_ref() != Some(&payment.intent_id) {
            state
                .refs
                .insert(payment.intent_id.as_str().to_string(), booking_id);
        }
        Ok(PaymentWrite::Written)
    }

    async fn apply_event(
        &self,
        booking_id: BookingId,
        write: &EventWrite<'_>,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let mut state = self.lock();
        if state.events.contains(&write.event.event_id) {
            return Ok(PaymentWrite::Duplicate);
        }
        let Some(booking) = state.bookings.get_mut(&booking_id) else {
            return Ok(PaymentWrite::Conflict);
        };
        let Some(payment) = booking.payment.as_mut() else {
            return Ok(PaymentWrite::Conflict);
        };
        let last = payment.last_event_at;
        if booking.status != BookingStatus::Confirmed
            || &payment.intent_id != write.intent_id
            || !write
                .guard
                .admits(booking.payment_status, last, write.created)
        {
            return Ok(PaymentWrite::Conflict);
        }
        // As the DynamoDB update.
        write.apply_to(payment);
        booking.payment_status = write.status;
        booking.updated_at = now;
        state.events.insert(write.event.event_id.clone());
        if let Some(charge) = write.charge_id {
            state.refs.insert(charge.to_string(), booking_id);
        }
        Ok(PaymentWrite::Written)
    }

    async fn update_payment_with_event(
        &self,
        booking_id: BookingId,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        event: &ProcessedEvent,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let mut state = self.lock();
        if state.events.contains(&event.event_id) {
            return Ok(PaymentWrite::Duplicate);
        }
        let Some(current) = state.bookings.get_mut(&booking_id) else {
            return Ok(PaymentWrite::Conflict);
        };
        if !matches(current, expected) {
            return Ok(PaymentWrite::Conflict);
        }
        write_payment(current, payment_status, Some(payment), now);
        state.events.insert(event.event_id.clone());
        if let Some(charge) = &payment.charge_id {
            state.refs.insert(charge.clone(), booking_id);
        }
        Ok(PaymentWrite::Written)
    }

    async fn find_booking_by_payment(
        &self,
        intent_id: Option<&IntentId>,
        charge_id: Option<&str>,
    ) -> Result<Option<BookingId>, StoreError> {
        let state = self.lock();
        let by_intent = intent_id.and_then(|i| state.refs.get(i.as_str()));
        Ok(by_intent
            .or_else(|| charge_id.and_then(|c| state.refs.get(c)))
            .copied())
    }

    async fn event_processed(&self, event_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().events.contains(event_id))
    }

    async fn get_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self
            .lock()
            .idempotency
            .get(key)
            .filter(|r| r.is_live(Utc::now()))
            .cloned())
    }

    async fn reconcile_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_now()
    }

    async fn move_reconcile_checkpoint(
        &self,
        from: Option<&Checkpoint>,
        to: &Checkpoint,
    ) -> Result<bool, StoreError> {
        self.move_checkpoint(from, to)
    }

    async fn take_reconcile_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.take_lease(owner, now, until)
    }

    async fn release_reconcile_lease(&self, owner: &str) -> Result<(), StoreError> {
        self.release_lease(owner)
    }

    async fn record_refund_refusal(
        &self,
        id: BookingId,
        refusal: &RefundRefusal,
    ) -> Result<(), StoreError> {
        self.record_refusal(id, refusal)
    }

    async fn in_flight_payments(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<InFlight>, StoreError> {
        self.in_flight(status, updated_from..=updated_to, limit)
    }

    async fn bookings_in_payment_status(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
        order: crate::ports::Order,
    ) -> Result<Vec<BookingId>, StoreError> {
        self.in_status(status, updated_from..=updated_to, limit, order)
    }

    async fn bookings_owing_refunds(
        &self,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<BookingId>, StoreError> {
        self.owing(updated_from..=updated_to, limit)
    }
}
