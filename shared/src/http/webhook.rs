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
    // The cheapest rejection first: a missing or malformed header is refused before any
    // secret is looked at, so a flood of them costs no Secrets Manager read (first or again).
    if let Err(reason) = signature::check_shape(header) {
        tracing::warn!(%reason, "webhook signature rejected");
        return Err(ApiError::bad_request("Invalid signature"));
    }
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
    // A well-formed signature that matches no cached secret may be from a secret rolled
    // since: read them again (at most once a minute per instance) and check once more.
    let unknown_secret = matches!(
        verdict,
        Err(None) | Err(Some(signature::SignatureError::NoMatch))
    );
    if unknown_secret && secrets.reload().await? {
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
    let parsed = event::parse_in_mode(body, secrets.livemode())
        .map_err(|_| ApiError::bad_request("Malformed event"))?;
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
        /// Every look at the secrets (cached or not): the first one on an instance reads them.
        looks: Mutex<u32>,
        mode: Option<bool>,
    }

    impl Rolled {
        fn new(cached: &str, stored: &str) -> Self {
            Self {
                cached: Mutex::new(vec![Secret::new(cached)]),
                stored: vec![Secret::new(stored)],
                reads: Mutex::new(0),
                looks: Mutex::new(0),
                mode: None,
            }
        }
    }

    impl WebhookSecrets for Rolled {
        async fn webhook_secrets(&self) -> Result<Vec<Secret>, ProviderError> {
            *self.looks.lock().unwrap() += 1;
            Ok(self.cached.lock().unwrap().clone())
        }

        async fn reload(&self) -> Result<bool, ProviderError> {
            *self.reads.lock().unwrap() += 1;
            *self.cached.lock().unwrap() = self.stored.clone();
            Ok(true)
        }

        fn livemode(&self) -> Option<bool> {
            self.mode
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
        let secrets = Rolled::new("whsec_old", "whsec_new");
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

    fn post(header: Option<&str>, body: &[u8]) -> Request {
        let mut req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/payments/webhook");
        if let Some(h) = header {
            req = req.header("stripe-signature", h);
        }
        req.body(Body::from(body.to_vec())).unwrap()
    }

    #[tokio::test]
    async fn no_or_a_malformed_signature_never_reads_the_secrets() {
        let secrets = Rolled::new("whsec_old", "whsec_new");
        let store = InMemoryStore::new();
        let body = br#"{"id":"evt_1","type":"customer.created","created":1,"data":{"object":{}}}"#;
        let t = Utc::now().timestamp();
        let malformed = [
            None,
            Some(String::new()),
            Some("garbage".to_string()),
            Some(format!("t={t}")),
            Some("v1=00".to_string()),
            Some(format!("t={t},t={t},v1=00")),
            Some("t=soon,v1=00".to_string()),
        ];
        for header in &malformed {
            let resp = handle(&store, &secrets, post(header.as_deref(), body)).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{header:?}");
        }
        assert_eq!(*secrets.reads.lock().unwrap(), 0, "no read again");
        assert_eq!(*secrets.looks.lock().unwrap(), 0, "not even the first read");
        // A well-formed signature under no known secret is the one that reads them again.
        let forged = signature::sign(body, "whsec_forged", t);
        let resp = handle(&store, &secrets, post(Some(&forged), body)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(*secrets.reads.lock().unwrap(), 1);
    }

    /// A booking with a current intent at the fake Stripe, and a signed
    /// `payment_intent.succeeded` for it in the given mode.
    async fn paid_in_mode(
        store: &InMemoryStore,
        livemode: bool,
        secret: &str,
    ) -> (crate::domain::BookingId, Request) {
        use crate::adapters::memory::FakeStripe;
        use crate::domain::money::currency;
        use crate::domain::slot::parse_time;
        use crate::domain::{
            AssetId, AssetType, Booking, BookingId, Money, NewBooking, Slot, UserId,
        };
        let new = NewBooking {
            asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
            asset_type: AssetType::ChargingStation,
            user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
            slot: Slot::new(
                parse_time("s", "2026-02-05T23:00:00Z").unwrap(),
                parse_time("e", "2026-02-05T23:30:00Z").unwrap(),
            )
            .unwrap(),
        };
        let booking = Booking::new(new, BookingId::generate(), Utc::now());
        let id = booking.id;
        store.insert(booking);
        let amount = Money::parse("3.50", currency("usd").unwrap()).unwrap();
        let intent = crate::app::intents::create_intent(
            store,
            &FakeStripe::new(),
            id,
            amount,
            &Default::default(),
            Utc::now,
        )
        .await
        .unwrap();
        let body = json!({
            "id": format!("evt_{livemode}"), "object": "event", "type": "payment_intent.succeeded",
            "created": Utc::now().timestamp(), "livemode": livemode,
            "data": {"object": {
                "id": intent.id.as_str(), "object": "payment_intent", "amount": 350,
                "amount_received": 350, "status": "succeeded", "livemode": livemode,
                "metadata": {"booking_id": id.to_string()},
            }},
        })
        .to_string();
        let header = signature::sign(body.as_bytes(), secret, Utc::now().timestamp());
        (id, post(Some(&header), body.as_bytes()))
    }

    #[tokio::test]
    async fn an_event_from_the_other_stripe_mode_is_answered_and_changes_nothing() {
        use crate::domain::PaymentStatus;
        // Prod's list holds a test-mode secret by mistake: a test-mode event signed with it
        // must not move a live booking.
        let mut secrets = Rolled::new("whsec_mixed", "whsec_mixed");
        secrets.mode = Some(true);
        let store = InMemoryStore::new();
        let (id, test_mode) = paid_in_mode(&store, false, "whsec_mixed").await;
        let resp = handle(&store, &secrets, test_mode).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(body["result"], "ignored", "{body}");
        let booking = store.get_booking(id).await.unwrap().unwrap();
        assert_eq!(booking.payment_status, PaymentStatus::Pending);
        // The same event in the deployment's mode is applied.
        let (id, live) = paid_in_mode(&store, true, "whsec_mixed").await;
        let resp = handle(&store, &secrets, live).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let booking = store.get_booking(id).await.unwrap().unwrap();
        assert_eq!(booking.payment_status, PaymentStatus::Completed);
    }
}
