//! `POST /v1/bookings/{id}/refunds` (an operator's refund) and `GET /v1/bookings/{id}/receipt`,
//! on the bookings function.

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::dto::fields_of;
use super::error::ApiError;
use super::request::{idempotency_key, json_body};
use super::response::json_response;
use super::views::{decimal, refund_json};
use crate::app::bookings::get_booking;
use crate::app::operator_refunds::refund_booking;
use crate::domain::money::{check_capture_amount, format_minor};
use crate::domain::operator_refund::{RefundAsk, RefundReason};
use crate::domain::receipt::{receipt, taken_fees, Receipt};
use crate::domain::{BookingId, Currency, DomainError};
use crate::ports::{BookingStore, PaymentProvider};

/// The routes of this module, `None` for any other.
pub async fn route<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    segments: &[&str],
    req: &Request,
) -> Option<Result<Response<Body>, ApiError>> {
    let (id, what) = match segments {
        ["v1", "bookings", id, what @ ("refunds" | "receipt")] => (*id, *what),
        _ => return None,
    };
    let method = req.method();
    Some(match (what, method) {
        ("refunds", &Method::POST) => create(store, provider, id, req).await,
        ("refunds", _) => Err(ApiError::MethodNotAllowed("POST")),
        ("receipt", &Method::GET) => show_receipt(store, id).await,
        _ => Err(ApiError::MethodNotAllowed("GET")),
    })
}

fn booking_id(text: &str) -> Result<BookingId, DomainError> {
    BookingId::parse("booking id", text)
}

/// A `POST /v1/bookings/{id}/refunds` body: `{"amount": 1.25, "reason": "duplicate"}`.
pub fn refund_request(body: &[u8]) -> Result<RefundAsk, ApiError> {
    let fields = fields_of(body, &["amount", "reason"])?;
    let amount = fields
        .get("amount")
        .ok_or_else(|| ApiError::bad_request("amount is required"))?;
    // A JSON number, not negative; the other rules wait for the payment's currency.
    check_capture_amount(amount.get()).map_err(DomainError::from)?;
    let reason = match fields.get("reason") {
        None => return Err(ApiError::bad_request("reason is required")),
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map_err(|_| DomainError::invalid("reason must be a string"))
            .and_then(|r| RefundReason::parse(&r))?,
    };
    Ok(RefundAsk {
        amount_raw: amount.get().to_string(),
        reason,
    })
}

async fn create<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let booking_id = booking_id(id)?;
    let ask = refund_request(json_body(req)?)?;
    let key = idempotency_key(req)?
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key header is required"))?;
    let done = refund_booking(store, provider, booking_id, &ask, &key, Utc::now).await?;
    let currency = done
        .booking
        .payment
        .as_ref()
        .map(|p| p.amount.currency)
        .ok_or_else(|| ApiError::Internal("refund without a payment".into()))?;
    let mut body = refund_json(&done.refund, &currency);
    body["booking_id"] = Value::String(booking_id.to_string());
    body["currency"] = Value::String(currency.code.into());
    let mut resp = json_response(StatusCode::CREATED, &body);
    if done.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

async fn show_receipt<S: BookingStore>(store: &S, id: &str) -> Result<Response<Body>, ApiError> {
    let booking = get_booking(store, booking_id(id)?).await?;
    let Some(r) = receipt(&booking, &taken_fees(&booking)) else {
        return Err(ApiError::NotFound(
            "No money has moved for this booking".into(),
        ));
    };
    let mut body = receipt_json(&r);
    body["booking_id"] = Value::String(booking.id.to_string());
    Ok(json_response(StatusCode::OK, &body))
}

fn money(minor: i64, c: &Currency) -> Value {
    decimal(&format_minor(minor, c)).unwrap_or(Value::Null)
}

pub fn receipt_json(r: &Receipt) -> Value {
    let c = &r.currency;
    let charges: Vec<Value> = r
        .charges
        .iter()
        .map(|l| json!({"type": l.kind.as_str(), "amount": money(l.minor, c), "amount_minor": l.minor}))
        .collect();
    let payments: Vec<Value> = r
        .payments
        .iter()
        .map(|p| {
            json!({
                "type": "payment",
                "payment_intent_id": p.intent_id.as_str(),
                "amount": money(p.minor, c),
                "amount_minor": p.minor,
                "capture_method": p.capture_method.as_str(),
                "paid_at": p.paid_at.map(crate::domain::slot::format_stored_time),
            })
        })
        .collect();
    let refunds: Vec<Value> = r
        .refunds
        .iter()
        .map(|l| {
            json!({
                "type": "refund",
                "refund_id": l.refund_id,
                "amount": money(l.minor, c),
                "amount_minor": l.minor,
                "status": l.status.map(|s| s.as_str()),
                "reason": l.reason,
                "created_at": l.created_at.map(crate::domain::slot::format_stored_time),
            })
        })
        .collect();
    json!({
        "currency": c.code,
        "line_items": charges,
        "payments": payments,
        "refunds": refunds,
        "total_charged": money(r.total_charged, c),
        "total_charged_minor": r.total_charged,
        "total_refunded": money(r.total_refunded, c),
        "total_refunded_minor": r.total_refunded,
        "total": money(r.total, c),
        "total_minor": r.total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_bodies_name_the_field() {
        let ok = refund_request(br#"{"amount": 1.25, "reason": "duplicate"}"#).unwrap();
        assert_eq!(ok.amount_raw, "1.25");
        assert_eq!(ok.reason, RefundReason::Duplicate);
        for (body, field) in [
            (r#"{"reason": "duplicate"}"#, "amount is required"),
            (r#"{"amount": 1}"#, "reason is required"),
            (r#"{"amount": "1", "reason": "duplicate"}"#, "amount"),
            (r#"{"amount": -1, "reason": "duplicate"}"#, "amount"),
            (r#"{"amount": 1, "reason": 3}"#, "reason must be a string"),
            (r#"{"amount": 1, "reason": "broken"}"#, "reason must be"),
            (
                r#"{"amount": 1, "reason": "duplicate", "x": 1}"#,
                "Unknown field: x",
            ),
            ("[]", "JSON object"),
        ] {
            let err = refund_request(body.as_bytes()).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body}");
            assert!(err.to_string().contains(field), "{body}: {err}");
        }
    }
}
