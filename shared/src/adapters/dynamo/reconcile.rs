//! What reconciliation keeps in DynamoDB: its checkpoint (one item in the events table), and
//! the index it finds in-flight payments through.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use chrono::{DateTime, Utc};

use super::items::{corrupt, n, num, s, str_attr, time_attr, unavailable};
use super::DynamoStore;
use crate::domain::slot::format_stored_time;
use crate::domain::{BookingId, PaymentStatus};
use crate::ports::{InFlight, Order, StoreError};

/// GSI on the bookings table: every booking by `payment_status`, sorted by `updated_at`. Both
/// are attributes every booking item has and every payment write sets, so the index needs
/// no attribute of its own; it projects `payment_intent_id` and `refunds_owed` to filter on.
pub const PAYMENT_STATUS_INDEX: &str = "payment_status-updated_at-index";

/// The checkpoint's key in the events table (never a Stripe event id, which start `evt_`);
/// it has no `expires_at`, so TTL never deletes it.
pub const CHECKPOINT_KEY: &str = "reconcile#checkpoint";
const CHECKPOINT_ATTR: &str = "created_from";

impl DynamoStore {
    pub(super) async fn read_checkpoint(&self) -> Result<Option<i64>, StoreError> {
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
            .map(|item| n(&item, CHECKPOINT_ATTR).ok_or_else(|| corrupt(CHECKPOINT_ATTR)))
            .transpose()
    }

    /// A conditional put: only over the value this run read, so of two runs that read the
    /// same checkpoint only one moves it.
    pub(super) async fn write_checkpoint(
        &self,
        from: Option<i64>,
        to: i64,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.events)
            .item("pk", s(CHECKPOINT_KEY))
            .item(CHECKPOINT_ATTR, num(to))
            .item("updated_at", s(format_stored_time(Utc::now())));
        let put = match from {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(from) => put
                .condition_expression("#c = :from")
                .expression_attribute_names("#c", CHECKPOINT_ATTR)
                .expression_attribute_values(":from", num(from)),
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
