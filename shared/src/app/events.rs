//! Applying a Stripe PaymentIntent event to its booking.
//!
//! An event's effect and the record that it was processed are written in one transaction:
//! processed at most once, never lost. A new event (the usual case) costs that one transaction
//! and no read: its condition is the state machine's guard (the booking's intent, status and
//! last event time), and it refuses an event id already recorded. The booking is read only
//! when the write is refused, to tell why; the events table only when the event would be
//! ignored, to tell a redelivery of an applied event ("duplicate") from one never applied.

use chrono::{DateTime, Duration, Utc};

use super::versioned::rewrite_payment_with_event;
use super::AppError;
use crate::domain::{
    Authorization, Booking, BookingStatus, IntentEvent, IntentStatus, PaymentStatus,
};
use crate::ports::{
    BookingStore, EventWrite, Held, Intent, IntentEventIn, PaymentWrite, ProcessedEvent,
};

/// Stripe retries for up to 3 days; remembering events for a week covers every redelivery.
pub const EVENT_RETENTION: Duration = Duration::days(7);
const MAX_ROUNDS: u32 = 6;

/// What happened to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Applied(PaymentStatus),
    /// A payment that must go back to the driver, recorded for a refund.
    RefundOwed,
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
            IntentEvent::Succeeded { .. } | IntentEvent::Authorized { .. } => {
                event.charge_id.as_deref()
            }
            _ => None,
        },
        authorized: authorization(event, now),
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
        if booking.status == BookingStatus::Confirmed && booking.is_expired(now) {
            // Its hold passed with no payment in flight: the booking is expired whatever this
            // event says. Record that (freeing its slot) first; the event then applies as to a
            // cancelled booking, a success owed back.
            store.expire_booking(&booking, now).await?;
            continue;
        }
        let current = booking
            .payment
            .as_ref()
            .filter(|p| p.intent_id == event.intent_id);
        let Some(payment) = current else {
            let owned_elsewhere = || async {
                // Another booking's current intent (metadata edited, or a forgery signed with
                // our secret): its money is that booking's, never refunded from here.
                let owner = store
                    .find_booking_by_payment(Some(&event.intent_id), None)
                    .await?;
                Ok::<_, AppError>(owner.is_some_and(|other| other != booking_id))
            };
            if let (Some(payment), true) = (&booking.payment, takes_money(&event.change)) {
                if owned_elsewhere().await? {
                    return ignored(store, event, "not the booking's current payment intent").await;
                }
                // Money taken (or held) on an intent the booking no longer uses: owed back.
                let mut owed = payment.clone();
                if !owed.refunds_owed.contains(&event.intent_id) {
                    owed.refunds_owed.push(event.intent_id.clone());
                }
                let status = booking.payment_status;
                match rewrite_payment_with_event(store, &booking, status, &owed, &record, now)
                    .await?
                {
                    PaymentWrite::Written => {
                        tracing::warn!(event_id = %event.event_id, %booking_id, payment_intent_id = %event.intent_id,
                            event_type = %event.event_type,
                            "money taken or held on an intent the booking no longer uses: owed back");
                        return Ok(EventOutcome::RefundOwed);
                    }
                    PaymentWrite::Duplicate => return Ok(EventOutcome::Duplicate),
                    PaymentWrite::Conflict => continue,
                }
            }
            return ignored(store, event, "not the booking's current payment intent").await;
        };
        if !guard.admits(booking.payment_status, payment.last_event_at, event.created) {
            let outcome = ignored(store, event, "out of order or booking already final").await;
            if outcome != Ok(EventOutcome::Duplicate) {
                tracing::info!(event_id = %event.event_id, %booking_id, current = booking.payment_status.as_str(),
                    event_type = %event.event_type, "event does not change the booking (final or out of order)");
            }
            return outcome;
        }
        if matches!(
            booking.status,
            BookingStatus::Cancelled | BookingStatus::Expired
        ) {
            // The change applies as to any booking (what the one-transaction path writes); a
            // payment on a cancelled or expired one is owed back.
            let mut updated = payment.clone();
            write.apply_to(&mut updated);
            if takes_money(&event.change) && !updated.refunds_owed.contains(&event.intent_id) {
                updated.refunds_owed.push(event.intent_id.clone());
                tracing::warn!(event_id = %event.event_id, %booking_id, payment_intent_id = %event.intent_id,
                    status = booking.status.as_str(), event_type = %event.event_type,
                    "money taken or held on a cancelled or expired booking: owed back");
            }
            match rewrite_payment_with_event(store, &booking, target, &updated, &record, now)
                .await?
            {
                PaymentWrite::Written => return Ok(EventOutcome::Applied(target)),
                PaymentWrite::Duplicate => return Ok(EventOutcome::Duplicate),
                PaymentWrite::Conflict => continue,
            }
        }
        // It applies to the booking as read now: the booking moved between the write and the
        // read (or a racing transaction cancelled ours). Try again.
    }
    Err(AppError::Busy(
        "The booking is busy; the event will be retried".into(),
    ))
}

/// What Stripe's intent says happened to a payment that is `current` here, as the event
/// Stripe would have sent; `None` if it says nothing new.
fn observed(intent: &Intent, current: PaymentStatus) -> Option<IntentEvent> {
    let change = match intent.status {
        IntentStatus::Succeeded => IntentEvent::Succeeded {
            amount_received: intent.amount_received,
        },
        IntentStatus::Processing => IntentEvent::Processing,
        IntentStatus::RequiresAction => IntentEvent::RequiresAction,
        IntentStatus::RequiresCapture => IntentEvent::Authorized {
            amount_capturable: intent.amount_capturable,
        },
        IntentStatus::Canceled => IntentEvent::Canceled,
        // Back to needing a payment method after an attempt: the attempt failed (Stripe sent
        // `payment_intent.payment_failed`).
        IntentStatus::RequiresPaymentMethod
            if matches!(
                current,
                PaymentStatus::RequiresAction | PaymentStatus::Processing
            ) =>
        {
            IntentEvent::PaymentFailed { reason: None }
        }
        _ => return None,
    };
    (change.target() != current).then_some(change)
}

/// Applies what an intent read from Stripe (or returned by our own call to it) says, through
/// the webhook's own state machine, as a synthetic event of `source` created now: for when
/// Stripe's event has not arrived (or never will). `None` if it says nothing new.
pub(super) async fn apply_observed<S: BookingStore>(
    store: &S,
    intent: &Intent,
    booking: &Booking,
    source: &str,
    now: DateTime<Utc>,
) -> Result<Option<EventOutcome>, AppError> {
    let Some(change) = observed(intent, booking.payment_status) else {
        return Ok(None);
    };
    let event = IntentEventIn {
        event_id: format!(
            "{source}:{}:{}:{}",
            intent.id,
            intent.status.as_str(),
            now.timestamp()
        ),
        created: now.timestamp(),
        event_type: format!("{source}.{}", intent.status.as_str()),
        intent_id: intent.id.clone(),
        booking_id: booking.id,
        change,
        charge_id: None,
        capture_before: intent.capture_before,
    };
    apply_intent_event(store, &event, now).await.map(Some)
}

/// A success takes the driver's money; an authorization holds it. Either, on an intent the
/// booking no longer uses or for a booking that ended, must go back: refunded or released.
fn takes_money(change: &IntentEvent) -> bool {
    matches!(
        change,
        IntentEvent::Succeeded { .. } | IntentEvent::Authorized { .. }
    )
}

/// The hold an authorization event reports: its `amount_capturable` (the intent's amount if
/// the payload lacks it), until `created` + 7 days (Stripe's default for online card payments)
/// until the charge is read.
fn authorization(event: &IntentEventIn, now: DateTime<Utc>) -> Option<Held> {
    let IntentEvent::Authorized { amount_capturable } = event.change else {
        return None;
    };
    let at = DateTime::from_timestamp(event.created, 0).unwrap_or(now);
    Some(Held {
        amount_minor: amount_capturable,
        capture_before: event
            .capture_before
            .unwrap_or(Authorization::estimated(0, at).capture_before),
        from_charge: event.capture_before.is_some(),
    })
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
