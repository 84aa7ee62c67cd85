//! An operator's refund of part or all of a booking's payment, never more than was received,
//! however many requests race.
//!
//! 1. The amount is *reserved* on the booking first: an entry in its `refunds`, written with
//!    the versioned payment write (conditional on the booking's `updated_at` as read), after
//!    the domain checked that it fits in what is left (`domain::refund_log::reserve`). Racing
//!    requests each read, decide and write; a write whose booking moved is refused and
//!    decided again, so the reservations that are written never add up to more than was
//!    received.
//! 2. Stripe is asked with a key derived from the booking and the client's Idempotency-Key
//!    (`domain::operator_refund::stripe_key`): every retry reaches the same refund.
//! 3. Its answer is recorded on the reservation (`domain::refunds::record_operator_refund`).
//!    A definitive refusal releases the reservation (the caller gets Stripe's 400); an
//!    unknown outcome (unreachable, timed out, 5xx) leaves it reserved: the same request with
//!    the same Idempotency-Key asks Stripe again with the same key and settles it.

use chrono::{DateTime, Utc};

use super::bookings::get_booking;
use super::keys::pause_for_key_in_use;
use super::versioned::rewrite_payment;
use super::AppError;
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::operator_refund::{stripe_key, too_much, RefundAsk};
use crate::domain::refund_log::{self, EntryStatus, Found, RefundEntry, Refused, RequestMark};
use crate::domain::refunds::{record_operator_refund, status_after_refunds};
use crate::domain::{Booking, BookingId, Payment, PaymentStatus};
use crate::ports::{BookingStore, PaymentProvider, PaymentWrite, ProviderError};

/// Rounds of read-decide-write before answering "busy, retry": enough for a few dozen
/// requests racing on one booking (each round one of them writes).
const MAX_ROUNDS: u32 = 40;

/// The answer: the booking as written and its refund, and whether it was made by an earlier
/// request with the same key (a replay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    pub booking: Booking,
    pub refund: RefundEntry,
    pub replayed: bool,
}

const NOTHING_CAPTURED: &str = "The booking has no captured payment to refund";

pub async fn refund_booking<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking_id: BookingId,
    ask: &RefundAsk,
    key: &IdempotencyKey,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Refunded, AppError> {
    let mut asked_stripe = false;
    for round in 0..MAX_ROUNDS {
        let booking = get_booking(store, booking_id).await?;
        let payment = captured(&booking)?;
        let currency = payment.amount.currency;
        let amount = ask.amount_minor(&currency)?;
        let mark = ask.mark(booking_id, key, amount, &currency);
        match refund_log::find(&payment.refunds, &mark) {
            Found::OtherRequest => return Err(AppError::IdempotencyMismatch),
            Found::Mine(entry) if entry.status != EntryStatus::Reserved => {
                return Ok(Refunded {
                    refund: entry.clone(),
                    booking,
                    // Made by this call (its record was written, then read back) or before.
                    replayed: !asked_stripe,
                });
            }
            Found::Mine(_) => {}
            Found::New => {
                let mut updated = payment.clone();
                let received = (
                    payment.received_minor(),
                    payment.after.amount_refunded_minor,
                );
                let reason = Some(ask.reason.as_str().to_string());
                match refund_log::reserve(&mut updated.refunds, mark, amount, reason, received) {
                    Err(Refused::TooMuch { refundable_minor }) => {
                        return Err(too_much(refundable_minor, &currency).into())
                    }
                    Err(Refused::TooMany) => {
                        return Err(AppError::conflict(format!(
                            "The booking lists {} refunds already, the most it can",
                            refund_log::MAX_REFUNDS
                        )))
                    }
                    Ok(()) => {}
                }
                let status = booking.payment_status;
                if rewrite_payment(store, &booking, status, &updated, now()).await?
                    != PaymentWrite::Written
                {
                    back_off(round).await;
                }
                // Reserved (or lost to a racer): read again and go on from there.
                continue;
            }
        }
        // Reserved: ask Stripe (again, if an earlier request's outcome was unknown).
        asked_stripe = true;
        let answer = provider
            .refund_with_reason(
                &payment.intent_id,
                amount,
                ask.reason,
                &stripe_key(booking_id, &mark),
            )
            .await;
        match answer {
            Ok(refund) => {
                tracing::info!(booking_id = %booking_id, refund_id = %refund.id, amount_minor = amount,
                    reason = ask.reason.as_str(), "operator refund made");
                record(store, booking, &mark, amount, refund, &now).await?;
                // The next round reads it back and answers it.
            }
            Err(ProviderError::KeyInUse) => pause_for_key_in_use().await,
            Err(err @ ProviderError::Rejected { .. }) => {
                tracing::info!(booking_id = %booking_id, error = %err, "Stripe refused an operator refund; reservation released");
                release(store, booking, &mark, &now).await?;
                return Err(AppError::callers(err));
            }
            Err(err) => {
                tracing::error!(booking_id = %booking_id, error = %err, attention = "payment",
                    "an operator refund's outcome is unknown; it stays reserved until the request is sent again");
                return Err(AppError::Unsettled(
                    "Stripe did not confirm the refund; its amount stays reserved: send the same request with the same Idempotency-Key to settle it".into(),
                ));
            }
        }
    }
    Err(AppError::Busy(
        "The booking is busy with concurrent refunds; please retry with the same Idempotency-Key"
            .into(),
    ))
}

/// The booking's payment, if money was captured.
fn captured(booking: &Booking) -> Result<&Payment, AppError> {
    match &booking.payment {
        Some(payment) if booking.payment_status.is_paid() => Ok(payment),
        _ => Err(AppError::conflict(format!(
            "{NOTHING_CAPTURED} (payment_status {})",
            booking.payment_status.as_str()
        ))),
    }
}

/// Records Stripe's refund on the reservation, reading the booking again as long as it moves.
async fn record<S: BookingStore>(
    store: &S,
    mut booking: Booking,
    mark: &RequestMark,
    amount: i64,
    refund: crate::ports::Refund,
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<(), AppError> {
    for round in 0..MAX_ROUNDS {
        let Some(payment) = &booking.payment else {
            return Ok(());
        };
        if !matches!(refund_log::find(&payment.refunds, mark), Found::Mine(e) if e.status == EntryStatus::Reserved)
        {
            // Recorded by a racer with the same key.
            return Ok(());
        }
        let mut updated = payment.clone();
        record_operator_refund(&mut updated, refund.id.clone(), amount, refund.status, mark);
        let status = match booking.payment_status {
            s if s.is_paid() => status_after_refunds(
                s,
                updated.received_minor(),
                updated.after.amount_refunded_minor,
            ),
            s => s,
        };
        if rewrite_payment(store, &booking, status, &updated, now()).await? == PaymentWrite::Written
        {
            return Ok(());
        }
        back_off(round).await;
        booking = get_booking(store, booking.id).await?;
    }
    Err(AppError::Busy(
        "The refund was made; recording it is busy: send the same request with the same Idempotency-Key".into(),
    ))
}

/// Gives back the reservation of a request Stripe refused.
async fn release<S: BookingStore>(
    store: &S,
    mut booking: Booking,
    mark: &RequestMark,
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<(), AppError> {
    for round in 0..MAX_ROUNDS {
        let Some(payment) = &booking.payment else {
            return Ok(());
        };
        let mut updated = payment.clone();
        if !refund_log::release(&mut updated.refunds, mark) {
            return Ok(());
        }
        let status: PaymentStatus = booking.payment_status;
        if rewrite_payment(store, &booking, status, &updated, now()).await? == PaymentWrite::Written
        {
            return Ok(());
        }
        back_off(round).await;
        booking = get_booking(store, booking.id).await?;
    }
    Err(AppError::Busy(
        "Stripe refused the refund; releasing its reservation is busy: send the same request again"
            .into(),
    ))
}

/// A short, jittered pause after losing a write, growing with the rounds, so racers spread.
async fn back_off(round: u32) {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 20) as u64;
    let ms = 2 * u64::from(round.min(10)) + jitter;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}
