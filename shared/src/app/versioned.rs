//! Read-modify-write of a booking's payment: the write applies only if nothing moved since the
//! booking was read. Every write moves `updated_at` forward, so `updated_at` as read is the
//! version the condition checks, and the new one is later than it even if this instance's
//! clock is behind the writer's.

use chrono::{DateTime, Duration, Utc};

use super::AppError;
use crate::domain::{Booking, Payment, PaymentStatus};
use crate::ports::{BookingStore, Expected, PaymentWrite, ProcessedEvent};

/// The condition (the booking as read) and the new `updated_at`.
fn version(booking: &Booking, now: DateTime<Utc>) -> (Expected, DateTime<Utc>) {
    let expected = Expected {
        updated_at: Some(booking.updated_at),
        ..Expected::from_booking(booking)
    };
    (
        expected,
        now.max(booking.updated_at + Duration::milliseconds(1)),
    )
}

/// Sets the booking's payment, if the booking is still as read.
pub(super) async fn rewrite_payment<S: BookingStore>(
    store: &S,
    booking: &Booking,
    status: PaymentStatus,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<PaymentWrite, AppError> {
    let (expected, at) = version(booking, now);
    let payment = &stamped(payment, at);
    Ok(store
        .update_payment(booking.id, &expected, status, payment, at)
        .await?)
}

/// [`rewrite_payment`] with the event's record in the same transaction.
pub(super) async fn rewrite_payment_with_event<S: BookingStore>(
    store: &S,
    booking: &Booking,
    status: PaymentStatus,
    payment: &Payment,
    record: &ProcessedEvent,
    now: DateTime<Utc>,
) -> Result<PaymentWrite, AppError> {
    let (expected, at) = version(booking, now);
    let payment = &stamped(payment, at);
    Ok(store
        .update_payment_with_event(booking.id, &expected, status, payment, record, at)
        .await?)
}

/// The payment with every refund it lists that has no time yet given the write's.
pub(super) fn stamped(payment: &Payment, at: DateTime<Utc>) -> Payment {
    let mut payment = payment.clone();
    crate::domain::refund_log::stamp(&mut payment.refunds, at);
    payment
}
