//! Capture: `POST /v1/payments/capture` takes what a charging session used from the driver's
//! authorized card (the rest of the hold is released), or releases the whole hold (amount 0).
//!
//! Stripe is the referee between racers: an intent is captured or cancelled once, so a capture
//! racing a cancel (or another capture) ends with exactly one of them done at Stripe. What
//! Stripe answers (or, when it refuses, what the intent is now) is applied to the booking
//! through the webhook's own state machine, and the request is decided again on the booking as
//! it then is: a capture that won is answered with the booking (refunded since, if a cancel
//! came second), one that lost is refused.

use chrono::{DateTime, Utc};

use super::bookings::get_booking;
use super::events::apply_observed;
use super::keys::{cancel_key, capture_key, pause_for_key_in_use};
use super::refunds::settle_owed_once;
use super::AppError;
use crate::domain::capture::decide_capture;
use crate::domain::{
    Booking, BookingId, CaptureAmount, CaptureMethod, CaptureRefusal, CaptureStep, Currency,
    DomainError, IntentStatus, PaymentStatus,
};
use crate::ports::{BookingStore, PaymentProvider, ProviderError};

/// Rounds of read-decide-act before answering "busy, retry".
const MAX_ROUNDS: u32 = 6;

/// Captures (or releases) the booking's hold. `amount` reads the request's amount in the
/// payment's currency, or prices the session from the booking's frozen tariff (both known only
/// once the booking is read).
pub async fn capture<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking_id: BookingId,
    amount: impl Fn(&Booking, &Currency) -> Result<CaptureAmount, DomainError>,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Booking, AppError> {
    let mut owed_tried = false;
    for _ in 0..MAX_ROUNDS {
        let booking = get_booking(store, booking_id).await?;
        let Some(payment) = &booking.payment else {
            return Err(refused(CaptureRefusal::NoAuthorization));
        };
        let asked = amount(&booking, &payment.amount.currency)?;
        if settle_owed_once(store, provider, &booking, &mut owed_tried, now()).await? {
            continue;
        }
        let at = now();
        // The driver confirmed, and Stripe's event has not arrived yet: ask Stripe, rather
        // than refuse a capture the driver's app was right to ask for.
        let in_flight = matches!(
            booking.payment_status,
            PaymentStatus::Pending | PaymentStatus::RequiresAction | PaymentStatus::Processing
        );
        if payment.capture_method == CaptureMethod::Manual && in_flight {
            let intent = provider.retrieve_intent(&payment.intent_id).await?;
            if apply_observed(store, &intent, &booking, "capture", at)
                .await?
                .is_some()
            {
                continue;
            }
        }
        let intent_id = payment.intent_id.clone();
        let booking = booking.as_of(at);
        match decide_capture(&booking, asked, at) {
            CaptureStep::Done => return Ok(booking),
            CaptureStep::Refuse(refusal) => return Err(refused(refusal)),
            CaptureStep::AtStripe => {}
        }
        let intent_id = &intent_id;
        let answer = match asked {
            CaptureAmount::Capture(minor) => {
                provider
                    .capture_intent(intent_id, minor, &capture_key(intent_id, minor))
                    .await
            }
            CaptureAmount::Release => {
                provider
                    .cancel_intent(intent_id, &cancel_key(intent_id))
                    .await
            }
        };
        let intent = match answer {
            Ok(intent) => {
                tracing::info!(%booking_id, payment_intent_id = %intent_id,
                    captured_minor = asked.minor(), status = intent.status.as_str(), "hold captured or released at Stripe");
                intent
            }
            // Captured or cancelled by a racer, or expired: read what it is now.
            Err(refusal @ ProviderError::Rejected { .. }) => {
                let now_at_stripe = provider.retrieve_intent(intent_id).await?;
                if now_at_stripe.status == IntentStatus::RequiresCapture {
                    // Still held: Stripe refused the caller's capture itself (its message
                    // says why).
                    return Err(AppError::callers(refusal));
                }
                now_at_stripe
            }
            Err(ProviderError::KeyInUse) => {
                pause_for_key_in_use().await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        // Then decided again on the booking as this leaves it.
        apply_observed(store, &intent, &booking, "capture", now()).await?;
    }
    Err(AppError::Busy(
        "The booking is busy with concurrent payment requests; please retry".into(),
    ))
}

fn refused(refusal: CaptureRefusal) -> AppError {
    match refusal {
        CaptureRefusal::ExceedsAuthorized => DomainError::invalid(refusal.detail()).into(),
        _ => AppError::conflict(refusal.detail()),
    }
}
