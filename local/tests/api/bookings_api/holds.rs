//! Holds through DynamoDB (issue 13): an unpaid booking whose hold has passed is expired, and
//! an overlapping booking takes its slot over. The hold is 900 s here (the default); the test
//! moves the stored hold into the past, as 900 s passing would.

use crate::support::{attr, booking, get_item, new_id, spawn_app, TestApp};
use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::json;

/// What 900 s passing does to a booking: its stored hold (on the booking and on its slot
/// items) is now in the past.
async fn let_the_hold_pass(app: &TestApp, id: &str, asset: &str, days: &[&str], interval: &str) {
    let past = "2020-01-01T00:00:00.000Z";
    app.dynamodb()
        .update_item()
        .table_name("bookings")
        .key("id", AttributeValue::S(id.into()))
        .update_expression("SET hold_expires_at = :h")
        .expression_attribute_values(":h", AttributeValue::S(past.into()))
        .send()
        .await
        .unwrap();
    let past_ms = chrono::DateTime::parse_from_rfc3339(past)
        .unwrap()
        .timestamp_millis();
    for day in days {
        app.dynamodb()
            .update_item()
            .table_name("booking-slots")
            .key("pk", AttributeValue::S(format!("{asset}#{day}")))
            .update_expression("SET #b = :v")
            .expression_attribute_names("#b", format!("b_{id}"))
            .expression_attribute_values(":v", AttributeValue::S(format!("{interval}/{past_ms}")))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_overlapping_booking_takes_over_a_dead_hold_and_the_old_one_is_expired() {
    let app = spawn_app().await;
    let asset = new_id();
    let old = app
        .create_booking(&booking(
            &asset,
            &new_id(),
            "2026-12-01T23:00:00Z",
            "2026-12-02T01:00:00Z",
        ))
        .await;
    assert_eq!(old.status, 201);
    let old_id = old.body["id"].as_str().unwrap().to_string();
    let overlapping = booking(
        &asset,
        &new_id(),
        "2026-12-02T00:00:00Z",
        "2026-12-02T02:00:00Z",
    );
    assert_eq!(app.create_booking(&overlapping).await.status, 409, "held");

    let interval = format!(
        "{}/{}",
        crate::support::ms("2026-12-01T23:00:00Z"),
        crate::support::ms("2026-12-02T01:00:00Z")
    );
    let_the_hold_pass(
        &app,
        &old_id,
        &asset,
        &["2026-12-01", "2026-12-02"],
        &interval,
    )
    .await;
    let expired = app.booking(&old_id).await;
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["hold_expires_at"], "2020-01-01T00:00:00.000Z");
    let window = format!(
        "/v1/assets/{asset}/availability?from=2026-12-01T00:00:00Z&to=2026-12-03T00:00:00Z"
    );
    assert_eq!(app.get(&window).await.body["busy"], json!([]));
    let intent = app
        .create_intent(&json!({"amount": 3.5, "currency": "usd", "booking_id": old_id}))
        .await;
    assert_eq!(
        (intent.status, intent.body),
        (409, json!({"detail": "Booking has expired"}))
    );
    let cancel = app
        .send(app.keyed(Method::POST, &format!("/v1/bookings/{old_id}/cancel")))
        .await;
    assert_eq!((cancel.status, &cancel.body), (200, &expired), "unchanged");

    let new = app.create_booking(&overlapping).await;
    assert_eq!(new.status, 201, "takes the slot over: {:?}", new.body);
    let stored = get_item(app.dynamodb(), "bookings", "id", &old_id)
        .await
        .unwrap();
    assert_eq!(attr(&stored, "status"), Some("expired"));
    for day in ["2026-12-01", "2026-12-02"] {
        let slot = get_item(
            app.dynamodb(),
            "booking-slots",
            "pk",
            &format!("{asset}#{day}"),
        )
        .await
        .unwrap();
        assert!(!slot.contains_key(&format!("b_{old_id}")), "{day}: freed");
    }
    assert_eq!(
        app.get(&window).await.body["busy"],
        json!([{"start_time": "2026-12-02T00:00:00Z", "end_time": "2026-12-02T02:00:00Z"}])
    );
    assert_eq!(app.booking(&old_id).await["status"], "expired");
}

/// The intent of an expired booking stays payable at Stripe: a driver who pays anyway is
/// refunded. The webhook's one-transaction update refuses the booking (its hold has passed),
/// the read path records the expiry and the payment with its refund owed, and the next cancel
/// carries the refund out.
#[tokio::test]
async fn a_card_payment_after_the_hold_passed_is_refunded() {
    let app = spawn_app().await;
    let asset = new_id();
    let created = app
        .create_booking(&booking(
            &asset,
            &new_id(),
            "2026-12-05T10:00:00Z",
            "2026-12-05T11:00:00Z",
        ))
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let intent = app
        .create_intent(&json!({"amount": 3.5, "currency": "usd", "booking_id": id}))
        .await;
    assert_eq!(intent.status, 200, "{:?}", intent.body);
    let pi = intent.body["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let interval = format!(
        "{}/{}",
        crate::support::ms("2026-12-05T10:00:00Z"),
        crate::support::ms("2026-12-05T11:00:00Z")
    );
    let_the_hold_pass(&app, &id, &asset, &["2026-12-05"], &interval).await;

    assert_eq!(app.pay(&pi, crate::support::CARD_OK).await.status, 200);
    let paid = app.wait_for_payment_status(&id, "completed").await;
    assert_eq!(paid["status"], "expired");
    let stored = get_item(app.dynamodb(), "bookings", "id", &id)
        .await
        .unwrap();
    assert_eq!(attr(&stored, "status"), Some("expired"));
    let slot = get_item(
        app.dynamodb(),
        "booking-slots",
        "pk",
        &format!("{asset}#2026-12-05"),
    )
    .await
    .unwrap();
    assert!(!slot.contains_key(&format!("b_{id}")), "the slot is free");

    let cancel = app
        .send(app.keyed(Method::POST, &format!("/v1/bookings/{id}/cancel")))
        .await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    assert_eq!(cancel.body["status"], "expired");
    let refunded = app.wait_for_payment_status(&id, "refunded").await;
    assert_eq!(refunded["status"], "expired");
}
