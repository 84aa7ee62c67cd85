//! Idempotency keys through the bookings handler, as API Gateway hands it requests: a key is
//! scoped per route and per API key (`requestContext.identity.apiKeyId`), as Stripe scopes
//! keys per account, so one app cannot make another's requests fail for 24 h by guessing them.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use super::bookings::handle;
use crate::adapters::memory::{FakeStripe, InMemoryStore};

/// `POST /v1/bookings` as the REST API delivers it (the sample event), from API key
/// `api_key_id`, with `Idempotency-Key: key`, for a slot starting at `start`.
fn create(api_key_id: &str, key: &str, start: &str, end: &str) -> lambda_http::Request {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/bookings-create-ok.json")).unwrap();
    event["requestContext"]["identity"]["apiKeyId"] = json!(api_key_id);
    for headers in ["headers", "multiValueHeaders"] {
        let v = if headers == "headers" {
            json!(key)
        } else {
            json!([key])
        };
        event[headers]["Idempotency-Key"] = v;
    }
    let body = json!({
        "asset_id": "550e8400-e29b-41d4-a716-446655440000",
        "asset_type": "charging_station",
        "user_id": "650e8400-e29b-41d4-a716-446655440001",
        "start_time": start,
        "end_time": end,
    });
    event["body"] = json!(body.to_string());
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn id_of(resp: &lambda_http::Response<lambda_http::Body>) -> String {
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    body["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn one_key_under_two_api_keys_is_two_requests() {
    let (store, stripe) = (InMemoryStore::new(), FakeStripe::new());
    let first = handle(
        &store,
        &stripe,
        create(
            "keyA",
            "order-1",
            "2026-03-01T10:00:00Z",
            "2026-03-01T11:00:00Z",
        ),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // Another app (another API key) that happens to (or means to) use the same key.
    let other = handle(
        &store,
        &stripe,
        create(
            "keyB",
            "order-1",
            "2026-03-01T12:00:00Z",
            "2026-03-01T13:00:00Z",
        ),
    )
    .await;
    assert_eq!(other.status(), StatusCode::CREATED, "{:?}", other.body());
    assert_ne!(id_of(&first), id_of(&other));
    // The first app's own retry still replays its answer, and its own reuse is still refused.
    let again = handle(
        &store,
        &stripe,
        create(
            "keyA",
            "order-1",
            "2026-03-01T10:00:00Z",
            "2026-03-01T11:00:00Z",
        ),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(id_of(&again), id_of(&first));
    let reused = handle(
        &store,
        &stripe,
        create(
            "keyA",
            "order-1",
            "2026-03-01T14:00:00Z",
            "2026-03-01T15:00:00Z",
        ),
    )
    .await;
    assert!(reused.status().is_client_error(), "{:?}", reused.status());
}
