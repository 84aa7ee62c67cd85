//! Money after the payment: refunds (ours, the Dashboard's, ones that fail days later) and
//! disputes, as Stripe reports them in `charge.refunded`, `charge.refund.updated` and
//! `charge.dispute.*` events. Pure, so every rule is unit-tested.
//!
//! - `amount_refunded` is the charge's `amount_refunded` as Stripe last reported it; a refund
//!   that fails after it succeeded lowers it by that refund's amount, once (the only way money
//!   refunded comes back).
//! - A paid booking's `payment_status` follows it: `refunded` when everything received was
//!   refunded, `partially_refunded` when some, `completed` when none (again).
//! - Disputes never change `payment_status`: they are shown beside it.
//! - Events of one kind apply in `created` order: an older one than the last applied is
//!   ignored (refund failures aside, which carry their own refund id).

use super::payment::{Payment, PaymentStatus};
use super::refund_log::{self, RefundEntry};

/// A refund's `status`, with Stripe's values (<https://docs.stripe.com/api/refunds/object>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::RequiresAction,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a charge or refund or dispute event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyEvent {
    /// `charge.refunded`: the charge's total refunded so far.
    ChargeRefunded { amount_refunded: i64 },
    /// `charge.refund.updated`, `refund.created|updated|failed`: one refund, as it is now.
    RefundUpdated {
        refund_id: String,
        amount: i64,
        status: RefundStatus,
        /// Stripe's `reason`, when it has one.
        reason: Option<String>,
        /// The refund's `created` (Unix seconds).
        created: Option<i64>,
    },
    /// `charge.dispute.created|updated|closed`.
    Dispute {
        status: String,
        reason: Option<String>,
    },
}

/// The booking's refund and dispute facts, kept with its payment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfterPayment {
    pub amount_refunded_minor: i64,
    pub refund_status: Option<RefundStatus>,
    /// Refunds seen failing, so each lowers `amount_refunded` once.
    pub failed_refunds: Vec<String>,
    pub dispute_status: Option<String>,
    pub dispute_reason: Option<String>,
    /// `created` of the last charge or refund event applied.
    pub last_event_at: Option<i64>,
}

/// The payment status that money refunded so far leaves a paid booking in. Unpaid bookings
/// keep theirs (a refund event cannot make one paid).
pub fn status_after_refunds(current: PaymentStatus, received: i64, refunded: i64) -> PaymentStatus {
    let paid = matches!(
        current,
        PaymentStatus::Completed | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded
    );
    if !paid {
        current
    } else if refunded <= 0 {
        PaymentStatus::Completed
    } else if refunded >= received {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    }
}

/// Records a refund we made, as Stripe returned it (`None` status: not given, taken as
/// `pending`): shown on the payment (`refund_id` is the latest), listed in its `refunds` (the
/// single place a refund we made is recorded), and the money counted as refunded once it
/// succeeded. `partial`: the amount asked for, or `None` for a refund of everything left
/// (Stripe's `amount` omitted), which leaves the whole of what was received refunded whatever
/// was known of earlier refunds. Returns the refund's status.
///
/// A partial refund adds its amount once: recording the same succeeded refund again adds
/// nothing. (A `charge.refunded` event, which carries the charge's absolute
/// `amount_refunded`, corrects the total when it arrives.)
pub fn record_refund(
    payment: &mut Payment,
    refund_id: String,
    partial: Option<i64>,
    status: Option<RefundStatus>,
) -> RefundStatus {
    record(payment, refund_id, partial, status, None)
}

/// [`record_refund`] of the refund an operator request (`mark`) reserved: its reservation
/// becomes the refund (`domain::refund_log::settle`).
pub fn record_operator_refund(
    payment: &mut Payment,
    refund_id: String,
    amount: i64,
    status: Option<RefundStatus>,
    mark: &refund_log::RequestMark,
) -> RefundStatus {
    record(payment, refund_id, Some(amount), status, Some(mark))
}

fn record(
    payment: &mut Payment,
    refund_id: String,
    partial: Option<i64>,
    status: Option<RefundStatus>,
    mark: Option<&refund_log::RequestMark>,
) -> RefundStatus {
    let status = status.unwrap_or(RefundStatus::Pending);
    let succeeded = refund_log::EntryStatus::Stripe(RefundStatus::Succeeded);
    let counted = payment
        .refunds
        .iter()
        .any(|e| e.refund_id.as_deref() == Some(refund_id.as_str()) && e.status == succeeded)
        // Recorded before bookings listed their refunds.
        || (payment.refund_id.as_deref() == Some(refund_id.as_str())
            && payment.after.refund_status == Some(RefundStatus::Succeeded));
    let received = payment.received_minor();
    let listed = match partial {
        Some(amount) => amount.max(0),
        // Everything not refunded yet (ours being recorded aside).
        None => {
            let others: Vec<_> = payment
                .refunds
                .iter()
                .filter(|e| {
                    e.refund_id.as_deref() != Some(refund_id.as_str())
                        && !mark.is_some_and(|m| e.request.as_ref() == Some(m))
                })
                .cloned()
                .collect();
            refund_log::refundable_minor(&others, received, payment.after.amount_refunded_minor)
        }
    };
    let entry = RefundEntry::of_stripe(refund_id, listed, status, None, None);
    record_entry(payment, entry, mark);
    if status == RefundStatus::Succeeded && !counted {
        payment.after.amount_refunded_minor = match partial {
            // The whole remainder came back: the refund covers what was received.
            None => received,
            Some(amount) => payment
                .after
                .amount_refunded_minor
                .saturating_add(amount.max(0))
                .min(received),
        };
    }
    status
}

/// Lists `entry` (a refund Stripe made; `mark`: the operator request it settles) and shows it
/// as the payment's latest refund.
pub fn record_entry(
    payment: &mut Payment,
    entry: RefundEntry,
    mark: Option<&refund_log::RequestMark>,
) {
    let refund_log::EntryStatus::Stripe(status) = entry.status else {
        return;
    };
    payment.refund_id = entry.refund_id.clone();
    payment.after.refund_status = Some(status);
    match mark {
        Some(mark) => refund_log::settle(&mut payment.refunds, mark, entry),
        None => {
            refund_log::upsert(&mut payment.refunds, entry);
        }
    }
}

/// Applies `event` (Stripe `created` = `at`) to the payment; `None` if it changes nothing.
pub fn apply(
    status: PaymentStatus,
    payment: &Payment,
    event: &MoneyEvent,
    at: i64,
) -> Option<(PaymentStatus, Payment)> {
    let mut next = payment.clone();
    let after = &mut next.after;
    let newer = after.last_event_at.is_none_or(|last| at >= last);
    match event {
        MoneyEvent::ChargeRefunded { amount_refunded } => {
            if !newer {
                return None;
            }
            after.amount_refunded_minor = *amount_refunded;
            after.last_event_at = Some(at);
        }
        MoneyEvent::RefundUpdated {
            refund_id,
            amount,
            status: refund,
            reason,
            created,
        } => {
            if newer {
                after.refund_status = Some(*refund);
                after.last_event_at = Some(at);
            }
            if *refund == RefundStatus::Failed && !after.failed_refunds.contains(refund_id) {
                after.failed_refunds.push(refund_id.clone());
                after.amount_refunded_minor = (after.amount_refunded_minor - amount).max(0);
            }
            let created_at = created.and_then(|t| chrono::DateTime::from_timestamp(t, 0));
            let entry = RefundEntry::of_stripe(
                refund_id.clone(),
                *amount,
                *refund,
                reason.clone(),
                created_at,
            );
            if refund_log::upsert(&mut next.refunds, entry) {
                next.refund_id = refund_log::latest_refund_id(&next.refunds).map(str::to_string);
            }
        }
        MoneyEvent::Dispute {
            status: dispute,
            reason,
        } => {
            after.dispute_status = Some(dispute.clone());
            if reason.is_some() {
                after.dispute_reason = reason.clone();
            }
        }
    }
    let new_status = status_after_refunds(
        status,
        next.received_minor(),
        next.after.amount_refunded_minor,
    );
    (next != *payment || new_status != status).then_some((new_status, next))
}

#[cfg(test)]
mod tests;
