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
use crate::app::refunds::apply_money_event;
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
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let check = |known: Vec<crate::domain::Secret>| {
        let known: Vec<String> = known.iter().map(|s| s.expose().to_string()).collect();
        if known.is_empty() {
            return Err(None);
        }
        signature::verify(
            body,
            header,
            &known,
            now.timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
        .map(|_| ())
        .map_err(Some)
    };
    let mut verdict = check(secrets.webhook_secrets().await?);
    // A signature that fails against the cached secrets may be from a secret rolled since:
    // read them again (at most once a minute per instance) and check once more.
    if verdict.is_err() && secrets.reload().await? {
        verdict = check(secrets.webhook_secrets().await?);
    }
    match verdict {
        Ok(()) => {}
        Err(None) => {
            // Answer 5xx so Stripe keeps the event until the secret is configured.
            tracing::error!("no webhook signing secret configured");
            return Err(ApiError::Internal("Webhook is not configured".into()));
        }
        Err(Some(reason)) => {
            tracing::warn!(%reason, "webhook signature rejected");
            return Err(ApiError::bad_request("Invalid signature"));
        }
    }
    // Signed by Stripe, so a parse failure is our problem or a new format: 400 keeps it
    // visible in Stripe's dashboard without a retry storm.
    let parsed = event::parse(body).map_err(|_| ApiError::bad_request("Malformed event"))?;
    let result = match parsed {
        Parsed::Ignored(reason) => return Ok(outcome("ignored", reason)),
        Parsed::Intent(event) => apply_intent_event(store, &event, now).await?,
        Parsed::Money(event) => apply_money_event(store, &event, now).await?,
    };
    Ok(match result {
        EventOutcome::Applied(status) => outcome("applied", status.as_str()),
        EventOutcome::RefundOwed => outcome("applied", "refund owed"),
        EventOutcome::Duplicate => outcome("duplicate", "event already processed"),
        EventOutcome::Ignored(reason) => outcome("ignored", reason),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::adapters::memory::InMemoryStore;
    use crate::domain::Secret;
    use crate::ports::ProviderError;

    /// Signing secrets as a test rolls them: what is cached, and what a read again finds.
    struct Rolled {
        cached: Mutex<Vec<Secret>>,
        stored: Vec<Secret>,
        reads: Mutex<u32>,
    }

    impl WebhookSecrets for Rolled {
        async fn webhook_secrets(&self) -> Result<Vec<Secret>, ProviderError> {
            Ok(self.cached.lock().unwrap().clone())
        }

        async fn reload(&self) -> Result<bool, ProviderError> {
            *self.reads.lock().unwrap() += 1;
            *self.cached.lock().unwrap() = self.stored.clone();
            Ok(true)
        }
    }

    fn delivery(secret: &str) -> Request {
        let body = br#"{"id":"evt_1","type":"customer.created","created":1,"data":{"object":{}}}"#;
        let header = signature::sign(body, secret, Utc::now().timestamp());
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/payments/webhook")
            .header("stripe-signature", header)
            .body(Body::from(body.to_vec()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_signature_from_a_secret_rolled_since_is_accepted_after_one_read() {
        let secrets = Rolled {
            cached: Mutex::new(vec![Secret::new("whsec_old")]),
            stored: vec![Secret::new("whsec_new")],
            reads: Mutex::new(0),
        };
        let store = InMemoryStore::new();
        let resp = handle(&store, &secrets, delivery("whsec_new")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(*secrets.reads.lock().unwrap(), 1);
        // Once known, no more reads.
        let resp = handle(&store, &secrets, delivery("whsec_new")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(*secrets.reads.lock().unwrap(), 1);
        // A forgery is still refused, after its one (rate-limited) read.
        let resp = handle(&store, &secrets, delivery("whsec_forged")).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
}
