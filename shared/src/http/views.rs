//! Response bodies: a booking as the API shows it.

use serde_json::Value;

use crate::app::bookings::Busy;
use crate::domain::refund_log::RefundEntry;
use crate::domain::slot::{format_stored_time, format_time, Window};
use crate::domain::terms::Fee;
use crate::domain::{AssetId, Booking, Currency, PaymentStatus};

/// An asset's availability: its busy intervals in the window, times as booking times are
/// shown. No booking ids, users or payments.
pub fn availability_json(asset_id: AssetId, window: Window, busy: &[Busy]) -> Value {
    let busy: Vec<Value> = busy
        .iter()
        .map(|b| {
            serde_json::json!({
                "start_time": format_time(b.start),
                "end_time": format_time(b.end),
            })
        })
        .collect();
    serde_json::json!({
        "asset_id": asset_id.to_string(),
        "from": format_time(window.from()),
        "to": format_time(window.to()),
        "busy": busy,
    })
}

pub fn booking_json(b: &Booking) -> Value {
    let mut v = serde_json::json!({
        "id": b.id.to_string(),
        "asset_id": b.asset_id.to_string(),
        "asset_type": b.asset_type.as_str(),
        "user_id": b.user_id.to_string(),
        "start_time": format_time(b.slot.start()),
        "end_time": format_time(b.slot.end()),
        "status": b.status.as_str(),
        "payment_status": b.payment_status.as_str(),
        "created_at": format_stored_time(b.created_at),
        "updated_at": format_stored_time(b.updated_at),
    });
    v["hold_expires_at"] = b
        .shown_hold_expires_at()
        .map_or(Value::Null, |at| Value::String(format_stored_time(at)));
    if let Some(at) = b.cancelled_at {
        v["cancelled_at"] = Value::String(format_stored_time(at));
    }
    if let Some(price) = &b.price {
        v["price"] = super::tariffs::quote_json(price);
    }
    if let Some(at) = b.checked_in_at {
        v["checked_in_at"] = Value::String(format_stored_time(at));
    }
    if let Some(p) = &b.payment {
        v["payment_intent_id"] = Value::String(p.intent_id.to_string());
        v["currency"] = Value::String(p.amount.currency.code.to_string());
        v["amount_minor"] = Value::from(p.amount.minor);
        if let Some(amount) = decimal(&p.amount.decimal()) {
            v["amount"] = amount;
        }
        if let Some(received) = p.amount_received_minor {
            v["amount_received_minor"] = Value::from(received);
            let text = crate::domain::money::format_minor(received, &p.amount.currency);
            if let Some(amount) = decimal(&text) {
                v["amount_received"] = amount;
            }
        }
        v["capture_method"] = Value::String(p.capture_method.as_str().into());
        if let Some(auth) = &p.authorization {
            v["amount_authorized_minor"] = Value::from(auth.amount_minor);
            let text = crate::domain::money::format_minor(auth.amount_minor, &p.amount.currency);
            if let Some(amount) = decimal(&text) {
                v["amount_authorized"] = amount;
            }
            v["capture_before"] = Value::String(format_stored_time(auth.capture_before));
        }
        if let Some(at) = p.paid_at {
            v["paid_at"] = Value::String(format_stored_time(at));
        }
        if let Some(fee) = &p.cancellation_fee {
            v["cancellation_fee"] = fee_json(fee, b.payment_status, &p.amount.currency);
        }
        if let Some(fee) = &p.no_show_fee {
            v["no_show_fee"] = fee_json(fee, b.payment_status, &p.amount.currency);
        }
        if let Some(reason) = &p.failure_reason {
            v["payment_failure_reason"] = Value::String(reason.clone());
        }
        if let Some(refund) = &p.refund_id {
            v["refund_id"] = Value::String(refund.clone());
        }
        let after = &p.after;
        if p.amount_received_minor.is_some() || after.amount_refunded_minor != 0 {
            v["amount_refunded_minor"] = Value::from(after.amount_refunded_minor);
            let text =
                crate::domain::money::format_minor(after.amount_refunded_minor, &p.amount.currency);
            if let Some(amount) = decimal(&text) {
                v["amount_refunded"] = amount;
            }
        }
        v["refunds"] = Value::Array(
            p.refunds
                .iter()
                .map(|r| refund_json(r, &p.amount.currency))
                .collect(),
        );
        if let Some(status) = after.refund_status {
            v["refund_status"] = Value::String(status.as_str().into());
        }
        if let Some(status) = &after.dispute_status {
            v["dispute_status"] = Value::String(status.clone());
        }
        if let Some(reason) = &after.dispute_reason {
            v["dispute_reason"] = Value::String(reason.clone());
        }
        if let Some(refusal) = &p.refund_refusal {
            // Stripe's code, never its message: an operator's to act on, not the caller's.
            let mut shown = serde_json::json!({
                "payment_intent_id": refusal.intent_id.as_str(),
                "at": format_stored_time(refusal.at),
            });
            if let Some(code) = &refusal.code {
                shown["code"] = Value::String(code.clone());
            }
            v["refund_refusal"] = shown;
        }
        if !p.other_intents.is_empty() {
            let issues: Vec<Value> = p
                .other_intents
                .iter()
                .map(|i| {
                    let mut issue = serde_json::json!({
                        "payment_intent_id": i.intent_id.as_str(),
                        "type": i.kind.as_str(),
                        "status": i.status,
                    });
                    if let Some(reason) = &i.reason {
                        issue["reason"] = Value::String(reason.clone());
                    }
                    if let Some(refund) = &i.refund_id {
                        issue["refund_id"] = Value::String(refund.clone());
                    }
                    issue
                })
                .collect();
            v["other_intent_issues"] = Value::Array(issues);
        }
    }
    v
}

/// One of a booking's refunds: `refund_id` is null while it is reserved (Stripe has not
/// answered the operator request that made it).
pub fn refund_json(r: &RefundEntry, currency: &Currency) -> Value {
    serde_json::json!({
        "refund_id": r.refund_id,
        "amount": decimal(&crate::domain::money::format_minor(r.amount_minor, currency)),
        "amount_minor": r.amount_minor,
        "status": r.status.as_str(),
        "reason": r.reason,
        "created_at": r.created_at.map(format_stored_time),
    })
}

/// A fee under the booking's terms: `amount`, `amount_minor`, `currency`, `status`
/// (`charged`, `waived`, `pending`, `uncollected`: `domain::terms::FeeStatus`) and, when
/// waived, `reason`.
fn fee_json(fee: &Fee, payment_status: PaymentStatus, currency: &Currency) -> Value {
    let mut v = serde_json::json!({
        "amount_minor": fee.minor,
        "currency": currency.code,
        "status": fee.status(payment_status).as_str(),
    });
    if let Some(amount) = decimal(&crate::domain::money::format_minor(fee.minor, currency)) {
        v["amount"] = amount;
    }
    if let Some(waiver) = fee.waived {
        v["reason"] = Value::String(waiver.reason(currency));
    }
    v
}

/// An amount as the exact decimal JSON number the client sent (350 usd -> `3.50`), never
/// through a float.
pub(super) fn decimal(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text).ok()
}
