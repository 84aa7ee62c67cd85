//! What reconciliation keeps in DynamoDB: its checkpoint and its lease (items in the events
//! table), the refunds it could not make (on the booking), and the index it finds in-flight
//! payments through.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::items::{corrupt, n, num, s, str_attr, time_attr, unavailable};
use super::DynamoStore;
use crate::domain::slot::format_stored_time;
use crate::domain::{BookingId, PaymentStatus};
use crate::ports::{Checkpoint, InFlight, Order, RefundRefusal, StoreError};

/// GSI on the bookings table: every booking by `payment_status`, sorted by `updated_at`. Both
/// are attributes every booking item has and every payment write sets, so the index needs
/// no attribute of its own; it projects `payment_intent_id` and `refunds_owed` to filter on.
pub const PAYMENT_STATUS_INDEX: &str = "payment_status-updated_at-index";

/// The checkpoint's key in the events table (never a Stripe event id, which start `evt_`);
/// it has no `expires_at`, so TTL never deletes it.
pub const CHECKPOINT_KEY: &str = "reconcile#checkpoint";
const CHECKPOINT_ATTR: &str = "created_from";
/// The last event applied by a walk through the list that has not caught up yet.
const AFTER_ATTR: &str = "after_event";

/// The lease that keeps two runs from working at once (in the events table too). Its
/// `expires_at` lets TTL delete a lease a crashed run left, long after it stopped counting.
pub const LEASE_KEY: &str = "reconcile#lease";

/// On the booking item: the owed refunds the provider refused, for an operator. Written by
/// its own update, so no payment write (which sets only the payment's attributes) drops it.
pub(super) const REFUSAL_ATTR: &str = "refund_refusal";

/// The `refund_refusal` map as [`DynamoStore::put_refund_refusal`] writes it; `None` if it is
/// not that.
pub(super) fn refusal_from(value: &AttributeValue) -> Option<RefundRefusal> {
    let map = value.as_m().ok()?;
    let text = |k: &str| map.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(RefundRefusal {
        intent_id: crate::domain::IntentId::parse(&text("payment_intent_id")?).ok()?,
        status: map.get("status")?.as_n().ok()?.parse().ok()?,
        code: text("code"),
        at: text("at")?.parse().ok()?,
    })
}

impl DynamoStore {
    pub(super) async fn read_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.events)
            .key("pk", s(CHECKPOINT_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item
            .map(|item| {
                Ok(Checkpoint {
                    created_from: n(&item, CHECKPOINT_ATTR)
                        .ok_or_else(|| corrupt(CHECKPOINT_ATTR))?,
                    after: item
                        .get(AFTER_ATTR)
                        .map(|v| v.as_s().cloned().map_err(|_| corrupt(AFTER_ATTR)))
                        .transpose()?,
                })
            })
            .transpose()
    }

    /// A conditional put: only over the value this run read (or last wrote), so of two runs
    /// that read the same checkpoint only one moves it.
    pub(super) async fn write_checkpoint(
        &self,
        from: Option<&Checkpoint>,
        to: &Checkpoint,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.events)
            .item("pk", s(CHECKPOINT_KEY))
            .item(CHECKPOINT_ATTR, num(to.created_from))
            .item("updated_at", s(format_stored_time(Utc::now())));
        let put = match &to.after {
            Some(after) => put.item(AFTER_ATTR, s(after.clone())),
            None => put,
        };
        let put = match from {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(from) => {
                let put = put
                    .expression_attribute_names("#c", CHECKPOINT_ATTR)
                    .expression_attribute_names("#a", AFTER_ATTR)
                    .expression_attribute_values(":from", num(from.created_from));
                match &from.after {
                    Some(after) => put
                        .condition_expression("#c = :from AND #a = :after")
                        .expression_attribute_values(":after", s(after.clone())),
                    None => put.condition_expression("#c = :from AND attribute_not_exists(#a)"),
                }
            }
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// A conditional put: free, or held by a run whose lease ended before `now`.
    pub(super) async fn put_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.events)
            .item("pk", s(LEASE_KEY))
            .item("owner", s(owner))
            .item("lease_until", num(until.timestamp_millis()))
            .item(
                "expires_at",
                num((until + chrono::Duration::days(1)).timestamp()),
            )
            .condition_expression("attribute_not_exists(pk) OR lease_until < :now")
            .expression_attribute_values(":now", num(now.timestamp_millis()));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Deletes the lease if `owner` still holds it (a later run that took an expired lease
    /// keeps it).
    pub(super) async fn delete_lease(&self, owner: &str) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.tables.events)
            .key("pk", s(LEASE_KEY))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Sets the booking's `refund_refusal` to the latest refusal (a map), if the booking
    /// exists; nothing else of the item changes.
    pub(super) async fn put_refund_refusal(
        &self,
        id: BookingId,
        refusal: &RefundRefusal,
    ) -> Result<(), StoreError> {
        let mut value = std::collections::HashMap::from([
            (
                "payment_intent_id".to_string(),
                s(refusal.intent_id.as_str()),
            ),
            ("status".to_string(), num(i64::from(refusal.status))),
            ("at".to_string(), s(format_stored_time(refusal.at))),
        ]);
        if let Some(code) = &refusal.code {
            value.insert("code".to_string(), s(code.clone()));
        }
        let updated = self
            .client
            .update_item()
            .table_name(&self.tables.bookings)
            .key("id", s(id.to_string()))
            .update_expression("SET #r = :r")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#r", REFUSAL_ATTR)
            .expression_attribute_values(":r", AttributeValue::M(value))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Pages through the index (its filter runs after DynamoDB's page limit, so a page can
    /// come back short or empty with more to read) until `limit` bookings are found.
    pub(super) async fn query_in_flight(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<InFlight>, StoreError> {
        self.query_status_index(
            status,
            Some("attribute_exists(payment_intent_id)"),
            updated_from,
            updated_to,
            limit,
            Order::NewestFirst,
        )
        .await
    }

    pub(super) async fn query_payment_status(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
        order: Order,
    ) -> Result<Vec<BookingId>, StoreError> {
        let found = self
            .query_status_index(status, None, updated_from, updated_to, limit, order)
            .await?;
        Ok(found.into_iter().map(|b| b.booking_id).collect())
    }

    /// Every status's bookings with refunds owed (the webhook records them on bookings in any
    /// status: a cancelled booking paid anyway, a replaced intent paid).
    pub(super) async fn query_owing_refunds(
        &self,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<BookingId>, StoreError> {
        let mut found = Vec::new();
        for status in PaymentStatus::ALL {
            let left = limit.saturating_sub(found.len());
            if left == 0 {
                break;
            }
            let page = self
                .query_status_index(
                    status,
                    Some("attribute_exists(refunds_owed)"),
                    updated_from,
                    updated_to,
                    left,
                    Order::NewestFirst,
                )
                .await?;
            found.extend(page.into_iter().map(|b| b.booking_id));
        }
        Ok(found)
    }

    async fn query_status_index(
        &self,
        status: PaymentStatus,
        filter: Option<&str>,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
        order: Order,
    ) -> Result<Vec<InFlight>, StoreError> {
        let mut found = Vec::new();
        let mut start_key = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.bookings)
                .index_name(PAYMENT_STATUS_INDEX)
                .key_condition_expression("#ps = :ps AND updated_at BETWEEN :from AND :to")
                .set_filter_expression(filter.map(str::to_string))
                .expression_attribute_names("#ps", "payment_status")
                .expression_attribute_values(":ps", s(status.as_str()))
                .expression_attribute_values(":from", s(format_stored_time(updated_from)))
                .expression_attribute_values(":to", s(format_stored_time(updated_to)))
                .scan_index_forward(order == Order::OldestFirst)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                if found.len() == limit {
                    return Ok(found);
                }
                found.push(InFlight {
                    booking_id: BookingId::parse("id", str_attr(item, "id")?)
                        .map_err(|_| corrupt("id"))?,
                    payment_status: PaymentStatus::parse(str_attr(item, "payment_status")?)
                        .ok_or_else(|| corrupt("payment_status"))?,
                    updated_at: time_attr(item, "updated_at")?,
                });
            }
            start_key = out.last_evaluated_key().cloned();
            if start_key.is_none() || found.len() == limit {
                return Ok(found);
            }
        }
    }
}
