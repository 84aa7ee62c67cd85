//! Operator refunds and receipts through the real handlers, DynamoDB and the Stripe layer over
//! localstripe: partial then full refunds listed on the booking and made at Stripe with their
//! reason, replays, what is refundable, and 20 racing refunds that together would exceed the
//! payment (never over-refunded, at Stripe or on the booking).

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{spawn_app, spawn_app_alone, Answer, TestApp, CARD_OK};

async fn refund(app: &TestApp, booking_id: &str, body: &Value, key: Option<&str>) -> Answer {
    let mut req = app
        .keyed(Method::POST, &format!("/v1/bookings/{booking_id}/refunds"))
        .json(body);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    app.send(req).await
}

/// A booking paid 3.50 with a card, its webhook applied; its intent id.
async fn paid(app: &TestApp) -> (String, String) {
    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap().to_string();
    let paid = app.pay(&pi, CARD_OK).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    app.wait_for_payment_status(&booking_id, "completed").await;
    (booking_id, pi)
}

/// The refunds Stripe made of the intent.
async fn at_stripe(app: &TestApp, pi: &str) -> Vec<Value> {
    let listed = app
        .stripe(
            Method::GET,
            &format!("/v1/refunds?payment_intent={pi}&limit=100"),
            &[],
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.body["data"].as_array().unwrap().clone()
}

fn sum(items: &[Value], field: &str) -> i64 {
    items.iter().map(|i| i[field].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn partial_then_full_refunds_are_made_at_stripe_listed_and_on_the_receipt() {
    let app = spawn_app().await;
    let (booking_id, pi) = paid(&app).await;
    let no_money = app
        .get(&format!("/v1/bookings/{}/receipt", app.new_booking().await))
        .await;
    assert_eq!(
        (no_money.status, no_money.body),
        (
            404,
            json!({"detail": "No money has moved for this booking"})
        )
    );

    let body = json!({"amount": 1.25, "reason": "requested_by_customer"});
    let without = refund(&app, &booking_id, &body, None).await;
    assert_eq!(
        (without.status, without.body),
        (400, json!({"detail": "Idempotency-Key header is required"}))
    );
    let first = refund(&app, &booking_id, &body, Some("refund-1")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["amount"], json!(1.25));
    assert_eq!(first.body["amount_minor"], 125);
    assert_eq!(first.body["status"], "succeeded");
    assert_eq!(first.body["reason"], "requested_by_customer");
    assert_eq!(first.body["currency"], "usd");
    assert_eq!(first.body["booking_id"], json!(booking_id));
    let refund_id = first.body["refund_id"].as_str().unwrap().to_string();
    // The same request again: the same refund, nothing more at Stripe.
    let again = refund(&app, &booking_id, &body, Some("refund-1")).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(again.body["refund_id"], json!(refund_id));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = refund(
        &app,
        &booking_id,
        &json!({"amount": 2, "reason": "duplicate"}),
        Some("refund-1"),
    )
    .await;
    assert_eq!(other.status, 422, "{:?}", other.body);

    // Stripe made it, with its reason.
    let made = at_stripe(&app, &pi).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        (made[0]["id"].as_str(), made[0]["amount"].as_i64()),
        (Some(refund_id.as_str()), Some(125))
    );
    assert_eq!(made[0]["reason"], "requested_by_customer");

    let shown = app.booking(&booking_id).await;
    assert_eq!(shown["payment_status"], "partially_refunded");
    assert_eq!(shown["refund_id"], json!(refund_id));
    assert_eq!(shown["refunds"].as_array().unwrap().len(), 1, "{shown:?}");
    assert_eq!(shown["refunds"][0]["amount_minor"], 125);

    let too_much = refund(
        &app,
        &booking_id,
        &json!({"amount": 2.26, "reason": "duplicate"}),
        Some("refund-2"),
    )
    .await;
    assert_eq!(
        (too_much.status, too_much.body),
        (
            400,
            json!({"detail": "amount is more than what is refundable: 2.25 usd"})
        )
    );
    let rest = refund(
        &app,
        &booking_id,
        &json!({"amount": 2.25, "reason": "duplicate"}),
        Some("refund-3"),
    )
    .await;
    assert_eq!(rest.status, 201, "{:?}", rest.body);
    let shown = app.booking(&booking_id).await;
    assert_eq!(shown["payment_status"], "refunded");
    assert_eq!(shown["amount_refunded_minor"], 350);
    assert_eq!(shown["refund_id"], rest.body["refund_id"], "the latest");
    assert_eq!(shown["refunds"].as_array().unwrap().len(), 2, "{shown:?}");

    let receipt = app.get(&format!("/v1/bookings/{booking_id}/receipt")).await;
    assert_eq!(receipt.status, 200, "{:?}", receipt.body);
    let r = &receipt.body;
    let lines = sum(r["line_items"].as_array().unwrap(), "amount_minor");
    let refunds = r["refunds"].as_array().unwrap();
    assert_eq!(lines, 350);
    assert_eq!(sum(refunds, "amount_minor"), -350);
    assert_eq!(
        (&r["total_minor"], &r["total"], &r["currency"]),
        (&json!(0), &json!(0.0), &json!("usd"))
    );
    assert_eq!(r["total_charged_minor"], 350);
    assert_eq!(r["total_refunded_minor"], 350);
    assert_eq!(sum(r["payments"].as_array().unwrap(), "amount_minor"), 350);
}

#[tokio::test]
async fn nothing_captured_is_a_409_and_an_unknown_booking_a_404() {
    let app = spawn_app().await;
    let body = json!({"amount": 1, "reason": "duplicate"});
    let unpaid = app.new_booking().await;
    let answer = refund(&app, &unpaid, &body, Some("k")).await;
    assert_eq!(answer.status, 409, "{:?}", answer.body);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("no captured payment"));
    let unknown = refund(
        &app,
        "6db74bfd-bfba-47a9-86e5-2304af3a6e40",
        &body,
        Some("k"),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"detail": "Booking not found"}))
    );
    let bad = refund(
        &app,
        &unpaid,
        &json!({"amount": 1, "reason": "oops"}),
        Some("k"),
    )
    .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let receipt = app
        .get("/v1/bookings/6db74bfd-bfba-47a9-86e5-2304af3a6e40/receipt")
        .await;
    assert_eq!(receipt.status, 404);
}

/// 20 refunds with different Idempotency-Keys, of 1.00, 0.50 and 0.25 of a 3.50 payment, sent
/// at once (each one through the real handler, DynamoDB and the Stripe layer, while the
/// layer's refund events reach the webhook): what Stripe refunded never exceeds 3.50, the
/// booking lists exactly what Stripe made, and every loser is a clear 400 naming what is left
/// (or a 409), never a 5xx.
#[tokio::test]
async fn twenty_racing_refunds_never_refund_more_than_was_received() {
    let app = spawn_app_alone().await;
    let (booking_id, pi) = paid(&app).await;
    let amounts = [1.00, 0.50, 0.25];
    let answers = futures::future::join_all((0..20).map(|i| {
        let body = json!({"amount": amounts[i % 3], "reason": "requested_by_customer"});
        let key = format!("race-{i}");
        let (app, booking_id) = (&app, &booking_id);
        async move { refund(app, booking_id, &body, Some(&key)).await }
    }))
    .await;
    let mut made = 0;
    for a in &answers {
        match a.status {
            201 => made += a.body["amount_minor"].as_i64().unwrap(),
            400 => assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("what is refundable"),
                "{:?}",
                a.body
            ),
            409 => {}
            other => panic!("{other}: {:?}", a.body),
        }
    }
    assert!(answers.iter().any(|a| a.status != 201), "some must lose");
    let at_stripe = at_stripe(&app, &pi).await;
    assert!(sum(&at_stripe, "amount") <= 350, "{at_stripe:?}");
    assert_eq!(sum(&at_stripe, "amount"), made);
    // Once the layer's events have landed, the booking says the same.
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = app.booking(&booking_id).await;
        if shown["amount_refunded_minor"] == made {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let listed = shown["refunds"].as_array().unwrap();
    assert_eq!(sum(listed, "amount_minor"), made, "{shown:?}");
    assert_eq!(listed.len(), at_stripe.len(), "{shown:?}");
    assert_eq!(shown["amount_refunded_minor"], made);
}

/// A refund made in the Dashboard (straight at Stripe) is listed on the booking from Stripe's
/// events, with its reason, and counts against what an operator may still refund.
#[tokio::test]
async fn a_dashboard_refund_is_listed_from_its_events() {
    let app = spawn_app().await;
    let (booking_id, pi) = paid(&app).await;
    let made = app
        .stripe(
            Method::POST,
            "/v1/refunds",
            &[
                ("payment_intent", &pi),
                ("amount", "100"),
                ("reason", "duplicate"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    assert_eq!(made.body["reason"], "duplicate");
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = app.booking(&booking_id).await;
        if shown["refunds"].as_array().is_some_and(|r| !r.is_empty())
            && shown["amount_refunded_minor"] == 100
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let listed = shown["refunds"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{shown}");
    assert_eq!(listed[0]["refund_id"], made.body["id"]);
    assert_eq!(listed[0]["reason"], "duplicate");
    assert_eq!(listed[0]["amount_minor"], 100);
    assert!(listed[0]["created_at"].is_string(), "{shown}");
    let too_much = refund(
        &app,
        &booking_id,
        &json!({"amount": 2.51, "reason": "duplicate"}),
        Some("k"),
    )
    .await;
    assert_eq!(
        too_much.body,
        json!({"detail": "amount is more than what is refundable: 2.50 usd"})
    );
}
