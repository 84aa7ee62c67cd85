//! DynamoDB adapter for `BookingStore`.
//!
//! No double booking is enforced by optimistic concurrency on per-asset, per-UTC-day "slot"
//! items: each holds the intervals of the confirmed bookings that touch that day and a
//! `version`. A booking reads the days it touches, checks for overlap, then writes the booking
//! and every day item in ONE transaction conditioned on the versions it read. A racing writer
//! fails its condition and re-reads, so two overlapping bookings can never both commit.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::config::Tables;
use crate::domain::{
    format_stored_time, format_time, AssetType, Booking, BookingStatus, Payment, PaymentStatus,
    Slot,
};
use crate::idempotency::IdempotencyRecord;
use crate::store::{BookingStore, Expected, Page, PaymentWrite, ProcessedEvent, StoreError};

/// GSI on the bookings table listing a user's bookings by creation time.
pub const USER_INDEX: &str = "user_id-created_at-index";
/// Attempts at an optimistic write before answering "busy, retry".
const MAX_ATTEMPTS: u32 = 12;

type Item = HashMap<String, AttributeValue>;

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

    /// Runs one transaction. `Ok(None)`: committed. `Ok(Some(reasons))`: cancelled, with one
    /// cancellation code per write, in the order of `writes` (a conflicting in-flight
    /// transaction counts as cancelled: safe to decide again). `Err`: DynamoDB failed.
    async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(err) => {
                let reasons = cancellation_codes(&err);
                if reasons.is_empty() {
                    Err(unavailable(err))
                } else {
                    Ok(Some(reasons))
                }
            }
        }
    }

    async fn read_days(
        &self,
        asset_id: Uuid,
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

    async fn try_create(
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
                .expression_attribute_values(
                    ":iv",
                    s(format!(
                        "{}/{}",
                        booking.slot.start_ms(),
                        booking.slot.end_ms()
                    )),
                )
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

    async fn try_cancel(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
    ) -> Result<bool, StoreError> {
        let expected = Expected {
            status: Some(BookingStatus::Confirmed),
            ..Expected::from_booking(booking)
        };
        let mut update = PaymentUpdate::new(&expected, payment_status, payment, now);
        update.set("#st", "status", s(BookingStatus::Cancelled.as_str()));
        update.set_value("cancelled_at", s(format_stored_time(now)));
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

/// The payment attributes of a booking item, in one place for writes and reads.
const PAYMENT_ATTRS: [&str; 8] = [
    "payment_intent_id",
    "amount_minor",
    "currency",
    "amount_received_minor",
    "paid_at",
    "payment_failure_reason",
    "refund_id",
    "payment_last_event_at",
];

fn payment_values(p: &Payment) -> Vec<(&'static str, AttributeValue)> {
    let mut v = vec![
        ("payment_intent_id", s(p.intent_id.clone())),
        ("amount_minor", num(p.amount_minor)),
        ("currency", s(p.currency.clone())),
    ];
    if let Some(x) = p.amount_received_minor {
        v.push(("amount_received_minor", num(x)));
    }
    if let Some(x) = p.paid_at {
        v.push(("paid_at", s(format_stored_time(x))));
    }
    if let Some(x) = &p.failure_reason {
        v.push(("payment_failure_reason", s(x.clone())));
    }
    if let Some(x) = &p.refund_id {
        v.push(("refund_id", s(x.clone())));
    }
    if let Some(x) = p.last_event_at {
        v.push(("payment_last_event_at", num(x)));
    }
    v
}

/// An UpdateItem on a booking that rewrites its payment, conditioned on `Expected`.
struct PaymentUpdate {
    sets: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl PaymentUpdate {
    fn new(
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut u = Self {
            sets: Vec::new(),
            removes: Vec::new(),
            conditions: vec!["attribute_exists(id)".into(), "#ps = :expected_ps".into()],
            names: HashMap::from([("#ps".into(), "payment_status".into())]),
            values: HashMap::from([(":expected_ps".into(), s(expected.payment_status.as_str()))]),
        };
        match &expected.intent_id {
            None => u
                .conditions
                .push("attribute_not_exists(payment_intent_id)".into()),
            Some(id) => {
                u.conditions.push("payment_intent_id = :expected_pi".into());
                u.values.insert(":expected_pi".into(), s(id.clone()));
            }
        }
        if let Some(status) = expected.status {
            u.conditions.push("#st = :expected_st".into());
            u.names.insert("#st".into(), "status".into());
            u.values.insert(":expected_st".into(), s(status.as_str()));
        }
        u.set("#ps", "payment_status", s(payment_status.as_str()));
        u.set_value("updated_at", s(format_stored_time(now)));
        let given = payment.map(payment_values).unwrap_or_default();
        for attr in PAYMENT_ATTRS {
            match given.iter().find(|(name, _)| *name == attr) {
                Some((_, value)) => u.set_value(attr, value.clone()),
                None if payment.is_some() => u.removes.push(attr.to_string()),
                None => {}
            }
        }
        u
    }

    fn set(&mut self, placeholder: &str, name: &str, value: AttributeValue) {
        let value_ph = format!(":v_{}", name);
        self.names.insert(placeholder.into(), name.into());
        self.sets.push(format!("{placeholder} = {value_ph}"));
        self.values.insert(value_ph, value);
    }

    fn set_value(&mut self, name: &str, value: AttributeValue) {
        let value_ph = format!(":v_{}", name);
        self.sets.push(format!("{name} = {value_ph}"));
        self.values.insert(value_ph, value);
    }

    fn build(self, table: &str, id: Uuid) -> Result<Update, StoreError> {
        let mut expr = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        Update::builder()
            .table_name(table)
            .key("id", s(id.to_string()))
            .update_expression(expr)
            .condition_expression(self.conditions.join(" AND "))
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .build()
            .map_err(build_error)
    }
}

enum Attempt {
    Done,
    Retry,
    Failed(StoreError),
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

    async fn get_booking(&self, id: Uuid) -> Result<Option<Booking>, StoreError> {
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
        user_id: Uuid,
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

    async fn cancel_booking(
        &self,
        booking: &Booking,
        now: DateTime<Utc>,
        payment_status: PaymentStatus,
        payment: Option<&Payment>,
    ) -> Result<bool, StoreError> {
        self.try_cancel(booking, now, payment_status, payment).await
    }

    async fn update_payment(
        &self,
        booking_id: Uuid,
        expected: &Expected,
        payment_status: PaymentStatus,
        payment: &Payment,
        event: Option<&ProcessedEvent>,
        now: DateTime<Utc>,
    ) -> Result<PaymentWrite, StoreError> {
        let update = PaymentUpdate::new(expected, payment_status, Some(payment), now)
            .build(&self.tables.bookings, booking_id)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(event) = event {
            writes.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.events)
                            .item("pk", s(event.event_id.clone()))
                            .item("expires_at", num(event.expires_at.timestamp()))
                            .item("booking_id", s(booking_id.to_string()))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
        }
        let Some(reasons) = self.transact(writes).await? else {
            return Ok(PaymentWrite::Written);
        };
        if event.is_some() && reasons.get(1).map(String::as_str) == Some("ConditionalCheckFailed") {
            return Ok(PaymentWrite::Duplicate);
        }
        // A failed booking condition, or a racing transaction: decide again.
        Ok(PaymentWrite::Conflict)
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
}

async fn backoff(attempt: u32) {
    let base = 5u64 << attempt.min(5);
    let jitter = (Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    tokio::time::sleep(StdDuration::from_millis(base + jitter)).await;
}

fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_string())
            .collect(),
        // A conflicting in-flight transaction: safe to retry like a failed condition.
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
            vec!["TransactionConflict".into()]
        }
        _ => Vec::new(),
    }
}

fn slot_key(asset_id: Uuid, day: NaiveDate) -> String {
    format!("{asset_id}#{day}")
}

fn interval_attr(booking_id: Uuid) -> String {
    format!("b_{booking_id}")
}

/// The `(start_ms, end_ms)` intervals recorded on a slot item.
fn intervals(item: &Item) -> impl Iterator<Item = (i64, i64)> + '_ {
    item.iter()
        .filter(|(k, _)| k.starts_with("b_"))
        .filter_map(|(_, v)| {
            let (start, end) = v.as_s().ok()?.split_once('/')?;
            Some((start.parse().ok()?, end.parse().ok()?))
        })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn num(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn corrupt(field: &str) -> StoreError {
    StoreError::Corrupt(format!("missing or invalid attribute {field}"))
}

fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(name))
}

fn unavailable<E: std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    // DisplayErrorContext includes the service's code and message, never our request values.
    StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string())
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("could not build request: {err}"))
}

fn booking_to_item(b: &Booking) -> Item {
    let mut item = Item::from([
        ("id".into(), s(b.id.to_string())),
        ("asset_id".into(), s(b.asset_id.to_string())),
        ("asset_type".into(), s(b.asset_type.as_str())),
        ("user_id".into(), s(b.user_id.to_string())),
        ("start_time".into(), s(format_time(b.slot.start))),
        ("end_time".into(), s(format_time(b.slot.end))),
        ("status".into(), s(b.status.as_str())),
        ("payment_status".into(), s(b.payment_status.as_str())),
        ("created_at".into(), s(format_stored_time(b.created_at))),
        ("updated_at".into(), s(format_stored_time(b.updated_at))),
    ]);
    if let Some(at) = b.cancelled_at {
        item.insert("cancelled_at".into(), s(format_stored_time(at)));
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

fn payment_from_item(item: &Item) -> Result<Option<Payment>, StoreError> {
    let Some(intent_id) = item.get("payment_intent_id") else {
        return Ok(None);
    };
    let opt_str = |name: &str| -> Option<String> { item.get(name)?.as_s().ok().cloned() };
    Ok(Some(Payment {
        intent_id: intent_id
            .as_s()
            .map_err(|_| corrupt("payment_intent_id"))?
            .clone(),
        amount_minor: n(item, "amount_minor").ok_or_else(|| corrupt("amount_minor"))?,
        currency: str_attr(item, "currency")?.to_string(),
        amount_received_minor: n(item, "amount_received_minor"),
        paid_at: item
            .get("paid_at")
            .map(|_| time_attr(item, "paid_at"))
            .transpose()?,
        failure_reason: opt_str("payment_failure_reason"),
        refund_id: opt_str("refund_id"),
        last_event_at: n(item, "payment_last_event_at"),
    }))
}

fn time_attr(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    str_attr(item, name)?.parse().map_err(|_| corrupt(name))
}

fn uuid_attr(item: &Item, name: &str) -> Result<Uuid, StoreError> {
    str_attr(item, name)?.parse().map_err(|_| corrupt(name))
}

fn booking_from_item(item: &Item) -> Result<Booking, StoreError> {
    let slot = Slot::new(time_attr(item, "start_time")?, time_attr(item, "end_time")?)
        .map_err(|_| corrupt("start_time/end_time"))?;
    Ok(Booking {
        id: uuid_attr(item, "id")?,
        asset_id: uuid_attr(item, "asset_id")?,
        asset_type: AssetType::parse(str_attr(item, "asset_type")?)
            .ok_or_else(|| corrupt("asset_type"))?,
        user_id: uuid_attr(item, "user_id")?,
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
    })
}

fn idempotency_to_item(r: &IdempotencyRecord) -> Item {
    Item::from([
        ("pk".into(), s(r.key.clone())),
        ("request_hash".into(), s(r.request_hash.clone())),
        ("status".into(), num(i64::from(r.status))),
        ("body".into(), s(r.body.clone())),
        ("expires_at".into(), num(r.expires_at.timestamp())),
    ])
}

fn encode_cursor(key: &Item) -> String {
    let plain: serde_json::Map<String, serde_json::Value> = key
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), serde_json::Value::String(v.as_s().ok()?.clone()))))
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor must decode to exactly the GSI key of a booking of the same user.
fn decode_cursor(cursor: &str, user_id: Uuid) -> Option<Item> {
    if cursor.len() > 512 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    let valid = map.len() == 3
        && map.get("user_id")? == &user_id.to_string()
        && map.get("id")?.parse::<Uuid>().is_ok()
        && map.get("created_at")?.parse::<DateTime<Utc>>().is_ok();
    valid.then(|| map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// Creates the tables if they are missing, with the keys, index and TTL of `template.yaml`.
/// Used by the local stack and the tests; on AWS the template owns the tables.
pub async fn ensure_tables(client: &Client, tables: &Tables) -> Result<(), StoreError> {
    let existing = client.list_tables().send().await.map_err(unavailable)?;
    let existing = existing.table_names();
    let key = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .map_err(build_error)
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    if !existing.contains(&tables.bookings) {
        let index = GlobalSecondaryIndex::builder()
            .index_name(USER_INDEX)
            .key_schema(key("user_id")?)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("created_at")
                    .key_type(KeyType::Range)
                    .build()
                    .map_err(build_error)?,
            )
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        client
            .create_table()
            .table_name(&tables.bookings)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("id")?)
            .attribute_definitions(attr("id")?)
            .attribute_definitions(attr("user_id")?)
            .attribute_definitions(attr("created_at")?)
            .global_secondary_indexes(index)
            .send()
            .await
            .map_err(unavailable)?;
    }
    for table in [&tables.slots, &tables.idempotency, &tables.events] {
        if !existing.contains(table) {
            client
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key("pk")?)
                .attribute_definitions(attr("pk")?)
                .send()
                .await
                .map_err(unavailable)?;
        }
    }
    for table in [&tables.idempotency, &tables.events] {
        if existing.contains(table) {
            continue;
        }
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_bound_to_the_user() {
        let user = Uuid::new_v4();
        let key = Item::from([
            ("id".into(), s(Uuid::new_v4().to_string())),
            ("user_id".into(), s(user.to_string())),
            ("created_at".into(), s("2026-11-24T15:00:00.000Z")),
        ]);
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor(&c, user), Some(key));
        assert_eq!(decode_cursor(&c, Uuid::new_v4()), None);
        assert_eq!(decode_cursor("not-a-cursor", user), None);
        assert_eq!(decode_cursor(&"A".repeat(600), user), None);
    }

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
}
