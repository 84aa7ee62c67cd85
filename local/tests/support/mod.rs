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
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Dynamo::Memory).await
}

pub async fn spawn_app_with(dynamo: Dynamo) -> TestApp {
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
        // Every test app gets its own localstripe, so webhooks never cross between tests.
        stripe: Stripe::Emulator {
            python: default_python(),
            port: 0,
        },
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.into(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.into()],
    };
    let stack = local_stack::start(config)
        .await
        .expect("local stack starts");
    TestApp {
        stack,
        client: reqwest::Client::new(),
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
