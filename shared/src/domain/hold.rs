//! When a booking's hold ends (issue 20): only when Stripe agrees the booking's intent can no
//! longer take money. Our clock alone decides only for a booking with no intent, or whose
//! intent is known cancelled; a booking whose hold passed with a live intent is "undecided"
//! and stays confirmed (its slot busy) until someone who needs the answer asks Stripe.
//!
//! Pure: the use cases (`app::holds`) read the booking and the intent and act on what this
//! module says.

use chrono::{DateTime, Duration, Utc};

use super::booking::{Booking, BookingStatus};
use super::payment::{IntentStatus, PaymentStatus};

/// `BOOKING_AUTH_GRACE_SECONDS`: how long after `hold_expires_at` an intent left in
/// `requires_action` (3-D Secure started, not finished) keeps its booking.
pub const DEFAULT_AUTH_GRACE: Duration = Duration::seconds(600);

/// The rules every function that decides expiry applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRules {
    pub auth_grace: Duration,
}

impl Default for HoldRules {
    fn default() -> Self {
        Self {
            auth_grace: DEFAULT_AUTH_GRACE,
        }
    }
}

/// Where a booking's hold stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// Not a confirmed booking (cancelled, or stored expired): holds nothing.
    Ended,
    /// Holds its slot: within its hold, no hold at all, paid, authorized, paying, or in the
    /// 3-D Secure grace.
    Holding,
    /// Expired at this instant without asking anyone: its hold passed and it has no intent,
    /// or its intent is known cancelled (final at Stripe).
    Expired,
    /// Its hold passed with an intent that might still take money: Stripe must be asked
    /// before the booking may expire. Until then it is confirmed and its slot busy.
    Undecided,
}

impl Booking {
    /// The hold at `now`. Only `Undecided` depends on the rules (the 3-D Secure grace).
    pub fn hold_state(&self, now: DateTime<Utc>, rules: &HoldRules) -> HoldState {
        if self.status != BookingStatus::Confirmed {
            return HoldState::Ended;
        }
        let Some(hold) = self.hold_expires_at else {
            return HoldState::Holding;
        };
        if self.is_paid()
            || hold > now
            || matches!(
                self.payment_status,
                PaymentStatus::Processing | PaymentStatus::Authorized
            )
        {
            return HoldState::Holding;
        }
        if self.payment.is_none() || self.payment_status == PaymentStatus::Canceled {
            return HoldState::Expired;
        }
        if self.payment_status == PaymentStatus::RequiresAction && now < hold + rules.auth_grace {
            return HoldState::Holding;
        }
        HoldState::Undecided
    }
}

impl Booking {
    /// Expired at `now` without asking Stripe: stored so, or [`HoldState::Expired`]. A booking
    /// whose hold passed with a live intent is not (it is undecided: confirmed, its slot busy).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        // The grace bears only on `Undecided`: any rules give the same answer here.
        self.status == BookingStatus::Expired
            || self.hold_state(now, &HoldRules::default()) == HoldState::Expired
    }

    /// The booking as it stands at `now`: a confirmed booking expired by
    /// [`Booking::is_expired`] shows as expired.
    pub fn as_of(mut self, now: DateTime<Utc>) -> Self {
        if self.is_expired(now) {
            self.status = BookingStatus::Expired;
        }
        self
    }
}

/// What to do with the intent of a booking whose hold passed, as Stripe shows it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassedHold {
    /// The money came in (or is coming, or is held, or 3-D Secure is within its grace):
    /// record what Stripe says exactly as the webhook would, and keep the booking. Never
    /// cancelled: cancelling would refund a payment Stripe accepted, or release an EV
    /// authorization.
    Record,
    /// Still payable: cancel it at Stripe so it can no longer take money, then look again.
    Cancel,
    /// Cancelled at Stripe: record that; the booking expires.
    Expire,
    /// A status this code does not know: leave the booking as it is (busy) and tell people.
    Leave,
}

/// The one table of answers for a booking whose hold (`hold_expires_at`) passed, given its
/// current intent's `status` at Stripe at `now`.
pub fn decide_passed_hold(
    status: &IntentStatus,
    hold_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &HoldRules,
) -> PassedHold {
    use IntentStatus as S;
    match status {
        S::Succeeded | S::Processing | S::RequiresCapture => PassedHold::Record,
        S::RequiresAction if now < hold_expires_at + rules.auth_grace => PassedHold::Record,
        S::RequiresAction | S::RequiresPaymentMethod | S::RequiresConfirmation => {
            PassedHold::Cancel
        }
        S::Canceled => PassedHold::Expire,
        S::Unknown(_) => PassedHold::Leave,
    }
}

#[cfg(test)]
mod tests;
