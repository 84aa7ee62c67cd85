//! Authorize, then capture (issue 14), through the real handlers, DynamoDB emulator and
//! localstripe behind the Stripe layer, with webhooks delivered: the driver's card is held,
//! `POST /v1/payments/capture` takes what the session used (or releases it all), a cancel
//! releases the hold, a capture racing a cancel ends one way or the other, and reconcile acts
//! on a hold at its safety margin.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::support::product::{ExpiringHoldPolicy, HoldSettings};
use crate::support::{spawn_app, spawn_app_with_holds, Answer, TestApp, CARD_OK};

/// A booking whose driver authorized 8.00 usd, the authorization's event applied.
async fn authorized(app: &TestApp) -> (String, String) {
    let id = app.new_booking().await;
    let made = app
        .create_intent(&json!({"booking_id": id, "amount": 8.00, "capture_method": "manual"}))
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let pi = made.body["payment_intent_id"].as_str().unwrap().to_string();
    let paid = app.pay(&pi, CARD_OK).await;
    assert_eq!(paid.body["status"], "requires_capture", "{:?}", paid.body);
    app.wait_for_payment_status(&id, "authorized").await;
    (id, pi)
}

async fn capture(app: &TestApp, id: &str, amount: Value) -> Answer {
    app.post_json(
        "/v1/payments/capture",
        &json!({"booking_id": id, "amount": amount}),
    )
    .await
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_hold_is_shown_then_captured_for_what_the_session_used() {
    let app = spawn_app().await;
    let (id, pi) = authorized(&app).await;
    let b = app.booking(&id).await;
    assert_eq!(b["capture_method"], "manual");
    assert_eq!(
        (&b["amount_authorized"], &b["amount_authorized_minor"]),
        (&json!(8.0), &json!(800))
    );
    assert_eq!(
        b["hold_expires_at"],
        Value::Null,
        "an authorized booking never expires"
    );
    // Until the charge is read: the event's time + 7 days.
    let week = at(&b["capture_before"]) - Utc::now();
    assert!(
        week > Duration::days(7) - Duration::minutes(2) && week <= Duration::days(7),
        "{b}"
    );

    let again = app
        .create_intent(&json!({"booking_id": id, "amount": 8.00, "capture_method": "manual"}))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.body,
        json!({"detail": "Booking already has an authorized payment"})
    );

    let over = capture(&app, &id, json!(8.01)).await;
    assert_eq!(
        (over.status, &over.body),
        (
            400,
            &json!({"detail": "amount exceeds the authorized amount"})
        )
    );
    let small = capture(&app, &id, json!(0.10)).await;
    assert_eq!(
        (small.status, &small.body),
        (400, &json!({"detail": "amount must be at least 0.50 usd"}))
    );
    assert_eq!(
        app.booking(&id).await["payment_status"],
        "authorized",
        "refusals change nothing"
    );

    let taken = capture(&app, &id, json!(2.75)).await;
    assert_eq!(taken.status, 200, "{:?}", taken.body);
    assert_eq!(taken.body["payment_status"], "completed");
    assert_eq!(
        (
            &taken.body["amount_received"],
            &taken.body["amount_received_minor"]
        ),
        (&json!(2.75), &json!(275))
    );
    assert_eq!(
        (
            &taken.body["amount_refunded"],
            &taken.body["amount_refunded_minor"]
        ),
        (&json!(0.0), &json!(0))
    );
    assert_eq!(app.stripe_intent(&pi).await["amount_received"], 275);
    // Stripe's payment_intent.succeeded (and charge.captured) arrive after: nothing moves.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let b = app.booking(&id).await;
    assert_eq!(
        (
            &b["payment_status"],
            &b["amount_received_minor"],
            &b["amount_refunded_minor"]
        ),
        (&json!("completed"), &json!(275), &json!(0))
    );

    let repeat = capture(&app, &id, json!(2.75)).await;
    assert_eq!(
        (repeat.status, &repeat.body["payment_status"]),
        (200, &json!("completed"))
    );
    let other = capture(&app, &id, json!(3)).await;
    assert_eq!(
        (other.status, &other.body),
        (
            409,
            &json!({"detail": "Payment was already captured with a different amount"})
        )
    );

    // A refund afterwards (here in the Dashboard) gives back what was captured; the charge's
    // amount_refunded also counts the released 5.25, which is not shown as refunded.
    let refund = app
        .stripe(
            reqwest::Method::POST,
            "/v1/refunds",
            &[("payment_intent", pi.as_str())],
        )
        .await;
    assert_eq!(refund.status, 200, "{:?}", refund.body);
    assert_eq!(refund.body["amount"], 275);
    let b = app.wait_for_payment_status(&id, "refunded").await;
    assert_eq!(
        (&b["amount_refunded"], &b["amount_refunded_minor"]),
        (&json!(2.75), &json!(275)),
        "{b}"
    );
}

#[tokio::test]
async fn amount_zero_releases_the_hold_and_a_cancel_releases_it_too() {
    let app = spawn_app().await;
    let (id, pi) = authorized(&app).await;
    let released = capture(&app, &id, json!(0)).await;
    assert_eq!(
        (released.status, &released.body["payment_status"]),
        (200, &json!("canceled")),
        "{:?}",
        released.body
    );
    assert_eq!(app.stripe_intent(&pi).await["status"], "canceled");
    let again = capture(&app, &id, json!(0.00)).await;
    assert_eq!(
        (again.status, &again.body["payment_status"]),
        (200, &json!("canceled"))
    );
    let late = capture(&app, &id, json!(2.75)).await;
    assert_eq!(
        (late.status, &late.body),
        (409, &json!({"detail": "Booking has no authorized payment"}))
    );

    let (id, pi) = authorized(&app).await;
    let cancelled = app
        .post_json(&format!("/v1/bookings/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(
        (&cancelled.body["status"], &cancelled.body["payment_status"]),
        (&json!("cancelled"), &json!("canceled"))
    );
    assert_eq!(app.stripe_intent(&pi).await["status"], "canceled");
    let after = capture(&app, &id, json!(0)).await;
    assert_eq!(
        (after.status, &after.body),
        (409, &json!({"detail": "Booking has no authorized payment"}))
    );
}

#[tokio::test]
async fn bad_captures_are_refused_with_a_detail() {
    let app = spawn_app().await;
    let id = app.new_booking().await;
    for (body, status, detail) in [
        (
            json!({"booking_id": id, "amount": "2.75"}),
            400,
            "amount must be a JSON number",
        ),
        (
            json!({"booking_id": id, "amount": -1}),
            400,
            "amount must not be negative",
        ),
        (json!({"booking_id": id}), 400, "amount is required"),
        (json!({"amount": 1}), 400, "booking_id is required"),
        (
            json!({"booking_id": id, "amount": 1, "currency": "usd"}),
            400,
            "Unknown field: currency",
        ),
        (
            json!({"booking_id": "6db74bfd-bfba-47a9-86e5-2304af3a6e49", "amount": 1}),
            404,
            "Booking not found",
        ),
        (
            json!({"booking_id": id, "amount": 1}),
            409,
            "Booking has no authorized payment",
        ),
    ] {
        let answer = capture_body(&app, &body).await;
        assert_eq!(
            (answer.status, &answer.body),
            (status, &json!({"detail": detail})),
            "{body}"
        );
    }
    let bad = app
        .create_intent(&json!({"booking_id": id, "amount": 8.00, "capture_method": "later"}))
        .await;
    assert_eq!(
        (bad.status, &bad.body),
        (
            400,
            &json!({"detail": "capture_method must be 'automatic' or 'manual'"})
        )
    );
}

async fn capture_body(app: &TestApp, body: &Value) -> Answer {
    app.post_json("/v1/payments/capture", body).await
}

/// A capture and a cancel sent together: the capture wins (then the cancel refunds it) or
/// the cancel wins (then the capture is 409), never both and never neither.
#[tokio::test]
async fn a_capture_racing_a_cancel_ends_one_way_or_the_other() {
    let app = spawn_app().await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let (id, pi) = authorized(&app).await;
        let cancel_path = format!("/v1/bookings/{id}/cancel");
        let empty = json!({});
        let (captured, cancelled) = tokio::join!(
            capture(&app, &id, json!(2.75)),
            app.post_json(&cancel_path, &empty)
        );
        assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
        let intent = app.stripe_intent(&pi).await;
        let b = app.booking(&id).await;
        assert_eq!(b["status"], "cancelled");
        match captured.status {
            200 => {
                assert_eq!(intent["status"], "succeeded");
                assert_eq!(b["payment_status"], "refunded", "{b}");
                assert_eq!(
                    (&b["amount_received_minor"], &b["amount_refunded_minor"]),
                    (&json!(275), &json!(275)),
                    "{b}"
                );
                seen.insert("capture won");
            }
            409 => {
                assert_eq!(
                    captured.body,
                    json!({"detail": "Booking has no authorized payment"})
                );
                assert_eq!(intent["status"], "canceled");
                assert_eq!(b["payment_status"], "canceled", "{b}");
                seen.insert("cancel won");
            }
            other => panic!("capture answered {other}: {:?}", captured.body),
        }
    }
    eprintln!("outcomes seen: {seen:?}");
}

/// A hold within the safety margin of its `capture_before` is captured in full or released by
/// the next reconcile run, and the booking shows it. The margin here is the whole week, so
/// the hold is due at once; `capture_before` comes from the charge once reconcile read it.
#[tokio::test]
async fn reconcile_acts_on_a_hold_at_its_safety_margin() {
    for policy in [ExpiringHoldPolicy::Capture, ExpiringHoldPolicy::Release] {
        let app = spawn_app_with_holds(HoldSettings {
            policy,
            safety_margin: Duration::days(7),
        })
        .await;
        let (id, pi) = authorized(&app).await;
        let charge = app.stripe_intent(&pi).await["latest_charge"].clone();
        let from_charge = charge["payment_method_details"]["card"]["capture_before"].as_i64();
        assert!(from_charge.is_some(), "{charge}");
        let summary = app.stack.reconcile_now().await.unwrap();
        assert_eq!(summary.authorizations_read, 1, "{summary:?}");
        let b = app.booking(&id).await;
        match policy {
            ExpiringHoldPolicy::Capture => {
                assert_eq!(summary.authorizations_captured, 1);
                assert_eq!(
                    (&b["payment_status"], &b["amount_received_minor"]),
                    (&json!("completed"), &json!(800)),
                    "{b}"
                );
            }
            ExpiringHoldPolicy::Release => {
                assert_eq!(summary.authorizations_released, 1);
                assert_eq!(b["payment_status"], "canceled", "{b}");
                assert_eq!(app.stripe_intent(&pi).await["status"], "canceled");
            }
        }
        // The charge's own limit is what the booking shows.
        assert_eq!(
            Some(at(&b["capture_before"]).timestamp()),
            from_charge,
            "{b}"
        );
    }
}
