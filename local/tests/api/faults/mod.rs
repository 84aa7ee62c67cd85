//! Faults between the functions and their dependencies (issue #6): the real local stack over
//! HTTP, with a fault-injecting proxy (`fault_proxy`) between the functions and Stripe
//! (localstripe behind the Stripe layer) and another between the functions and DynamoDB (a
//! dynoxide server). Each test
//! breaks the network in one way, then reads Stripe and DynamoDB directly (never through a
//! proxy) and checks what must hold when money is involved:
//!
//! - Stripe timeouts, resets and 500s: create-intent retries with ONE Idempotency-Key (read
//!   from the proxy's log) and either succeeds or answers 502 `{"detail": ...}`; a booking
//!   never points at an intent Stripe lacks, and has one live intent.
//! - Stripe applied a write but its answer was lost: the retry carries the same
//!   Idempotency-Key and Stripe replays the first answer (the Stripe layer in front of
//!   localstripe plays that; the proxy can too, `emulate_stripe_idempotency`), so the
//!   product's keys leave exactly one intent (and one refund).
//! - DynamoDB throttling and 500s: a burst is absorbed by the SDK's retries; a lasting fault is
//!   a 503 (bookings, create-intent) or a non-2xx (webhook, so Stripe delivers again), and
//!   nothing is half-applied.
//! - DynamoDB committed but its answer was lost: the retry (with the Idempotency-Key) or the
//!   redelivered webhook applies it exactly once.
//!
//! The Stripe client's per-attempt timeout is 4 s (3 attempts): a timeout is played by holding
//! a request just past it ([`STALL`]); the proxy lets go as soon as the caller hangs up. An
//! `#[ignore]`d test is a weakness found here, failing until fixed.
//!
//! This module is the rig and the helpers; the tests are in `stripe`, `dynamodb` and
//! `deadlines`.

mod deadlines;
mod dynamodb;
mod refused;
mod stripe;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::fault_proxy::{dynamo, request, Fault, FaultProxy, Seen};
use crate::support::{
    attr, event, example_booking, get_item, new_id, now, scan, spawn_app_with_stripe, succeeded,
    Answer, Item, StripeApi, TestApp, CARD_OK,
};
use aws_sdk_dynamodb::config::{Credentials, Region};
use local_stack::stripe_layer::{LayerConfig, StripeLayer};
use local_stack::{default_python, register_webhook, start_localstripe, Dynamo, Stripe};
use serde_json::{json, Value};

/// Just past the Stripe client's 4 s per-attempt timeout.
const STALL: Duration = Duration::from_millis(4_250);
const PROVIDER_UNAVAILABLE: &str = "Payment provider is unavailable; please retry";
const STORE_UNAVAILABLE: &str = "Booking store is temporarily unavailable; please retry";

// ---------------------------------------------------------------------------------------------
// The rig

/// The real local stack with a fault proxy in front of each dependency: its own localstripe
/// behind its own Stripe layer, and its own dynoxide server. Webhooks go from Stripe straight
/// to the stack (only the functions' calls are faulted), and the tests read both dependencies
/// directly.
struct Rig {
    app: TestApp,
    /// Between the functions and Stripe (the Stripe layer).
    stripe: FaultProxy,
    /// Between the functions and dynoxide.
    dynamo: FaultProxy,
    /// Stripe (the Stripe layer in front of localstripe): what it really holds, asked without
    /// the proxy.
    localstripe: StripeApi,
    /// DynamoDB as it really is, read without the proxy.
    direct: aws_sdk_dynamodb::Client,
    dynoxide: tokio::task::JoinHandle<()>,
    _layer: StripeLayer,
    _localstripe: tokio::process::Child,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.dynoxide.abort();
    }
}

async fn rig() -> Rig {
    let (localstripe, child) = start_localstripe(&default_python(), 0)
        .await
        .expect("localstripe starts (run `make tools` first)");
    let layer = StripeLayer::start(
        "127.0.0.1:0".parse().unwrap(),
        LayerConfig {
            upstream: localstripe,
            api_keys: vec![local_stack::LOCAL_SECRET_KEY.to_string()],
        },
    )
    .await
    .expect("the Stripe layer starts");
    let stripe = FaultProxy::start(&layer.url()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dynoxide = tokio::spawn(dynoxide::server::serve_on(
        listener,
        dynoxide::Database::memory().unwrap(),
    ));
    let dynamo = FaultProxy::start(&endpoint).await;
    let app = spawn_app_with_stripe(
        Dynamo::Endpoint(dynamo.url()),
        Stripe::External { base: stripe.url() },
    )
    .await;
    register_webhook(
        &layer.url(),
        app.stack.addr,
        &app.stack.webhook_secrets,
        &app.stack.stripe_secret_key,
    )
    .await
    .expect("webhook registered");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    Rig {
        localstripe: StripeApi::new(
            app.client.clone(),
            &layer.url(),
            &app.stack.stripe_secret_key,
        ),
        app,
        stripe,
        dynamo,
        direct: aws_sdk_dynamodb::Client::new(&config),
        dynoxide,
        _layer: layer,
        _localstripe: child,
    }
}

/// What Stripe holds for one booking, next to the booking.
#[derive(Debug)]
struct AtStripe {
    booking: Value,
    /// Every intent localstripe has for the booking (by its metadata).
    intents: Vec<Value>,
    /// Ids of those not cancelled.
    live: BTreeSet<String>,
    /// Live intents the booking does not point at.
    live_orphans: BTreeSet<String>,
}

impl Rig {
    async fn create_intent(&self, booking_id: &str, amount: Value) -> Answer {
        self.app
            .create_intent(&json!({"amount": amount, "currency": "usd", "booking_id": booking_id}))
            .await
    }

    async fn intent(&self, id: &str) -> Value {
        self.localstripe.intent(id).await
    }

    /// Reads localstripe directly and checks the invariants that hold whatever the network
    /// did: the booking points at an intent Stripe has, and that intent is live unless the
    /// booking is settled.
    async fn at_stripe(&self, booking_id: &str) -> AtStripe {
        let booking = self.app.booking(booking_id).await;
        let intents = self.localstripe.intents_for(booking_id).await;
        let live: BTreeSet<String> = intents
            .iter()
            .filter(|pi| pi["status"] != "canceled")
            .map(|pi| pi["id"].as_str().unwrap().to_string())
            .collect();
        let attached = booking["payment_intent_id"].as_str();
        if let Some(id) = attached {
            assert!(
                intents.iter().any(|pi| pi["id"] == id),
                "the booking points at an intent Stripe does not have: {booking}\n{intents:#?}"
            );
            if booking["status"] == "confirmed" && booking["payment_status"] == "pending" {
                assert!(live.contains(id), "the booking's intent is dead: {booking}");
            }
        }
        let live_orphans = live
            .iter()
            .filter(|id| Some(id.as_str()) != attached)
            .cloned()
            .collect();
        AtStripe {
            booking,
            intents,
            live,
            live_orphans,
        }
    }

    /// Pays an intent at localstripe, as Stripe.js would (support's `pay`, past the proxy).
    async fn pay(&self, intent_id: &str) {
        let paid = self.localstripe.pay(intent_id, CARD_OK).await;
        assert_eq!(paid.body["status"], "succeeded", "{:?}", paid.body);
    }
}

// ---------------------------------------------------------------------------------------------
// What the functions sent Stripe

/// The functions' POSTs creating an intent for this booking (their key names the booking).
fn creates_for(booking_id: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    let prefix = format!("booking-{booking_id}-");
    move |s: &Seen| {
        s.method == "POST"
            && s.path == "/v1/payment_intents"
            && s.idempotency_key
                .as_deref()
                .is_some_and(|k| k.starts_with(&prefix))
    }
}

fn cancel_of(intent_id: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    request("POST", format!("/v1/payment_intents/{intent_id}/cancel"))
}

/// Reads of this intent, as the product asks for them (with its charge expanded, for an
/// authorization's `capture_before`).
pub fn retrieve_of(
    intent_id: &str,
) -> impl Fn(&crate::fault_proxy::Seen) -> bool + Clone + Send + Sync + 'static {
    request(
        "GET",
        format!("/v1/payment_intents/{intent_id}?expand%5B%5D=latest_charge"),
    )
}

/// The one Idempotency-Key every one of these requests carried.
fn one_key(requests: &[Seen]) -> String {
    let keys: BTreeSet<Option<&str>> = requests
        .iter()
        .map(|s| s.idempotency_key.as_deref())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "retries changed the Idempotency-Key: {keys:?}"
    );
    keys.into_iter()
        .next()
        .flatten()
        .expect("a POST without an Idempotency-Key")
        .to_string()
}

fn pi_of(answer: &Answer) -> String {
    answer.body["payment_intent_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no intent in {:?}", answer.body))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// What DynamoDB really holds, and signed webhooks

impl Rig {
    async fn item(&self, table: &str, key: &str, value: &str) -> Option<Item> {
        get_item(&self.direct, table, key, value).await
    }

    async fn scan(&self, table: &str) -> Vec<Item> {
        scan(&self.direct, table).await
    }

    async fn booking_item(&self, id: &str) -> Option<Item> {
        self.item("bookings", "id", id).await
    }

    /// The booking ids holding intervals on the asset's slot item for that day.
    async fn slot_holders(&self, asset: &str, day: &str) -> BTreeSet<String> {
        self.item("booking-slots", "pk", &format!("{asset}#{day}"))
            .await
            .map(|item| {
                item.keys()
                    .filter_map(|k| k.strip_prefix("b_").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn event_recorded(&self, event_id: &str) -> bool {
        self.item("stripe-events", "pk", event_id).await.is_some()
    }

    /// A booking with an intent at localstripe, and that intent.
    async fn booking_with_intent(&self) -> (String, Value) {
        self.app.booking_with_intent_at(&self.localstripe).await
    }

    async fn deliver(&self, payload: &str) -> Answer {
        self.app
            .deliver(payload, Some(self.app.sign_now(payload)))
            .await
    }
}

/// A `payment_intent.succeeded` for this intent, and the event's id.
fn succeeded_event(intent: &Value) -> (String, String) {
    let payload = event("payment_intent.succeeded", now(), &succeeded(intent));
    let id = serde_json::from_str::<Value>(&payload).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    (payload, id)
}

fn assert_unavailable(answer: &Answer) {
    assert_eq!(
        (answer.status, &answer.body),
        (503, &json!({"detail": STORE_UNAVAILABLE}))
    );
}

/// The day of `example_booking`'s slot.
const DAY: &str = "2026-02-05";
