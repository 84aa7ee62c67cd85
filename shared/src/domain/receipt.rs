//! A booking's receipt: what was charged, line by line, what was paid, each refund, and the
//! totals, in the payment's currency. Pure, so that the lines adding up is tested over every
//! shape a booking can have.
//!
//! - Charge lines say what the money received was for: the booking's price line items when a
//!   tariff priced it (in the payment's currency), else one `booking` line; then each fee
//!   (`Fee`: the terms' `cancellation_fee` and `no_show_fee` are passed in by the caller);
//!   and, when what was received differs from those (an EV session captured by energy, part
//!   of a hold captured), an `adjustment` line of the difference. So the charge lines always
//!   add up to what was received: `total_charged`.
//! - Refund lines are negative: each listed refund that is not failed or cancelled (pending
//!   ones with their status), and one line without a `refund_id` for what Stripe reports
//!   refunded beyond them (a Dashboard refund known only as a total). Reserved operator
//!   refunds are not lines: Stripe has not made them (yet). They add up to `-total_refunded`.
//! - `total` = `total_charged` - `total_refunded` = the sum of every line, in minor units.
//! - No receipt before money moved: a booking whose payment was never captured has none.

use chrono::{DateTime, Utc};

use super::money::Currency;
use super::refund_log::{self, EntryStatus};
use super::tariff::LineType;
use super::terms::FeeStatus;
use super::{Booking, CaptureMethod, IntentId};

/// What a charge line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeKind {
    /// A line of the booking's price (a tariff's).
    Price(LineType),
    /// The booking, when no tariff priced it.
    Booking,
    /// A fee of the booking's terms.
    Fee(FeeKind),
    /// What was received beyond (or short of) the lines above.
    Adjustment,
}

impl ChargeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price(kind) => kind.as_str(),
            Self::Booking => "booking",
            Self::Fee(fee) => fee.as_str(),
            Self::Adjustment => "adjustment",
        }
    }
}

/// The fees a booking's terms can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeKind {
    CancellationFee,
    NoShowFee,
}

impl FeeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CancellationFee => "cancellation_fee",
            Self::NoShowFee => "no_show_fee",
        }
    }
}

/// A fee taken, in minor units of the payment's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fee {
    pub kind: FeeKind,
    pub minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeLine {
    pub kind: ChargeKind,
    pub minor: i64,
}

/// A refund line: `minor` is negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundLine {
    /// `None`: refunded at Stripe beyond the refunds listed.
    pub refund_id: Option<String>,
    pub minor: i64,
    pub status: Option<EntryStatus>,
    pub reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// The money received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentLine {
    pub intent_id: IntentId,
    pub minor: i64,
    pub paid_at: Option<DateTime<Utc>>,
    pub capture_method: CaptureMethod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub currency: Currency,
    pub charges: Vec<ChargeLine>,
    pub payments: Vec<PaymentLine>,
    pub refunds: Vec<RefundLine>,
    pub total_charged: i64,
    pub total_refunded: i64,
    pub total: i64,
}

/// The fees the booking's terms took from its payment (`cancellation_fee`, `no_show_fee`),
/// those charged only: a waived fee took nothing, and a pending or uncollected one nothing yet.
pub fn taken_fees(booking: &Booking) -> Vec<Fee> {
    let Some(payment) = &booking.payment else {
        return Vec::new();
    };
    [
        (FeeKind::CancellationFee, payment.cancellation_fee),
        (FeeKind::NoShowFee, payment.no_show_fee),
    ]
    .into_iter()
    .filter_map(|(kind, fee)| {
        fee.filter(|f| f.status(booking.payment_status) == FeeStatus::Charged)
            .map(|f| Fee {
                kind,
                minor: f.minor,
            })
    })
    .collect()
}

/// The booking's receipt, with these fees; `None` before any money moved (nothing captured).
pub fn receipt(booking: &Booking, fees: &[Fee]) -> Option<Receipt> {
    let payment = booking.payment.as_ref()?;
    if !booking.payment_status.is_paid() {
        return None;
    }
    let currency = payment.amount.currency;
    let received = payment.received_minor();
    let mut charges: Vec<ChargeLine> = match &booking.price {
        Some(price) if price.tariff.tariff.currency.code == currency.code => price
            .lines
            .iter()
            .map(|l| ChargeLine {
                kind: ChargeKind::Price(l.kind),
                minor: l.minor,
            })
            .collect(),
        _ => Vec::new(),
    };
    let fee_total: i64 = fees.iter().map(|f| f.minor).sum();
    if charges.is_empty() {
        charges.push(ChargeLine {
            kind: ChargeKind::Booking,
            minor: received - fee_total,
        });
    }
    charges.extend(fees.iter().map(|f| ChargeLine {
        kind: ChargeKind::Fee(f.kind),
        minor: f.minor,
    }));
    let listed: i64 = charges.iter().map(|c| c.minor).sum();
    if listed != received {
        charges.push(ChargeLine {
            kind: ChargeKind::Adjustment,
            minor: received - listed,
        });
    }
    let mut refunds: Vec<RefundLine> = payment
        .refunds
        .iter()
        .filter(|e| e.refund_id.is_some() && e.status.counts())
        .map(|e| RefundLine {
            refund_id: e.refund_id.clone(),
            minor: -e.amount_minor,
            status: Some(e.status),
            reason: e.reason.clone(),
            created_at: e.created_at,
        })
        .collect();
    let unitemised = refund_log::unitemised_minor(
        &payment
            .refunds
            .iter()
            .filter(|e| e.status != EntryStatus::Reserved)
            .cloned()
            .collect::<Vec<_>>(),
        payment.after.amount_refunded_minor,
    );
    if unitemised > 0 {
        refunds.push(RefundLine {
            refund_id: None,
            minor: -unitemised,
            status: None,
            reason: None,
            created_at: None,
        });
    }
    let total_refunded = -refunds.iter().map(|r| r.minor).sum::<i64>();
    Some(Receipt {
        currency,
        charges,
        payments: vec![PaymentLine {
            intent_id: payment.intent_id.clone(),
            minor: received,
            paid_at: payment.paid_at,
            capture_method: payment.capture_method,
        }],
        refunds,
        total_charged: received,
        total_refunded,
        total: received - total_refunded,
    })
}

#[cfg(test)]
mod tests;
