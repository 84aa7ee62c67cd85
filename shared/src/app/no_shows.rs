//! No-shows (issue 22, a step of `reconcile`): an authorized booking under terms with a
//! `no_show_fee`, not checked in before `start + no_show_after_minutes`, has the fee captured
//! from its hold (Stripe releases the rest), or the hold released when the fee is waived
//! (below Stripe's minimum). A paid booking keeps its payment: nothing is done and no fee is
//! recorded. Without terms nothing changes.
//!
//! Two steps, so a check-in and the fee never both win: the fee is first **decided** on the
//! booking by a conditional write (the booking as read: confirmed, authorized, not checked in
//! in time, unchanged since), which a later check-in refuses to follow (`app::terms`); only
//! then is it captured, with a key per booking, intent and amount (`app::keys::no_show_key`),
//! so racing runs, retries and a cancel that finds it decided capture it once. What Stripe
//! answers is applied through the webhook's state machine. A decided fee whose capture failed
//! is captured by the next run (the booking is still authorized).
//!
//! The bookings are found through the payment-status index (authorized, by last update,
//! oldest first; never a Scan), at most [`EXAMINED`] read per run, within the run's budget.

use chrono::{DateTime, Duration, Utc};

use super::events::apply_observed;
use super::keys::{cancel_key, no_show_key};
use super::versioned::rewrite_payment;
use super::AppError;
use crate::domain::terms::{no_show_fee, Fee};
use crate::domain::{Booking, BookingStatus, IntentStatus, PaymentStatus};
use crate::ports::{BookingStore, Order, PaymentProvider, PaymentWrite, ProviderError};

use super::event_list::Budget;
use super::reconcile::Summary;

/// Authorized bookings read per run (each a GetItem): a hold lasts at most 7 days (31 with
/// extended authorization), so this covers every authorized booking of a busy operator; more
/// are reached as the oldest leave the status.
pub const EXAMINED: usize = 500;
/// Fees acted on per run (each a Stripe call).
pub const ACTED: usize = 50;
/// As `app::authorizations`: past any hold's `capture_before`.
const HOLD_WINDOW: Duration = Duration::days(31);

/// The step, counted into the run's summary as it goes (`no_shows_*`).
pub(super) async fn settle_no_shows<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    budget: &Budget,
    done: &mut Summary,
) -> Result<(), AppError> {
    let found = store
        .bookings_in_payment_status(
            PaymentStatus::Authorized,
            now - HOLD_WINDOW,
            now + Duration::minutes(5),
            EXAMINED,
            Order::OldestFirst,
        )
        .await?;
    let mut acted = 0;
    for id in found {
        if acted == ACTED || !budget.may_go_on() {
            break;
        }
        let Some(booking) = store.get_booking(id).await? else {
            continue;
        };
        let Some(fee) = decide(store, &booking, now).await? else {
            continue;
        };
        acted += 1;
        match take(store, provider, &booking, &fee, now).await {
            Ok(true) if fee.waived.is_some() => done.no_shows_waived += 1,
            Ok(true) => done.no_shows_charged += 1,
            Ok(false) => {}
            Err(err) => {
                done.no_shows_failed += 1;
                tracing::error!(booking_id = %id, fee_minor = fee.minor, error = %err, attention = "payment",
                    "reconcile: could not take a no-show fee; the next run tries again");
            }
        }
    }
    Ok(())
}

/// The booking's no-show fee if one is to be taken now: decided before (its capture not done),
/// or decided now and written. `None`: nothing to do (not due, checked in, no terms, moved).
async fn decide<S: BookingStore>(
    store: &S,
    booking: &Booking,
    now: DateTime<Utc>,
) -> Result<Option<Fee>, AppError> {
    if booking.status != BookingStatus::Confirmed
        || booking.payment_status != PaymentStatus::Authorized
    {
        return Ok(None);
    }
    let (Some(terms), Some(payment)) = (booking.terms(), &booking.payment) else {
        return Ok(None);
    };
    if let Some(fee) = payment.no_show_fee {
        return Ok(Some(fee));
    }
    let held = payment
        .authorization
        .map_or(payment.amount.minor, |a| a.amount_minor);
    let decision = no_show_fee(
        &terms,
        booking.slot.start(),
        booking.checked_in_at,
        now,
        held,
    );
    let Some(fee) = decision.and_then(|d| d.fee()) else {
        return Ok(None);
    };
    let mut decided = payment.clone();
    decided.no_show_fee = Some(fee);
    let written = rewrite_payment(store, booking, booking.payment_status, &decided, now).await?;
    // Moved since read (a check-in, a cancel, an event): the next run decides again.
    Ok((written == PaymentWrite::Written).then_some(fee))
}

/// Captures the decided fee (or releases the hold, waived) and applies Stripe's answer.
/// `Ok(false)`: someone else settled the hold first (a capture of the session, a cancel).
async fn take<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    fee: &Fee,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(intent_id) = booking.intent_id().cloned() else {
        return Ok(false);
    };
    let answer = match fee.waived {
        Some(_) => {
            provider
                .cancel_intent(&intent_id, &cancel_key(&intent_id))
                .await
        }
        None => {
            let key = no_show_key(booking.id, &intent_id, fee.minor);
            provider.capture_intent(&intent_id, fee.minor, &key).await
        }
    };
    let (intent, ours) = match answer {
        Ok(intent) => (intent, true),
        // Captured or released by someone else first (or expired): what it is now.
        Err(ProviderError::Rejected { .. }) => (provider.retrieve_intent(&intent_id).await?, false),
        Err(err) => return Err(err.into()),
    };
    let Some(current) = store.get_booking(booking.id).await? else {
        return Ok(false);
    };
    let taken_by_other = !ours
        && intent.status == IntentStatus::Succeeded
        && (fee.waived.is_some() || intent.amount_received != Some(fee.minor));
    if taken_by_other {
        // The session was captured (or a cancel took its fee) before the no-show was: the
        // fee was not what was taken, so it is not shown.
        if let Some(payment) = &current.payment {
            let mut undecided = payment.clone();
            undecided.no_show_fee = None;
            rewrite_payment(store, &current, current.payment_status, &undecided, now).await?;
        }
    }
    apply_observed(store, &intent, &current, "no-show", now).await?;
    if ours {
        tracing::warn!(booking_id = %booking.id, payment_intent_id = %intent_id, fee_minor = fee.minor,
            waived = fee.waived.is_some(), attention = "payment",
            "reconcile: a no-show: its fee was taken from the hold (or the hold released)");
    }
    Ok(ours)
}
