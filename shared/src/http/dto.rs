//! Request bodies: JSON read field by field into domain values, so every error names the
//! field at fault. The amount is read from the JSON text itself (`3.50`), never through a
//! float.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::money::currency;
use crate::domain::money::{check_capture_amount, parse_capture_amount};
use crate::domain::receipt_email::ReceiptEmail;
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
    /// Where Stripe sends the receipt (`receipt_email`), if anywhere.
    pub receipt_email: Option<ReceiptEmail>,
}

/// A `POST /v1/payments/create-intent` body.
pub fn intent_request(body: &[u8]) -> Result<IntentRequest, ApiError> {
    let fields = fields_of(
        body,
        &[
            "amount",
            "currency",
            "booking_id",
            "capture_method",
            "receipt_email",
        ],
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
    let receipt_email = match fields.get("receipt_email") {
        None => None,
        Some(raw) => Some(
            serde_json::from_str::<String>(raw.get())
                .map_err(|_| {
                    crate::domain::DomainError::invalid("receipt_email must be an e-mail address")
                })
                .and_then(|text| ReceiptEmail::parse(&text))?,
        ),
    };
    Ok(IntentRequest {
        booking_id,
        amount,
        currency: given,
        capture_method,
        receipt_email,
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
mod tests;
