//! The test app: the real local stack on a random port with its own in-memory DynamoDB
//! emulator, and an HTTP client that talks to it.

use local_stack::{default_python, Dynamo, RunningStack, StackConfig, Stripe};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use super::product::{HoldSettings, Tables};
use super::stripe::StripeApi;
use super::turn::Turn;

pub const API_KEY: &str = "test-api-key-123";

pub struct TestApp {
    pub stack: RunningStack,
    pub client: reqwest::Client,
    /// The app's Stripe, as the functions reach it (`stack.stripe_base`).
    stripe_api: StripeApi,
    /// Held as long as the app lives: see [`Turn`].
    _turn: Turn,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Dynamo::Memory).await
}

/// [`spawn_app`] for a heavy test, which runs with no other test beside it (see [`Turn`]).
pub async fn spawn_app_alone() -> TestApp {
    start_app(Dynamo::Memory, default_stripe(), Turn::alone().await).await
}

pub async fn spawn_app_with(dynamo: Dynamo) -> TestApp {
    spawn_app_with_stripe(dynamo, default_stripe()).await
}

/// Every test app gets its own localstripe, so webhooks never cross between tests.
fn default_stripe() -> Stripe {
    Stripe::Emulator {
        python: default_python(),
        port: 0,
    }
}

pub async fn spawn_app_with_stripe(dynamo: Dynamo, stripe: Stripe) -> TestApp {
    start_app(dynamo, stripe, Turn::shared().await).await
}

/// [`spawn_app`] whose reconcile runs with these card-authorization settings.
pub async fn spawn_app_with_holds(holds: HoldSettings) -> TestApp {
    start_app_holding(
        Dynamo::Memory,
        default_stripe(),
        Turn::shared().await,
        holds,
    )
    .await
}

async fn start_app(dynamo: Dynamo, stripe: Stripe, turn: Turn) -> TestApp {
    start_app_holding(dynamo, stripe, turn, HoldSettings::default()).await
}

async fn start_app_holding(
    dynamo: Dynamo,
    stripe: Stripe,
    turn: Turn,
    holds: HoldSettings,
) -> TestApp {
    // Every DynamoDB access the functions' handlers make is checked against (or, with
    // RECORD_DYNAMO_ACCESS=1, recorded into) tests/deploy/dynamo_access.json.
    local_stack::dynamo_access::enable();
    let config = StackConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        api_keys: vec![API_KEY.to_string()],
        dynamo,
        tables: Tables {
            bookings: "bookings".into(),
            slots: "booking-slots".into(),
            idempotency: "idempotency".into(),
            events: "stripe-events".into(),
            tariffs: "tariffs".into(),
        },
        stripe,
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.into(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.into()],
        // Tests run reconciliation when they mean to: `stack.reconcile_now()`.
        reconcile_interval: None,
        holds,
        bridge: None,
    };
    let stack = local_stack::start(config)
        .await
        .expect("local stack starts");
    let client = reqwest::Client::new();
    TestApp {
        stripe_api: StripeApi::new(client.clone(), &stack.stripe_base, &stack.stripe_secret_key),
        stack,
        client,
        _turn: turn,
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// Sends the request and reads the answer, whose body must be JSON.
pub(super) async fn send(req: RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request reaches the stack");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is JSON: {text:?}"));
    Answer {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.url(), path)
    }

    pub async fn send(&self, req: RequestBuilder) -> Answer {
        send(req).await
    }

    /// A request with the API key (every route but the webhook needs it).
    pub fn keyed(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", API_KEY)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(self.keyed(Method::POST, path).json(body)).await
    }

    pub async fn post_json_no_key(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// A POST of these bytes as `application/json`, whatever they are.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        self.send(
            self.keyed(Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.keyed(Method::GET, path)).await
    }

    pub async fn create_booking(&self, body: &Value) -> Answer {
        self.post_json("/v1/bookings", body).await
    }

    /// `POST /v1/bookings` with this `Idempotency-Key`, if any.
    pub async fn create_booking_with_key(&self, body: &Value, key: Option<&str>) -> Answer {
        let mut req = self.keyed(Method::POST, "/v1/bookings").json(body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        self.send(req).await
    }

    pub async fn list(&self, user_id: &str, extra: &str) -> Answer {
        self.get(&format!("/v1/bookings?user_id={user_id}{extra}"))
            .await
    }

    pub async fn create_intent(&self, body: &Value) -> Answer {
        self.post_json("/v1/payments/create-intent", body).await
    }

    /// A new booking of a fresh asset (so tests never collide), returning its id.
    pub async fn new_booking(&self) -> String {
        let created = self
            .create_booking(&example_booking(&new_id(), &new_id()))
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        created.body["id"].as_str().unwrap().to_string()
    }

    pub async fn booking(&self, id: &str) -> Value {
        let got = self.get(&format!("/v1/bookings/{id}")).await;
        assert_eq!(got.status, 200, "{:?}", got.body);
        got.body
    }

    /// Polls the booking until `payment_status` is `want` (webhooks arrive ~1 s after the
    /// payment), failing with the last state seen after 20 s.
    pub async fn wait_for_payment_status(&self, id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            last = self.booking(id).await;
            if last["payment_status"] == want {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("booking never reached payment_status {want}: {last}");
    }

    /// The app's Stripe, as the functions reach it.
    pub fn stripe_api(&self) -> &StripeApi {
        &self.stripe_api
    }

    /// The DynamoDB the functions use, read directly.
    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.stack.store.client()
    }
}

/// A booking body for `asset`/`user` from `start` to `end` (RFC 3339).
pub fn booking(asset: &str, user: &str, start: &str, end: &str) -> Value {
    json!({
        "asset_id": asset,
        "asset_type": "charging_station",
        "user_id": user,
        "start_time": start,
        "end_time": end,
    })
}

/// A booking body for `asset`/`user` in the document's example slot, 2026-02-05 from 23:00 to
/// 23:30 UTC.
pub fn example_booking(asset: &str, user: &str) -> Value {
    booking(asset, user, "2026-02-05T23:00:00Z", "2026-02-05T23:30:00Z")
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A loopback port that was free a moment ago (the OS picked it, and it is released again).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}
