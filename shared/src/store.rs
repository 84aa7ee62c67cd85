//! The storage port: what the handlers need from a database, independent of DynamoDB.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::Booking;
use crate::idempotency::IdempotencyRecord;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
}

/// One page of a user's bookings, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Booking>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
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
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Booking>, StoreError>> + Send;

    /// `cursor` is a value previously returned in `Page::next_cursor`; an unreadable cursor is
    /// `Ok(None)` so the caller can answer 400.
    fn list_user_bookings(
        &self,
        user_id: Uuid,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Option<Page>, StoreError>> + Send;

    /// Cancels a confirmed booking and frees its slot atomically. Returns the booking as it is
    /// afterwards (already-cancelled bookings are returned unchanged), or `None` if unknown.
    fn cancel_booking(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Booking>, StoreError>> + Send;

    fn get_idempotency(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;
}
