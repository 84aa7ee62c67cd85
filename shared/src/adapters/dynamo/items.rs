//! Booking and idempotency items: the mapping between DynamoDB attributes and domain types,
//! and the small attribute helpers every part of the adapter uses.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::payment_update::payment_values;
use crate::domain::slot::{format_stored_time, format_time};
use crate::domain::{
    AfterPayment, AssetId, AssetType, Authorization, Booking, BookingId, BookingStatus,
    CaptureMethod, IdempotencyRecord, IntentId, Money, Payment, PaymentStatus, RefundStatus, Slot,
    UserId,
};
use crate::ports::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn num(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub(super) fn corrupt(field: &str) -> StoreError {
    StoreError::Corrupt(format!("missing or invalid attribute {field}"))
}

pub(super) fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(name))
}

pub(super) fn unavailable<E: std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    // DisplayErrorContext includes the service's code and message, never our request values.
    StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string())
}

pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("could not build request: {err}"))
}

pub(super) fn booking_to_item(b: &Booking) -> Item {
    let mut item = Item::from([
        ("id".into(), s(b.id.to_string())),
        ("asset_id".into(), s(b.asset_id.to_string())),
        ("asset_type".into(), s(b.asset_type.as_str())),
        ("user_id".into(), s(b.user_id.to_string())),
        ("start_time".into(), s(format_time(b.slot.start()))),
        ("end_time".into(), s(format_time(b.slot.end()))),
        ("status".into(), s(b.status.as_str())),
        ("payment_status".into(), s(b.payment_status.as_str())),
        ("created_at".into(), s(format_stored_time(b.created_at))),
        ("updated_at".into(), s(format_stored_time(b.updated_at))),
    ]);
    if let Some(at) = b.cancelled_at {
        item.insert("cancelled_at".into(), s(format_stored_time(at)));
    }
    if let Some(at) = b.hold_expires_at {
        item.insert("hold_expires_at".into(), s(format_stored_time(at)));
    }
    if let Some(price) = &b.price {
        item.insert("price".into(), super::tariffs::price_value(price));
    }
    if let Some(at) = b.checked_in_at {
        item.insert(super::fees::CHECKED_IN_AT.into(), s(format_stored_time(at)));
    }
    if let Some(p) = &b.payment {
        item.extend(
            payment_values(p)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
    }
    item
}

pub(super) fn payment_from_item(item: &Item) -> Result<Option<Payment>, StoreError> {
    let Some(intent_id) = item.get("payment_intent_id") else {
        return Ok(None);
    };
    let opt_str = |name: &str| -> Option<String> { item.get(name)?.as_s().ok().cloned() };
    Ok(Some(Payment {
        intent_id: intent_id
            .as_s()
            .ok()
            .and_then(|id| IntentId::parse(id).ok())
            .ok_or_else(|| corrupt("payment_intent_id"))?,
        amount: Money::parse_minor(
            n(item, "amount_minor").ok_or_else(|| corrupt("amount_minor"))?,
            str_attr(item, "currency")?,
        )
        .map_err(|_| corrupt("amount_minor/currency"))?,
        amount_received_minor: n(item, "amount_received_minor"),
        paid_at: item
            .get("paid_at")
            .map(|_| time_attr(item, "paid_at"))
            .transpose()?,
        failure_reason: opt_str("payment_failure_reason"),
        refund_id: opt_str("refund_id"),
        last_event_at: n(item, "payment_last_event_at"),
        charge_id: opt_str("charge_id"),
        after: AfterPayment {
            amount_refunded_minor: n(item, "amount_refunded_minor").unwrap_or(0),
            refund_status: match opt_str("refund_status") {
                None => None,
                Some(r) => Some(RefundStatus::parse(&r).ok_or_else(|| corrupt("refund_status"))?),
            },
            failed_refunds: opt_str("failed_refunds")
                .map(|ids| ids.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            dispute_status: opt_str("dispute_status"),
            dispute_reason: opt_str("dispute_reason"),
            last_event_at: n(item, "money_last_event_at"),
        },
        capture_method: match opt_str("capture_method") {
            None => CaptureMethod::Automatic,
            Some(m) => CaptureMethod::parse(&m).ok_or_else(|| corrupt("capture_method"))?,
        },
        authorization: match n(item, "amount_authorized_minor") {
            None => None,
            Some(amount_minor) => Some(Authorization {
                amount_minor,
                capture_before: time_attr(item, "capture_before")?,
                from_charge: item
                    .get("capture_before_from_charge")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
            }),
        },
        refunds_owed: match opt_str("refunds_owed") {
            None => Vec::new(),
            Some(ids) => ids
                .split(',')
                .map(|id| IntentId::parse(id).map_err(|_| corrupt("refunds_owed")))
                .collect::<Result<_, _>>()?,
        },
        other_intents: match opt_str(super::other_intents::ATTR) {
            None => Vec::new(),
            Some(text) => super::other_intents::decode(&text)
                .ok_or_else(|| corrupt(super::other_intents::ATTR))?,
        },
        refunds: match item.get(super::refund_list::ATTR) {
            None => Vec::new(),
            Some(value) => super::refund_list::decode(value)
                .ok_or_else(|| corrupt(super::refund_list::ATTR))?,
        },
        refund_refusal: match item.get(super::reconcile::REFUSAL_ATTR) {
            None => None,
            Some(value) => Some(
                super::reconcile::refusal_from(value)
                    .ok_or_else(|| corrupt(super::reconcile::REFUSAL_ATTR))?,
            ),
        },
        cancellation_fee: super::fees::fee_from(item, super::fees::CANCELLATION_FEE)?,
        no_show_fee: super::fees::fee_from(item, super::fees::NO_SHOW_FEE)?,
    }))
}

pub(super) fn time_attr(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    str_attr(item, name)?.parse().map_err(|_| corrupt(name))
}

fn id_attr<T>(
    item: &Item,
    name: &str,
    parse: impl Fn(&str, &str) -> Result<T, crate::domain::DomainError>,
) -> Result<T, StoreError> {
    parse(name, str_attr(item, name)?).map_err(|_| corrupt(name))
}

pub(super) fn booking_from_item(item: &Item) -> Result<Booking, StoreError> {
    let slot = Slot::stored(time_attr(item, "start_time")?, time_attr(item, "end_time")?)
        .map_err(|_| corrupt("start_time/end_time"))?;
    Ok(Booking {
        id: id_attr(item, "id", BookingId::parse)?,
        asset_id: id_attr(item, "asset_id", AssetId::parse)?,
        asset_type: AssetType::parse(str_attr(item, "asset_type")?)
            .map_err(|_| corrupt("asset_type"))?,
        user_id: id_attr(item, "user_id", UserId::parse)?,
        slot,
        status: BookingStatus::parse(str_attr(item, "status")?).ok_or_else(|| corrupt("status"))?,
        payment_status: PaymentStatus::parse(str_attr(item, "payment_status")?)
            .ok_or_else(|| corrupt("payment_status"))?,
        payment: payment_from_item(item)?,
        created_at: time_attr(item, "created_at")?,
        updated_at: time_attr(item, "updated_at")?,
        cancelled_at: item
            .get("cancelled_at")
            .map(|_| time_attr(item, "cancelled_at"))
            .transpose()?,
        hold_expires_at: item
            .get("hold_expires_at")
            .map(|_| time_attr(item, "hold_expires_at"))
            .transpose()?,
        price: item
            .get("price")
            .map(super::tariffs::price_from_value)
            .transpose()?,
        checked_in_at: item
            .get(super::fees::CHECKED_IN_AT)
            .map(|_| time_attr(item, super::fees::CHECKED_IN_AT))
            .transpose()?,
    })
}

pub(super) fn idempotency_to_item(r: &IdempotencyRecord) -> Item {
    Item::from([
        ("pk".into(), s(r.key.clone())),
        ("request_hash".into(), s(r.request_hash.clone())),
        ("status".into(), num(i64::from(r.status))),
        ("body".into(), s(r.body.clone())),
        ("expires_at".into(), num(r.expires_at.timestamp())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NewBooking;

    /// Bookings stored before the 5-minute minimum (issue 13) still read: the minimum is a
    /// rule for new bookings, not for what is stored.
    #[test]
    fn a_booking_stored_before_the_five_minute_minimum_still_reads() {
        let new = NewBooking {
            asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
            asset_type: AssetType::ChargingStation,
            user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
            slot: Slot::new(
                "2026-02-05T23:00:00Z".parse().unwrap(),
                "2026-02-05T23:30:00Z".parse().unwrap(),
            )
            .unwrap(),
        };
        let booking = Booking::new(new, BookingId::generate(), Utc::now());
        let mut item = booking_to_item(&booking);
        item.insert("end_time".into(), s("2026-02-05T23:01:00Z"));
        let read = booking_from_item(&item).expect("a 1-minute booking reads");
        assert_eq!(read.slot.end_ms() - read.slot.start_ms(), 60_000);
        item.insert("end_time".into(), s("2026-02-05T23:00:00Z"));
        assert!(
            booking_from_item(&item).is_err(),
            "an empty slot is corrupt"
        );
    }
}
