//! Authorize, then capture (EV charging): a session's price is known only when it ends, so the
//! driver's card is authorized for a maximum first (a PaymentIntent with `capture_method:
//! manual`, <https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>) and what the
//! session used is captured at the end; the rest of the hold is released. Pure, so every rule
//! is unit-tested.

use chrono::{DateTime, Duration, Utc};

use super::booking::{Booking, BookingStatus};
use super::payment::PaymentStatus;

/// How the booking's PaymentIntent takes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureMethod {
    /// Charged when the driver pays (the default, as before manual capture existed).
    #[default]
    Automatic,
    /// Authorized when the driver pays; captured (or released) by `POST /v1/payments/capture`.
    Manual,
}

impl CaptureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Manual => "manual",
        }
    }

    /// The API's values; anything else is `None` (a 400).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "automatic" => Some(Self::Automatic),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }

    /// A PaymentIntent's `capture_method`: Stripe's `automatic_async` (the default of recent
    /// API versions) captures automatically too.
    pub fn from_stripe(s: &str) -> Self {
        if s == "manual" {
            Self::Manual
        } else {
            Self::Automatic
        }
    }
}

/// How long Stripe keeps an online card authorization when the charge does not say: 7 days
/// (<https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>, "Authorization
/// validity"). The charge's `payment_method_details.card.capture_before` is the real limit.
pub const DEFAULT_VALIDITY: Duration = Duration::days(7);

/// A hold on the driver's card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization {
    /// What may be captured, in the payment's currency.
    pub amount_minor: i64,
    /// After this, Stripe refuses the capture (the authorization expired).
    pub capture_before: DateTime<Utc>,
    /// `capture_before` is the charge's own; otherwise it is estimated from when the
    /// authorization was reported, plus [`DEFAULT_VALIDITY`], until the charge is read.
    pub from_charge: bool,
}

impl Authorization {
    /// Estimated from the moment Stripe reported the authorization (the event's or charge's
    /// `created`).
    pub fn estimated(amount_minor: i64, reported_at: DateTime<Utc>) -> Self {
        Self {
            amount_minor,
            capture_before: reported_at + DEFAULT_VALIDITY,
            from_charge: false,
        }
    }

    pub fn has_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.capture_before
    }

    /// Within `margin` of `capture_before` (or past it): `reconcile` acts on it now.
    pub fn is_due(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        now + margin >= self.capture_before
    }
}

/// What a capture asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureAmount {
    /// Amount 0: release the whole hold (cancel the intent).
    Release,
    /// Capture this many minor units; the rest of the hold is released.
    Capture(i64),
}

impl CaptureAmount {
    pub fn from_minor(minor: i64) -> Self {
        if minor == 0 {
            Self::Release
        } else {
            Self::Capture(minor)
        }
    }

    pub fn minor(self) -> i64 {
        match self {
            Self::Release => 0,
            Self::Capture(minor) => minor,
        }
    }
}

/// Why a capture is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureRefusal {
    /// 400: more than the hold.
    ExceedsAuthorized,
    /// 409: nothing authorized to capture (pending, never authorized, or released by a
    /// cancel).
    NoAuthorization,
    /// 409: captured already, with another amount.
    DifferentAmount,
    /// 409: past `capture_before`.
    Expired,
}

impl CaptureRefusal {
    pub fn detail(self) -> &'static str {
        match self {
            Self::ExceedsAuthorized => "amount exceeds the authorized amount",
            Self::NoAuthorization => "Booking has no authorized payment",
            Self::DifferentAmount => "Payment was already captured with a different amount",
            Self::Expired => "The authorization has expired",
        }
    }
}

/// What to do with a capture request, given the booking as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureStep {
    /// Ask Stripe: capture (or release) the hold.
    AtStripe,
    /// Done before (a repeated capture): answer with the booking as it is.
    Done,
    Refuse(CaptureRefusal),
}

/// The one place that decides a capture. A repeat of a capture that happened (the same
/// amount, or 0 after a release) is answered as the first was; anything else that cannot
/// happen any more is refused.
pub fn decide_capture(booking: &Booking, asked: CaptureAmount, now: DateTime<Utc>) -> CaptureStep {
    use CaptureRefusal as R;
    let Some(payment) = &booking.payment else {
        return CaptureStep::Refuse(R::NoAuthorization);
    };
    let Some(auth) = payment
        .authorization
        .filter(|_| payment.capture_method == CaptureMethod::Manual)
    else {
        return CaptureStep::Refuse(R::NoAuthorization);
    };
    if asked.minor() > auth.amount_minor {
        return CaptureStep::Refuse(R::ExceedsAuthorized);
    }
    let cancelled = booking.status == BookingStatus::Cancelled;
    match booking.payment_status {
        PaymentStatus::Authorized if booking.status == BookingStatus::Confirmed => {
            if auth.has_expired(now) {
                CaptureStep::Refuse(R::Expired)
            } else {
                CaptureStep::AtStripe
            }
        }
        // Held for a booking that ended: it is released (by `reconcile`), never captured.
        PaymentStatus::Authorized => CaptureStep::Refuse(R::NoAuthorization),
        s if s.is_paid() => match asked {
            CaptureAmount::Capture(minor) if payment.amount_received_minor == Some(minor) => {
                CaptureStep::Done
            }
            _ => CaptureStep::Refuse(R::DifferentAmount),
        },
        PaymentStatus::Canceled if !cancelled => match asked {
            CaptureAmount::Release => CaptureStep::Done,
            CaptureAmount::Capture(_) if auth.has_expired(now) => CaptureStep::Refuse(R::Expired),
            CaptureAmount::Capture(_) => CaptureStep::Refuse(R::NoAuthorization),
        },
        _ => CaptureStep::Refuse(R::NoAuthorization),
    }
}

/// What `reconcile` does with a hold that reached its safety margin
/// (`EXPIRING_HOLD_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiringHoldPolicy {
    /// Capture the whole hold: the operator is paid for a session nobody closed.
    #[default]
    Capture,
    /// Release it: the driver is charged nothing.
    Release,
}

impl ExpiringHoldPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "capture" => Some(Self::Capture),
            "release" => Some(Self::Release),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capture => "capture",
            Self::Release => "release",
        }
    }
}

/// What `reconcile` does with holds near their end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldSettings {
    pub policy: ExpiringHoldPolicy,
    /// How long before `capture_before` a hold is captured or released
    /// (`CAPTURE_SAFETY_MARGIN_SECONDS`).
    pub safety_margin: Duration,
}

impl Default for HoldSettings {
    fn default() -> Self {
        Self {
            policy: ExpiringHoldPolicy::Capture,
            // Half a day: a run every 10 minutes has many chances, and a day of Stripe or
            // AWS trouble still leaves time for a person.
            safety_margin: Duration::seconds(43_200),
        }
    }
}

#[cfg(test)]
mod tests;
