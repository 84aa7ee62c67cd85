//! The slot algorithm. Each slot item holds the intervals of the confirmed bookings of one
//! asset that touch one UTC day, and a `version`. A booking reads the days it touches, checks
//! for overlap, then writes the booking and every day item in ONE transaction conditioned on
//! the versions it read. A racing writer fails its condition and re-reads, so two overlapping
//! bookings can never both commit.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};

use super::items::{
    booking_to_item, build_error, idempotency_to_item, n, num, s, unavailable, Item,
};
use super::payment_update::PaymentUpdate;
use super::DynamoStore;
use crate::domain::slot::format_stored_time;
use crate::domain::{
    AssetId, Booking, BookingId, BookingStatus, IdempotencyRecord, Payment, PaymentStatus,
};
use crate::ports::{Booked, Expected, StoreError};

impl DynamoStore {
    async fn read_days(
        &self,
        asset_id: AssetId,
        days: &[NaiveDate],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        let reads = days.iter().map(|day| {
            self.client
                .get_item()
                .table_name(&self.tables.slots)
                .key("pk", s(slot_key(asset_id, *day)))
                .consistent_read(true)
                .send()
        });
        let results = futures::future::try_join_all(reads)
            .await
            .map_err(unavailable)?;
        Ok(results.into_iter().map(|r| r.item).collect())
    }

    /// Every interval recorded on the asset's day items for `days`, with its booking id.
    pub(super) async fn read_booked(
        &self,
        asset_id: AssetId,
        days: &[NaiveDate],
    ) -> Result<Vec<Booked>, StoreError> {
        let items = self.read_days(asset_id, days).await?;
        Ok(items.iter().flatten().flat_map(booked).collect())
    }

    pub(super) async fn try_create(
        &self,
        booking: &Booking,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<Attempt, StoreError> {
        let days = booking.slot.days();
        let current = self.read_days(booking.asset_id, &days).await?;
        let mut writes = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.tables.bookings)
                    .set_item(Some(booking_to_item(booking)))
                    .condition_expression("attribute_not_exists(id)")
                    .build()
                    .map_err(build_error)?,
            )
            .build()];
        for (day, item) in days.iter().zip(&current) {
            if let Some(item) = item {
                if intervals(item).any(|(start, end)| booking.slot.overlaps(start, end)) {
                    return Ok(Attempt::Failed(StoreError::Overlap));
                }
            }
            let version = item.as_ref().and_then(|i| n(i, "version"));
            let mut update = Update::builder()
                .table_name(&self.tables.slots)
                .key("pk", s(slot_key(booking.asset_id, *day)))
                .update_expression("SET #b = :iv, version = :next")
                .expression_attribute_names("#b", interval_attr(booking.id))
                .expression_attribute_values(":iv", s(interval_value(booking)))
                .expression_attribute_values(":next", num(version.unwrap_or(0) + 1));
            update = match version {
                None => update.condition_expression("attribute_not_exists(version)"),
                Some(v) => update
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", num(v)),
            };
            writes.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(build_error)?)
                    .build(),
            );
        }
        if let Some(record) = idempotency {
            writes.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.idempotency)
                            .set_item(Some(idempotency_to_item(record)))
                            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                            .expression_attribute_values(":now", num(Utc::now().timestamp()))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
        }
        let Some(reasons) = self.transact(writes).await? else {
            return Ok(Attempt::Done);
        };
        // Order of reasons = order of writes: booking, days..., idempotency.
        if idempotency.is_some()
            && reasons.last().map(String::as_str) == Some("ConditionalCheckFailed")
        {
            return Ok(Attempt::Failed(StoreError::IdempotencyKeyTaken));
        }
        if reasons[0] == "ConditionalCheckFailed" {
            // A fresh v4 UUID collided: practically impossible, never silently overwrite.
            return Err(StoreError::Corrupt(format!(
                "booking id {} already exists",
                booking.id
            )));
        }
        Ok(Attempt::Retry)
    }

    pub(super) async fn try_cancel(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
    ) -> Result<bool, StoreError> {
        // Versioned: a dispute or an owed refund recorded since the read is not overwritten
        // (the caller reads again and decides again).
        let expected = Expected {
            status: Some(BookingStatus::Confirmed),
            updated_at: Some(booking.updated_at),
            ..Expected::from_booking(booking)
        };
        let now = now.max(booking.updated_at + chrono::Duration::milliseconds(1));
        let mut update = PaymentUpdate::new(&expected, payment_status, payment, now);
        update.set("#st", "status", s(BookingStatus::Cancelled.as_str()));
        update.set_value("cancelled_at", s(format_stored_time(now)));
        self.end_booking(booking, update).await
    }

    /// Expires `booking` if it is still exactly as read (its `updated_at`, which every write
    /// moves, is the version), freeing its slot in the same transaction.
    pub(super) async fn try_expire(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expected = Expected {
            status: Some(BookingStatus::Confirmed),
            updated_at: Some(booking.updated_at),
            ..Expected::from_booking(booking)
        };
        let at = now.max(booking.updated_at + chrono::Duration::milliseconds(1));
        let mut update = PaymentUpdate::new(&expected, booking.payment_status, None, at);
        update.set("#st", "status", s(BookingStatus::Expired.as_str()));
        self.end_booking(booking, update).await
    }

    /// The booking's update and the removal of its interval from every day it touches.
    async fn end_booking(
        &self,
        booking: &Booking,
        update: PaymentUpdate,
    ) -> Result<bool, StoreError> {
        let mut writes = vec![TransactWriteItem::builder()
            .update(update.build(&self.tables.bookings, booking.id)?)
            .build()];
        // Freeing an interval needs no version check: removing can only make room, and a racing
        // booker that still saw the interval merely gets a conservative 409.
        for day in booking.slot.days() {
            writes.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.tables.slots)
                            .key("pk", s(slot_key(booking.asset_id, day)))
                            .update_expression("REMOVE #b")
                            .condition_expression("attribute_exists(pk)")
                            .expression_attribute_names("#b", interval_attr(booking.id))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
        }
        let Some(reasons) = self.transact(writes).await? else {
            return Ok(true);
        };
        if reasons
            .iter()
            .skip(1)
            .any(|r| r == "ConditionalCheckFailed")
        {
            return Err(StoreError::Corrupt(format!(
                "slot item missing for confirmed booking {}",
                booking.id
            )));
        }
        Ok(false)
    }
}

pub(super) enum Attempt {
    Done,
    Retry,
    Failed(StoreError),
}

fn slot_key(asset_id: AssetId, day: NaiveDate) -> String {
    format!("{asset_id}#{day}")
}

fn interval_attr(booking_id: BookingId) -> String {
    format!("b_{booking_id}")
}

/// `"start_ms/end_ms"`, and `"/hold_ms"` after them when the booking has a hold.
fn interval_value(booking: &Booking) -> String {
    let mut value = format!("{}/{}", booking.slot.start_ms(), booking.slot.end_ms());
    if let Some(hold) = booking.hold_expires_at {
        value.push_str(&format!("/{}", hold.timestamp_millis()));
    }
    value
}

/// The `(start_ms, end_ms)` intervals recorded on a slot item.
fn intervals(item: &Item) -> impl Iterator<Item = (i64, i64)> + '_ {
    item.iter()
        .filter(|(k, _)| k.starts_with("b_"))
        .filter_map(|(_, v)| {
            let mut parts = v.as_s().ok()?.split('/');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
}

/// The bookings recorded on a slot item.
fn booked(item: &Item) -> impl Iterator<Item = Booked> + '_ {
    item.iter().filter_map(|(k, v)| {
        let booking_id = BookingId::parse("booking id", k.strip_prefix("b_")?).ok()?;
        let mut parts = v.as_s().ok()?.split('/');
        Some(Booked {
            booking_id,
            start_ms: parts.next()?.parse().ok()?,
            end_ms: parts.next()?.parse().ok()?,
            hold_expires_ms: match parts.next() {
                None => None,
                Some(hold) => Some(hold.parse().ok()?),
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use uuid::Uuid;

    #[test]
    fn intervals_are_read_from_b_attributes_only() {
        let item = Item::from([
            ("pk".into(), s("x")),
            ("version".into(), num(3)),
            ("b_1".into(), s("10/20")),
            ("b_2".into(), s("30/40")),
        ]);
        let mut got: Vec<_> = intervals(&item).collect();
        got.sort();
        assert_eq!(got, vec![(10, 20), (30, 40)]);
    }

    #[test]
    fn booked_intervals_carry_their_booking_id() {
        let id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let item = Item::from([
            ("pk".into(), s("x")),
            ("version".into(), num(3)),
            (format!("b_{id}"), s("10/20")),
        ]);
        let got: Vec<_> = booked(&item).collect();
        let booking_id = BookingId::parse("id", id).unwrap();
        assert_eq!(
            got,
            vec![Booked {
                booking_id,
                start_ms: 10,
                end_ms: 20,
                hold_expires_ms: None
            }]
        );
        let held = Item::from([(format!("b_{id}"), s("10/20/5"))]);
        assert_eq!(booked(&held).next().unwrap().hold_expires_ms, Some(5));
        assert_eq!(intervals(&held).collect::<Vec<_>>(), vec![(10, 20)]);
    }

    /// DynamoDB's item size: attribute name bytes plus value bytes, a number counting at most
    /// 21 bytes (half its significant digits, rounded up, plus one).
    fn item_size(item: &Item) -> usize {
        item.iter()
            .map(|(k, v)| {
                k.len()
                    + match v {
                        AttributeValue::S(s) => s.len(),
                        AttributeValue::N(n) => (n.len().div_ceil(2) + 1).min(21),
                        other => panic!("unexpected {other:?}"),
                    }
            })
            .sum()
    }

    /// README, "Bounded slot items": 289 bookings at most touch one day (5-minute minimum),
    /// every id and time at its longest, the version as large as a number gets.
    #[test]
    fn the_largest_day_item_the_rules_allow_is_22908_bytes() {
        use crate::domain::slot::MIN_BOOKING;
        let asset = AssetId::parse("asset_id", &Uuid::new_v4().to_string()).unwrap();
        let day: NaiveDate = "2099-12-31".parse().unwrap();
        let midnight = day
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let min = MIN_BOOKING.num_milliseconds();
        let mut item = Item::from([
            ("pk".into(), s(slot_key(asset, day))),
            ("version".into(), num(i64::MAX)),
        ]);
        // One across each midnight by a millisecond, and 287 in between.
        let mut start = midnight + 1 - min;
        for _ in 0..289 {
            let id = BookingId::parse("id", &Uuid::new_v4().to_string()).unwrap();
            // With its hold (13 digits, like every time from 2001 to 2286).
            let hold = start - 1;
            item.insert(
                interval_attr(id),
                s(format!("{start}/{}/{hold}", start + min)),
            );
            start += min;
        }
        assert!(
            start - min < midnight + 86_400_000,
            "the last one touches the day"
        );
        assert_eq!(intervals(&item).count(), 289);
        assert!(item_size(&item) <= 22_908, "{}", item_size(&item));
        assert!(item_size(&item) >= 22_908 - 21, "{}", item_size(&item));
    }
}
