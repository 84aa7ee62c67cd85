//! Booking terms at work (issue 22): what a cancellation does with the money under the
//! booking's terms (`domain::terms` decides the fee), and the check-in that tells a no-show
//! from a driver who came. The no-show fee itself is the scheduled run's (`app::no_shows`).
//!
//! A cancellation acts at Stripe first and then writes the booking conditionally, as every
//! cancellation does (`app::bookings`): each Stripe call carries a deterministic key
//! (`app::keys`), so racing cancels and retries reach the same refund or capture, and a
//! cancel that finds the money moved (a racer's capture, a webhook) looks again. A captured
//! fee is written as the payment it now is (`completed`, what was captured received): no
//! PaymentIntent event moves a paid payment, so a `payment_intent.succeeded` arriving later
//! finds nothing owed back (`domain::payment`'s guard), and charge events only restate what
//! was refunded.

use chrono::{DateTime, Utc};

use super::bookings::get_booking;
use super::keys::{cancel_key, cancel_refund_key, late_cancel_key, no_show_key};
use super::AppError;
use crate::domain::refunds::{record_refund, status_after_refunds};
use crate::domain::terms::{cancellation_fee, Decision, Terms};
use crate::domain::{Booking, BookingId, BookingStatus, IntentStatus, Payment, PaymentStatus};
use crate::ports::{BookingStore, Intent, PaymentProvider, ProviderError};

/// Rounds of read-decide-write for a check-in.
const MAX_CHECK_IN_ROUNDS: u32 = 6;

/// What a cancellation under terms did with the booking's intent.
#[derive(Debug)]
pub(super) enum Settled {
    /// Not the terms' case (an unpaid intent, a cancelled one): as without terms.
    AsWithout,
    /// The money moved under us (a racer captured, released or refunded first): read again.
    LookAgain,
    /// The payment as the cancellation leaves it.
    Done(PaymentStatus, Box<Payment>),
}

/// A cancellation under `terms`, at `at`, of `booking` whose intent Stripe shows as `intent`:
/// a paid one is refunded what was paid minus the fee (everything in the free window, or when
/// the fee is waived), an authorized one has the fee captured (the rest released) or is
/// released. A booking whose no-show fee was decided keeps that money and nothing else is
/// taken.
pub(super) async fn settle_cancel<P: PaymentProvider>(
    provider: &P,
    booking: &Booking,
    terms: &Terms,
    intent: &Intent,
    at: DateTime<Utc>,
) -> Result<Settled, AppError> {
    let Some(payment) = &booking.payment else {
        return Ok(Settled::AsWithout);
    };
    let no_show = payment.no_show_fee.filter(|f| f.waived.is_none());
    match intent.status {
        IntentStatus::Succeeded => {
            let mut payment = payment.clone();
            if payment.amount_received_minor.is_none() {
                payment.amount_received_minor = intent.amount_received;
            }
            let received = payment.received_minor();
            let paid = |p: &Payment| {
                status_after_refunds(
                    PaymentStatus::Completed,
                    received,
                    p.after.amount_refunded_minor,
                )
            };
            if no_show.is_some() {
                // The no-show fee is what the booking kept: nothing more to take or give.
                return Ok(Settled::Done(paid(&payment), Box::new(payment)));
            }
            // What is still refundable: an operator refund reserved but not answered yet is
            // not the fee's to take, nor the refund's to give (`domain::refund_log`).
            let available = crate::domain::refund_log::refundable_minor(
                &payment.refunds,
                received,
                payment.after.amount_refunded_minor,
            );
            let decision = cancellation_fee(terms, booking.slot.start(), at, available);
            let refund = match decision {
                Decision::Take(fee) => Some(available - fee).filter(|m| *m > 0),
                Decision::NoFee | Decision::Waive(..) => Some(available).filter(|m| *m > 0),
            };
            payment.cancellation_fee = decision.fee();
            if let Some(amount) = refund {
                // The whole remainder without a fee (Stripe's `amount` omitted), else the part.
                let partial = matches!(decision, Decision::Take(_)).then_some(amount);
                let key = cancel_refund_key(&intent.id);
                match provider.refund_intent(&intent.id, partial, &key).await {
                    Ok(refund) => {
                        tracing::info!(booking_id = %booking.id, refund_id = %refund.id,
                            refund_minor = amount, fee_minor = decision.fee().map_or(0, |f| f.minor),
                            "payment refunded under the booking's terms");
                        record_refund(&mut payment, refund.id, partial, refund.status);
                    }
                    // Refunded already, elsewhere (the Dashboard): the money is back with the
                    // driver, and no fee was kept.
                    Err(ProviderError::Rejected { code, .. })
                        if code.as_deref() == Some("charge_already_refunded") =>
                    {
                        payment.after.amount_refunded_minor = received;
                        payment.cancellation_fee = None;
                    }
                    Err(err @ (ProviderError::KeyInUse | ProviderError::KeyReused)) => {
                        return look_again_or(err).await
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(Settled::Done(paid(&payment), Box::new(payment)))
        }
        IntentStatus::RequiresCapture => {
            let held = payment
                .authorization
                .map(|a| a.amount_minor)
                .or(intent.amount_capturable)
                .unwrap_or(payment.amount.minor);
            let decision = cancellation_fee(terms, booking.slot.start(), at, held);
            let (take, key) = match (no_show, decision) {
                // Decided by the scheduled run, not captured yet: captured here, with the
                // run's key (one capture whoever gets there first).
                (Some(fee), _) => (fee.minor, no_show_key(booking.id, &intent.id, fee.minor)),
                (None, Decision::Take(fee)) => (fee, late_cancel_key(booking.id, &intent.id, fee)),
                (None, Decision::NoFee | Decision::Waive(..)) => {
                    return release(provider, payment, decision, &intent.id).await;
                }
            };
            let captured = match provider.capture_intent(&intent.id, take, &key).await {
                Ok(captured) => captured,
                Err(err) => return look_again_or(err).await,
            };
            tracing::info!(booking_id = %booking.id, payment_intent_id = %intent.id, fee_minor = take,
                status = captured.status.as_str(), "fee captured from the hold under the booking's terms");
            let mut payment = payment.clone();
            payment.amount_received_minor = Some(captured.amount_received.unwrap_or(take));
            payment.paid_at = Some(at);
            if no_show.is_none() {
                payment.cancellation_fee = decision.fee();
            }
            Ok(Settled::Done(PaymentStatus::Completed, Box::new(payment)))
        }
        // Released already: by our own release a moment ago (its event, or a racer's write,
        // came between it and our write), or by a racer. A waiver is recorded again; a fee
        // to take was not taken, so none is shown.
        IntentStatus::Canceled if payment.authorization.is_some() && no_show.is_none() => {
            let held = payment.authorization.map_or(0, |a| a.amount_minor);
            let decision = cancellation_fee(terms, booking.slot.start(), at, held);
            let mut payment = payment.clone();
            payment.cancellation_fee = match decision {
                Decision::Waive(..) => decision.fee(),
                Decision::NoFee | Decision::Take(_) => None,
            };
            Ok(Settled::Done(PaymentStatus::Canceled, Box::new(payment)))
        }
        _ => Ok(Settled::AsWithout),
    }
}

/// The hold released (no fee, or one waived), the waiver recorded.
async fn release<P: PaymentProvider>(
    provider: &P,
    payment: &Payment,
    decision: Decision,
    intent_id: &crate::domain::IntentId,
) -> Result<Settled, AppError> {
    match provider
        .cancel_intent(intent_id, &cancel_key(intent_id))
        .await
    {
        Ok(_) => {
            let mut payment = payment.clone();
            payment.cancellation_fee = decision.fee();
            Ok(Settled::Done(PaymentStatus::Canceled, Box::new(payment)))
        }
        Err(err) => look_again_or(err).await,
    }
}

/// A refusal (the intent moved: captured or released by a racer) or a racer's key (in use,
/// or used with the other decision: a racer decided otherwise at the free window's end) is a
/// reason to read again, after letting the racer finish; anything else fails.
async fn look_again_or(err: ProviderError) -> Result<Settled, AppError> {
    match err {
        ProviderError::Rejected { .. } => Ok(Settled::LookAgain),
        ProviderError::KeyInUse | ProviderError::KeyReused => {
            super::keys::pause_for_key_in_use().await;
            Ok(Settled::LookAgain)
        }
        other => Err(other.into()),
    }
}

/// `POST /v1/bookings/{id}/check-in`: the driver arrived. Idempotent: a booking checked in
/// already is answered as it is (its first check-in kept). Refused (409) for a booking that
/// is not confirmed, or whose no-show fee was decided.
pub async fn check_in<S: BookingStore>(
    store: &S,
    id: BookingId,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Booking, AppError> {
    for _ in 0..MAX_CHECK_IN_ROUNDS {
        let at = now();
        let booking = get_booking(store, id).await?.as_of(at);
        if booking.checked_in_at.is_some() {
            return Ok(booking);
        }
        if booking.status != BookingStatus::Confirmed {
            return Err(AppError::conflict(format!(
                "Only a confirmed booking can be checked in; this one is {}",
                booking.status.as_str()
            )));
        }
        if booking
            .payment
            .as_ref()
            .is_some_and(|p| p.no_show_fee.is_some())
        {
            return Err(AppError::conflict(
                "The booking was recorded as a no-show; it can no longer be checked in",
            ));
        }
        if store.check_in(&booking, at).await? {
            tracing::info!(booking_id = %id, "booking checked in");
            return get_booking(store, id).await;
        }
    }
    Err(crate::ports::StoreError::Contention.into())
}
