//! The `create-intent` function: `POST /v1/payments/create-intent`, and
//! `POST /v1/payments/capture` (capture or release a manual-capture hold).

use chrono::Utc;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::dto;
use super::error::ApiError;
use super::request::{json_body, route_path};
use super::response::{json_response, respond, with_deadline};
use super::views::booking_json;
use crate::app::capture::capture;
use crate::app::intents::{create_intent_with_receipt, Asked, Terms};
use crate::ports::{BookingStore, PaymentProvider};

/// Below the function's 15 s Lambda timeout (template.yaml).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(12);

pub async fn handle<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    req: Request,
) -> Response<Body> {
    let result = match (route_path(&req).as_str(), req.method()) {
        ("/v1/payments/create-intent", &Method::POST) => {
            with_deadline(DEADLINE, create(store, provider, &req)).await
        }
        ("/v1/payments/create-intent", _) => Err(ApiError::MethodNotAllowed("POST")),
        ("/v1/payments/capture", &Method::POST) => {
            with_deadline(DEADLINE, capture_hold(store, provider, &req)).await
        }
        ("/v1/payments/capture", _) => Err(ApiError::MethodNotAllowed("POST")),
        _ => Err(ApiError::NotFound("Not found".into())),
    };
    respond("create-intent", result)
}

async fn create<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let request = dto::intent_request(json_body(req)?)?;
    let terms = match request.amount {
        Some(amount) => Asked::Terms(Terms {
            amount,
            capture_method: request.capture_method,
        }),
        None => Asked::Price {
            currency: request.currency,
            capture_method: request.capture_method,
        },
    };
    let rules = crate::runtime::config::hold_rules_from_env();
    let intent = create_intent_with_receipt(
        store,
        provider,
        request.booking_id,
        terms,
        request.receipt_email.as_ref(),
        rules,
        Utc::now,
    )
    .await?;
    // `create_intent` answers only with an intent that has a client_secret.
    let client_secret = intent.client_secret.as_ref().map(|s| s.expose());
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "client_secret": client_secret,
            "payment_intent_id": intent.id.as_str(),
        }),
    ))
}

async fn capture_hold<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let request = dto::capture_request(json_body(req)?)?;
    let booking = capture(
        store,
        provider,
        request.booking_id,
        |booking, currency| request.amount(booking, currency),
        Utc::now,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &booking_json(&booking)))
}
