//! Create-intent: one booking has at most one live PaymentIntent, however many Lambda
//! instances race.
//!
//! The booking item records its intent with a conditional write, so only one intent is ever
//! attached; an intent that loses the race is cancelled at Stripe. The Stripe
//! `Idempotency-Key` is derived from the booking, the intent it replaces and the amount, so on
//! real Stripe the racers even share one intent; on an emulator that ignores the key, the
//! conditional write still settles it.

use chrono::{DateTime, Utc};

use super::bookings::get_booking;
use super::events::apply_observed;
use super::holds::{settle_passed_hold, Settled};
use super::keys::{cancel_key, intent_key, pause_for_key_in_use, with_receipt};
use super::refunds::settle_owed_once;
use super::AppError;
use crate::domain::payment::decide;
use crate::domain::receipt_email::ReceiptEmail;
use crate::domain::{
    Booking, BookingId, BookingStatus, CaptureMethod, HoldRules, HoldState, IntentAction, IntentId,
    Money, Payment, PaymentStatus, Want,
};
use crate::ports::{
    BookingStore, Expected, Intent, NewIntent, PaymentProvider, PaymentWrite, ProviderError,
};

const ALREADY_AUTHORIZED: &str = "Booking already has an authorized payment";
const EXPIRED: &str = "Booking has expired";
/// In the 3-D Secure grace after the hold (`HoldRules::auth_grace`) the driver may finish the
/// payment they started, but no new intent is attached: that needs the hold still open.
const HOLD_PASSED: &str =
    "The booking's hold has passed; only the payment already started can still complete";

/// Rounds of read-decide-write before answering "busy, retry".
const MAX_ROUNDS: u32 = 6;
/// Replayed dead intents stepped over in one round (each makes the key longer; Stripe keys
/// hold 255 characters and intent ids about 30).
const MAX_DEAD_REPLAYS: u32 = 3;

/// What the driver is asked to pay: an amount, taken at once or held (manual capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub amount: Money,
    pub capture_method: CaptureMethod,
}

impl From<Money> for Terms {
    fn from(amount: Money) -> Self {
        Self {
            amount,
            capture_method: CaptureMethod::Automatic,
        }
    }
}

/// What the client asked to pay: these terms, or the booking's price (no `amount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Terms(Terms),
    Price {
        currency: Option<crate::domain::Currency>,
        capture_method: CaptureMethod,
    },
}

impl From<Terms> for Asked {
    fn from(terms: Terms) -> Self {
        Self::Terms(terms)
    }
}

impl From<Money> for Asked {
    fn from(amount: Money) -> Self {
        Self::Terms(amount.into())
    }
}

impl Asked {
    /// The terms for `booking`: a booking with a price (a tariff applied at its creation) is
    /// charged exactly that, in its currency (`Quote::check_intent`); one without needs an
    /// amount.
    fn terms_for(&self, booking: &Booking) -> Result<Terms, AppError> {
        let (amount, currency, capture_method) = match *self {
            Self::Terms(t) => (Some(t.amount), None, t.capture_method),
            Self::Price {
                currency,
                capture_method,
            } => (None, currency, capture_method),
        };
        let manual = capture_method == CaptureMethod::Manual;
        let amount = match (&booking.price, amount) {
            (Some(price), amount) => price.check_intent(amount, currency, manual)?,
            (None, Some(amount)) => amount,
            (None, None) => {
                return Err(crate::domain::DomainError::invalid("amount is required").into())
            }
        };
        Ok(Terms {
            amount,
            capture_method,
        })
    }
}

/// Returns a payable intent for the booking, for exactly these terms (or its price), with its
/// client_secret.
pub async fn create_intent<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking_id: BookingId,
    terms: impl Into<Asked>,
    rules: &HoldRules,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Intent, AppError> {
    create_intent_with_receipt(store, provider, booking_id, terms, None, rules, now).await
}

/// [`create_intent`] of an intent whose receipt Stripe sends to `receipt` (or to nobody): the
/// address is part of its terms, so an intent with another one is replaced, as one of another
/// amount is.
pub async fn create_intent_with_receipt<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking_id: BookingId,
    terms: impl Into<Asked>,
    receipt: Option<&ReceiptEmail>,
    rules: &HoldRules,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Intent, AppError> {
    let asked = terms.into();
    let mut owed_tried = false;
    for _ in 0..MAX_ROUNDS {
        let booking = get_booking(store, booking_id).await?;
        let terms = asked.terms_for(&booking)?;
        if settle_owed_once(store, provider, &booking, &mut owed_tried, now()).await? {
            continue;
        }
        match booking.hold_state(now(), rules) {
            HoldState::Expired => return Err(AppError::conflict(EXPIRED)),
            // Its hold passed with a live intent: Stripe decides whether it ended.
            HoldState::Undecided => {
                match settle_passed_hold(store, provider, booking, rules, &now).await? {
                    Settled::Ended => return Err(AppError::conflict(EXPIRED)),
                    Settled::Kept => continue,
                }
            }
            HoldState::Ended | HoldState::Holding => {}
        }
        if let Some(intent) = settle(store, provider, &booking, (&terms, receipt), &now).await? {
            if intent.client_secret.is_none() {
                return Err(ProviderError::Protocol("intent without client_secret".into()).into());
            }
            tracing::info!(booking_id = %booking.id, payment_intent_id = %intent.id, "intent ready");
            return Ok(intent);
        }
    }
    Err(AppError::Busy(
        "The booking is busy with concurrent payment requests; please retry".into(),
    ))
}

/// One round: returns the intent to hand out, or `None` if the booking moved underneath us
/// and the caller should read it again.
async fn settle<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    (terms, receipt): (&Terms, Option<&ReceiptEmail>),
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<Option<Intent>, AppError> {
    if booking.status == BookingStatus::Cancelled {
        return Err(AppError::conflict("Booking is cancelled"));
    }
    let read_at = now();
    if booking.is_expired(read_at) {
        return Err(AppError::conflict(EXPIRED));
    }
    let hold_passed = booking.hold_expires_at.is_some_and(|h| h <= read_at);
    if booking.payment_status.is_paid() {
        return Err(AppError::conflict("Booking is already paid"));
    }
    if booking.payment_status == PaymentStatus::Authorized {
        return Err(AppError::conflict(ALREADY_AUTHORIZED));
    }
    let replaces = match &booking.payment {
        None => None,
        Some(current) => {
            let intent = provider.retrieve_intent(&current.intent_id).await?;
            let same_terms = intent.has_terms(&terms.amount, terms.capture_method)
                && intent.has_receipt_email(receipt);
            match decide(&intent.status, Want::Pay { same_terms }) {
                IntentAction::Reuse => return Ok(Some(intent)),
                // Cancelled at Stripe after the hold passed: recorded, the booking expires
                // (the next round sees it).
                IntentAction::Dead if hold_passed => {
                    apply_observed(store, &intent, booking, "create-intent", read_at).await?;
                    return Ok(None);
                }
                IntentAction::CancelIt if hold_passed => {
                    return Err(AppError::conflict(HOLD_PASSED))
                }
                IntentAction::Dead => {}
                IntentAction::CancelIt => {
                    if let Err(err) = provider
                        .cancel_intent(&intent.id, &cancel_key(&intent.id))
                        .await
                    {
                        return match err {
                            // It moved (paid, or cancelled by a racer): look again.
                            ProviderError::Rejected { .. } => Ok(None),
                            ProviderError::KeyInUse => {
                                pause_for_key_in_use().await;
                                Ok(None)
                            }
                            other => Err(other.into()),
                        };
                    }
                }
                IntentAction::AlreadyPaid | IntentAction::Refund => {
                    return Err(AppError::conflict("Booking is already paid"))
                }
                // Stripe holds the driver's card already (its event is on the way).
                IntentAction::Authorized => return Err(AppError::conflict(ALREADY_AUTHORIZED)),
                IntentAction::Processing => {
                    return Err(AppError::conflict(
                        "A payment for this booking is already processing",
                    ))
                }
                IntentAction::Stuck => {
                    return Err(AppError::conflict(format!(
                        "The booking's payment is in state {} and cannot be replaced",
                        intent.status.as_str()
                    )))
                }
            }
            Some(current.intent_id.clone())
        }
    };

    let Some(intent) =
        create_payable(provider, booking, replaces.as_ref(), (terms, receipt)).await?
    else {
        return Ok(None);
    };
    let mut payment =
        Payment::new(intent.id.clone(), terms.amount).with_capture_method(terms.capture_method);
    if let Some(current) = &booking.payment {
        // What the booking owes or must tell about other intents is the booking's, not the
        // replaced intent's: it stays (issue 20, item 4).
        payment.refunds_owed = current.refunds_owed.clone();
        payment.other_intents = current.other_intents.clone();
    }
    // Versioned (nothing recorded since the read is dropped) and only while the hold is open.
    let attach_at = now();
    let expected = Expected {
        status: Some(BookingStatus::Confirmed),
        updated_at: Some(booking.updated_at),
        hold_open_at: Some(attach_at),
        ..Expected::from_booking(booking)
    };
    let written_at = attach_at.max(booking.updated_at + chrono::Duration::milliseconds(1));
    match store
        .update_payment(
            booking.id,
            &expected,
            PaymentStatus::Pending,
            &payment,
            written_at,
        )
        .await?
    {
        PaymentWrite::Written => Ok(Some(intent)),
        PaymentWrite::Conflict | PaymentWrite::Duplicate => {
            // The booking moved. If a racer attached this very intent (same idempotency key),
            // or the booking still has the intent ours replaces (only its payment status moved,
            // say a webhook event for the old intent), the next round asks Stripe with the same
            // key and gets this intent back: cancelling it would make Stripe replay a cancelled
            // intent. Otherwise nobody will be given ours, and it must not stay payable.
            let at = now();
            let reused = store.get_booking(booking.id).await?.is_some_and(|b| {
                b.intent_id() == Some(&intent.id)
                    || (b.status == BookingStatus::Confirmed
                        && b.intent_id() == replaces.as_ref()
                        && b.hold_expires_at.is_none_or(|h| h > at))
            });
            if !reused {
                release(provider, &intent.id).await;
            }
            Ok(None)
        }
    }
}

/// Creates the intent that replaces `replaces`, under the deterministic key (so racers and
/// retries share one), and makes sure it is payable now: Stripe replays the first answer for a
/// key for 24 hours even if the intent was cancelled since, so a replayed answer is checked,
/// and a dead one is stepped over with a key naming it (still the same for every racer).
/// `None`: a racer holds the key; decide again.
async fn create_payable<P: PaymentProvider>(
    provider: &P,
    booking: &Booking,
    replaces: Option<&IntentId>,
    (terms, receipt): (&Terms, Option<&ReceiptEmail>),
) -> Result<Option<Intent>, AppError> {
    let new = NewIntent {
        amount: terms.amount,
        booking_id: booking.id,
        capture_method: terms.capture_method,
        receipt_email: receipt.cloned(),
    };
    let mut key = with_receipt(
        intent_key(booking.id, replaces, &terms.amount, terms.capture_method),
        receipt,
    );
    for _ in 0..MAX_DEAD_REPLAYS {
        let intent = match provider.create_intent(&new, &key).await {
            Ok(intent) => intent,
            // A racer's request with this very key is still running at Stripe: its answer will
            // be saved under the key, so wait for it and decide again.
            Err(ProviderError::KeyInUse) => {
                pause_for_key_in_use().await;
                return Ok(None);
            }
            // The caller's amount and currency: Stripe's refusal is about their request.
            Err(err) => return Err(AppError::callers(err)),
        };
        if !intent.replayed {
            return Ok(Some(intent));
        }
        let now = provider.retrieve_intent(&intent.id).await?;
        if now.status.is_payable() && now.client_secret.is_some() {
            return Ok(Some(now));
        }
        tracing::info!(booking_id = %booking.id, payment_intent_id = %intent.id,
            status = now.status.as_str(), "Stripe replayed an intent that is no longer payable");
        key = format!("{key}-not-{}", intent.id);
    }
    Err(AppError::Busy(
        "The booking is busy with concurrent payment requests; please retry".into(),
    ))
}

/// Cancels an intent nobody will be given. Failing here leaves an unreachable intent (its
/// client_secret was never handed out), so it is logged, not fatal.
async fn release<P: PaymentProvider>(provider: &P, intent_id: &IntentId) {
    match provider
        .cancel_intent(intent_id, &cancel_key(intent_id))
        .await
    {
        Ok(_) => tracing::info!(
            payment_intent_id = %intent_id,
            "cancelled the intent that lost a race"
        ),
        Err(err) => {
            tracing::error!(payment_intent_id = %intent_id, error = %err, "could not cancel a losing intent")
        }
    }
}
