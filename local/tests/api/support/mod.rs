//! One helper builds the test app: the real local stack on a random port with its own
//! in-memory DynamoDB emulator, and an HTTP client that talks to it.

#![allow(dead_code)]

use local_stack::{default_python, Dynamo, RunningStack, StackConfig, Stripe};
use serde_json::{json, Value};
use shared::config::Tables;

pub const API_KEY: &str = "test-api-key-123";

pub struct TestApp {
    pub stack: RunningStack,
    pub client: reqwest::Client,
    /// Held as long as the app lives: see [`Turn`].
    _turn: Turn,
}

/// Which tests run at once. Every app holds a shared turn; a heavy test (`load`) takes the
/// machine alone, so no other test runs while it does and it runs beside no other.
///
/// Each test file used to be its own binary, and cargo runs binaries one after another, so
/// `load` (32 clients, thousands of requests, its own localstripe) always had the 2 cores to
/// itself. In one binary, libtest runs 2 tests at a time: `load` would starve the test beside it
/// and be starved by it, and tests with a deadline (faults' 10 s and 15 s Lambda timeouts,
/// `wait_for_payment_status`'s 20 s, load's own 90 s for every payment to settle) would flake.
/// This keeps the old concurrency: `load` alone, the rest two at a time as before.
///
/// tokio's lock is fair: once a heavy test waits, new shared turns wait behind it. A test must
/// never hold two apps at once (their turns could then wait on each other); none does.
pub enum Turn {
    Shared(tokio::sync::OwnedRwLockReadGuard<()>),
    Alone(tokio::sync::OwnedRwLockWriteGuard<()>),
}

static TURNS: std::sync::LazyLock<std::sync::Arc<tokio::sync::RwLock<()>>> =
    std::sync::LazyLock::new(Default::default);

impl Turn {
    pub async fn shared() -> Turn {
        Turn::Shared(TURNS.clone().read_owned().await)
    }

    pub async fn alone() -> Turn {
        Turn::Alone(TURNS.clone().write_owned().await)
    }
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

async fn start_app(dynamo: Dynamo, stripe: Stripe, turn: Turn) -> TestApp {
    let config = StackConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        api_keys: vec![API_KEY.to_string()],
        dynamo,
        tables: Tables {
            bookings: "bookings".into(),
            slots: "booking-slots".into(),
            idempotency: "idempotency".into(),
            events: "stripe-events".into(),
        },
        stripe,
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.into(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.into()],
    };
    let stack = local_stack::start(config)
        .await
        .expect("local stack starts");
    TestApp {
        stack,
        client: reqwest::Client::new(),
        _turn: turn,
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.url(), path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
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

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(
            self.client
                .post(self.url(path))
                .header("x-api-key", API_KEY)
                .json(body),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> Answer {
        self.send(
            self.client
                .post(self.url(path))
                .header("x-api-key", API_KEY)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path)).header("x-api-key", API_KEY))
            .await
    }

    pub async fn create_booking(&self, body: &Value) -> Answer {
        self.post_json("/v1/bookings", body).await
    }

    pub async fn list(&self, user_id: &str, extra: &str) -> Answer {
        self.get(&format!("/v1/bookings?user_id={user_id}{extra}"))
            .await
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

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Test cards as localstripe knows them (see ../shared/notes/local-emulators.md).
pub const CARD_OK: &str = "4242424242424242";
/// Declines in localstripe; real Stripe's decline card 4000000000000002 does not.
pub const CARD_DECLINED: &str = "4000000000000341";
pub const CARD_3DS: &str = "4000002500003155";

impl TestApp {
    pub async fn post_json_no_key(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn create_intent(&self, body: &Value) -> Answer {
        self.post_json("/v1/payments/create-intent", body).await
    }

    /// A new booking of a fresh asset (so tests never collide), returning its id.
    pub async fn new_booking(&self) -> String {
        let created = self
            .create_booking(&booking(
                &new_id(),
                &new_id(),
                "2026-02-05T23:00:00Z",
                "2026-02-05T23:30:00Z",
            ))
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

    /// A call to the Stripe emulator with the secret key (the tests play Stripe.js's part:
    /// localstripe refuses the publishable-key confirm that Stripe.js does).
    pub async fn stripe(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Answer {
        let req = self
            .client
            .request(method, format!("{}{}", self.stack.stripe_base, path))
            .bearer_auth(&self.stack.stripe_secret_key)
            .form(form);
        self.send(req).await
    }

    /// Attaches a card to the intent and confirms it, as Stripe.js's confirmCardPayment does.
    pub async fn pay(&self, intent_id: &str, card: &str) -> Answer {
        let pm = self
            .stripe(
                reqwest::Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", card),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        assert_eq!(pm.status, 200, "{:?}", pm.body);
        let attached = self
            .stripe(
                reqwest::Method::POST,
                &format!("/v1/payment_intents/{intent_id}"),
                &[("payment_method", pm.body["id"].as_str().unwrap())],
            )
            .await;
        assert_eq!(attached.status, 200, "{:?}", attached.body);
        self.stripe(
            reqwest::Method::POST,
            &format!("/v1/payment_intents/{intent_id}/confirm"),
            &[],
        )
        .await
    }

    pub async fn stripe_intent(&self, intent_id: &str) -> Value {
        let got = self
            .stripe(
                reqwest::Method::GET,
                &format!("/v1/payment_intents/{intent_id}"),
                &[],
            )
            .await;
        assert_eq!(got.status, 200, "{:?}", got.body);
        got.body
    }

    /// Every PaymentIntent in this app's emulator for `booking_id`.
    pub async fn stripe_intents_for(&self, booking_id: &str) -> Vec<Value> {
        let all = self
            .stripe(reqwest::Method::GET, "/v1/payment_intents?limit=1000", &[])
            .await;
        assert_eq!(all.status, 200, "{:?}", all.body);
        all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pi| pi["metadata"]["booking_id"] == booking_id)
            .cloned()
            .collect()
    }

    /// Delivers `payload` to the webhook signed as Stripe signs it, with these secrets and
    /// timestamp.
    pub async fn deliver(&self, payload: &str, signature: Option<String>) -> Answer {
        let mut req = self
            .client
            .post(self.url("/v1/payments/webhook"))
            .header("content-type", "application/json; charset=utf-8")
            .body(payload.to_string());
        if let Some(sig) = signature {
            req = req.header("stripe-signature", sig);
        }
        self.send(req).await
    }

    pub fn sign_now(&self, payload: &str) -> String {
        shared::webhook_signature::sign(
            payload.as_bytes(),
            &self.stack.webhook_secrets[0],
            chrono::Utc::now().timestamp(),
        )
    }
}

/// A Stripe event around a PaymentIntent object, as Stripe would send it.
pub fn event(kind: &str, created: i64, intent: &Value) -> String {
    json!({
        "id": format!("evt_test_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "type": kind,
        "created": created,
        "api_version": "2024-06-20",
        "livemode": false,
        "data": { "object": intent },
    })
    .to_string()
}
