//! Request bodies: JSON read field by field into domain values, so every error names the
//! field at fault. The amount is read from the JSON text itself (`3.50`), never through a
//! float.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::money::currency;
use crate::domain::money::{check_capture_amount, parse_capture_amount};
use crate::domain::slot::parse_time;
use crate::domain::{
    AssetId, AssetType, BookingId, CaptureAmount, CaptureMethod, Currency, Money, NewBooking, Slot,
    UserId,
};

const NEW_BOOKING_FIELDS: [&str; 5] = [
    "asset_id",
    "asset_type",
    "user_id",
    "start_time",
    "end_time",
];

/// A `POST /v1/bookings` body.
pub fn new_booking(body: &[u8]) -> Result<NewBooking, ApiError> {
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
    let asset_id = AssetId::parse("asset_id", string_field(&obj, "asset_id")?)?;
    let asset_type = AssetType::parse(string_field(&obj, "asset_type")?)?;
    let user_id = UserId::parse("user_id", string_field(&obj, "user_id")?)?;
    let start = parse_time("start_time", string_field(&obj, "start_time")?)?;
    let end = parse_time("end_time", string_field(&obj, "end_time")?)?;
    Ok(NewBooking {
        asset_id,
        asset_type,
        user_id,
        slot: Slot::new(start, end)?,
    })
}

fn string_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("{name} is required"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

/// A validated create-intent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRequest {
    pub booking_id: BookingId,
    /// `None`: charge the booking's price (a tariff applied at its creation).
    pub amount: Option<Money>,
    /// The `currency` field, when given.
    pub currency: Option<Currency>,
    pub capture_method: CaptureMethod,
}

/// A `POST /v1/payments/create-intent` body.
pub fn intent_request(body: &[u8]) -> Result<IntentRequest, ApiError> {
    let fields = fields_of(
        body,
        &["amount", "currency", "booking_id", "capture_method"],
    )?;
    let booking_id = booking_id(&fields)?;
    let capture_method = match fields.get("capture_method") {
        None => CaptureMethod::Automatic,
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .ok()
            .and_then(|m| CaptureMethod::parse(&m))
            .ok_or_else(|| {
                ApiError::bad_request("capture_method must be 'automatic' or 'manual'")
            })?,
    };
    let given = match fields.get("currency") {
        None => None,
        Some(raw) => {
            let code = serde_json::from_str::<String>(raw.get())
                .map_err(|_| ApiError::bad_request("currency must be a string such as \"usd\""))?;
            Some(currency(&code).map_err(crate::domain::DomainError::from)?)
        }
    };
    // Without a currency an amount is in usd, as before tariffs.
    let usd = || currency("usd").map_err(crate::domain::DomainError::from);
    let amount = match fields.get("amount") {
        None => None,
        Some(raw) => Some(
            Money::parse(raw.get(), given.map_or_else(usd, Ok)?)
                .map_err(crate::domain::DomainError::from)?,
        ),
    };
    Ok(IntentRequest {
        booking_id,
        amount,
        currency: given,
        capture_method,
    })
}

/// A JSON object body's fields, as their raw JSON text (amounts are read from it exactly),
/// none but `known`.
pub(super) fn fields_of<'a>(
    body: &'a [u8],
    known: &[&str],
) -> Result<HashMap<String, &'a RawValue>, ApiError> {
    let fields: HashMap<String, &RawValue> = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("Request body must be a JSON object"))?;
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("Unknown field: {unknown}")));
    }
    Ok(fields)
}

fn booking_id(fields: &HashMap<String, &RawValue>) -> Result<BookingId, ApiError> {
    match fields.get("booking_id") {
        None => Err(ApiError::bad_request("booking_id is required")),
        Some(raw) => {
            let id: String = serde_json::from_str(raw.get())
                .map_err(|_| ApiError::bad_request("booking_id must be a UUID string"))?;
            Ok(BookingId::parse("booking_id", &id)?)
        }
    }
}

/// A validated capture request: the amount is read in the payment's currency, which only the
/// booking knows, so the rules that depend on it (decimals, minimum charge) apply then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    pub booking_id: BookingId,
    /// The JSON number text of `amount`, checked to be a number; or the session's energy in Wh
    /// (`energy_kwh`), priced by the booking's tariff.
    what: Captured,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Captured {
    Amount(String),
    EnergyWh(u64),
}

impl CaptureRequest {
    /// What to capture from `booking`'s hold in `currency` (the payment's): 0 releases it.
    pub fn amount(
        &self,
        booking: &crate::domain::Booking,
        currency: &Currency,
    ) -> Result<CaptureAmount, crate::domain::DomainError> {
        match &self.what {
            Captured::Amount(raw) => Ok(CaptureAmount::from_minor(parse_capture_amount(
                raw, currency,
            )?)),
            Captured::EnergyWh(wh) => {
                crate::domain::tariff::session_price(booking.price.as_ref(), &booking.slot, *wh)
                    .map(CaptureAmount::from_minor)
            }
        }
    }
}

/// A `POST /v1/payments/capture` body: `{"booking_id": ..., "amount": 2.75}`, or for a booking
/// priced by a tariff `{"booking_id": ..., "energy_kwh": 12.345}`.
pub fn capture_request(body: &[u8]) -> Result<CaptureRequest, ApiError> {
    let fields = fields_of(body, &["amount", "booking_id", "energy_kwh"])?;
    let booking_id = booking_id(&fields)?;
    let what = match (fields.get("amount"), fields.get("energy_kwh")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "amount and energy_kwh cannot both be given",
            ))
        }
        (None, None) => return Err(ApiError::bad_request("amount is required")),
        (Some(amount), None) => {
            // A number, not negative; the other rules wait for the payment's currency.
            check_capture_amount(amount.get()).map_err(crate::domain::DomainError::from)?;
            Captured::Amount(amount.get().to_string())
        }
        (None, Some(energy)) => {
            Captured::EnergyWh(crate::domain::tariff::parse_energy_kwh(energy.get())?)
        }
    };
    Ok(CaptureRequest { booking_id, what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::slot::format_time;
    use lambda_http::http::StatusCode;

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
        match new_booking(&body(overrides)) {
            Err(ApiError::BadRequest(d)) => d,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_documents_example_in_the_past() {
        let b = new_booking(&body(&[])).unwrap();
        assert_eq!(b.asset_type, AssetType::ChargingStation);
        assert_eq!(format_time(b.slot.start()), "2026-02-05T23:00:00Z");
    }

    #[test]
    fn normalises_offsets_to_utc() {
        let b = new_booking(&body(&[
            ("start_time", "2026-02-06T01:00:00+02:00".into()),
            ("end_time", "2026-02-05T23:30:00.500Z".into()),
        ]))
        .unwrap();
        assert_eq!(format_time(b.slot.start()), "2026-02-05T23:00:00Z");
        assert_eq!(format_time(b.slot.end()), "2026-02-05T23:30:00.500Z");
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
        new_booking(&body(&[("end_time", "2026-02-12T23:00:00Z".into())])).unwrap();
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        assert!(
            matches!(new_booking(b"[1]"), Err(ApiError::BadRequest(d)) if d.contains("JSON object"))
        );
        assert!(
            matches!(new_booking(b"{"), Err(ApiError::BadRequest(d)) if d.contains("not valid JSON"))
        );
        assert!(matches!(new_booking(b""), Err(ApiError::BadRequest(_))));
    }

    const ID: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e40";

    fn parse(body: &str) -> Result<IntentRequest, ApiError> {
        intent_request(body.as_bytes())
    }

    #[test]
    fn the_documents_example_is_350_cents() {
        let r = parse(&format!(
            r#"{{"amount": 3.50, "currency": "usd", "booking_id": "{ID}"}}"#
        ))
        .unwrap();
        let amount = r.amount.unwrap();
        assert_eq!(amount.minor, 350);
        assert_eq!(amount.currency.code, "usd");
        assert_eq!(r.currency.map(|c| c.code), Some("usd"));
        assert_eq!(r.booking_id.to_string(), ID);
        let r = parse(&format!(r#"{{"amount": 4.5, "booking_id": "{ID}"}}"#)).unwrap();
        let amount = r.amount.unwrap();
        assert_eq!((amount.minor, amount.currency.code), (450, "usd"));
        assert_eq!(r.currency, None);
    }

    /// No amount: the booking's price is charged (the use case refuses it for a booking
    /// without one, `amount is required`); a given currency is kept to check against it.
    #[test]
    fn the_amount_may_be_left_to_the_booking_s_price() {
        let r = parse(&format!(r#"{{"booking_id": "{ID}"}}"#)).unwrap();
        assert_eq!((r.amount, r.currency), (None, None));
        let r = parse(&format!(r#"{{"booking_id": "{ID}", "currency": "JPY"}}"#)).unwrap();
        assert_eq!((r.amount, r.currency.map(|c| c.code)), (None, Some("jpy")));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            ("[]".to_string(), "JSON object"),
            ("{".to_string(), "JSON object"),
            (r#"{"amount": 3.5}"#.to_string(), "booking_id"),
            (
                r#"{"amount": 3.5, "booking_id": "nope"}"#.to_string(),
                "booking_id",
            ),
            (
                r#"{"amount": 3.5, "booking_id": 7}"#.to_string(),
                "booking_id",
            ),
            (
                format!(r#"{{"amount": "3.50", "booking_id": "{ID}"}}"#),
                "amount",
            ),
            (
                format!(r#"{{"amount": 0, "booking_id": "{ID}"}}"#),
                "amount",
            ),
            (
                format!(r#"{{"amount": -3.5, "booking_id": "{ID}"}}"#),
                "amount",
            ),
            (
                format!(r#"{{"amount": 0.005, "booking_id": "{ID}"}}"#),
                "amount",
            ),
            (
                format!(r#"{{"amount": 0.49, "booking_id": "{ID}"}}"#),
                "amount",
            ),
            (
                format!(r#"{{"amount": 1e308, "booking_id": "{ID}"}}"#),
                "amount",
            ),
            (
                format!(r#"{{"amount": 3.5, "currency": "xyz", "booking_id": "{ID}"}}"#),
                "currency",
            ),
            (
                format!(r#"{{"amount": 3.5, "currency": 5, "booking_id": "{ID}"}}"#),
                "currency",
            ),
            (
                format!(r#"{{"amount": 3.5, "booking_id": "{ID}", "tip": 1}}"#),
                "tip",
            ),
        ];
        for (body, field) in cases {
            let err = parse(&body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body}");
            assert!(err.to_string().contains(field), "{body}: {err}");
        }
    }
}
