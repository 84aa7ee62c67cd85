//! No-shows by the scheduled run (`reconcile_now`): an authorized booking not checked in by
//! start + 15 minutes has its no-show fee captured, the rest released; a booking checked in
//! in time keeps its hold; a paid one keeps its payment.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

use super::{authorize, booking_under, pay, refunds_at_stripe, tariff};
use crate::support::{attr, get_item, spawn_app, TestApp};

/// What `by` passing does to a booking: its start, end and check-in are that much earlier.
async fn let_time_pass(app: &TestApp, id: &str, by: Duration) {
    let item = get_item(app.dynamodb(), "bookings", "id", id)
        .await
        .unwrap();
    let earlier = |name: &str, format: SecondsFormat| {
        attr(&item, name).map(|t| {
            let t: DateTime<Utc> = t.parse().unwrap();
            AttributeValue::S((t - by).to_rfc3339_opts(format, true))
        })
    };
    let mut update = app
        .dynamodb()
        .update_item()
        .table_name("bookings")
        .key("id", AttributeValue::S(id.into()))
        .update_expression(if item.contains_key("checked_in_at") {
            "SET start_time = :s, end_time = :e, checked_in_at = :c"
        } else {
            "SET start_time = :s, end_time = :e"
        })
        .expression_attribute_values(":s", earlier("start_time", SecondsFormat::Secs).unwrap())
        .expression_attribute_values(":e", earlier("end_time", SecondsFormat::Secs).unwrap());
    if let Some(c) = earlier("checked_in_at", SecondsFormat::Millis) {
        update = update.expression_attribute_values(":c", c);
    }
    update.send().await.unwrap();
}

/// The booking's stored start moved to `start` (its end 30 minutes later), as time passing
/// would move now past it.
pub(crate) async fn set_start(app: &TestApp, id: &str, start: DateTime<Utc>) {
    let fmt = |t: DateTime<Utc>| AttributeValue::S(t.to_rfc3339_opts(SecondsFormat::Secs, true));
    app.dynamodb()
        .update_item()
        .table_name("bookings")
        .key("id", AttributeValue::S(id.into()))
        .update_expression("SET start_time = :s, end_time = :e")
        .expression_attribute_values(":s", fmt(start))
        .expression_attribute_values(":e", fmt(start + Duration::minutes(30)))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_no_show_has_its_fee_captured_by_the_scheduled_run_once() {
    let app = spawn_app().await;
    let id = booking_under(&app, &tariff(1.00, 2.00), Duration::minutes(5)).await;
    let pi = authorize(&app, &id).await;
    let early = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(
        early.no_shows_charged, 0,
        "not due before start + 15 minutes"
    );
    assert_eq!(app.booking(&id).await["payment_status"], "authorized");

    let_time_pass(&app, &id, Duration::minutes(30)).await;
    let run = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(run.no_shows_charged, 1, "{run:?}");
    let at_stripe = app.stripe_intent(&pi).await;
    assert_eq!(
        (&at_stripe["status"], &at_stripe["amount_received"]),
        (&json!("succeeded"), &json!(200)),
        "the fee captured, the rest released"
    );
    let b = app.booking(&id).await;
    assert_eq!(
        (
            &b["status"],
            &b["payment_status"],
            &b["amount_received_minor"]
        ),
        (&json!("confirmed"), &json!("completed"), &json!(200)),
        "{b}"
    );
    assert_eq!(
        b["no_show_fee"],
        json!({"amount": 2.0, "amount_minor": 200, "currency": "usd", "status": "charged"})
    );
    // Another run, and Stripe's events of the capture: nothing more taken or given back.
    let again = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(again.no_shows_charged, 0);
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let after = app.booking(&id).await;
    assert_eq!(
        (&after["payment_status"], &after["amount_refunded_minor"]),
        (&json!("completed"), &json!(0))
    );
    assert!(refunds_at_stripe(&app, &pi).await.iter().all(|r| *r == 600));
    // Checking in now is too late: 409.
    let late = app
        .post_json(&format!("/v1/bookings/{id}/check-in"), &json!({}))
        .await;
    assert_eq!(
        (late.status, late.body),
        (
            409,
            json!({"detail": "The booking was recorded as a no-show; it can no longer be checked in"})
        )
    );
}

#[tokio::test]
async fn a_checked_in_session_is_not_charged_and_a_paid_booking_keeps_its_payment() {
    let app = spawn_app().await;
    let came = booking_under(&app, &tariff(1.00, 2.00), Duration::minutes(5)).await;
    let came_pi = authorize(&app, &came).await;
    let checked_in = app
        .post_json(&format!("/v1/bookings/{came}/check-in"), &json!({}))
        .await;
    assert_eq!(checked_in.status, 200, "{:?}", checked_in.body);
    let paid = booking_under(&app, &tariff(1.00, 2.00), Duration::minutes(5)).await;
    let paid_pi = pay(&app, &paid).await;
    for id in [&came, &paid] {
        let_time_pass(&app, id, Duration::hours(1)).await;
    }
    let run = app.stack.reconcile_now().await.expect("the run succeeds");
    assert_eq!(run.no_shows_charged + run.no_shows_waived, 0, "{run:?}");
    assert_eq!(
        app.stripe_intent(&came_pi).await["status"],
        "requires_capture"
    );
    let b = app.booking(&came).await;
    assert_eq!(b["payment_status"], "authorized");
    assert!(b.get("no_show_fee").is_none(), "{b}");
    let p = app.booking(&paid).await;
    assert_eq!(
        (&p["payment_status"], &p["amount_received_minor"]),
        (&json!("completed"), &json!(350))
    );
    assert!(p.get("no_show_fee").is_none(), "{p}");
    assert!(refunds_at_stripe(&app, &paid_pi).await.is_empty());
}
