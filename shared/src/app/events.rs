//! Applying a Stripe PaymentIntent event to its booking.
//!
//! An event's effect and the record that it was processed are written in one transaction:
//! processed at most once, never lost. A new event (the usual case) costs that one transaction
//! and no read: its condition is the state machine's guard (the booking's intent, status and
//! last event time), and it refuses an event id already recorded. The booking is read only
//! when the write is refused, to tell why; the events table only when the event would be
//! ignored, to tell a redelivery of an applied event ("duplicate") from one never applied.

use chrono::{DateTime, Duration, Utc};

use super::AppError;
use crate::domain::{IntentEvent, PaymentStatus};
use crate::ports::{BookingStore, EventWrite, IntentEventIn, PaymentWrite, ProcessedEvent};

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
    let target = event.change.target();
    let guard = event.change.guard();
    let record = ProcessedEvent {
        event_id: event.event_id.clone(),
        expires_at: now + EVENT_RETENTION,
    };
    let failure_reason = match &event.change {
        IntentEvent::PaymentFailed { reason } => {
            Some(reason.as_deref().unwrap_or("Payment failed"))
        }
        _ => None,
    };
    let write = EventWrite {
        intent_id: &event.intent_id,
        guard: &guard,
        created: event.created,
        status: target,
        paid: match &event.change {
            IntentEvent::Succeeded { amount_received } => Some((
                *amount_received,
                DateTime::from_timestamp(event.created, 0).unwrap_or(now),
            )),
            _ => None,
        },
        failure_reason,
        charge_id: match &event.change {
            IntentEvent::Succeeded { .. } => event.charge_id.as_deref(),
            _ => None,
        },
        event: &record,
    };
    for _ in 0..MAX_ROUNDS {
        // The usual case, a new event that applies, is this one conditional transaction.
        match store.apply_event(booking_id, &write, now).await? {
            PaymentWrite::Written => {
                tracing::info!(event_id = %event.event_id, %booking_id, payment_status = target.as_str(), "payment updated");
                return Ok(EventOutcome::Applied(target));
            }
            PaymentWrite::Duplicate => return Ok(EventOutcome::Duplicate),
            PaymentWrite::Conflict => {}
        }
        // Not applied: read why.
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
        if !guard.admits(booking.payment_status, payment.last_event_at, event.created) {
            let outcome = ignored(store, event, "out of order or booking already final").await;
            if outcome != Ok(EventOutcome::Duplicate) {
                tracing::info!(event_id = %event.event_id, %booking_id, current = booking.payment_status.as_str(),
                    event_type = %event.event_type, "event does not change the booking (final or out of order)");
            }
            return outcome;
        }
        // It applies to the booking as read now: the booking moved between the write and the
        // read (or a racing transaction cancelled ours). Try again.
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
    if reason == "unknown booking" && !store.event_processed(&event.event_id).await? {
        tracing::warn!(event_id = %event.event_id, booking_id = %event.booking_id, "event for an unknown booking");
    }
    not_applied(store, &event.event_id, reason).await
}

/// `Duplicate` for a redelivery of an event applied before, else `Ignored(reason)`.
pub(super) async fn not_applied<S: BookingStore>(
    store: &S,
    event_id: &str,
    reason: &'static str,
) -> Result<EventOutcome, AppError> {
    if store.event_processed(event_id).await? {
        return Ok(EventOutcome::Duplicate);
    }
    Ok(EventOutcome::Ignored(reason))
}
