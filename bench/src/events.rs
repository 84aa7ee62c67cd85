//! The events each function is fed: API Gateway REST (v1) proxy events, as API Gateway sends
//! them (and as `local/src/lib.rs` builds them for the local stack), and signed Stripe events.

use serde_json::{json, Value};

pub const API_KEY: &str = "test-api-key-123";
/// The asset type the seeded tariff applies to (`setup::seed`); the other has none.
pub const TARIFFED_ASSET_TYPE: &str = "parking_spot";
const STAGE: &str = "prod";

/// An API Gateway REST proxy event. JSON bodies are passed as text (API Gateway only
/// base64-encodes media types configured as binary).
pub fn rest_event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut all: Vec<(&str, &str)> = vec![
        ("Accept", "*/*"),
        ("Host", "abcdef1234.execute-api.us-east-1.amazonaws.com"),
        ("User-Agent", "bench/1"),
        (
            "X-Amzn-Trace-Id",
            "Root=1-66e3f2a1-0123456789abcdef01234567",
        ),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ];
    all.extend_from_slice(headers);
    let single: serde_json::Map<String, Value> =
        all.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let multi: serde_json::Map<String, Value> = all
        .iter()
        .map(|(k, v)| (k.to_string(), json!([v])))
        .collect();
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": { "proxy": path.trim_start_matches('/') },
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "abcdef1234",
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/{STAGE}{path}"),
            "stage": STAGE,
            "protocol": "HTTP/1.1",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTimeEpoch": now_unix_ms(),
            "identity": { "sourceIp": "203.0.113.7", "apiKey": API_KEY, "userAgent": "bench/1" }
        },
        "body": body,
        "isBase64Encoded": false
    })
}

pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a target function is asked to do, invocation after invocation.
pub enum Workload {
    /// The hello-world floor: any event.
    Floor,
    /// `GET /v1/bookings/{id}` of a seeded booking.
    GetBooking { booking_id: String },
    /// `POST /v1/payments/create-intent` for a seeded booking: the first call creates the
    /// intent, every later one finds it at Stripe and returns it (the idempotent path).
    CreateIntent { booking_id: String },
    /// `POST /v1/bookings`, each call a new booking on an asset of its own (`asset_type`
    /// decides whether the seeded asset-type tariff prices it).
    CreateBooking { asset_type: &'static str },
    /// Signed `payment_intent.processing` / `payment_intent.requires_action` events for a
    /// seeded booking and its intent, alternating, each with a fresh id and a later
    /// `created`, so every one is applied.
    Webhook {
        booking_id: String,
        intent_id: String,
        secret: String,
        created: i64,
        sent: u64,
    },
}

impl Workload {
    pub fn next_event(&mut self) -> Value {
        match self {
            Workload::Floor => rest_event("GET", "/hello", &[("X-API-Key", API_KEY)], None),
            Workload::GetBooking { booking_id } => rest_event(
                "GET",
                &format!("/v1/bookings/{booking_id}"),
                &[("X-API-Key", API_KEY)],
                None,
            ),
            Workload::CreateIntent { booking_id } => {
                let body = json!({ "amount": 4.50, "currency": "usd", "booking_id": booking_id });
                rest_event(
                    "POST",
                    "/v1/payments/create-intent",
                    &[("X-API-Key", API_KEY), ("Content-Type", "application/json")],
                    Some(&body.to_string()),
                )
            }
            Workload::CreateBooking { asset_type } => {
                let body = json!({
                    "asset_id": uuid::Uuid::new_v4().to_string(),
                    "asset_type": asset_type,
                    "user_id": "650e8400-e29b-41d4-a716-446655440001",
                    "start_time": "2026-02-05T23:00:00Z",
                    "end_time": "2026-02-05T23:30:00Z",
                });
                rest_event(
                    "POST",
                    "/v1/bookings",
                    &[("X-API-Key", API_KEY), ("Content-Type", "application/json")],
                    Some(&body.to_string()),
                )
            }
            Workload::Webhook {
                booking_id,
                intent_id,
                secret,
                created,
                sent,
            } => {
                *sent += 1;
                *created += 1;
                let (kind, status) = if *sent % 2 == 1 {
                    ("payment_intent.processing", "processing")
                } else {
                    ("payment_intent.requires_action", "requires_action")
                };
                let event = json!({
                    "id": format!("evt_bench_{}", uuid::Uuid::new_v4().simple()),
                    "object": "event",
                    "api_version": shared::adapters::stripe::STRIPE_VERSION,
                    "created": *created,
                    "livemode": false,
                    "pending_webhooks": 1,
                    "type": kind,
                    "data": { "object": {
                        "id": intent_id,
                        "object": "payment_intent",
                        "amount": 450,
                        "amount_received": 0,
                        "currency": "usd",
                        "status": status,
                        "metadata": { "booking_id": booking_id },
                        "last_payment_error": null
                    }}
                })
                .to_string();
                let now = (now_unix_ms() / 1000) as i64;
                let signature = shared::adapters::stripe::signature::sign(
                    event.as_bytes(),
                    secret.as_str(),
                    now,
                );
                rest_event(
                    "POST",
                    "/v1/payments/webhook",
                    &[
                        ("Content-Type", "application/json; charset=utf-8"),
                        ("Stripe-Signature", &signature),
                    ],
                    Some(&event),
                )
            }
        }
    }

    /// Checks a function's answer (an API Gateway proxy response): 2xx, and for the webhook
    /// that the event was really applied.
    pub fn check(&self, response: &[u8]) -> Result<u16, String> {
        let value: Value = serde_json::from_slice(response).map_err(|e| {
            format!(
                "not a proxy response ({e}): {}",
                String::from_utf8_lossy(response)
            )
        })?;
        let status = value
            .get("statusCode")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("no statusCode in {value}"))? as u16;
        if !(200..300).contains(&status) {
            return Err(format!("status {status}: {}", value["body"]));
        }
        let body = || -> Value {
            value
                .get("body")
                .and_then(Value::as_str)
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null)
        };
        match self {
            Workload::Webhook { .. } if body()["result"] != "applied" => {
                return Err(format!("webhook event not applied: {}", body()));
            }
            // The two creation workloads measure what they say: priced by the tariff, or not.
            Workload::CreateBooking { asset_type } => {
                let priced = body().get("price").is_some_and(|p| !p.is_null());
                if priced != (*asset_type == TARIFFED_ASSET_TYPE) {
                    return Err(format!(
                        "a {asset_type} booking with price {priced}: {}",
                        body()
                    ));
                }
            }
            _ => {}
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    #[test]
    fn rest_events_parse_as_api_gateway_requests() {
        let mut w = Workload::CreateIntent {
            booking_id: "b1".into(),
        };
        let event = w.next_event().to_string();
        let req = lambda_http::request::from_str(&event).unwrap();
        assert_eq!(req.method(), "POST");
        assert!(req.uri().path().ends_with("/v1/payments/create-intent"));
        assert_eq!(req.headers()["x-api-key"], API_KEY);
        assert!(req.request_context_ref().is_some());
        let body: Value = serde_json::from_slice(req.body().as_ref()).unwrap();
        assert_eq!(body["booking_id"], "b1");
    }

    #[test]
    fn webhook_events_are_signed_distinct_and_alternate() {
        let secret = "whsec_test";
        let mut w = Workload::Webhook {
            booking_id: "b".into(),
            intent_id: "pi_1".into(),
            secret: secret.into(),
            created: 1_000,
            sent: 0,
        };
        let mut seen = Vec::new();
        for _ in 0..4 {
            let event = w.next_event().to_string();
            let req = lambda_http::request::from_str(&event).unwrap();
            let body = req.body().as_ref().to_vec();
            let header = req.headers()["stripe-signature"].to_str().unwrap();
            let now = (now_unix_ms() / 1000) as i64;
            shared::adapters::stripe::signature::verify(
                &body,
                Some(header),
                &[secret.into()],
                now,
                300,
            )
            .unwrap();
            let v: Value = serde_json::from_slice(&body).unwrap();
            seen.push((
                v["id"].as_str().unwrap().to_string(),
                v["type"].as_str().unwrap().to_string(),
                v["created"].as_i64().unwrap(),
            ));
        }
        assert_eq!(seen[0].1, "payment_intent.processing");
        assert_eq!(seen[1].1, "payment_intent.requires_action");
        assert_eq!(seen[2].1, "payment_intent.processing");
        assert!(seen.windows(2).all(|p| p[0].0 != p[1].0 && p[0].2 < p[1].2));
    }

    #[test]
    fn checks_status_and_webhook_outcome() {
        let w = Workload::Floor;
        assert_eq!(w.check(br#"{"statusCode":201,"body":"{}"}"#), Ok(201));
        assert!(w.check(br#"{"statusCode":404,"body":"{}"}"#).is_err());
        assert!(w.check(b"oops").is_err());
        let hook = Workload::Webhook {
            booking_id: "b".into(),
            intent_id: "pi".into(),
            secret: "s".into(),
            created: 0,
            sent: 0,
        };
        assert!(hook
            .check(br#"{"statusCode":200,"body":"{\"result\":\"applied\"}"}"#)
            .is_ok());
        assert!(hook
            .check(br#"{"statusCode":200,"body":"{\"result\":\"duplicate\"}"}"#)
            .is_err());
        let priced =
            br#"{"statusCode":201,"body":"{\"id\":\"b\",\"price\":{\"total\":\"1.00\"}}"}"#;
        let unpriced = br#"{"statusCode":201,"body":"{\"id\":\"b\"}"}"#;
        let tariffed = Workload::CreateBooking {
            asset_type: TARIFFED_ASSET_TYPE,
        };
        let plain = Workload::CreateBooking {
            asset_type: "charging_station",
        };
        assert_eq!(tariffed.check(priced), Ok(201));
        assert!(tariffed.check(unpriced).is_err(), "no tariff applied");
        assert_eq!(plain.check(unpriced), Ok(201));
        assert!(plain.check(priced).is_err(), "a tariff applied");
    }

    #[test]
    fn booking_creations_are_each_on_an_asset_of_their_own() {
        let mut w = Workload::CreateBooking {
            asset_type: "charging_station",
        };
        let assets: std::collections::HashSet<String> = (0..5)
            .map(|_| {
                let req = lambda_http::request::from_str(&w.next_event().to_string()).unwrap();
                assert_eq!(req.method(), "POST");
                let body: Value = serde_json::from_slice(req.body().as_ref()).unwrap();
                body["asset_id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(assets.len(), 5);
    }
}
