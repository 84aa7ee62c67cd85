//! Money after the payment, through the real webhook and DynamoDB: refunds made in the Stripe
//! Dashboard (partial, then full), a refund that fails later, a dispute, and the refund a
//! cancellation makes. Event payloads take the shapes of Stripe's published example objects
//! (charge, refund, dispute); they name the charge and the intent, never the booking.

use serde_json::{json, Value};

use crate::support::{
    event, now, spawn_app, succeeded, TestApp, CARD_DISPUTED, CARD_OK, CARD_REFUND_FAILS,
};

fn charge(intent: &Value, charge_id: &str, refunded: i64) -> Value {
    json!({
        "id": charge_id,
        "object": "charge",
        "amount": 350,
        "amount_captured": 350,
        "amount_refunded": refunded,
        "captured": true,
        "currency": "usd",
        "paid": true,
        "payment_intent": intent["id"],
        "refunded": refunded == 350,
        "status": "succeeded",
    })
}

async fn deliver(app: &TestApp, kind: &str, created: i64, object: &Value) -> Value {
    let payload = event(kind, created, object);
    let resp = app.deliver(&payload, Some(app.sign_now(&payload))).await;
    assert_eq!(resp.status, 200, "{kind}: {:?}", resp.body);
    resp.body
}

/// A booking paid through its intent, whose charge is `charge_id`.
async fn paid(app: &TestApp, charge_id: &str) -> (String, Value) {
    let (booking_id, intent) = app.booking_with_intent().await;
    let mut pi = succeeded(&intent);
    pi["latest_charge"] = json!(charge_id);
    let answer = deliver(app, "payment_intent.succeeded", now() - 100, &pi).await;
    assert_eq!(answer["result"], "applied", "{answer:?}");
    (booking_id, intent)
}

#[tokio::test]
async fn dashboard_refunds_and_a_refund_that_fails_later_are_shown() {
    let app = spawn_app().await;
    let (booking_id, intent) = paid(&app, "ch_test_dashboard").await;
    let shown = app.booking(&booking_id).await;
    assert_eq!(
        (&shown["amount_refunded"], &shown["amount_refunded_minor"]),
        (&json!(0.0), &json!(0))
    );

    let partial = deliver(
        &app,
        "charge.refunded",
        now() - 50,
        &charge(&intent, "ch_test_dashboard", 100),
    )
    .await;
    assert_eq!(partial["result"], "applied", "{partial:?}");
    let shown = app.booking(&booking_id).await;
    assert_eq!(shown["payment_status"], "partially_refunded");
    assert_eq!(shown["amount_refunded"], json!(1.0));
    assert_eq!(shown["amount_refunded_minor"], 100);
    // Partly refunded still counts as paid.
    let again = app
        .create_intent(&json!({"amount": 3.50, "booking_id": booking_id}))
        .await;
    assert_eq!(
        (again.status, again.body),
        (409, json!({"detail": "Booking is already paid"}))
    );

    deliver(
        &app,
        "charge.refunded",
        now() - 40,
        &charge(&intent, "ch_test_dashboard", 350),
    )
    .await;
    assert_eq!(app.booking(&booking_id).await["payment_status"], "refunded");

    let failed = json!({
        "id": "re_test_fails",
        "object": "refund",
        "amount": 350,
        "charge": "ch_test_dashboard",
        "currency": "usd",
        "payment_intent": intent["id"],
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
    });
    let answer = deliver(&app, "charge.refund.updated", now() - 30, &failed).await;
    assert_eq!(answer["result"], "applied", "{answer:?}");
    let shown = app.booking(&booking_id).await;
    assert_eq!(shown["payment_status"], "completed");
    assert_eq!(shown["refund_status"], "failed");
    assert_eq!(shown["amount_refunded_minor"], 0);
    // Redelivered: applied once.
    let payload = event("charge.refund.updated", now() - 30, &failed);
    let redelivered = app.deliver(&payload, Some(app.sign_now(&payload))).await;
    assert_ne!(redelivered.body["result"], "applied");
    assert_eq!(app.booking(&booking_id).await["amount_refunded_minor"], 0);
}

#[tokio::test]
async fn a_dispute_is_shown_and_leaves_the_payment_status_alone() {
    let app = spawn_app().await;
    let (booking_id, _) = paid(&app, "ch_test_disputed").await;
    // Stripe's example dispute has `payment_intent: null`: found by its charge.
    let dispute = |status: &str| {
        json!({
            "id": "dp_test_1",
            "object": "dispute",
            "amount": 350,
            "charge": "ch_test_disputed",
            "currency": "usd",
            "payment_intent": null,
            "reason": "fraudulent",
            "status": status,
        })
    };
    let opened = deliver(
        &app,
        "charge.dispute.created",
        now() - 20,
        &dispute("needs_response"),
    )
    .await;
    assert_eq!(opened["result"], "applied", "{opened:?}");
    let shown = app.booking(&booking_id).await;
    assert_eq!(shown["payment_status"], "completed");
    assert_eq!(shown["dispute_status"], "needs_response");
    assert_eq!(shown["dispute_reason"], "fraudulent");
    deliver(&app, "charge.dispute.closed", now() - 10, &dispute("lost")).await;
    assert_eq!(app.booking(&booking_id).await["dispute_status"], "lost");
}

#[tokio::test]
async fn an_event_for_a_charge_we_do_not_know_is_acknowledged_and_changes_nothing() {
    let app = spawn_app().await;
    let stranger = json!({"id": "pi_unknown1", "object": "payment_intent"});
    let answer = deliver(
        &app,
        "charge.refunded",
        now(),
        &charge(&stranger, "ch_unknown", 350),
    )
    .await;
    assert_eq!(answer["result"], "ignored", "{answer:?}");
}

#[tokio::test]
async fn cancelling_a_paid_booking_shows_the_refund() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let paid = app.pay(intent["id"].as_str().unwrap(), CARD_OK).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    app.wait_for_payment_status(&booking_id, "completed").await;
    let cancelled = app
        .post_json(&format!("/v1/bookings/{booking_id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["payment_status"], "refunded");
    assert_eq!(cancelled.body["refund_status"], "succeeded");
    assert_eq!(cancelled.body["amount_refunded_minor"], 350);
    assert_eq!(cancelled.body["amount_refunded"], json!(3.5));
}

/// Polls the booking until `field` is `want`, failing with the last state after 20 s.
async fn wait_for(app: &TestApp, id: &str, field: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = app.booking(id).await;
        if last[field] == want {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("booking never showed {field} = {want}: {last}");
}

/// End to end with Stripe's test card whose refunds fail later (through the local Stripe
/// layer, as on real Stripe in test mode): cancelled and refunded, then back to `completed`.
#[tokio::test]
async fn a_refund_of_card_5126_fails_later_and_the_booking_shows_it() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let paid = app
        .pay(intent["id"].as_str().unwrap(), CARD_REFUND_FAILS)
        .await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    app.wait_for_payment_status(&booking_id, "completed").await;
    let cancelled = app
        .post_json(&format!("/v1/bookings/{booking_id}/cancel"), &json!({}))
        .await;
    assert_eq!(
        cancelled.body["payment_status"], "refunded",
        "{:?}",
        cancelled.body
    );
    let shown = wait_for(&app, &booking_id, "refund_status", "failed").await;
    assert_eq!(shown["payment_status"], "completed", "{shown}");
    assert_eq!(shown["amount_refunded_minor"], 0, "{shown}");
    assert_eq!(shown["status"], "cancelled");
}

/// End to end with Stripe's test card whose payments are disputed: the dispute is shown, won
/// after winning evidence, and the payment status never moves.
#[tokio::test]
async fn a_payment_with_card_0259_is_disputed_and_the_booking_shows_it() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let paid = app.pay(intent["id"].as_str().unwrap(), CARD_DISPUTED).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    app.wait_for_payment_status(&booking_id, "completed").await;
    let shown = wait_for(&app, &booking_id, "dispute_status", "needs_response").await;
    assert_eq!(shown["payment_status"], "completed");
    let disputes = app.stripe(reqwest::Method::GET, "/v1/disputes", &[]).await;
    let dispute = disputes.body["data"][0]["id"].as_str().unwrap().to_string();
    let evidence = app
        .stripe(
            reqwest::Method::POST,
            &format!("/v1/disputes/{dispute}"),
            &[("evidence[uncategorized_text]", "winning_evidence")],
        )
        .await;
    assert_eq!(evidence.status, 200, "{:?}", evidence.body);
    let shown = wait_for(&app, &booking_id, "dispute_status", "won").await;
    assert_eq!(shown["payment_status"], "completed");
}

/// A dispute on an intent the booking replaced (issue 20, item 4): through the webhook and
/// DynamoDB it is recorded on the booking and shown, not ignored; the booking's own payment
/// and status are untouched.
#[tokio::test]
async fn a_dispute_on_a_replaced_intent_is_shown_on_the_booking() {
    let app = spawn_app().await;
    let (booking_id, first) = app.booking_with_intent().await;
    let replaced = app
        .create_intent(&json!({"amount": 4.0, "currency": "usd", "booking_id": booking_id}))
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    let dispute = json!({
        "id": "dp_test_other",
        "object": "dispute",
        "amount": 350,
        "charge": "ch_test_other",
        "currency": "usd",
        "payment_intent": first["id"],
        "reason": "fraudulent",
        "status": "needs_response",
    });
    let opened = deliver(&app, "charge.dispute.created", now() - 20, &dispute).await;
    assert_eq!(opened["result"], "applied", "{opened:?}");
    let shown = app.booking(&booking_id).await;
    assert_eq!(shown["payment_status"], "pending");
    assert_eq!(
        shown["payment_intent_id"],
        replaced.body["payment_intent_id"]
    );
    assert_eq!(
        shown["other_intent_issues"],
        json!([{"payment_intent_id": first["id"], "type": "dispute",
                "status": "needs_response", "reason": "fraudulent"}])
    );
    assert!(
        shown.get("dispute_status").is_none(),
        "not the booking's payment"
    );
}
