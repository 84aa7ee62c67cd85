//! The storage port: what the use cases need from a database, independent of DynamoDB.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::payment::Guard;
use crate::domain::{
    AssetId, Authorization, Booking, BookingId, BookingStatus, IdempotencyRecord, IntentId,
    Payment, PaymentStatus, UserId,
};

/// Where the reconciliation's walk through Stripe's event list stands.
///
/// Events are applied oldest first. `after` is the last event applied in a walk that has not
/// reached the newest event yet: the next run lists the events just newer than it
/// (`ending_before`). Without `after`, the next run lists every event created at or after
/// `created_from` (Unix seconds) and starts from the oldest of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub created_from: i64,
    pub after: Option<String>,
}

pub use crate::domain::other_intents::RefundRefusal;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("the slot overlaps a confirmed booking of the same asset")]
    Overlap,
    #[error("the idempotency key is already recorded")]
    IdempotencyKeyTaken,
    #[error("too many concurrent writers; gave up retrying")]
    Contention,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// The store refused the write itself as invalid (DynamoDB's ValidationException, or a
    /// transaction cancelled for a `ValidationError`, such as an item over 400 KB): asking
    /// again would get the same answer, so it is never retried.
    #[error("write refused as invalid: {0}")]
    Rejected(String),
}

/// What a payment write expects the booking to still look like (optimistic concurrency: if
/// anything moved since it was read, the write is refused and the caller decides again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub payment_status: PaymentStatus,
    /// The booking's current PaymentIntent id, `None` if it has none.
    pub intent_id: Option<IntentId>,
    /// Required booking status, if it matters for this write.
    pub status: Option<BookingStatus>,
    /// The booking's `updated_at` as read, when the write must see nothing else moved (every
    /// write sets a later one): a version check for read-modify-write of the whole payment.
    pub updated_at: Option<DateTime<Utc>>,
    /// The booking's hold, if it has one, must not have passed at this instant: a new intent
    /// is attached only to a booking still holding its slot (issue 20).
    pub hold_open_at: Option<DateTime<Utc>>,
}

impl Expected {
    pub fn from_booking(booking: &Booking) -> Self {
        Self {
            payment_status: booking.payment_status,
            intent_id: booking.intent_id().cloned(),
            status: None,
            updated_at: None,
            hold_open_at: None,
        }
    }
}

/// What applying a PaymentIntent event writes, and on what condition.
#[derive(Debug, Clone)]
pub struct EventWrite<'a> {
    pub intent_id: &'a IntentId,
    pub guard: &'a Guard,
    /// The event's Stripe `created` (Unix seconds), the booking's new last event time.
    pub created: i64,
    pub status: PaymentStatus,
    /// A success: the amount received (`None`: the intent's whole amount) and when.
    pub paid: Option<(Option<i64>, DateTime<Utc>)>,
    /// A failure: why.
    pub failure_reason: Option<&'a str>,
    /// A success or an authorization: the intent's charge, which later refund and dispute
    /// events name.
    pub charge_id: Option<&'a str>,
    /// An authorization: the hold.
    pub authorized: Option<Held>,
    pub event: &'a ProcessedEvent,
}

impl EventWrite<'_> {
    /// The payment as this write leaves it: what a store's update sets (the DynamoDB adapter
    /// says the same as an update expression).
    pub fn apply_to(&self, payment: &mut Payment) {
        payment.last_event_at = Some(self.created);
        if let Some((received, at)) = self.paid {
            payment.amount_received_minor = Some(received.unwrap_or(payment.amount.minor));
            payment.paid_at = Some(at);
            payment.failure_reason = None;
        }
        if let Some(reason) = self.failure_reason {
            payment.failure_reason = Some(reason.to_string());
        }
        if let Some(charge) = self.charge_id {
            payment.charge_id = Some(charge.to_string());
        }
        if let Some(held) = self.authorized {
            payment.authorization = Some(Authorization {
                amount_minor: held.amount_minor.unwrap_or(payment.amount.minor),
                capture_before: held.capture_before,
                from_charge: held.from_charge,
            });
        }
    }
}

/// An authorization as an event reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// `None`: the intent's whole amount.
    pub amount_minor: Option<i64>,
    pub capture_before: DateTime<Utc>,
    /// `capture_before` is the charge's, not estimated.
    pub from_charge: bool,
}

/// A Stripe event id, kept for a while so a redelivery is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedEvent {
    pub event_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentWrite {
    Written,
    /// The booking changed since it was read (or is gone).
    Conflict,
    /// The event was already processed.
    Duplicate,
}

/// One page of a user's bookings, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Booking>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A booking found by [`BookingStore::in_flight_payments`], as the index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub booking_id: BookingId,
    pub payment_status: PaymentStatus,
    pub updated_at: DateTime<Utc>,
}

/// Which end of an index range a query starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// One booking's interval as a slot item records it, with its hold if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booked {
    pub booking_id: BookingId,
    pub start_ms: i64,
    pub end_ms: i64,
    pub hold_expires_ms: Option<i64>,
}

pub trait BookingStore: Send + Sync {
    /// Stores a new confirmed booking if no confirmed booking of the same asset overlaps it,
    /// together with the idempotency record when one is given: both or neither.
    fn create_booking(
        &self,
        booking: &Booking,
        idempotency: Option<&IdempotencyRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_booking(
        &self,
        id: BookingId,
    ) -> impl Future<Output = Result<Option<Booking>, StoreError>> + Send;

    /// `cursor` is a value previously returned in `Page::next_cursor`; an unreadable cursor is
    /// `Ok(None)` so the caller can answer 400.
    fn list_user_bookings(
        &self,
        user_id: UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Option<Page>, StoreError>> + Send;

    /// The intervals of the confirmed bookings of `asset_id` recorded for `days` (the slot
    /// items; never a Scan): a booking touching several of the days is there once per day.
    /// Read strongly consistent.
    fn booked_on_days(
        &self,
        asset_id: AssetId,
        days: &[NaiveDate],
    ) -> impl Future<Output = Result<Vec<Booked>, StoreError>> + Send;

    /// Marks `booking` (as read: confirmed, unchanged since) expired and frees its slot, in one
    /// conditional write. `Ok(false)` if the booking changed since it was read (a payment
    /// landed, say): the caller reads it again.
    fn expire_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Cancels `booking` (as read, still confirmed, unchanged since: its `updated_at`) and
    /// frees its slot atomically, setting the payment to `payment_status` / `payment`.
    /// `Ok(false)` if the booking changed since it was read.
    fn cancel_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records the driver's arrival at `at` on `booking` (as read: confirmed, not checked in,
    /// no no-show fee decided, unchanged since: its `updated_at`), moving `updated_at` on.
    /// `Ok(false)` if the booking changed since it was read.
    fn check_in(
        &self,
        booking: &Booking,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets the booking's payment to `payment_status` / `payment` if it is still as
    /// `expected`.
    fn update_payment(
        &self,
        booking_id: BookingId,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PaymentWrite, StoreError>> + Send;

    /// Applies a PaymentIntent event in one conditional write: only if the booking's current
    /// intent is the event's and its guard admits the booking's status and last event time,
    /// recording the event in the same transaction (processed at most once, never recorded
    /// without its effect). `Conflict` when the condition failed (or the booking is gone).
    fn apply_event(
        &self,
        booking_id: BookingId,
        write: &EventWrite<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PaymentWrite, StoreError>> + Send;

    /// Sets the booking's payment as `expected` would have it (use `Expected::updated_at`),
    /// recording `event` in the same transaction (a charge, refund or dispute event: applied
    /// at most once, never recorded without its effect). `Duplicate` if the event was recorded.
    fn update_payment_with_event(
        &self,
        booking_id: BookingId,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        event: &ProcessedEvent,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PaymentWrite, StoreError>> + Send;

    /// The booking whose payment is this intent or this charge (Stripe's charge, refund and
    /// dispute events name those, not the booking). Through an index: never a Scan.
    fn find_booking_by_payment(
        &self,
        intent_id: Option<&IntentId>,
        charge_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<BookingId>, StoreError>> + Send;

    /// Has this Stripe event been processed already?
    fn event_processed(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn get_idempotency(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    // Reconciliation (issue 12, section 4).

    /// The reconciliation's checkpoint (see [`Checkpoint`]). `None` before the first run.
    fn reconcile_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<Checkpoint>, StoreError>> + Send;

    /// Moves the checkpoint to `to` if it is still `from` (as read or last written by this
    /// run). `Ok(false)` if another run moved it since.
    fn move_reconcile_checkpoint(
        &self,
        from: Option<&Checkpoint>,
        to: &Checkpoint,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes the reconciliation's lease for `owner` until `until`, if no other owner holds
    /// it past `now`. `Ok(false)`: another run holds it.
    fn take_reconcile_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the lease back, if `owner` still holds it.
    fn release_reconcile_lease(
        &self,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records on the booking that the provider refused a refund (or release) the booking
    /// owes: for an operator, beside the ERROR log line. Changes nothing else of the booking.
    fn record_refund_refusal(
        &self,
        id: BookingId,
        refusal: &RefundRefusal,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Bookings with a PaymentIntent whose `payment_status` is `status` and whose last
    /// update is in `[updated_from, updated_to]`, most recently updated first, at most
    /// `limit`. Through an index, never a Scan; the index is eventually consistent, so the
    /// caller reads each booking again before acting.
    fn in_flight_payments(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<InFlight>, StoreError>> + Send;

    /// Bookings in `status` updated in `[updated_from, updated_to]`, at most `limit`, in
    /// `order` of their last update, through the same index (never a Scan).
    fn bookings_in_payment_status(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
        order: Order,
    ) -> impl Future<Output = Result<Vec<BookingId>, StoreError>> + Send;

    /// Bookings with refunds owed (`Payment::refunds_owed`) updated in `[updated_from,
    /// updated_to]`, at most `limit`, through the same index (never a Scan).
    fn bookings_owing_refunds(
        &self,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<BookingId>, StoreError>> + Send;
}
