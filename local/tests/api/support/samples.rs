//! The sample Lambda events in `events/` (see events/README.md): reading them with their
//! expected statuses (events/expected.json), checking their shape, seeding the bookings they name
//! and re-signing the webhook samples for a run. Used by `api/sample_events.rs` (each sample
//! through the real handler) and `tests/samples_at_trace.rs` (each through the Lambda runtime).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::product::{
    booking_json, bookings, create_intent, new_booking, reconcile, webhook, webhook_signature,
    Booking, BookingId, BookingStore, Secret, StripeClient, StripeKeys,
};
use super::{now, TestApp, API_KEY};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde_json::{json, Value};

/// The seeded bookings and the intent the samples name (documented in events/README.md).
pub const BOOKING_ID: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e40";
pub const CANCEL_BOOKING_ID: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e41";
/// The booking whose driver authorized 8.00 usd (manual capture), for the capture samples.
pub const HELD_BOOKING_ID: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e42";
pub const SAMPLE_INTENT_ID: &str = "pi_3SxbzLQ1qtFrV1Tp16Yftm36";
pub const USER_ID: &str = "650e8400-e29b-41d4-a716-446655440001";
/// `created` of the sample `payment_intent.succeeded` events (2026-02-05T23:02:00Z).
pub const SUCCEEDED_AT: &str = "2026-02-05T23:02:00.000Z";

/// The functions in the order their samples run: bookings first (they need nothing but the
/// seeds), then create-intent (before the webhook marks the booking paid), then the webhook,
/// then the scheduled reconciliation.
pub const FUNCTIONS: [&str; 4] = ["bookings", "create-intent", "webhook", "reconcile"];

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[derive(Debug)]
pub struct Expected {
    pub function: String,
    pub status: u16,
    pub resign: bool,
}

pub fn expected() -> BTreeMap<String, Expected> {
    let raw = std::fs::read_to_string(events_dir().join("expected.json")).unwrap();
    let map: BTreeMap<String, Value> = serde_json::from_str(&raw).expect("expected.json is JSON");
    map.into_iter()
        .map(|(name, v)| {
            let obj = v.as_object().expect("each entry is an object");
            for key in obj.keys() {
                assert!(
                    ["function", "status", "resign"].contains(&key.as_str()),
                    "{name}: unknown key {key} in expected.json"
                );
            }
            let function = v["function"].as_str().expect("function").to_string();
            assert!(FUNCTIONS.contains(&function.as_str()), "{name}: {function}");
            let status = u16::try_from(v["status"].as_u64().expect("status")).unwrap();
            let resign = match v.get("resign") {
                None => false,
                Some(r) => r.as_bool().expect("resign is a boolean"),
            };
            assert!(
                !resign || function == "webhook",
                "{name}: only webhook events are re-signed"
            );
            (
                name,
                Expected {
                    function,
                    status,
                    resign,
                },
            )
        })
        .collect()
}

/// Every sample event file: `events/*.json` except expected.json and seeds.json.
pub fn sample_files() -> BTreeSet<String> {
    std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "expected.json" && n != "seeds.json")
        .collect()
}

pub fn is_function_url(event: &Value) -> bool {
    event["version"] == "2.0"
}

/// A header of an event, whatever its case, from `headers`.
pub fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Sets a header in `headers` and, for REST events, `multiValueHeaders`, keeping its spelling.
pub fn set_header(event: &mut Value, name: &str, value: &str) {
    for (field, v) in [
        ("headers", json!(value)),
        ("multiValueHeaders", json!([value])),
    ] {
        if let Some(map) = event[field].as_object_mut() {
            let key = map
                .keys()
                .find(|k| k.eq_ignore_ascii_case(name))
                .cloned()
                .unwrap_or_else(|| name.to_string());
            map.insert(key, v);
        }
    }
}

/// The raw body bytes, as Lambda hands them to the function.
pub fn body_bytes(event: &Value) -> Vec<u8> {
    match event["body"].as_str() {
        None => Vec::new(),
        Some(b) if event["isBase64Encoded"] == true => STANDARD.decode(b).unwrap(),
        Some(b) => b.as_bytes().to_vec(),
    }
}

pub fn set_body(event: &mut Value, bytes: &[u8]) {
    event["body"] = if event["isBase64Encoded"] == true {
        json!(STANDARD.encode(bytes))
    } else {
        json!(String::from_utf8(bytes.to_vec()).unwrap())
    };
    if header(event, "content-length").is_some() {
        set_header(event, "content-length", &bytes.len().to_string());
    }
}

/// The path a function routes on (`path` for REST, `rawPath` for Function URLs).
pub fn route(event: &Value) -> &str {
    if is_function_url(event) {
        event["rawPath"].as_str().unwrap()
    } else {
        event["path"].as_str().unwrap()
    }
}

/// What API Gateway and Lambda (or EventBridge) would have put in the event, checked so the
/// samples stay realistic (and consistent with each other when edited by hand).
pub fn check_shape(name: &str, event: &Value, function: &str) {
    if function == "reconcile" {
        // EventBridge's scheduled event (template.yaml: a Schedule event, rate(10 minutes)).
        assert_eq!(event["source"], "aws.events", "{name}");
        assert_eq!(event["detail-type"], "Scheduled Event", "{name}");
        assert_eq!(event["detail"], json!({}), "{name}");
        let rule = event["resources"][0].as_str().unwrap_or_default();
        assert!(rule.starts_with("arn:aws:events:"), "{name}: {rule}");
        return;
    }
    let path = route(event);
    let served = match function {
        "bookings" => {
            path == "/v1/bookings"
                || path.starts_with("/v1/bookings/")
                || (path.starts_with("/v1/assets/") && path.ends_with("/availability"))
                || path.starts_with("/v1/tariffs/")
                || path.starts_with("/v1/asset-types/")
                || (path.starts_with("/v1/assets/")
                    && (path.ends_with("/tariff") || path.ends_with("/quote")))
        }
        "create-intent" => path == "/v1/payments/create-intent" || path == "/v1/payments/capture",
        _ => path == "/v1/payments/webhook",
    };
    assert!(served, "{name}: {path} is not a route of {function}");
    if is_function_url(event) {
        assert_eq!(
            function, "webhook",
            "{name}: only Stripe calls a Function URL"
        );
        let ctx = &event["requestContext"];
        assert_eq!(ctx["http"]["path"], path, "{name}");
        assert_eq!(ctx["stage"], "$default", "{name}");
        assert_eq!(ctx["http"]["method"], "POST", "{name}");
        for key in event["headers"].as_object().unwrap().keys() {
            assert_eq!(
                key,
                &key.to_ascii_lowercase(),
                "{name}: Function URL headers are lowercase"
            );
        }
    } else {
        let ctx = &event["requestContext"];
        assert_eq!(ctx["stage"], "dev", "{name}");
        assert_eq!(ctx["path"], format!("/dev{path}"), "{name}");
        assert_eq!(ctx["httpMethod"], event["httpMethod"], "{name}");
        assert_eq!(ctx["resourcePath"], event["resource"], "{name}");
        // The resource template with the path parameters filled in is the path.
        let mut filled = event["resource"].as_str().unwrap().to_string();
        if let Some(params) = event["pathParameters"].as_object() {
            for (k, v) in params {
                filled = filled.replace(&format!("{{{k}}}"), v.as_str().unwrap());
            }
        }
        assert_eq!(filled, path, "{name}: resource + pathParameters");
        // headers and multiValueHeaders say the same.
        let single = event["headers"].as_object().unwrap();
        let multi = event["multiValueHeaders"].as_object().unwrap();
        assert_eq!(single.len(), multi.len(), "{name}");
        for (k, v) in single {
            assert_eq!(multi[k].as_array().unwrap().last(), Some(v), "{name}: {k}");
        }
        match (
            event["queryStringParameters"].as_object(),
            event["multiValueQueryStringParameters"].as_object(),
        ) {
            (None, None) => {}
            (Some(single), Some(multi)) => {
                for (k, v) in single {
                    assert_eq!(multi[k].as_array().unwrap().last(), Some(v), "{name}: {k}");
                }
            }
            other => panic!("{name}: query parameters disagree: {other:?}"),
        }
        // API Gateway checked the key on every route but the webhook.
        let key = header(event, "x-api-key");
        if function == "webhook" {
            assert_eq!(key, None, "{name}: Stripe sends no API key");
        } else {
            assert_eq!(key, Some(API_KEY), "{name}");
            assert_eq!(ctx["identity"]["apiKey"], API_KEY, "{name}");
        }
    }
    if event["body"].is_string() && function != "webhook" {
        assert_eq!(
            header(event, "content-type"),
            Some("application/json"),
            "{name}"
        );
    }
}

/// The bookings the samples name, with their fixed ids and `POST /v1/bookings` bodies.
pub fn seeds() -> Vec<(&'static str, Value)> {
    vec![
        (
            BOOKING_ID,
            json!({
                "asset_id": "550e8400-e29b-41d4-a716-446655440000",
                "asset_type": "charging_station",
                "user_id": USER_ID,
                "start_time": "2026-02-05T23:00:00Z",
                "end_time": "2026-02-05T23:30:00Z",
            }),
        ),
        (
            CANCEL_BOOKING_ID,
            json!({
                "asset_id": "550e8400-e29b-41d4-a716-446655440010",
                "asset_type": "parking_spot",
                "user_id": USER_ID,
                "start_time": "2026-02-06T08:00:00Z",
                "end_time": "2026-02-06T10:00:00Z",
            }),
        ),
        (
            HELD_BOOKING_ID,
            json!({
                "asset_id": "550e8400-e29b-41d4-a716-446655440020",
                "asset_type": "charging_station",
                "user_id": USER_ID,
                "start_time": "2026-02-06T18:00:00Z",
                "end_time": "2026-02-06T19:00:00Z",
            }),
        ),
    ]
}

/// The bookings the samples name, inserted with their fixed ids.
pub async fn seed(app: &TestApp) {
    for (id, body) in seeds() {
        let new = new_booking(body.to_string().as_bytes()).unwrap();
        let booking = Booking::new(new, BookingId::parse("id", id).unwrap(), chrono::Utc::now());
        app.stack
            .store
            .create_booking(&booking, None)
            .await
            .expect("seed booking stored");
    }
    // The held booking: a manual-capture intent the driver confirmed with a test card, its
    // authorization applied by the webhook, as in the README's EV charging flow.
    let held = app
        .create_intent(
            &json!({"amount": 8.00, "booking_id": HELD_BOOKING_ID, "capture_method": "manual"}),
        )
        .await;
    assert_eq!(held.status, 200, "{:?}", held.body);
    let pi = held.body["payment_intent_id"].as_str().unwrap();
    let confirmed = app.pay(pi, super::CARD_OK).await;
    assert_eq!(
        confirmed.body["status"], "requires_capture",
        "{:?}",
        confirmed.body
    );
    app.wait_for_payment_status(HELD_BOOKING_ID, "authorized")
        .await;
}

/// events/seeds.json, what `make sam-local` seeds, names the same bookings with the same bodies,
/// and the seeded intent is the one the webhook samples name.
pub fn check_seeds_json() {
    let raw = std::fs::read_to_string(events_dir().join("seeds.json")).unwrap();
    let file: Value = serde_json::from_str(&raw).expect("seeds.json is JSON");
    let listed: BTreeMap<String, Value> = file["bookings"]
        .as_array()
        .expect("seeds.json: bookings")
        .iter()
        .map(|b| (b["id"].as_str().unwrap().to_string(), b["booking"].clone()))
        .collect();
    let ours: BTreeMap<String, Value> = seeds()
        .into_iter()
        .map(|(id, body)| (id.to_string(), body))
        .collect();
    assert_eq!(
        listed, ours,
        "events/seeds.json and this test seed different bookings"
    );
    let with_intent = file["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == BOOKING_ID)
        .unwrap();
    assert_eq!(with_intent["sample_intent"], SAMPLE_INTENT_ID);
}

/// Rewrites a webhook sample for this run: its intent becomes the real one attached to the
/// seeded booking, and its signature is made now (the stored one is stale by design).
pub fn resign(name: &str, event: &mut Value, intent_id: &str, secret: &str) {
    let mut payload: Value = serde_json::from_slice(&body_bytes(event)).unwrap();
    let object = &mut payload["data"]["object"];
    if object["object"] == "payment_intent" {
        assert_eq!(
            object["id"], SAMPLE_INTENT_ID,
            "{name}: the documented intent id"
        );
        assert_eq!(object["metadata"]["booking_id"], BOOKING_ID, "{name}");
        object["id"] = json!(intent_id);
        object["client_secret"] = json!(format!("{intent_id}_secret_sample"));
    } else {
        // A charge or a dispute: it names the intent (and the charge), not the booking.
        assert_eq!(
            object["payment_intent"], SAMPLE_INTENT_ID,
            "{name}: the documented intent id"
        );
        object["payment_intent"] = json!(intent_id);
    }
    let bytes = serde_json::to_vec_pretty(&payload).unwrap();
    set_body(event, &bytes);
    let signature = webhook_signature::sign(&bytes, secret, now());
    set_header(event, "stripe-signature", &signature);
}

/// A sample as a run hands it to its function: re-signed if it says so.
pub struct Sample {
    pub name: String,
    pub want: Expected,
    pub event: Value,
}

/// What a run of the samples needs: the booking's real intent, a Stripe client with the
/// stack's keys, and every sample in the order they run (see [`FUNCTIONS`]).
pub struct Prepared {
    pub intent_id: String,
    pub stripe: StripeClient,
    pub samples: Vec<Sample>,
}

/// Checks the samples against expected.json and seeds.json, seeds the bookings they name,
/// creates the intent they are about, and reads every sample (shape checked, its stored
/// signature checked, re-signed where expected.json says).
pub async fn prepare(app: &TestApp) -> Prepared {
    let expected = expected();
    let files = sample_files();
    let listed: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(
        files, listed,
        "events/*.json and events/expected.json must name the same files"
    );

    check_seeds_json();

    let stack = &app.stack;
    seed(app).await;
    // The intent the create-intent and webhook samples are about: created through the API for
    // the seeded booking, as a client would.
    let intent = app
        .create_intent(&json!({"amount": 3.50, "currency": "usd", "booking_id": BOOKING_ID}))
        .await;
    assert_eq!(intent.status, 200, "{:?}", intent.body);
    let intent_id = intent.body["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_string();

    let stripe = StripeClient::new(
        stack.stripe_base.clone(),
        StripeKeys {
            secret_key: Secret::new(stack.stripe_secret_key.clone()),
            webhook_secrets: stack.webhook_secrets.iter().map(Secret::new).collect(),
        },
    );

    let mut order: Vec<(String, Expected)> = expected.into_iter().collect();
    order.sort_by_key(|(name, e)| {
        (
            FUNCTIONS.iter().position(|f| *f == e.function),
            name.to_string(),
        )
    });
    let mut samples = Vec::new();
    for (name, want) in order {
        let raw = std::fs::read_to_string(events_dir().join(&name)).unwrap();
        let mut event: Value =
            serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        check_shape(&name, &event, &want.function);

        if want.function == "webhook" {
            // The stored signature is a real one for the stored body, at its own timestamp.
            let sig = header(&event, "stripe-signature").expect("Stripe-Signature");
            let t: i64 = sig
                .strip_prefix("t=")
                .and_then(|s| s.split(',').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("{name}: {sig}"));
            assert_eq!(
                webhook_signature::verify(
                    &body_bytes(&event),
                    Some(sig),
                    &stack.webhook_secrets,
                    t,
                    0
                ),
                Ok(t),
                "{name}: Stripe-Signature does not match the body under the local secret"
            );
        }
        if want.resign {
            resign(&name, &mut event, &intent_id, &stack.webhook_secrets[0]);
        }
        samples.push(Sample { name, want, event });
    }
    Prepared {
        intent_id,
        stripe,
        samples,
    }
}
