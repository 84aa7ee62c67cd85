//! Settling a booking whose hold passed with a live intent (issue 20): whoever needs the answer
//! (a takeover, create-intent, cancel, the scheduled run) asks Stripe first. Money that came in
//! is recorded exactly as the webhook would (never cancelled, never refunded); a payable intent
//! is cancelled at Stripe, and only a cancelled intent lets the booking expire. Every write is
//! conditional on the booking as read, so a webhook landing in between wins or loses whole.

use chrono::{DateTime, Utc};

use super::events::{apply_observed, EventOutcome};
use super::keys::{cancel_key, pause_for_key_in_use};
use super::AppError;
use crate::domain::hold::decide_passed_hold;
use crate::domain::{Booking, HoldRules, HoldState, PassedHold};
use crate::ports::{BookingStore, PaymentProvider, ProviderError};

/// Rounds of read-ask-write before giving up (the caller answers "busy").
const MAX_ROUNDS: u32 = 8;

/// How a booking's passed hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Expired, its slot free (or it was not a confirmed booking any more).
    Ended,
    /// The booking holds its slot: paid, authorized, processing, in the 3-D Secure grace, or
    /// in a state this code does not act on.
    Kept,
}

/// Settles `booking` (as its caller just read it; read afresh for every later round) at
/// `now()`: a no-op answer for a booking whose hold has not passed (`Kept`) or that already
/// ended (`Ended`).
pub async fn settle_passed_hold<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: Booking,
    rules: &HoldRules,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Settled, AppError> {
    let id = booking.id;
    let mut read = Some(booking);
    for _ in 0..MAX_ROUNDS {
        let booking = match read.take() {
            Some(booking) => booking,
            None => match store.get_booking(id).await? {
                Some(booking) => booking,
                None => return Ok(Settled::Ended),
            },
        };
        let at = now();
        match booking.hold_state(at, rules) {
            HoldState::Ended => return Ok(Settled::Ended),
            HoldState::Holding => return Ok(Settled::Kept),
            HoldState::Expired => {
                if store.expire_booking(&booking, at).await? {
                    tracing::info!(booking_id = %booking.id, "hold passed: booking expired");
                    return Ok(Settled::Ended);
                }
                // It moved since the read: look again.
            }
            HoldState::Undecided => {
                if let Some(done) = ask_stripe(store, provider, &booking, rules, at).await? {
                    return Ok(done);
                }
            }
        }
    }
    Err(AppError::Busy(
        "The booking is busy with concurrent payment activity; please retry".into(),
    ))
}

/// One round for an undecided booking: what Stripe says, acted on. `None`: look again.
async fn ask_stripe<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    rules: &HoldRules,
    now: DateTime<Utc>,
) -> Result<Option<Settled>, AppError> {
    let (Some(intent_id), Some(hold)) = (booking.intent_id(), booking.hold_expires_at) else {
        return Ok(None);
    };
    let intent = provider.retrieve_intent(intent_id).await?;
    match decide_passed_hold(&intent.status, hold, now, rules) {
        PassedHold::Record | PassedHold::Expire => {
            // The webhook's own state machine, as a synthetic event: the next round sees the
            // booking paid, authorized, processing or cancelled. Nothing new: it is kept as
            // it stands (a 3-D Secure in its grace already recorded, say).
            match apply_observed(store, &intent, booking, "hold", now).await? {
                // Nothing new, or the state machine would not take it (an event newer than
                // our clock was applied): the booking stays as it stands, busy.
                None | Some(EventOutcome::Ignored(_)) => Ok(Some(Settled::Kept)),
                Some(_) => {
                    tracing::info!(booking_id = %booking.id, payment_intent_id = %intent.id,
                        status = intent.status.as_str(), "hold passed: recorded what Stripe says");
                    Ok(None)
                }
            }
        }
        PassedHold::Cancel => {
            match provider
                .cancel_intent(intent_id, &cancel_key(intent_id))
                .await
            {
                Ok(cancelled) => {
                    tracing::info!(booking_id = %booking.id, payment_intent_id = %intent_id,
                        "hold passed: cancelled the unpaid intent");
                    apply_observed(store, &cancelled, booking, "hold", now).await?;
                }
                // The state moved on at Stripe (paid, say): the next round retrieves again.
                Err(ProviderError::Rejected { .. }) => {}
                Err(ProviderError::KeyInUse) => pause_for_key_in_use().await,
                Err(err) => return Err(err.into()),
            }
            Ok(None)
        }
        PassedHold::Leave => {
            tracing::warn!(booking_id = %booking.id, payment_intent_id = %intent.id,
                status = intent.status.as_str(), attention = "payment",
                "hold passed with an intent in a state this code does not act on; the booking keeps its slot");
            Ok(Some(Settled::Kept))
        }
    }
}
