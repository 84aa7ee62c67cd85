//! Applying a charge, refund or dispute event (money after the payment) to its booking.
//!
//! Stripe's charge events name the charge and the PaymentIntent, not the booking: the booking
//! is found through the store's lookup (an index, never a Scan). Its payment is then read,
//! changed by the domain's rules (`domain::refunds`) and written back conditionally on nothing
//! having moved since (its `updated_at`), with the event's record in the same transaction.

use chrono::{DateTime, Duration, Utc};

use super::events::{not_applied, EventOutcome, EVENT_RETENTION};
use super::AppError;
use crate::domain::refunds::apply;
use crate::domain::{MoneyEvent, RefundStatus};
use crate::ports::{BookingStore, Expected, MoneyEventIn, PaymentWrite, ProcessedEvent};

const MAX_ROUNDS: u32 = 6;

pub async fn apply_money_event<S: BookingStore>(
    store: &S,
    event: &MoneyEventIn,
    now: DateTime<Utc>,
) -> Result<EventOutcome, AppError> {
    let Some(booking_id) = store
        .find_booking_by_payment(event.intent_id.as_ref(), event.charge_id.as_deref())
        .await?
    else {
        return not_applied(store, &event.event_id, "no booking for this charge").await;
    };
    let record = ProcessedEvent {
        event_id: event.event_id.clone(),
        expires_at: now + EVENT_RETENTION,
    };
    for _ in 0..MAX_ROUNDS {
        let Some(booking) = store.get_booking(booking_id).await? else {
            return not_applied(store, &event.event_id, "no booking for this charge").await;
        };
        let Some(payment) = &booking.payment else {
            return not_applied(store, &event.event_id, "no booking for this charge").await;
        };
        let Some((status, updated)) = apply(
            booking.payment_status,
            payment,
            &event.change,
            event.created,
        ) else {
            return not_applied(store, &event.event_id, "out of order or no change").await;
        };
        // Every write moves `updated_at` forward, so the condition below is a version check.
        let at = now.max(booking.updated_at + Duration::milliseconds(1));
        let expected = Expected {
            updated_at: Some(booking.updated_at),
            ..Expected::from_booking(&booking)
        };
        match store
            .apply_money_event(booking.id, &expected, status, &updated, &record, at)
            .await?
        {
            PaymentWrite::Written => {
                log_money_event(event, &booking.id.to_string(), status.as_str());
                return Ok(EventOutcome::Applied(status));
            }
            PaymentWrite::Duplicate => return Ok(EventOutcome::Duplicate),
            PaymentWrite::Conflict => continue,
        }
    }
    Err(AppError::Busy(
        "The booking is busy; the event will be retried".into(),
    ))
}

/// What people must hear about: money that came back to us, and disputes.
fn log_money_event(event: &MoneyEventIn, booking_id: &str, payment_status: &str) {
    match &event.change {
        MoneyEvent::RefundUpdated {
            refund_id,
            status: RefundStatus::Failed,
            ..
        } => tracing::error!(event_id = %event.event_id, booking_id, refund_id, payment_status,
            "a refund failed: the money is back with us, not with the driver"),
        MoneyEvent::Dispute { status, reason } if event.event_type == "charge.dispute.created" => {
            tracing::error!(event_id = %event.event_id, booking_id, dispute_status = %status,
                reason = reason.as_deref().unwrap_or(""), "a dispute was opened")
        }
        _ => tracing::info!(event_id = %event.event_id, booking_id, event_type = %event.event_type,
            payment_status, "charge event applied"),
    }
}
