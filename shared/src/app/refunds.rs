//! Applying a charge, refund or dispute event (money after the payment) to its booking.
//!
//! Stripe's charge events name the charge and the PaymentIntent, not the booking: the booking
//! is found through the store's lookup (an index, never a Scan). Its payment is then read,
//! changed by the domain's rules (`domain::refunds`) and written back conditionally on nothing
//! having moved since (its `updated_at`), with the event's record in the same transaction.

use chrono::{DateTime, Utc};

use super::events::{not_applied, EventOutcome, EVENT_RETENTION};
use super::keys::{cancel_key, refund_key};
use super::versioned::{rewrite_payment, rewrite_payment_with_event};
use super::AppError;
use crate::domain::other_intents::note_other_intent;
use crate::domain::refunds::{apply, record_refund, status_after_refunds};
use crate::domain::{Booking, IntentStatus, MoneyEvent, PaymentStatus, RefundStatus};
use crate::ports::{
    BookingStore, MoneyEventIn, PaymentProvider, PaymentWrite, ProcessedEvent, ProviderError,
    RefundRefusal,
};

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
        // The lookup knows every intent the booking ever had: the money of one it no longer
        // uses (refunded automatically) is not the booking's.
        let current = match (&event.intent_id, &event.charge_id) {
            (Some(intent), _) => &payment.intent_id == intent,
            (None, Some(charge)) => payment.charge_id.as_deref() == Some(charge.as_str()),
            (None, None) => false,
        };
        if !current {
            // Another intent of the booking (replaced, or owed back): a dispute or a failed
            // refund of it is kept on the booking for an operator, never dropped.
            let noted = event.intent_id.as_ref().and_then(|intent| {
                note_other_intent(&payment.other_intents, intent, &event.change, event.created)
            });
            let Some(issues) = noted else {
                return not_applied(store, &event.event_id, "not the booking's current payment")
                    .await;
            };
            let mut updated = payment.clone();
            updated.other_intents = issues;
            let status = booking.payment_status;
            match rewrite_payment_with_event(store, &booking, status, &updated, &record, now)
                .await?
            {
                PaymentWrite::Written => {
                    tracing::error!(event_id = %event.event_id, booking_id = %booking.id,
                        payment_intent_id = event.intent_id.as_ref().map(|i| i.as_str()).unwrap_or(""),
                        event_type = %event.event_type, attention = "payment",
                        "a dispute or a failed refund on an intent the booking no longer uses");
                    return Ok(EventOutcome::Applied(status));
                }
                PaymentWrite::Duplicate => return Ok(EventOutcome::Duplicate),
                PaymentWrite::Conflict => continue,
            }
        }
        let Some((status, updated)) = apply(
            booking.payment_status,
            payment,
            &event.change,
            event.created,
        ) else {
            return not_applied(store, &event.event_id, "out of order or no change").await;
        };
        match rewrite_payment_with_event(store, &booking, status, &updated, &record, now).await? {
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
            attention = "payment", "a refund failed: the money is back with us, not with the driver"),
        MoneyEvent::Dispute { status, reason } if event.event_type == "charge.dispute.created" => {
            tracing::error!(event_id = %event.event_id, booking_id, dispute_status = %status,
                reason = reason.as_deref().unwrap_or(""), attention = "payment", "a dispute was opened")
        }
        _ => tracing::info!(event_id = %event.event_id, booking_id, event_type = %event.event_type,
            payment_status, "charge event applied"),
    }
}

/// What a request that touches the booking does first: gives back what it owes, once per
/// request (what cannot be given back yet, say a payment still processing, stays owed and the
/// request goes on). `true` if it acted: the caller reads the booking again. An owed refund
/// that fails is ours, never the caller's: it is logged and recorded (see
/// [`refund_owed_or_record`]), stays owed for `reconcile` and an operator, and the request
/// goes on with the booking as it is.
pub(super) async fn settle_owed_once<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    tried: &mut bool,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let owes = booking
        .payment
        .as_ref()
        .is_some_and(|p| !p.refunds_owed.is_empty());
    if *tried || !owes {
        return Ok(false);
    }
    *tried = true;
    Ok(refund_owed_or_record(store, provider, booking, now).await == Owed::Settled)
}

/// How settling a booking's owed refunds ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    /// Done (or nothing could be done yet: still owed, looked at again later).
    Settled,
    /// Stripe refused: recorded on the booking, logged at ERROR; an operator's to resolve.
    Refused,
    /// Stripe or the store failed (unreachable, contended): logged at ERROR; tried again by
    /// the next call or run.
    Failed,
}

/// [`refund_owed`], with its failure kept to the booking: a refusal by Stripe is recorded on
/// the booking (`BookingStore::record_refund_refusal`) and every failure is logged at ERROR
/// with the booking's id (the attention alarm). Never an error for the caller.
pub async fn refund_owed_or_record<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    now: DateTime<Utc>,
) -> Owed {
    let err = match refund_owed(store, provider, booking, now).await {
        Ok(()) => return Owed::Settled,
        Err(err) => err,
    };
    let intent_id = booking
        .payment
        .as_ref()
        .and_then(|p| p.refunds_owed.first().cloned());
    match (&err, intent_id) {
        (AppError::Provider(ProviderError::Rejected { status, code, .. }), Some(intent_id)) => {
            tracing::error!(booking_id = %booking.id, payment_intent_id = %intent_id, status,
                code = code.as_deref().unwrap_or(""), attention = "payment",
                "Stripe refused a refund the booking owes; it waits for an operator");
            let refusal = RefundRefusal {
                intent_id,
                status: *status,
                code: code.clone(),
                at: now,
            };
            if let Err(store_err) = store.record_refund_refusal(booking.id, &refusal).await {
                tracing::error!(booking_id = %booking.id, error = %store_err, attention = "payment",
                    "could not record the refused refund on the booking");
            }
            Owed::Refused
        }
        _ => {
            tracing::error!(booking_id = %booking.id, error = %err, attention = "payment",
                "the refunds the booking owes could not be settled; tried again by the next call or run");
            Owed::Failed
        }
    }
}

/// Gives back what the booking owes (see `Payment::refunds_owed`), once each: a captured
/// payment is refunded, a hold that was only authorized is released (its intent cancelled).
/// Every refund carries the intent's deterministic key, so racing callers and retries make
/// one refund. Called by the API calls that touch the booking (cancel, create-intent,
/// capture) and by `reconcile`: the webhook itself makes no Stripe calls.
pub async fn refund_owed<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(payment) = &booking.payment else {
        return Ok(());
    };
    if payment.refunds_owed.is_empty() {
        return Ok(());
    }
    let mut updated = payment.clone();
    let mut status = booking.payment_status;
    let mut still_owed = Vec::new();
    for intent_id in &payment.refunds_owed {
        let intent = provider.retrieve_intent(intent_id).await?;
        match intent.status {
            IntentStatus::Succeeded => {}
            // Released already (by a racer, or Stripe when the authorization expired).
            IntentStatus::Canceled => continue,
            // Held (or still payable): cancelling releases it and nothing is taken.
            IntentStatus::RequiresCapture
            | IntentStatus::RequiresPaymentMethod
            | IntentStatus::RequiresConfirmation
            | IntentStatus::RequiresAction => {
                match provider
                    .cancel_intent(intent_id, &cancel_key(intent_id))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(booking_id = %booking.id, payment_intent_id = %intent_id,
                            "released automatically a hold the booking did not keep");
                        if intent_id == &payment.intent_id {
                            status = PaymentStatus::Canceled;
                        }
                    }
                    // It moved (captured meanwhile): the next call or run looks again.
                    Err(ProviderError::Rejected { .. }) => still_owed.push(intent_id.clone()),
                    Err(err) => {
                        tracing::error!(booking_id = %booking.id, payment_intent_id = %intent_id, error = %err,
                            attention = "payment", "an automatic release failed; it is tried again by the next call or run");
                        return Err(err.into());
                    }
                }
                continue;
            }
            // Processing, or a status this code does not know: looked at again later.
            _ => {
                still_owed.push(intent_id.clone());
                continue;
            }
        }
        let refund = match provider
            .refund_intent(intent_id, None, &refund_key(intent_id))
            .await
        {
            Ok(refund) => Some(refund),
            // Refunded already (by a racer with the same key, or in the Dashboard).
            Err(ProviderError::Rejected { code, .. })
                if code.as_deref() == Some("charge_already_refunded") =>
            {
                None
            }
            Err(err) => {
                tracing::error!(booking_id = %booking.id, payment_intent_id = %intent_id, error = %err,
                    attention = "payment", "an automatic refund failed; it is tried again by the next call or run");
                return Err(err.into());
            }
        };
        let refund_id = refund.as_ref().map(|r| r.id.as_str()).unwrap_or("");
        tracing::info!(booking_id = %booking.id, payment_intent_id = %intent_id, refund_id,
            "refunded automatically a payment the booking did not keep");
        if intent_id == &payment.intent_id {
            if updated.amount_received_minor.is_none() {
                updated.amount_received_minor = intent.amount_received;
            }
            // The booking's own money: shown like any refund.
            match refund {
                Some(refund) => {
                    record_refund(&mut updated, refund.id, None, refund.status);
                }
                // Refunded already: the money is back.
                None => {
                    updated.after.refund_status = Some(RefundStatus::Succeeded);
                    updated.after.amount_refunded_minor = updated.received_minor();
                }
            }
            status = status_after_refunds(
                status,
                updated.received_minor(),
                updated.after.amount_refunded_minor,
            );
        }
    }
    updated.refunds_owed = still_owed;
    // If the booking moved meanwhile, the caller reads it again and finds the refunds still
    // owed: refunding again with the same keys makes no second refund.
    rewrite_payment(store, booking, status, &updated, now).await?;
    Ok(())
}
