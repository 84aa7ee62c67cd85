//! Booking terms (issue 22): the cancellation and no-show fees a booking's frozen tariff sells
//! it under, decided here, pure, so every boundary is unit-tested.
//!
//! # The rules (the README states the same)
//!
//! Every deadline is an instant, and "before" it is strictly before (a minute's terms are
//! exact to the millisecond: the deadline itself is already late):
//!
//! - **Free cancellation** until `start - free_cancel_minutes` (absent: 0, free until the
//!   start). A cancel strictly before that instant costs nothing (everything is refunded or
//!   released, as without terms); a cancel at it or later owes `late_cancel_fee`.
//! - **No-show** at `start + no_show_after_minutes` (absent: 0, at the start): a booking not
//!   checked in strictly before that instant owes `no_show_fee` from that instant on. A later
//!   check-in does not undo it.
//! - A fee is never more than the booking can give: what was received and not refunded yet
//!   (a paid booking) or the hold (an authorized one). It is capped there.
//! - A fee (after the cap) below Stripe's minimum charge for the currency
//!   (`domain::money`'s table: usd 0.50, gbp 0.30, jpy 50, ...) is **waived**, recorded with
//!   the reason; the same for a paid booking (nothing is charged there, the fee is kept out of
//!   the refund), so the same terms cost the driver the same whichever way the booking was
//!   paid.
//! - A fee of 0, an absent fee, or nothing left to take: no fee at all.

use chrono::{DateTime, Duration, Utc};

use super::money::{format_minor, Currency};
use super::payment::PaymentStatus;
use super::tariff::Tariff;

/// A booking's terms, from its frozen tariff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub currency: Currency,
    pub free_cancel_minutes: u32,
    pub late_cancel_fee: Option<i64>,
    pub no_show_fee: Option<i64>,
    pub no_show_after_minutes: u32,
}

impl Terms {
    /// The terms of `tariff`; `None` when it sells under none (no fee of either kind).
    pub fn of(tariff: &Tariff) -> Option<Self> {
        if tariff.late_cancel_fee.is_none() && tariff.no_show_fee.is_none() {
            return None;
        }
        Some(Self {
            currency: tariff.currency,
            free_cancel_minutes: tariff.free_cancel_minutes.unwrap_or(0),
            late_cancel_fee: tariff.late_cancel_fee,
            no_show_fee: tariff.no_show_fee,
            no_show_after_minutes: tariff.no_show_after_minutes.unwrap_or(0),
        })
    }

    /// The first instant a cancellation is late.
    pub fn free_cancel_until(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        start - Duration::minutes(i64::from(self.free_cancel_minutes))
    }

    /// The instant a booking not checked in becomes a no-show.
    pub fn no_show_at(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        start + Duration::minutes(i64::from(self.no_show_after_minutes))
    }
}

/// Why a fee that was due is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiver {
    /// Below Stripe's minimum charge for the currency (`min_minor`).
    BelowMinimum { min_minor: i64 },
}

impl Waiver {
    pub fn code(self) -> &'static str {
        match self {
            Self::BelowMinimum { .. } => "below_minimum_charge",
        }
    }

    /// The reason as the API shows it.
    pub fn reason(self, currency: &Currency) -> String {
        match self {
            Self::BelowMinimum { min_minor } => format!(
                "below Stripe's minimum charge of {} {}",
                format_minor(min_minor, currency),
                currency.code
            ),
        }
    }
}

/// What the terms ask of a cancellation or a no-show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: inside the free window, no such fee, or nothing left to take.
    NoFee,
    /// Take this many minor units (at least the currency's minimum, at most what is there).
    Take(i64),
    /// Due, but not taken: the amount it would have been, and why not.
    Waive(i64, Waiver),
}

impl Decision {
    /// The fee to record on the booking, if any.
    pub fn fee(self) -> Option<Fee> {
        match self {
            Self::NoFee => None,
            Self::Take(minor) => Some(Fee {
                minor,
                waived: None,
            }),
            Self::Waive(minor, waiver) => Some(Fee {
                minor,
                waived: Some(waiver),
            }),
        }
    }
}

/// `fee` capped at `available`, then the minimum charge.
fn take(fee: Option<i64>, available: i64, currency: &Currency) -> Decision {
    let minor = fee.unwrap_or(0).min(available.max(0));
    if minor <= 0 {
        Decision::NoFee
    } else if minor < currency.min_minor {
        Decision::Waive(
            minor,
            Waiver::BelowMinimum {
                min_minor: currency.min_minor,
            },
        )
    } else {
        Decision::Take(minor)
    }
}

/// The cancellation fee of a booking starting at `start`, cancelled at `at`, with `available`
/// minor units to take it from (received and not refunded, or the hold).
pub fn cancellation_fee(
    terms: &Terms,
    start: DateTime<Utc>,
    at: DateTime<Utc>,
    available: i64,
) -> Decision {
    if at < terms.free_cancel_until(start) {
        return Decision::NoFee;
    }
    take(terms.late_cancel_fee, available, &terms.currency)
}

/// The no-show fee of a booking starting at `start`, as of `now`: `None` while none is due
/// (before the no-show instant, or checked in strictly before it), else what to take from
/// `available`.
pub fn no_show_fee(
    terms: &Terms,
    start: DateTime<Utc>,
    checked_in_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    available: i64,
) -> Option<Decision> {
    let due_at = terms.no_show_at(start);
    if now < due_at || checked_in_at.is_some_and(|at| at < due_at) {
        return None;
    }
    Some(take(terms.no_show_fee, available, &terms.currency))
}

/// A fee recorded on a booking: decided (the amount the terms gave, after the cap) and either
/// taken or waived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fee {
    pub minor: i64,
    pub waived: Option<Waiver>,
}

/// A fee as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeStatus {
    /// Taken: captured, or kept out of the refund of a paid booking.
    Charged,
    /// Due but not taken (see the reason).
    Waived,
    /// Decided, and its capture is under way (a no-show whose hold is still held).
    Pending,
    /// Decided, but the hold ended before it was captured (it expired at Stripe): nothing
    /// was taken.
    Uncollected,
}

impl FeeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charged => "charged",
            Self::Waived => "waived",
            Self::Pending => "pending",
            Self::Uncollected => "uncollected",
        }
    }
}

impl Fee {
    /// Its status, given the booking's payment status now: a fee to take is charged once the
    /// payment is paid (the capture, or the refund of the rest, happened), pending while the
    /// hold is still held, uncollected if the hold ended otherwise.
    pub fn status(&self, payment_status: PaymentStatus) -> FeeStatus {
        if self.waived.is_some() {
            FeeStatus::Waived
        } else if payment_status.is_paid() {
            FeeStatus::Charged
        } else if payment_status == PaymentStatus::Authorized {
            FeeStatus::Pending
        } else {
            FeeStatus::Uncollected
        }
    }
}

#[cfg(test)]
mod tests;
