//! The `create-intent` function: `POST /v1/payments/create-intent`.
//!
//! One booking has at most one live PaymentIntent, however many Lambda instances race:
//! the booking item records its intent with a conditional write, so only one intent is ever
//! attached; an intent that loses the race is cancelled at Stripe. The Stripe
//! `Idempotency-Key` is derived from the booking, the intent it replaces and the amount, so on
//! real Stripe the racers even share one intent; on an emulator that ignores the key, the
//! conditional write still settles it.

use std::collections::HashMap;

use chrono::Utc;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::domain::{parse_uuid, Booking, BookingStatus, Payment, PaymentStatus};
use crate::error::ApiError;
use crate::http::{json_body, json_response, respond, route_path, with_deadline};
use crate::money;
use crate::store::{BookingStore, Expected, PaymentWrite};
use crate::stripe::{NewIntent, PaymentIntent, StripeClient, StripeError};

/// Below the function's 15 s Lambda timeout (template.yaml).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(12);
/// Rounds of read-decide-write before answering "busy, retry".
const MAX_ROUNDS: u32 = 6;

/// A validated create-intent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRequest {
    pub booking_id: Uuid,
    pub amount_minor: i64,
    pub currency: &'static str,
}

impl IntentRequest {
    /// The amount is read from the JSON text itself (`3.50`), never through a float.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let fields: HashMap<String, &RawValue> = serde_json::from_slice(body)
            .map_err(|_| ApiError::bad_request("Request body must be a JSON object"))?;
        if let Some(unknown) = fields
            .keys()
            .find(|k| !["amount", "currency", "booking_id"].contains(&k.as_str()))
        {
            return Err(ApiError::bad_request(format!("Unknown field: {unknown}")));
        }
        let booking_id = match fields.get("booking_id") {
            None => return Err(ApiError::bad_request("booking_id is required")),
            Some(raw) => {
                let id: String = serde_json::from_str(raw.get())
                    .map_err(|_| ApiError::bad_request("booking_id must be a UUID string"))?;
                parse_uuid("booking_id", &id)?
            }
        };
        let currency = match fields.get("currency") {
            None => "usd".to_string(),
            Some(raw) => serde_json::from_str::<String>(raw.get())
                .map_err(|_| ApiError::bad_request("currency must be a string such as \"usd\""))?,
        };
        let currency = money::currency(&currency)?;
        let amount = fields
            .get("amount")
            .ok_or_else(|| ApiError::bad_request("amount is required"))?;
        let amount_minor = money::parse_amount(amount.get(), &currency)?;
        Ok(Self {
            booking_id,
            amount_minor,
            currency: currency.code,
        })
    }
}

pub async fn handle<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    req: Request,
) -> Response<Body> {
    let result = match (route_path(&req).as_str(), req.method()) {
        ("/v1/payments/create-intent", &Method::POST) => {
            with_deadline(DEADLINE, create(store, stripe, &req)).await
        }
        ("/v1/payments/create-intent", _) => Err(ApiError::MethodNotAllowed("POST")),
        _ => Err(ApiError::NotFound("Not found".into())),
    };
    respond("create-intent", result)
}

async fn create<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let request = IntentRequest::from_json(json_body(req)?)?;
    for _ in 0..MAX_ROUNDS {
        let booking = store
            .get_booking(request.booking_id)
            .await?
            .ok_or_else(ApiError::booking_not_found)?;
        if let Some(intent) = settle(store, stripe, &booking, &request).await? {
            let client_secret = intent.client_secret.as_ref().ok_or_else(|| {
                ApiError::from(StripeError::Protocol("intent without client_secret".into()))
            })?;
            tracing::info!(booking_id = %booking.id, payment_intent_id = %intent.id, "intent ready");
            return Ok(json_response(
                StatusCode::OK,
                &json!({
                    "client_secret": client_secret.expose(),
                    "payment_intent_id": intent.id,
                }),
            ));
        }
    }
    Err(ApiError::ServiceUnavailable(
        "The booking is busy with concurrent payment requests; please retry".into(),
    ))
}

/// One round: returns the intent to hand out, or `None` if the booking moved underneath us
/// and the caller should read it again.
async fn settle<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    booking: &Booking,
    request: &IntentRequest,
) -> Result<Option<PaymentIntent>, ApiError> {
    if booking.status == BookingStatus::Cancelled {
        return Err(ApiError::Conflict("Booking is cancelled".into()));
    }
    if booking.payment_status.is_paid() {
        return Err(ApiError::Conflict("Booking is already paid".into()));
    }
    let replaces = match &booking.payment {
        None => None,
        Some(current) => {
            let intent = stripe.retrieve_payment_intent(&current.intent_id).await?;
            match intent.status.as_str() {
                "succeeded" => return Err(ApiError::Conflict("Booking is already paid".into())),
                "processing" => {
                    return Err(ApiError::Conflict(
                        "A payment for this booking is already processing".into(),
                    ))
                }
                "canceled" => {}
                _ if intent.is_payable()
                    && intent.amount == request.amount_minor
                    && intent.currency == request.currency =>
                {
                    return Ok(Some(intent));
                }
                _ if intent.is_payable() => {
                    // A new amount: the old intent must be dead before a new one is handed
                    // out, or the customer could pay both.
                    if let Err(err) = stripe
                        .cancel_payment_intent(&intent.id, &cancel_key(&intent.id))
                        .await
                    {
                        return match err {
                            // It moved (paid, or cancelled by a racer): look again.
                            StripeError::Rejected { .. } => Ok(None),
                            other => Err(other.into()),
                        };
                    }
                }
                other => {
                    return Err(ApiError::Conflict(format!(
                        "The booking's payment is in state {other} and cannot be replaced"
                    )))
                }
            }
            Some(current.intent_id.clone())
        }
    };

    let key = intent_key(booking.id, replaces.as_deref(), request);
    let intent = stripe
        .create_payment_intent(
            &NewIntent {
                amount_minor: request.amount_minor,
                currency: request.currency,
                booking_id: &booking.id.to_string(),
            },
            &key,
        )
        .await?;
    let payment = Payment::new(
        intent.id.clone(),
        request.amount_minor,
        request.currency.to_string(),
    );
    let expected = Expected {
        status: Some(BookingStatus::Confirmed),
        ..Expected::from_booking(booking)
    };
    match store
        .update_payment(
            booking.id,
            &expected,
            PaymentStatus::Pending,
            &payment,
            None,
            Utc::now(),
        )
        .await?
    {
        PaymentWrite::Written => Ok(Some(intent)),
        PaymentWrite::Conflict | PaymentWrite::Duplicate => {
            // Someone else attached an intent first. On real Stripe it is usually this very
            // intent (same idempotency key); otherwise ours must not stay payable.
            let now_attached = store
                .get_booking(booking.id)
                .await?
                .and_then(|b| b.payment)
                .map(|p| p.intent_id);
            if now_attached.as_deref() != Some(intent.id.as_str()) {
                release(stripe, &intent.id).await;
            }
            Ok(None)
        }
    }
}

/// Cancels an intent nobody will be given. Failing here leaves an unreachable intent (its
/// client_secret was never handed out), so it is logged, not fatal.
async fn release(stripe: &StripeClient, intent_id: &str) {
    match stripe
        .cancel_payment_intent(intent_id, &cancel_key(intent_id))
        .await
    {
        Ok(_) => tracing::info!(
            payment_intent_id = intent_id,
            "cancelled the intent that lost a race"
        ),
        Err(err) => {
            tracing::error!(payment_intent_id = intent_id, error = %err, "could not cancel a losing intent")
        }
    }
}

/// Deterministic: the same booking, predecessor and amount always give the same key, so a
/// retry or a racing instance reaches the same intent on Stripe.
pub fn intent_key(booking_id: Uuid, replaces: Option<&str>, request: &IntentRequest) -> String {
    format!(
        "booking-{booking_id}-after-{}-{}{}",
        replaces.unwrap_or("none"),
        request.amount_minor,
        request.currency
    )
}

pub fn cancel_key(intent_id: &str) -> String {
    format!("cancel-{intent_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e40";

    fn parse(body: &str) -> Result<IntentRequest, ApiError> {
        IntentRequest::from_json(body.as_bytes())
    }

    #[test]
    fn the_documents_example_is_350_cents() {
        let r = parse(&format!(
            r#"{{"amount": 3.50, "currency": "usd", "booking_id": "{ID}"}}"#
        ))
        .unwrap();
        assert_eq!(r.amount_minor, 350);
        assert_eq!(r.currency, "usd");
        assert_eq!(r.booking_id.to_string(), ID);
        let r = parse(&format!(r#"{{"amount": 4.5, "booking_id": "{ID}"}}"#)).unwrap();
        assert_eq!((r.amount_minor, r.currency), (450, "usd"));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            ("[]".to_string(), "JSON object"),
            ("{".to_string(), "JSON object"),
            (format!(r#"{{"booking_id": "{ID}"}}"#), "amount"),
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

    #[test]
    fn keys_are_deterministic_and_distinct() {
        let r = parse(&format!(r#"{{"amount": 3.50, "booking_id": "{ID}"}}"#)).unwrap();
        let other = IntentRequest {
            amount_minor: 450,
            ..r.clone()
        };
        assert_eq!(
            intent_key(r.booking_id, None, &r),
            intent_key(r.booking_id, None, &r)
        );
        assert_ne!(
            intent_key(r.booking_id, None, &r),
            intent_key(r.booking_id, None, &other)
        );
        assert_ne!(
            intent_key(r.booking_id, None, &r),
            intent_key(r.booking_id, Some("pi_1"), &r)
        );
        assert!(intent_key(r.booking_id, Some(&"x".repeat(100)), &r).len() <= 255);
    }
}
