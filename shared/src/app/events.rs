//! Applying a Stripe PaymentIntent event to its booking.
//!
//! An event's effect and the record that it was processed are written in one transaction:
//! processed at most once, never lost. A new event (the usual case) costs one read and one
//! transaction: the transaction itself refuses an event id already recorded. The events table
//! is read only when the event would be ignored, to tell a redelivery of an applied event
//! ("duplicate") from one never applied.

use chrono::{DateTime, Duration, Utc};

use super::AppError;
use crate::domain::payment::transition;
use crate::domain::{IntentEvent, PaymentStatus};
use crate::ports::{BookingStore, Expected, IntentEventIn, PaymentWrite, ProcessedEvent};

/// Stripe retries for up to 3 days; remembering events for a week covers every redelivery.
pub const EVENT_RETENTION: Duration = Duration::days(7);
const MAX_ROUNDS: u32 = 6;

/// What happened to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Applied(PaymentStatus),
    Duplicate,
    Ignored(&'static str),
}

pub async fn apply_intent_event<S: BookingStore>(
    store: &S,
    event: &IntentEventIn,
    now: DateTime<Utc>,
) -> Result<EventOutcome, AppError> {
    let booking_id = event.booking_id;
    for _ in 0..MAX_ROUNDS {
        let Some(booking) = store.get_booking(booking_id).await? else {
            return ignored(store, event, "unknown booking").await;
        };
        let Some(payment) = booking
            .payment
            .as_ref()
            .filter(|p| p.intent_id == event.intent_id)
        else {
            let outcome = ignored(store, event, "not the booking's current payment intent").await;
            if outcome != Ok(EventOutcome::Duplicate)
                && matches!(event.change, IntentEvent::Succeeded { .. })
            {
                // Cannot happen when intents are replaced through create-intent (the old one
                // is cancelled first), so a human must look: money was taken.
                tracing::error!(event_id = %event.event_id, %booking_id, payment_intent_id = %event.intent_id,
                    "payment succeeded on an intent that is not the booking's; refund it manually");
            }
            return outcome;
        };
        let Some(status) = transition(
            booking.payment_status,
            payment.last_event_at,
            &event.change,
            event.created,
        ) else {
            let outcome = ignored(store, event, "out of order or booking already final").await;
            if outcome != Ok(EventOutcome::Duplicate) {
                tracing::info!(event_id = %event.event_id, %booking_id, current = booking.payment_status.as_str(),
                    event_type = %event.event_type, "event does not change the booking (final or out of order)");
            }
            return outcome;
        };
        let mut updated = payment.clone();
        updated.last_event_at = Some(
            payment
                .last_event_at
                .map_or(event.created, |last| last.max(event.created)),
        );
        match &event.change {
            IntentEvent::Succeeded { amount_received } => {
                updated.amount_received_minor = amount_received.or(Some(payment.amount.minor));
                updated.paid_at = DateTime::from_timestamp(event.created, 0).or(Some(now));
                updated.failure_reason = None;
            }
            IntentEvent::PaymentFailed { reason } => {
                updated.failure_reason =
                    Some(reason.clone().unwrap_or_else(|| "Payment failed".into()));
            }
            _ => {}
        }
        let record = ProcessedEvent {
            event_id: event.event_id.clone(),
            expires_at: now + EVENT_RETENTION,
        };
        match store
            .update_payment(
                booking.id,
                &Expected::from_booking(&booking),
                status,
                &updated,
                Some(&record),
                now,
            )
            .await?
        {
            PaymentWrite::Written => {
                tracing::info!(event_id = %event.event_id, %booking_id, payment_status = status.as_str(), "payment updated");
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

/// An event that changes nothing: a redelivery of one already applied, or one to ignore.
async fn ignored<S: BookingStore>(
    store: &S,
    event: &IntentEventIn,
    reason: &'static str,
) -> Result<EventOutcome, AppError> {
    if store.event_processed(&event.event_id).await? {
        return Ok(EventOutcome::Duplicate);
    }
    if reason == "unknown booking" {
        tracing::warn!(event_id = %event.event_id, booking_id = %event.booking_id, "event for an unknown booking");
    }
    Ok(EventOutcome::Ignored(reason))
}
