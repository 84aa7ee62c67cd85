//! The `webhook` function: `POST /v1/payments/webhook`, called by Stripe.
//!
//! The answer tells Stripe whether to deliver again: 2xx for everything we handled or will
//! never handle (unknown event types, unknown bookings), 400 for a bad signature, 5xx when
//! our storage failed so the event comes back later.

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::error::ApiError;
use super::request::route_path;
use super::response::{json_response, respond, with_deadline};
use crate::adapters::stripe::event::{self, Parsed};
use crate::adapters::stripe::signature::{self, DEFAULT_TOLERANCE_SECS};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::ports::{BookingStore, WebhookSecrets};

/// Stripe's PaymentIntent events are a few KB; anything this large is not from Stripe.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Below the function's 10 s Lambda timeout (template.yaml).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

/// What happened to an event, in the response body (Stripe ignores it; people debugging
/// deliveries in the Stripe dashboard do not).
fn outcome(result: &str, reason: &str) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "received": true, "result": result, "reason": reason }),
    )
}

pub async fn handle<S: BookingStore, W: WebhookSecrets>(
    store: &S,
    secrets: &W,
    req: Request,
) -> Response<Body> {
    let result = match (route_path(&req).as_str(), req.method()) {
        ("/v1/payments/webhook", &Method::POST) => {
            with_deadline(DEADLINE, receive(store, secrets, &req, Utc::now())).await
        }
        ("/v1/payments/webhook", _) => Err(ApiError::MethodNotAllowed("POST")),
        _ => Err(ApiError::NotFound("Not found".into())),
    };
    // A 5xx here makes Stripe deliver the event again later.
    respond("webhook", result)
}

async fn receive<S: BookingStore, W: WebhookSecrets>(
    store: &S,
    secrets: &W,
    req: &Request,
    now: DateTime<Utc>,
) -> Result<Response<Body>, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_EVENT_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let secrets: Vec<String> = secrets
        .webhook_secrets()
        .await?
        .iter()
        .map(|s| s.expose().to_string())
        .collect();
    if secrets.is_empty() {
        // Answer 5xx so Stripe keeps the event until the secret is configured.
        tracing::error!("no webhook signing secret configured");
        return Err(ApiError::Internal("Webhook is not configured".into()));
    }
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(reason) = signature::verify(
        body,
        header,
        &secrets,
        now.timestamp(),
        DEFAULT_TOLERANCE_SECS,
    ) {
        tracing::warn!(%reason, "webhook signature rejected");
        return Err(ApiError::bad_request("Invalid signature"));
    }
    // Signed by Stripe, so a parse failure is our problem or a new format: 400 keeps it
    // visible in Stripe's dashboard without a retry storm.
    let parsed = event::parse(body).map_err(|_| ApiError::bad_request("Malformed event"))?;
    let event = match parsed {
        Parsed::Ignored(reason) => return Ok(outcome("ignored", reason)),
        Parsed::Intent(event) => event,
    };
    Ok(match apply_intent_event(store, &event, now).await? {
        EventOutcome::Applied(status) => outcome("applied", status.as_str()),
        EventOutcome::Duplicate => outcome("duplicate", "event already processed"),
        EventOutcome::Ignored(reason) => outcome("ignored", reason),
    })
}
