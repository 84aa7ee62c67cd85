//! What reconciliation keeps and queries in the in-memory store: its checkpoint, lease and
//! recorded refusals, and the payment-status index's queries (as the DynamoDB adapter's GSI).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};

use super::InMemoryStore;
use crate::domain::{Booking, BookingId, PaymentStatus};
use crate::ports::{Checkpoint, InFlight, Order, RefundRefusal, StoreError};

#[derive(Default)]
pub(super) struct Reconciliation {
    checkpoint: Option<Checkpoint>,
    /// A failure to inject into the checkpoint's next move.
    fail_next_move: Option<StoreError>,
    /// `(owner, until)`.
    lease: Option<(String, DateTime<Utc>)>,
    refusals: HashMap<BookingId, Vec<RefundRefusal>>,
}

impl InMemoryStore {
    pub(super) fn reconciliation_lock(&self) -> std::sync::MutexGuard<'_, Reconciliation> {
        self.reconciliation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The next move of the reconciliation checkpoint fails with `err` (a crash, or DynamoDB
    /// failing, between applying events and recording that they were).
    pub fn fail_next_checkpoint_move(&self, err: StoreError) {
        self.reconciliation_lock().fail_next_move = Some(err);
    }

    /// The refusals recorded on the booking, oldest first.
    pub fn refund_refusals(&self, id: BookingId) -> Vec<RefundRefusal> {
        self.reconciliation_lock()
            .refusals
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn checkpoint_now(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.reconciliation_lock().checkpoint.clone())
    }

    pub(super) fn move_checkpoint(
        &self,
        from: Option<&Checkpoint>,
        to: &Checkpoint,
    ) -> Result<bool, StoreError> {
        let mut r = self.reconciliation_lock();
        if let Some(err) = r.fail_next_move.take() {
            return Err(err);
        }
        if r.checkpoint.as_ref() != from {
            return Ok(false);
        }
        r.checkpoint = Some(to.clone());
        Ok(true)
    }

    pub(super) fn take_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut r = self.reconciliation_lock();
        if r.lease.as_ref().is_some_and(|(_, held)| *held > now) {
            return Ok(false);
        }
        r.lease = Some((owner.to_string(), until));
        Ok(true)
    }

    pub(super) fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        let mut r = self.reconciliation_lock();
        if r.lease
            .as_ref()
            .is_some_and(|(held_by, _)| held_by == owner)
        {
            r.lease = None;
        }
        Ok(())
    }

    pub(super) fn record_refusal(
        &self,
        id: BookingId,
        refusal: &RefundRefusal,
    ) -> Result<(), StoreError> {
        // As the DynamoDB adapter's own attribute beside the payment.
        match self.lock().bookings.get_mut(&id) {
            None => return Ok(()),
            Some(booking) => {
                if let Some(payment) = booking.payment.as_mut() {
                    payment.refund_refusal = Some(refusal.clone());
                }
            }
        }
        let mut r = self.reconciliation_lock();
        r.refusals.entry(id).or_default().push(refusal.clone());
        Ok(())
    }

    /// As the payment-status index: bookings with an intent in `status`, updated in `window`,
    /// most recently updated first.
    pub(super) fn in_flight(
        &self,
        status: PaymentStatus,
        window: RangeInclusive<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<InFlight>, StoreError> {
        let state = self.lock();
        let mut found: Vec<InFlight> = state
            .bookings
            .values()
            .filter(|b| {
                b.payment_status == status && b.payment.is_some() && window.contains(&b.updated_at)
            })
            .map(|b| InFlight {
                booking_id: b.id,
                payment_status: b.payment_status,
                updated_at: b.updated_at,
            })
            .collect();
        found.sort_by_key(|b| std::cmp::Reverse(b.updated_at));
        found.truncate(limit);
        Ok(found)
    }

    pub(super) fn in_status(
        &self,
        status: PaymentStatus,
        window: RangeInclusive<DateTime<Utc>>,
        limit: usize,
        order: Order,
    ) -> Result<Vec<BookingId>, StoreError> {
        let state = self.lock();
        let mut found: Vec<&Booking> = state
            .bookings
            .values()
            .filter(|b| b.payment_status == status && window.contains(&b.updated_at))
            .collect();
        found.sort_by_key(|b| b.updated_at);
        if order == Order::NewestFirst {
            found.reverse();
        }
        Ok(found.into_iter().take(limit).map(|b| b.id).collect())
    }

    pub(super) fn owing(
        &self,
        window: RangeInclusive<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<BookingId>, StoreError> {
        let state = self.lock();
        Ok(state
            .bookings
            .values()
            .filter(|b| {
                b.payment
                    .as_ref()
                    .is_some_and(|p| !p.refunds_owed.is_empty())
                    && window.contains(&b.updated_at)
            })
            .map(|b| b.id)
            .take(limit)
            .collect())
    }
}
