//! Card authorizations never expire silently (a step of `reconcile`): an uncaptured hold
//! that reaches its `capture_before` is gone, and with it the operator's money for a session
//! that happened. Each run:
//!
//! - reads the charge of every authorization whose `capture_before` is still the estimate
//!   (the event's time + 7 days), so the booking shows Stripe's own limit;
//! - captures in full (`EXPIRING_HOLD_POLICY=capture`) or releases (`release`) every
//!   authorization within the safety margin of its `capture_before`, through the capture use
//!   case (so a racing capture or cancel ends as it would through the API), logged at WARN
//!   with `attention = "payment"`.
//!
//! Authorizations of bookings that ended (cancelled, expired) or of replaced intents are not
//! here: the webhook records them as owed, and `settle_owed` releases them.

use chrono::{DateTime, Duration, Utc};

use super::capture::capture;
use super::events::apply_observed;
use super::versioned::rewrite_payment;
use super::AppError;
use crate::domain::capture::{ExpiringHoldPolicy, HoldSettings};
use crate::domain::{
    Authorization, Booking, BookingId, BookingStatus, CaptureAmount, IntentStatus, PaymentStatus,
};
use crate::ports::{BookingStore, Order, PaymentProvider, ProviderError};

/// What one run did with authorizations (counted into the run's summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Settled {
    /// `capture_before` read from the charge.
    pub read: usize,
    /// Captured in full at the safety margin.
    pub captured: usize,
    /// Released at the safety margin.
    pub released: usize,
}

/// Stripe's longest authorizations (extended authorization) last about 30 days; a hold
/// untouched for longer than this is past any `capture_before`.
const HOLD_WINDOW: Duration = Duration::days(31);

pub(super) async fn settle_holds<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    settings: &HoldSettings,
    now: DateTime<Utc>,
    limit: usize,
    settled: &mut Settled,
) -> Result<(), AppError> {
    // Least recently updated first: the holds nearest their end.
    let found = store
        .bookings_in_payment_status(
            PaymentStatus::Authorized,
            now - HOLD_WINDOW,
            now + Duration::minutes(5),
            limit,
            Order::OldestFirst,
        )
        .await?;
    for id in found {
        let Some(booking) = store.get_booking(id).await? else {
            continue;
        };
        let Some(auth) = held(&booking) else {
            continue;
        };
        let auth = if auth.from_charge {
            auth
        } else {
            match read_charge(store, provider, &booking, auth, now).await? {
                Some(read) => {
                    settled.read += 1;
                    read
                }
                None => continue,
            }
        };
        if !auth.is_due(now, settings.safety_margin) {
            continue;
        }
        let asked = match settings.policy {
            ExpiringHoldPolicy::Capture => CaptureAmount::Capture(auth.amount_minor),
            ExpiringHoldPolicy::Release => CaptureAmount::Release,
        };
        act_on_due_hold(store, provider, id, &auth, asked, settings, now, settled).await;
    }
    Ok(())
}

/// The booking's hold, if it is a live authorization of a confirmed booking.
/// A hold whose no-show fee was decided is the no-show step's to capture (`app::no_shows`).
fn held(booking: &Booking) -> Option<Authorization> {
    if booking.status != BookingStatus::Confirmed
        || booking.payment_status != PaymentStatus::Authorized
    {
        return None;
    }
    let payment = booking.payment.as_ref()?;
    if payment.no_show_fee.is_some() {
        return None;
    }
    payment.authorization
}

/// Reads the intent's charge for its `capture_before` and records it; `None` when the intent
/// is no longer held at Stripe (what it is now is applied instead) or Stripe will not show it.
async fn read_charge<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    auth: Authorization,
    now: DateTime<Utc>,
) -> Result<Option<Authorization>, AppError> {
    let Some(payment) = &booking.payment else {
        return Ok(None);
    };
    let intent = match provider.retrieve_intent(&payment.intent_id).await {
        Ok(intent) => intent,
        Err(ProviderError::Rejected {
            status, message, ..
        }) => {
            tracing::error!(booking_id = %booking.id, payment_intent_id = %payment.intent_id,
                status, %message, attention = "payment", "reconcile: Stripe refused to show an authorized intent");
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    if intent.status != IntentStatus::RequiresCapture {
        // Captured or released outside our calls (the Dashboard), and its event missed.
        apply_observed(store, &intent, booking, "reconcile", now).await?;
        return Ok(None);
    }
    let Some(capture_before) = intent.capture_before else {
        return Ok(Some(auth));
    };
    let read = Authorization {
        capture_before,
        from_charge: true,
        ..auth
    };
    let mut updated = payment.clone();
    updated.authorization = Some(read);
    // If the booking moved meanwhile, the next run reads the charge again.
    rewrite_payment(store, booking, booking.payment_status, &updated, now).await?;
    Ok(Some(read))
}

/// Captures or releases a hold at its safety margin. A failure is logged for people (the
/// hold is still there, and the next run tries again) without stopping the run.
#[allow(clippy::too_many_arguments)]
async fn act_on_due_hold<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    id: BookingId,
    auth: &Authorization,
    asked: CaptureAmount,
    settings: &HoldSettings,
    now: DateTime<Utc>,
    settled: &mut Settled,
) {
    let capture_before = crate::domain::slot::format_stored_time(auth.capture_before);
    match capture(store, provider, id, |_, _| Ok(asked), || now).await {
        Ok(booking) => {
            match asked {
                CaptureAmount::Capture(_) => settled.captured += 1,
                CaptureAmount::Release => settled.released += 1,
            }
            tracing::warn!(booking_id = %id, policy = settings.policy.as_str(), %capture_before,
                amount_minor = asked.minor(), payment_status = booking.payment_status.as_str(),
                attention = "payment", "reconcile: a card authorization reached its safety margin");
        }
        Err(err) => {
            tracing::error!(booking_id = %id, policy = settings.policy.as_str(), %capture_before,
                error = %err, attention = "payment",
                "reconcile: could not act on a card authorization at its safety margin");
        }
    }
}
