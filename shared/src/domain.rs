//! Bookings: the domain types and the validation of a new booking request.

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;

/// Longest booking we accept; longer requests are almost certainly mistakes.
pub const MAX_BOOKING: Duration = Duration::days(7);
/// Bookings outside these years are rejected as nonsense (past times inside are fine).
const MIN_YEAR: i32 = 2000;
const MAX_YEAR: i32 = 2100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetType {
    ChargingStation,
    ParkingSpot,
}

impl AssetType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChargingStation => "charging_station",
            Self::ParkingSpot => "parking_spot",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "charging_station" => Some(Self::ChargingStation),
            "parking_spot" => Some(Self::ParkingSpot),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confirmed" => Some(Self::Confirmed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// Where the booking's payment stands, as the webhook and cancellation move it.
/// `completed` and `refunded` are never left by a Stripe event (see `payment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    RequiresAction,
    Processing,
    Completed,
    Failed,
    Canceled,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::RequiresAction,
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Money was taken (and not given back): no new intent, no Stripe event moves it back.
    pub fn is_paid(self) -> bool {
        matches!(self, Self::Completed | Self::Refunded)
    }
}

/// The booking's PaymentIntent and what Stripe told us about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub intent_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub amount_received_minor: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub refund_id: Option<String>,
    /// `created` (Unix seconds) of the last Stripe event applied, to ignore older ones.
    pub last_event_at: Option<i64>,
}

impl Payment {
    pub fn new(intent_id: String, amount_minor: i64, currency: String) -> Self {
        Self {
            intent_id,
            amount_minor,
            currency,
            amount_received_minor: None,
            paid_at: None,
            failure_reason: None,
            refund_id: None,
            last_event_at: None,
        }
    }
}

/// A validated time slot `[start, end)` in UTC with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Slot {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, ApiError> {
        if end <= start {
            return Err(ApiError::bad_request("end_time must be after start_time"));
        }
        if end - start > MAX_BOOKING {
            return Err(ApiError::bad_request(
                "end_time must be at most 7 days after start_time",
            ));
        }
        Ok(Self { start, end })
    }

    pub fn overlaps(&self, other_start_ms: i64, other_end_ms: i64) -> bool {
        self.start_ms() < other_end_ms && other_start_ms < self.end_ms()
    }

    pub fn start_ms(&self) -> i64 {
        self.start.timestamp_millis()
    }

    pub fn end_ms(&self) -> i64 {
        self.end.timestamp_millis()
    }

    /// The UTC days the slot touches; `end` is exclusive, so a slot ending at midnight does
    /// not touch the next day.
    pub fn days(&self) -> Vec<NaiveDate> {
        let first = self.start.date_naive();
        let last = (self.end - Duration::milliseconds(1)).date_naive();
        first.iter_days().take_while(|d| *d <= last).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: Uuid,
    pub asset_id: Uuid,
    pub asset_type: AssetType,
    pub user_id: Uuid,
    pub slot: Slot,
    pub status: BookingStatus,
    pub payment_status: PaymentStatus,
    pub payment: Option<Payment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Booking {
    pub fn new(req: NewBooking, id: Uuid, now: DateTime<Utc>) -> Self {
        // Stored timestamps carry milliseconds so `created_at` sorts lexicographically.
        let now = truncate_to_millis(now);
        Self {
            id,
            asset_id: req.asset_id,
            asset_type: req.asset_type,
            user_id: req.user_id,
            slot: req.slot,
            status: BookingStatus::Confirmed,
            payment_status: PaymentStatus::Pending,
            payment: None,
            created_at: now,
            updated_at: now,
            cancelled_at: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "asset_id": self.asset_id,
            "asset_type": self.asset_type.as_str(),
            "user_id": self.user_id,
            "start_time": format_time(self.slot.start),
            "end_time": format_time(self.slot.end),
            "status": self.status.as_str(),
            "payment_status": self.payment_status.as_str(),
            "created_at": format_stored_time(self.created_at),
            "updated_at": format_stored_time(self.updated_at),
        });
        if let Some(at) = self.cancelled_at {
            v["cancelled_at"] = Value::String(format_stored_time(at));
        }
        if let Some(p) = &self.payment {
            v["payment_intent_id"] = Value::String(p.intent_id.clone());
            v["currency"] = Value::String(p.currency.clone());
            v["amount_minor"] = Value::from(p.amount_minor);
            if let Some(amount) = decimal_amount(p.amount_minor, &p.currency) {
                v["amount"] = amount;
            }
            if let Some(received) = p.amount_received_minor {
                v["amount_received_minor"] = Value::from(received);
                if let Some(amount) = decimal_amount(received, &p.currency) {
                    v["amount_received"] = amount;
                }
            }
            if let Some(at) = p.paid_at {
                v["paid_at"] = Value::String(format_stored_time(at));
            }
            if let Some(reason) = &p.failure_reason {
                v["payment_failure_reason"] = Value::String(reason.clone());
            }
            if let Some(refund) = &p.refund_id {
                v["refund_id"] = Value::String(refund.clone());
            }
        }
        v
    }
}

/// An amount as the exact decimal JSON number the client sent (350 usd -> `3.50`), never
/// through a float.
fn decimal_amount(minor: i64, currency: &str) -> Option<Value> {
    let currency = crate::money::currency(currency).ok()?;
    let text = crate::money::format_minor(minor, &currency);
    serde_json::from_str::<Value>(&text).ok()
}

/// Times the client gave: seconds, plus milliseconds only when present.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Times we generate: always milliseconds, fixed width, so they sort as strings.
pub fn format_stored_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// A validated `POST /v1/bookings` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBooking {
    pub asset_id: Uuid,
    pub asset_type: AssetType,
    pub user_id: Uuid,
    pub slot: Slot,
}

const NEW_BOOKING_FIELDS: [&str; 5] = [
    "asset_id",
    "asset_type",
    "user_id",
    "start_time",
    "end_time",
];

impl NewBooking {
    /// Validates a JSON body field by field so every error names the field at fault.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(ApiError::bad_request("Request body must be a JSON object"));
        };
        if let Some(unknown) = obj
            .keys()
            .find(|k| !NEW_BOOKING_FIELDS.contains(&k.as_str()))
        {
            return Err(ApiError::bad_request(format!("Unknown field: {unknown}")));
        }
        let asset_id = uuid_field(&obj, "asset_id")?;
        let asset_type = string_field(&obj, "asset_type").and_then(|s| {
            AssetType::parse(s).ok_or_else(|| {
                ApiError::bad_request("asset_type must be 'charging_station' or 'parking_spot'")
            })
        })?;
        let user_id = uuid_field(&obj, "user_id")?;
        let start = time_field(&obj, "start_time")?;
        let end = time_field(&obj, "end_time")?;
        Ok(Self {
            asset_id,
            asset_type,
            user_id,
            slot: Slot::new(start, end)?,
        })
    }

    /// A canonical form of the request, so equal requests hash equally whatever their
    /// whitespace, key order or time-zone offsets.
    pub fn canonical(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.asset_id,
            self.asset_type.as_str(),
            self.user_id,
            self.slot.start_ms(),
            self.slot.end_ms()
        )
    }
}

fn string_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("{name} is required"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

pub fn parse_uuid(name: &str, s: &str) -> Result<Uuid, ApiError> {
    // Only the canonical hyphenated form: braces, URNs and simple hex are ambiguous in URLs.
    if s.len() != 36 {
        return Err(ApiError::bad_request(format!("{name} must be a UUID")));
    }
    Uuid::parse_str(s).map_err(|_| ApiError::bad_request(format!("{name} must be a UUID")))
}

fn uuid_field(obj: &Map<String, Value>, name: &str) -> Result<Uuid, ApiError> {
    parse_uuid(name, string_field(obj, name)?)
}

fn time_field(obj: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = string_field(obj, name)?;
    let t = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} must be an RFC 3339 date-time, e.g. 2026-02-05T23:00:00Z"
            ))
        })?
        .with_timezone(&Utc);
    if !(MIN_YEAR..=MAX_YEAR).contains(&t.year()) {
        return Err(ApiError::bad_request(format!(
            "{name} must be between the years {MIN_YEAR} and {MAX_YEAR}"
        )));
    }
    if t.nanosecond() % 1_000_000 != 0 {
        return Err(ApiError::bad_request(format!(
            "{name} must have at most millisecond precision"
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(overrides: &[(&str, Value)]) -> Vec<u8> {
        let mut v = serde_json::json!({
            "asset_id": "550e8400-e29b-41d4-a716-446655440000",
            "asset_type": "charging_station",
            "user_id": "650e8400-e29b-41d4-a716-446655440001",
            "start_time": "2026-02-05T23:00:00Z",
            "end_time": "2026-02-05T23:30:00Z"
        });
        for (k, val) in overrides {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(*k);
            } else {
                v[*k] = val.clone();
            }
        }
        serde_json::to_vec(&v).unwrap()
    }

    fn err(overrides: &[(&str, Value)]) -> String {
        match NewBooking::from_json(&body(overrides)) {
            Err(ApiError::BadRequest(d)) => d,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_documents_example_in_the_past() {
        let b = NewBooking::from_json(&body(&[])).unwrap();
        assert_eq!(b.asset_type, AssetType::ChargingStation);
        assert_eq!(format_time(b.slot.start), "2026-02-05T23:00:00Z");
    }

    #[test]
    fn normalises_offsets_to_utc() {
        let b = NewBooking::from_json(&body(&[
            ("start_time", "2026-02-06T01:00:00+02:00".into()),
            ("end_time", "2026-02-05T23:30:00.500Z".into()),
        ]))
        .unwrap();
        assert_eq!(format_time(b.slot.start), "2026-02-05T23:00:00Z");
        assert_eq!(format_time(b.slot.end), "2026-02-05T23:30:00.500Z");
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(err(&[("asset_id", Value::Null)]), "asset_id is required");
        assert_eq!(
            err(&[("asset_id", "nope".into())]),
            "asset_id must be a UUID"
        );
        assert_eq!(err(&[("asset_id", 5.into())]), "asset_id must be a string");
        assert_eq!(
            err(&[("user_id", "650e8400e29b41d4a716446655440001".into())]),
            "user_id must be a UUID"
        );
        assert!(err(&[("asset_type", "bike".into())]).starts_with("asset_type must be"));
        assert!(
            err(&[("start_time", "tomorrow".into())]).starts_with("start_time must be an RFC 3339")
        );
        assert!(err(&[("end_time", "2026-02-05 23:30".into())])
            .starts_with("end_time must be an RFC 3339"));
        assert_eq!(err(&[("extra", 1.into())]), "Unknown field: extra");
        assert!(err(&[("start_time", "1999-12-31T23:00:00Z".into())]).contains("between the years"));
        assert!(err(&[("start_time", "2026-02-05T23:00:00.0001Z".into())]).contains("millisecond"));
    }

    #[test]
    fn rejects_empty_reversed_and_overlong_slots() {
        assert_eq!(
            err(&[("end_time", "2026-02-05T23:00:00Z".into())]),
            "end_time must be after start_time"
        );
        assert_eq!(
            err(&[("end_time", "2026-02-05T22:00:00Z".into())]),
            "end_time must be after start_time"
        );
        assert!(err(&[("end_time", "2026-02-12T23:00:00.001Z".into())]).contains("at most 7 days"));
        // exactly seven days is allowed
        NewBooking::from_json(&body(&[("end_time", "2026-02-12T23:00:00Z".into())])).unwrap();
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        assert!(
            matches!(NewBooking::from_json(b"[1]"), Err(ApiError::BadRequest(d)) if d.contains("JSON object"))
        );
        assert!(
            matches!(NewBooking::from_json(b"{"), Err(ApiError::BadRequest(d)) if d.contains("not valid JSON"))
        );
        assert!(matches!(
            NewBooking::from_json(b""),
            Err(ApiError::BadRequest(_))
        ));
    }

    fn slot(s: &str, e: &str) -> Slot {
        Slot::new(s.parse().unwrap(), e.parse().unwrap()).unwrap()
    }

    #[test]
    fn overlap_is_half_open() {
        let a = slot("2026-02-05T10:00:00Z", "2026-02-05T11:00:00Z");
        let ms = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        assert!(!a.overlaps(ms("2026-02-05T11:00:00Z"), ms("2026-02-05T12:00:00Z")));
        assert!(!a.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T10:00:00Z")));
        assert!(a.overlaps(ms("2026-02-05T10:59:59.999Z"), ms("2026-02-05T12:00:00Z")));
        assert!(a.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T10:00:00.001Z")));
        assert!(a.overlaps(ms("2026-02-05T10:10:00Z"), ms("2026-02-05T10:20:00Z")));
        assert!(a.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T13:00:00Z")));
    }

    #[test]
    fn days_touched_exclude_an_end_at_midnight() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            slot("2026-02-05T23:00:00Z", "2026-02-06T00:00:00Z").days(),
            vec![d("2026-02-05")]
        );
        assert_eq!(
            slot("2026-02-05T23:00:00Z", "2026-02-06T00:00:00.001Z").days(),
            vec![d("2026-02-05"), d("2026-02-06")]
        );
        assert_eq!(
            slot("2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z")
                .days()
                .len(),
            7
        );
        assert_eq!(
            slot("2026-02-01T12:00:00Z", "2026-02-08T12:00:00Z")
                .days()
                .len(),
            8
        );
    }
}
