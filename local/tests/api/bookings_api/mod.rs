//! The bookings API over HTTP: creating (times in UTC, bad input a 400 naming the field),
//! reading and listing, the API key, and unknown routes and methods. Slots and conflicts are in
//! `slots`, `Idempotency-Key` in `idempotency`.

mod availability;
mod holds;
mod idempotency;
mod slots;

use crate::support::{booking, example_booking, new_id, spawn_app};
use reqwest::Method;
use serde_json::{json, Value};

const DOC_ASSET: &str = "550e8400-e29b-41d4-a716-446655440000";
const DOC_USER: &str = "650e8400-e29b-41d4-a716-446655440001";

#[tokio::test]
async fn the_documents_step_1_creates_a_booking_that_get_returns() {
    let app = spawn_app().await;
    let created = app
        .create_booking(&booking(
            DOC_ASSET,
            DOC_USER,
            "2026-02-05T23:00:00Z",
            "2026-02-05T23:30:00Z",
        ))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let b = &created.body;
    assert!(uuid::Uuid::parse_str(b["id"].as_str().unwrap()).is_ok());
    assert_eq!(b["asset_id"], DOC_ASSET);
    assert_eq!(b["asset_type"], "charging_station");
    assert_eq!(b["user_id"], DOC_USER);
    assert_eq!(b["start_time"], "2026-02-05T23:00:00Z");
    assert_eq!(b["end_time"], "2026-02-05T23:30:00Z");
    assert_eq!(b["status"], "confirmed");
    assert_eq!(b["payment_status"], "pending");
    assert!(b["created_at"].as_str().unwrap().ends_with('Z'));

    let fetched = app
        .get(&format!("/v1/bookings/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(&fetched.body, b);
}

#[tokio::test]
async fn times_with_offsets_are_stored_in_utc() {
    let app = spawn_app().await;
    let created = app
        .create_booking(&booking(
            &new_id(),
            &new_id(),
            "2026-03-01T10:00:00+02:00",
            "2026-03-01T08:45:30.250Z",
        ))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["start_time"], "2026-03-01T08:00:00Z");
    assert_eq!(created.body["end_time"], "2026-03-01T08:45:30.250Z");
}

#[tokio::test]
async fn unknown_and_malformed_booking_ids() {
    let app = spawn_app().await;
    let missing = app.get(&format!("/v1/bookings/{}", new_id())).await;
    assert_eq!(
        (missing.status, missing.body),
        (404, json!({"detail": "Booking not found"}))
    );
    let bad = app.get("/v1/bookings/not-a-uuid").await;
    assert_eq!(
        (bad.status, bad.body),
        (400, json!({"detail": "booking id must be a UUID"}))
    );
    let traversal = app.get("/v1/bookings/..%2F..%2Fetc%2Fpasswd").await;
    assert_eq!(traversal.status, 400);
    let cancel = app
        .post_json(&format!("/v1/bookings/{}/cancel", new_id()), &json!({}))
        .await;
    assert_eq!(
        (cancel.status, cancel.body),
        (404, json!({"detail": "Booking not found"}))
    );
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_401_with_the_documented_body() {
    let app = spawn_app().await;
    let routes = [
        app.client
            .get(app.url(&format!("/v1/bookings/{}", new_id()))),
        app.client
            .get(app.url(&format!("/v1/bookings?user_id={}", new_id()))),
        app.client
            .post(app.url("/v1/bookings"))
            .json(&example_booking(&new_id(), &new_id())),
        app.client
            .post(app.url(&format!("/v1/bookings/{}/cancel", new_id()))),
    ];
    for req in routes {
        let without = app.send(req.try_clone().unwrap()).await;
        assert_eq!(
            (without.status, &without.body),
            (401, &json!({"detail": "Invalid API key"}))
        );
        let wrong = app.send(req.header("x-api-key", "test-api-key-1234")).await;
        assert_eq!(
            (wrong.status, &wrong.body),
            (401, &json!({"detail": "Invalid API key"}))
        );
    }
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let user = new_id();
    let good = example_booking(&new_id(), &user);
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        if value.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = value;
        }
        b
    };
    let cases = [
        (with("asset_id", Value::Null), "asset_id is required"),
        (with("asset_id", json!("123")), "asset_id must be a UUID"),
        (with("asset_id", json!(42)), "asset_id must be a string"),
        (
            with("user_id", json!("zzzzzzzz-e29b-41d4-a716-446655440001")),
            "user_id must be a UUID",
        ),
        (
            with("asset_type", json!("bicycle")),
            "asset_type must be 'charging_station' or 'parking_spot'",
        ),
        (with("asset_type", Value::Null), "asset_type is required"),
        (
            with("start_time", json!("5 Feb 2026")),
            "start_time must be an RFC 3339",
        ),
        (
            with("end_time", json!(1770334200)),
            "end_time must be a string",
        ),
        (
            with("end_time", json!("2026-02-05T22:00:00Z")),
            "end_time must be after start_time",
        ),
        (
            with("end_time", json!("2026-02-05T23:00:00Z")),
            "end_time must be after start_time",
        ),
        (
            with("end_time", json!("2026-02-13T23:00:00Z")),
            "end_time must be at most 7 days",
        ),
        (with("amount", json!(3.5)), "Unknown field: amount"),
    ];
    for (body, detail) in cases {
        let answer = app.create_booking(&body).await;
        assert_eq!(answer.status, 400, "{body}");
        let got = answer.body["detail"].as_str().unwrap();
        assert!(got.starts_with(detail), "{body}: {got}");
    }
    for raw in ["{", "[]", "null", "\"x\"", ""] {
        let answer = app.post_raw("/v1/bookings", raw).await;
        assert_eq!(answer.status, 400, "{raw:?}");
        assert!(answer.body["detail"].is_string());
    }
    let form = app
        .send(
            app.keyed(Method::POST, "/v1/bookings")
                .header("content-type", "text/plain")
                .body(good.to_string()),
        )
        .await;
    assert_eq!(
        (form.status, form.body),
        (
            415,
            json!({"detail": "Content-Type must be application/json"})
        )
    );
    let huge = format!("{{\"asset_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let too_big = app.post_raw("/v1/bookings", huge).await;
    assert_eq!(too_big.status, 413);
    assert_eq!(app.list(&user, "").await.body["items"], json!([]));
}

#[tokio::test]
async fn listing_is_newest_first_and_paginates_without_gaps() {
    let app = spawn_app().await;
    let user = new_id();
    let mut ids = Vec::new();
    for i in 0..5 {
        let b = booking(
            &new_id(),
            &user,
            &format!("2026-08-0{}T10:00:00Z", i + 1),
            &format!("2026-08-0{}T11:00:00Z", i + 1),
        );
        let created = app.create_booking(&b).await;
        assert_eq!(created.status, 201);
        ids.push(created.body["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // Another user's booking never shows up.
    app.create_booking(&booking(
        &new_id(),
        &new_id(),
        "2026-08-01T10:00:00Z",
        "2026-08-01T11:00:00Z",
    ))
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let extra = match &cursor {
            Some(c) => format!("&limit=2&cursor={c}"),
            None => "&limit=2".into(),
        };
        let page = app.list(&user, &extra).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|b| b["id"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);

    let missing_user = app.get("/v1/bookings").await;
    assert_eq!(
        (missing_user.status, missing_user.body),
        (
            400,
            json!({"detail": "user_id query parameter is required"})
        )
    );
    assert_eq!(app.list("nope", "").await.status, 400);
    assert_eq!(app.list(&user, "&limit=0").await.status, 400);
    assert_eq!(app.list(&user, "&limit=101").await.status, 400);
    assert_eq!(app.list(&user, "&limit=abc").await.status, 400);
    let bad_cursor = app.list(&user, "&cursor=garbage").await;
    assert_eq!(
        (bad_cursor.status, bad_cursor.body),
        (400, json!({"detail": "cursor is invalid for this user_id"}))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = spawn_app().await;
    let nowhere = app.get("/v1/nowhere").await;
    assert_eq!(
        (nowhere.status, nowhere.body),
        (404, json!({"detail": "Not found"}))
    );
    let delete = app
        .send(app.keyed(Method::DELETE, &format!("/v1/bookings/{}", new_id())))
        .await;
    assert_eq!(
        (delete.status, delete.body),
        (405, json!({"detail": "Method not allowed"}))
    );
    // Allow lists exactly what each resource supports.
    let id = new_id();
    let cases = [
        (Method::DELETE, "/v1/bookings".to_string(), "GET, POST"),
        (Method::PUT, format!("/v1/bookings/{id}"), "GET"),
        (Method::GET, format!("/v1/bookings/{id}/cancel"), "POST"),
        (
            Method::GET,
            "/v1/payments/create-intent".to_string(),
            "POST",
        ),
        (Method::GET, "/v1/payments/webhook".to_string(), "POST"),
    ];
    for (method, path, allow) in cases {
        let resp = app.send(app.keyed(method.clone(), &path)).await;
        assert_eq!(resp.status, 405, "{method} {path}");
        assert_eq!(resp.headers["allow"], allow, "{method} {path}");
    }
}
