//! A booking's terms on its item: the fees (`domain::terms::Fee`) as maps, and the check-in.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::items::{corrupt, n, num, s, unavailable, Item};
use super::DynamoStore;
use crate::domain::slot::format_stored_time;
use crate::domain::terms::{Fee, Waiver};
use crate::domain::{Booking, BookingStatus};
use crate::ports::StoreError;

pub(super) const CANCELLATION_FEE: &str = "cancellation_fee";
pub(super) const NO_SHOW_FEE: &str = "no_show_fee";
pub(super) const CHECKED_IN_AT: &str = "checked_in_at";

/// `{minor, waived?, min_minor?}`: `waived` is the waiver's code.
pub(super) fn fee_value(fee: &Fee) -> AttributeValue {
    let mut map = Item::from([("minor".to_string(), num(fee.minor))]);
    if let Some(Waiver::BelowMinimum { min_minor }) = fee.waived {
        map.insert(
            "waived".into(),
            s(Waiver::BelowMinimum { min_minor }.code()),
        );
        map.insert("min_minor".into(), num(min_minor));
    }
    AttributeValue::M(map)
}

pub(super) fn fee_from(item: &Item, attr: &str) -> Result<Option<Fee>, StoreError> {
    let Some(value) = item.get(attr) else {
        return Ok(None);
    };
    let map = value.as_m().map_err(|_| corrupt(attr))?;
    let minor = n(map, "minor").ok_or_else(|| corrupt(attr))?;
    let waived = match map.get("waived").and_then(|w| w.as_s().ok()) {
        None => None,
        Some(code) if code == "below_minimum_charge" => Some(Waiver::BelowMinimum {
            min_minor: n(map, "min_minor").ok_or_else(|| corrupt(attr))?,
        }),
        Some(_) => return Err(corrupt(attr)),
    };
    Ok(Some(Fee { minor, waived }))
}

impl DynamoStore {
    /// One conditional UpdateItem: confirmed, unchanged since read, not checked in, no
    /// no-show decided.
    pub(super) async fn try_check_in(
        &self,
        booking: &Booking,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = at.max(booking.updated_at + chrono::Duration::milliseconds(1));
        let updated = self
            .client
            .update_item()
            .table_name(&self.tables.bookings)
            .key("id", s(booking.id.to_string()))
            .update_expression("SET #c = :at, updated_at = :now")
            .condition_expression(
                "attribute_exists(id) AND #st = :confirmed AND updated_at = :read \
                 AND attribute_not_exists(#c) AND attribute_not_exists(#ns)",
            )
            .expression_attribute_names("#c", CHECKED_IN_AT)
            .expression_attribute_names("#ns", NO_SHOW_FEE)
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":at", s(format_stored_time(at)))
            .expression_attribute_values(":now", s(format_stored_time(now)))
            .expression_attribute_values(":read", s(format_stored_time(booking.updated_at)))
            .expression_attribute_values(":confirmed", s(BookingStatus::Confirmed.as_str()))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_trip() {
        for fee in [
            Fee {
                minor: 100,
                waived: None,
            },
            Fee {
                minor: 30,
                waived: Some(Waiver::BelowMinimum { min_minor: 50 }),
            },
        ] {
            let item = Item::from([(NO_SHOW_FEE.to_string(), fee_value(&fee))]);
            assert_eq!(fee_from(&item, NO_SHOW_FEE).unwrap(), Some(fee));
        }
        assert_eq!(fee_from(&Item::new(), NO_SHOW_FEE).unwrap(), None);
        let bad = Item::from([(NO_SHOW_FEE.to_string(), s("100"))]);
        assert!(fee_from(&bad, NO_SHOW_FEE).is_err());
    }
}
