//! Hostile and odd input: every one answered with a clear 4xx `{"detail": ...}`, never a 5xx,
//! and nothing stored or sent to Stripe because of it.

use crate::support::{example_booking, new_id, spawn_app, Answer, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn is_detail(body: &Value) -> bool {
    body.as_object()
        .is_some_and(|o| o.len() == 1 && o["detail"].as_str().is_some_and(|d| !d.is_empty()))
}

async fn raw_create_intent(app: &TestApp, body: String) -> Answer {
    app.post_raw("/v1/payments/create-intent", body).await
}

#[tokio::test]
async fn amounts_are_exact_or_refused() {
    let app = spawn_app().await;
    let id = app.new_booking().await;
    let accepted = [
        ("3.5e0", 350),
        ("35E-1", 350),
        ("4", 400),
        ("3.500", 350),
        ("0.5", 50),
    ];
    for (amount, minor) in accepted {
        let other = app.new_booking().await;
        let resp = raw_create_intent(
            &app,
            format!(r#"{{"amount": {amount}, "booking_id": "{other}"}}"#),
        )
        .await;
        assert_eq!(resp.status, 200, "{amount}: {:?}", resp.body);
        let pi = app
            .stripe_intent(resp.body["payment_intent_id"].as_str().unwrap())
            .await;
        assert_eq!(pi["amount"], minor, "{amount}");
    }
    let refused = [
        "\"NaN\"",
        "\"Infinity\"",
        "\"3.50\"",
        "NaN",
        "Infinity",
        "-0",
        "-0.0",
        "0",
        "0.00",
        "-3.50",
        "0.005",
        "3.505",
        "1e308",
        "1e-400",
        "1E400",
        "12345678901234567890123456789012345678901234567890",
        "0.12345678901234567890123456789012345678901234567890",
        "999999.995",
        "1000000",
        "+3.5",
        "03.50",
        ".5",
        "5.",
        "0x10",
        "null",
        "true",
        "[3.5]",
        "{\"value\": 3.5}",
    ];
    for amount in refused {
        let resp = raw_create_intent(
            &app,
            format!(r#"{{"amount": {amount}, "booking_id": "{id}"}}"#),
        )
        .await;
        assert!(
            resp.status == 400 && is_detail(&resp.body),
            "{amount}: {} {:?}",
            resp.status,
            resp.body
        );
    }
    assert!(app.stripe_intents_for(&id).await.is_empty());
    assert!(app.booking(&id).await.get("payment_intent_id").is_none());
}

#[tokio::test]
async fn ids_paths_and_query_values() {
    let app = spawn_app().await;
    let long = "a".repeat(10_000);
    let paths = [
        "/v1/bookings/not-a-uuid".to_string(),
        "/v1/bookings/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/v1/bookings/%00".to_string(),
        format!("/v1/bookings/{long}"),
        "/v1/bookings/550e8400-e29b-41d4-a716-44665544000".to_string(),
        "/v1/bookings/550e8400-e29b-41d4-a716-4466554400000".to_string(),
        format!("/v1/bookings?user_id={long}"),
        "/v1/bookings?user_id=' OR 1=1 --".to_string(),
        format!("/v1/bookings?user_id={}&limit=0", new_id()),
        format!("/v1/bookings?user_id={}&limit=101", new_id()),
        format!("/v1/bookings?user_id={}&limit=-1", new_id()),
        format!("/v1/bookings?user_id={}&limit=1e2", new_id()),
        format!("/v1/bookings?user_id={}&cursor={long}", new_id()),
        format!("/v1/bookings?user_id={}&cursor=%7B%7D", new_id()),
    ];
    for path in &paths {
        let resp = app.get(path).await;
        assert!(
            (400..500).contains(&resp.status) && is_detail(&resp.body),
            "{}: {} {:?}",
            &path[..path.len().min(80)],
            resp.status,
            resp.body
        );
    }
    // Traversal never reaches another route.
    let resp = app.get("/v1/bookings/../payments/create-intent").await;
    assert!((400..500).contains(&resp.status), "{:?}", resp.body);

    for id in ["x", "../../x", &long, "550e8400e29b41d4a716446655440000-"] {
        let resp = app
            .create_intent(&json!({"amount": 3.5, "booking_id": id}))
            .await;
        assert_eq!(resp.status, 400, "{:?}", resp.body);
        assert!(is_detail(&resp.body));
        let resp = app
            .post_json(
                &format!("/v1/bookings/{}/cancel", urlencode(id)),
                &json!({}),
            )
            .await;
        assert!(
            (400..500).contains(&resp.status) && is_detail(&resp.body),
            "{:?}",
            resp.body
        );
    }
    let bad = app.create_booking(&example_booking(&long, &new_id())).await;
    assert_eq!(bad.status, 400);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn bodies_too_large_or_of_the_wrong_type() {
    let app = spawn_app().await;
    let id = app.new_booking().await;
    let huge = format!(
        r#"{{"amount": 3.5, "booking_id": "{id}", "pad": "{}"}}"#,
        "x".repeat(1_100_000)
    );
    for path in ["/v1/bookings", "/v1/payments/create-intent"] {
        let resp = app.post_raw(path, huge.clone()).await;
        assert_eq!(resp.status, 413, "{path}");
        assert!(is_detail(&resp.body));

        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            let resp = app
                .send(
                    app.keyed(Method::POST, path)
                        .header("content-type", ct)
                        .body(format!(r#"{{"amount": 3.5, "booking_id": "{id}"}}"#)),
                )
                .await;
            assert_eq!(resp.status, 415, "{path} {ct}");
            assert!(is_detail(&resp.body));
        }
        for body in ["", "null", "[]", "\"x\"", "{\"a\":", "\u{feff}{}", "{}{}"] {
            let resp = app.post_raw(path, body).await;
            assert_eq!(resp.status, 400, "{path} {body:?}: {:?}", resp.body);
            assert!(is_detail(&resp.body));
        }
    }
    assert!(app.stripe_intents_for(&id).await.is_empty());
}
