//! The `webhook` function: `POST /v1/payments/webhook`, called by Stripe.
//!
//! The answer tells Stripe whether to deliver again: 2xx for everything we handled or will
//! never handle (unknown event types, unknown bookings), 400 for a bad signature, 5xx when
//! our storage failed so the event comes back later. An event's effect and the record that it
//! was processed are written in one transaction: processed at most once, never lost.

use chrono::{DateTime, Duration, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::{json_response, respond, route_path, with_deadline};
use crate::payment::{transition, IntentEvent};
use crate::store::{BookingStore, Expected, PaymentWrite, ProcessedEvent};
use crate::stripe::StripeClient;
use crate::webhook_signature::{self, DEFAULT_TOLERANCE_SECS};

/// Stripe retries for up to 3 days; remembering events for a week covers every redelivery.
const EVENT_RETENTION: Duration = Duration::days(7);
/// Stripe's PaymentIntent events are a few KB; anything this large is not from Stripe.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
const MAX_ROUNDS: u32 = 6;
/// Below the function's 10 s Lambda timeout (template.yaml).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: EventIntent,
}

#[derive(Debug, Deserialize)]
struct EventIntent {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    last_payment_error: Option<serde_json::Value>,
}

/// What happened to an event, in the response body (Stripe ignores it; people debugging
/// deliveries in the Stripe dashboard do not).
fn outcome(result: &str, reason: &str) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "received": true, "result": result, "reason": reason }),
    )
}

pub async fn handle<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    req: Request,
) -> Response<Body> {
    let result = match (route_path(&req).as_str(), req.method()) {
        ("/v1/payments/webhook", &Method::POST) => {
            with_deadline(DEADLINE, receive(store, stripe, &req, Utc::now())).await
        }
        ("/v1/payments/webhook", _) => Err(ApiError::MethodNotAllowed("POST")),
        _ => Err(ApiError::NotFound("Not found".into())),
    };
    // A 5xx here makes Stripe deliver the event again later.
    respond("webhook", result)
}

async fn receive<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    req: &Request,
    now: DateTime<Utc>,
) -> Result<Response<Body>, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_EVENT_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let secrets: Vec<String> = stripe
        .keys()
        .await?
        .webhook_secrets
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
    if let Err(reason) = webhook_signature::verify(
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
    let event: Event =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Malformed event"))?;
    let intent = &event.data.object;
    let reason = intent
        .last_payment_error
        .as_ref()
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_string);
    let Some(change) = IntentEvent::from_stripe(&event.kind, intent.amount_received, reason) else {
        tracing::info!(event_id = %event.id, event_type = %event.kind, "event type not handled");
        return Ok(outcome("ignored", "event type not handled"));
    };
    let (Some(intent_id), Some("payment_intent")) = (&intent.id, intent.object.as_deref()) else {
        tracing::warn!(event_id = %event.id, "payment_intent event without an intent");
        return Ok(outcome("ignored", "no payment intent in event"));
    };
    let Some(booking_id) = intent
        .metadata
        .as_ref()
        .and_then(|m| m.get("booking_id"))
        .and_then(|b| b.as_str())
        .and_then(|b| b.parse::<Uuid>().ok())
    else {
        tracing::warn!(event_id = %event.id, payment_intent_id = %intent_id, "intent has no booking_id metadata");
        return Ok(outcome("ignored", "intent is not for a booking"));
    };
    // A new event (the usual case) costs one read and one transaction: the transaction itself
    // refuses an event id already recorded. The events table is read only when the event would
    // be ignored, to tell a redelivery of an applied event ("duplicate") from one we never
    // applied (and not to ask for a manual refund twice).

    for _ in 0..MAX_ROUNDS {
        let Some(booking) = store.get_booking(booking_id).await? else {
            if store.event_processed(&event.id).await? {
                return Ok(outcome("duplicate", "event already processed"));
            }
            tracing::warn!(event_id = %event.id, %booking_id, "event for an unknown booking");
            return Ok(outcome("ignored", "unknown booking"));
        };
        let Some(payment) = booking
            .payment
            .as_ref()
            .filter(|p| &p.intent_id == intent_id)
        else {
            if store.event_processed(&event.id).await? {
                return Ok(outcome("duplicate", "event already processed"));
            }
            if matches!(change, IntentEvent::Succeeded { .. }) {
                // Cannot happen when intents are replaced through create-intent (the old one
                // is cancelled first), so a human must look: money was taken.
                tracing::error!(event_id = %event.id, %booking_id, payment_intent_id = %intent_id,
                    "payment succeeded on an intent that is not the booking's; refund it manually");
            }
            return Ok(outcome(
                "ignored",
                "not the booking's current payment intent",
            ));
        };
        let Some(status) = transition(
            booking.payment_status,
            payment.last_event_at,
            &change,
            event.created,
        ) else {
            if store.event_processed(&event.id).await? {
                return Ok(outcome("duplicate", "event already processed"));
            }
            tracing::info!(event_id = %event.id, %booking_id, current = booking.payment_status.as_str(),
                event_type = %event.kind, "event does not change the booking (final or out of order)");
            return Ok(outcome("ignored", "out of order or booking already final"));
        };
        let mut updated = payment.clone();
        updated.last_event_at = Some(
            payment
                .last_event_at
                .map_or(event.created, |last| last.max(event.created)),
        );
        match &change {
            IntentEvent::Succeeded { amount_received } => {
                updated.amount_received_minor = amount_received.or(Some(payment.amount_minor));
                updated.paid_at = DateTime::from_timestamp(event.created, 0).or(Some(now));
                updated.failure_reason = None;
            }
            IntentEvent::PaymentFailed { reason } => {
                updated.failure_reason =
                    Some(reason.clone().unwrap_or_else(|| "Payment failed".into()));
            }
            _ => {}
        }
        let record = ProcessedEvent {
            event_id: event.id.clone(),
            expires_at: now + EVENT_RETENTION,
        };
        match store
            .update_payment(
                booking.id,
                &Expected::from_booking(&booking),
                status,
                &updated,
                Some(&record),
                now,
            )
            .await?
        {
            PaymentWrite::Written => {
                tracing::info!(event_id = %event.id, %booking_id, payment_status = status.as_str(), "payment updated");
                return Ok(outcome("applied", status.as_str()));
            }
            PaymentWrite::Duplicate => {
                return Ok(outcome("duplicate", "event already processed"));
            }
            PaymentWrite::Conflict => continue,
        }
    }
    Err(ApiError::ServiceUnavailable(
        "The booking is busy; the event will be retried".into(),
    ))
}
