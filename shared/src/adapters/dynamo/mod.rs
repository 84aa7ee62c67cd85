//! DynamoDB adapter for the `BookingStore` port.
//!
//! No double booking is enforced by optimistic concurrency on per-asset, per-UTC-day "slot"
//! items (`slots`). Payment writes are conditional updates of the booking item
//! (`payment_update`), applied with an event record in one transaction (`transact`). Items
//! are mapped to and from domain types in `items`; list cursors in `cursor`.

mod cursor;
mod fees;
mod items;
mod other_intents;
mod payment_update;
mod reconcile;
mod refund_list;
mod slots;
mod tariffs;
mod transact;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{
    AssetId, Booking, BookingId, IdempotencyRecord, IntentId, Payment, PaymentStatus, UserId,
};
use crate::ports::{
    Booked, BookingStore, Checkpoint, EventWrite, Expected, Page, PaymentWrite, ProcessedEvent,
    RefundRefusal, StoreError,
};
use crate::runtime::config::Tables;
use cursor::{decode_cursor, encode_cursor};
use items::{booking_from_item, build_error, corrupt, n, num, s, str_attr, unavailable};
use payment_update::{event_update, PaymentUpdate};
use slots::Attempt;
use transact::backoff;

/// GSI on the bookings table listing a user's bookings by creation time.
pub const USER_INDEX: &str = "user_id-created_at-index";
pub use reconcile::{CHECKPOINT_KEY, PAYMENT_STATUS_INDEX};

/// Lookup items in the events table: `ref#<pi_...|ch_...>` -> booking id. Stripe's charge,
/// refund and dispute events name the intent or the charge, not the booking. Written in the
/// transaction that attaches an intent and in the one that applies its success; read with a
/// strongly consistent GetItem (an item, not an index: no second GSI on the bookings table,
/// and never a Scan).
fn ref_key(stripe_id: &str) -> String {
    format!("ref#{stripe_id}")
}

fn ref_put(table: &str, stripe_id: &str, booking_id: BookingId) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .item("pk", s(ref_key(stripe_id)))
        .item("booking_id", s(booking_id.to_string()))
        .build()
        .map_err(build_error)
}
/// Attempts at an optimistic write before answering "busy, retry".
const MAX_ATTEMPTS: u32 = 12;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    /// The client as Lambda builds it: region, credentials and `AWS_ENDPOINT_URL_DYNAMODB`
    /// all come from the environment.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(aws), Tables::from_env())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl BookingStore for DynamoStore {
    async fn create_booking(
        &self,
        booking: &Booking,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            match self.try_create(booking, idempotency).await? {
                Attempt::Done => return Ok(()),
                Attempt::Failed(err) => return Err(err),
                Attempt::Retry => backoff(attempt).await,
            }
        }
        Err(StoreError::Contention)
    }

    async fn get_booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.bookings)
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(booking_from_item).transpose()
    }

    async fn list_user_bookings(
        &self,
        user_id: UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Option<Page>, StoreError> {
        let start_key = match cursor {
            None => None,
            Some(c) => match decode_cursor(c, user_id) {
                Some(key) => Some(key),
                None => return Ok(None),
            },
        };
        let out = self
            .client
            .query()
            .table_name(&self.tables.bookings)
            .index_name(USER_INDEX)
            .key_condition_expression("user_id = :u")
            .expression_attribute_values(":u", s(user_id.to_string()))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(unavailable)?;
        let items = out
            .items()
            .iter()
            .map(booking_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = out.last_evaluated_key().map(encode_cursor);
        Ok(Some(Page { items, next_cursor }))
    }

    async fn booked_on_days(
        &self,
        asset_id: AssetId,
        days: &[NaiveDate],
    ) -> Result<Vec<Booked>, StoreError> {
        self.read_booked(asset_id, days).await
    }

    async fn expire_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.try_expire(booking, now).await
    }

    async fn cancel_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
    ) -> Result<bool, StoreError> {
        self.try_cancel(booking, now, payment_status, payment).await
    }

    async fn check_in(&self, booking: &Booking, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.try_check_in(booking, at).await
    }

    async fn update_payment(
        &self,
        booking_id: BookingId,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let update = PaymentUpdate::new(expected, payment_status, Some(payment), now)
            .build(&self.tables.bookings, booking_id)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        if expected.intent_id.as_ref() != Some(&payment.intent_id) {
            // A newly attached intent: its lookup item, in the same transaction.
            let lookup = ref_put(&self.tables.events, payment.intent_id.as_str(), booking_id)?;
            writes.push(TransactWriteItem::builder().put(lookup).build());
        }
        match self.transact(writes).await? {
            None => Ok(PaymentWrite::Written),
            // A failed booking condition, or a racing transaction: decide again.
            Some(_) => Ok(PaymentWrite::Conflict),
        }
    }

    async fn apply_event(
        &self,
        booking_id: BookingId,
        write: &EventWrite<'_>,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let update = event_update(&self.tables.bookings, booking_id, write, now)?;
        // The succeeded intent's charge gets its lookup item in the same transaction.
        self.transact_with_event(update, booking_id, write.event, write.charge_id)
            .await
    }

    async fn update_payment_with_event(
        &self,
        booking_id: BookingId,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        event: &ProcessedEvent,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let update = PaymentUpdate::new(expected, payment_status, Some(payment), now)
            .build(&self.tables.bookings, booking_id)?;
        self.transact_with_event(update, booking_id, event, payment.charge_id.as_deref())
            .await
    }

    async fn find_booking_by_payment(
        &self,
        intent_id: Option<&IntentId>,
        charge_id: Option<&str>,
    ) -> Result<Option<BookingId>, StoreError> {
        for stripe_id in [intent_id.map(IntentId::as_str), charge_id]
            .into_iter()
            .flatten()
        {
            let out = self
                .client
                .get_item()
                .table_name(&self.tables.events)
                .key("pk", s(ref_key(stripe_id)))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(item) = out.item {
                let id = str_attr(&item, "booking_id")?;
                return BookingId::parse("booking_id", id)
                    .map(Some)
                    .map_err(|_| corrupt("booking_id"));
            }
        }
        Ok(None)
    }

    async fn event_processed(&self, event_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.events)
            .key("pk", s(event_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.is_some())
    }

    async fn get_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key("pk", s(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record = IdempotencyRecord {
            key: key.to_string(),
            request_hash: str_attr(&item, "request_hash")?.to_string(),
            status: n(&item, "status")
                .and_then(|v| u16::try_from(v).ok())
                .ok_or_else(|| corrupt("status"))?,
            body: str_attr(&item, "body")?.to_string(),
            expires_at: n(&item, "expires_at")
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .ok_or_else(|| corrupt("expires_at"))?,
        };
        // DynamoDB's TTL deletes lazily (up to days late): expired records must not replay.
        Ok(record.is_live(Utc::now()).then_some(record))
    }

    async fn reconcile_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.read_checkpoint().await
    }

    async fn move_reconcile_checkpoint(
        &self,
        from: Option<&Checkpoint>,
        to: &Checkpoint,
    ) -> Result<bool, StoreError> {
        self.write_checkpoint(from, to).await
    }

    async fn take_reconcile_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.put_lease(owner, now, until).await
    }

    async fn release_reconcile_lease(&self, owner: &str) -> Result<(), StoreError> {
        self.delete_lease(owner).await
    }

    async fn record_refund_refusal(
        &self,
        id: BookingId,
        refusal: &RefundRefusal,
    ) -> Result<(), StoreError> {
        self.put_refund_refusal(id, refusal).await
    }

    async fn in_flight_payments(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<crate::ports::InFlight>, StoreError> {
        self.query_in_flight(status, updated_from, updated_to, limit)
            .await
    }

    async fn bookings_in_payment_status(
        &self,
        status: PaymentStatus,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
        order: crate::ports::Order,
    ) -> Result<Vec<BookingId>, StoreError> {
        self.query_payment_status(status, updated_from, updated_to, limit, order)
            .await
    }

    async fn bookings_owing_refunds(
        &self,
        updated_from: DateTime<Utc>,
        updated_to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<BookingId>, StoreError> {
        self.query_owing_refunds(updated_from, updated_to, limit)
            .await
    }
}

impl DynamoStore {
    /// One event applied: the booking's `update`, the event's record (refused if recorded
    /// already: `Duplicate`) and, for a charge, its lookup item, in one transaction.
    async fn transact_with_event(
        &self,
        update: Update,
        booking_id: BookingId,
        event: &ProcessedEvent,
        charge_id: Option<&str>,
    ) -> Result<PaymentWrite, StoreError> {
        let mut writes = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder()
                .put(event_record(&self.tables.events, booking_id, event)?)
                .build(),
        ];
        if let Some(charge) = charge_id {
            let lookup = ref_put(&self.tables.events, charge, booking_id)?;
            writes.push(TransactWriteItem::builder().put(lookup).build());
        }
        let Some(reasons) = self.transact(writes).await? else {
            return Ok(PaymentWrite::Written);
        };
        if reasons.get(1).map(String::as_str) == Some("ConditionalCheckFailed") {
            return Ok(PaymentWrite::Duplicate);
        }
        // The booking's condition refused, or a racing transaction: the caller reads and
        // decides.
        Ok(PaymentWrite::Conflict)
    }
}

/// The "event processed" record, written in the transaction that applies the event.
fn event_record(
    table: &str,
    booking_id: BookingId,
    event: &ProcessedEvent,
) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .item("pk", s(event.event_id.clone()))
        .item("expires_at", num(event.expires_at.timestamp()))
        .item("booking_id", s(booking_id.to_string()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_error)
}
