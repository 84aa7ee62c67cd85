//! Booking terms (issue 22) through the real handlers, DynamoDB and localstripe behind the
//! Stripe layer, webhooks delivered: a late cancel refunds what was paid minus the fee (a
//! partial refund at Stripe), an authorized booking has the fee captured (and the webhook's
//! success after it refunds nothing), the free window refunds everything, a fee below
//! Stripe's minimum is waived, racing cancels take the fee once; check-in; and the scheduled
//! run's no-shows (`no_shows`). Time passes by choosing the slot's start relative to now, or
//! by moving the booking's stored times.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{new_id, rfc3339, spawn_app, Answer, TestApp, CARD_OK};

mod no_shows;

pub(crate) use no_shows::set_start;

/// Terms: free until 60 minutes before the start, `late` after it; `no_show` 15 minutes after
/// the start. Priced 3.50 flat; authorized (manual capture) for 8.00, its `max_price`.
fn tariff(late: f64, no_show: f64) -> Value {
    json!({"currency": "usd", "flat": 3.50, "max_price": 8.00, "free_cancel_minutes": 60,
           "late_cancel_fee": late, "no_show_fee": no_show, "no_show_after_minutes": 15})
}

/// A booking of a new asset under `tariff`, starting `from_now` from now (to the minute),
/// lasting 30 minutes.
pub(crate) async fn booking_under(app: &TestApp, tariff: &Value, from_now: Duration) -> String {
    let (asset, tariff_id) = (new_id(), format!("t-{}", new_id()));
    let put = |path: String, body: Value| async move {
        app.send(app.keyed(Method::PUT, &path).json(&body)).await
    };
    let made = put(format!("/v1/tariffs/{tariff_id}"), tariff.clone()).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let assigned = put(
        format!("/v1/assets/{asset}/tariff"),
        json!({"tariff_id": tariff_id}),
    )
    .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);
    let start = (Utc::now() + from_now)
        .duration_trunc(Duration::minutes(1))
        .unwrap();
    let body = crate::support::booking(
        &asset,
        &new_id(),
        &rfc3339(start),
        &rfc3339(start + Duration::minutes(30)),
    );
    let created = app.create_booking(&body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

/// Paid its price (3.50), the webhook's success applied. Returns the intent.
pub(crate) async fn pay(app: &TestApp, id: &str) -> String {
    let made = app.create_intent(&json!({"booking_id": id})).await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let pi = made.body["payment_intent_id"].as_str().unwrap().to_string();
    let paid = app.pay(&pi, CARD_OK).await;
    assert_eq!(paid.body["status"], "succeeded", "{:?}", paid.body);
    app.wait_for_payment_status(id, "completed").await;
    pi
}

/// Authorized for 8.00 (the tariff's `max_price`), the webhook's event applied.
pub(crate) async fn authorize(app: &TestApp, id: &str) -> String {
    let made = app
        .create_intent(&json!({"booking_id": id, "capture_method": "manual"}))
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let pi = made.body["payment_intent_id"].as_str().unwrap().to_string();
    let paid = app.pay(&pi, CARD_OK).await;
    assert_eq!(paid.body["status"], "requires_capture", "{:?}", paid.body);
    app.wait_for_payment_status(id, "authorized").await;
    pi
}

async fn cancel(app: &TestApp, id: &str) -> Answer {
    app.post_json(&format!("/v1/bookings/{id}/cancel"), &json!({}))
        .await
}

/// The refunds Stripe holds for the intent: their amounts, oldest first.
pub(super) async fn refunds_at_stripe(app: &TestApp, pi: &str) -> Vec<i64> {
    let listed = app
        .stripe(
            Method::GET,
            &format!("/v1/refunds?payment_intent={pi}"),
            &[],
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let mut amounts: Vec<(i64, i64)> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["created"].as_i64().unwrap_or(0),
                r["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    amounts.sort_unstable();
    amounts.into_iter().map(|(_, a)| a).collect()
}

fn fee(minor: i64, status: &str) -> Value {
    json!({"amount": minor as f64 / 100.0, "amount_minor": minor, "currency": "usd",
           "status": status})
}

#[tokio::test]
async fn a_late_cancel_of_a_paid_booking_refunds_what_was_paid_minus_the_fee() {
    let app = spawn_app().await;
    let id = booking_under(&app, &tariff(1.00, 2.00), Duration::minutes(30)).await;
    let pi = pay(&app, &id).await;
    let cancelled = cancel(&app, &id).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    let b = &cancelled.body;
    assert_eq!(
        (&b["status"], &b["payment_status"]),
        (&json!("cancelled"), &json!("partially_refunded"))
    );
    assert_eq!(b["cancellation_fee"], fee(100, "charged"));
    assert_eq!(
        (&b["amount_refunded"], &b["amount_refunded_minor"]),
        (&json!(2.5), &json!(250))
    );
    assert_eq!(
        refunds_at_stripe(&app, &pi).await,
        [250],
        "the partial refund"
    );
    // GET and the list show the same.
    assert_eq!(
        app.booking(&id).await["cancellation_fee"],
        fee(100, "charged")
    );
    let user = b["user_id"].as_str().unwrap();
    let listed = app.list(user, "").await;
    assert_eq!(
        listed.body["items"][0]["cancellation_fee"],
        fee(100, "charged")
    );
    // A repeat is the same booking; nothing more refunded.
    let again = cancel(&app, &id).await;
    assert_eq!(
        (again.status, &again.body["cancellation_fee"]),
        (200, &fee(100, "charged"))
    );
    assert_eq!(refunds_at_stripe(&app, &pi).await, [250]);
    // The booking lists the refund, and its receipt shows the fee it kept and adds up.
    let shown = app.booking(&id).await;
    let listed: Vec<(Value, Value)> = shown["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["amount_minor"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(listed, [(json!(250), json!("succeeded"))], "{shown}");
    let receipt = app.get(&format!("/v1/bookings/{id}/receipt")).await;
    assert_eq!(receipt.status, 200, "{:?}", receipt.body);
    let r = &receipt.body;
    let lines = r["line_items"].as_array().unwrap();
    let fees: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "cancellation_fee")
        .map(|l| &l["amount_minor"])
        .collect();
    assert_eq!(fees, [&json!(100)], "{r}");
    let charged: i64 = lines
        .iter()
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(
        (charged, &r["total_refunded_minor"], &r["total_minor"]),
        (350, &json!(250), &json!(100)),
        "{r}"
    );
}

#[tokio::test]
async fn an_authorized_booking_has_the_fee_captured_and_the_webhook_after_refunds_nothing() {
    let app = spawn_app().await;
    let id = booking_under(&app, &tariff(1.00, 2.00), Duration::minutes(30)).await;
    let pi = authorize(&app, &id).await;
    let cancelled = cancel(&app, &id).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    let b = &cancelled.body;
    assert_eq!(
        (
            &b["status"],
            &b["payment_status"],
            &b["amount_received_minor"]
        ),
        (&json!("cancelled"), &json!("completed"), &json!(100))
    );
    assert_eq!(b["cancellation_fee"], fee(100, "charged"));
    let at_stripe = app.stripe_intent(&pi).await;
    assert_eq!(
        (&at_stripe["status"], &at_stripe["amount_received"]),
        (&json!("succeeded"), &json!(100)),
        "captured at Stripe: the fee"
    );
    let released = refunds_at_stripe(&app, &pi).await;

    // Stripe's payment_intent.succeeded for the capture (localstripe's own delivery, and the
    // same event sent again as Stripe may), then a cancel again and the scheduled run.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let payload = crate::support::event(
        "payment_intent.succeeded",
        crate::support::now(),
        &at_stripe,
    );
    let delivered = app.deliver(&payload, Some(app.sign_now(&payload))).await;
    assert_eq!(delivered.status, 200, "{:?}", delivered.body);
    assert_eq!(cancel(&app, &id).await.status, 200);
    app.stack.reconcile_now().await.expect("the run succeeds");
    let after = app.booking(&id).await;
    assert_eq!(
        (
            &after["status"],
            &after["payment_status"],
            &after["amount_refunded_minor"]
        ),
        (&json!("cancelled"), &json!("completed"), &json!(0)),
        "{after}"
    );
    assert_eq!(after["cancellation_fee"], fee(100, "charged"));
    assert_eq!(
        refunds_at_stripe(&app, &pi).await,
        released,
        "no refund of the fee (only the released remainder, if Stripe counts it)"
    );
    assert!(released.iter().all(|r| *r == 700), "{released:?}");
}

#[tokio::test]
async fn a_cancel_in_the_free_window_refunds_everything() {
    let app = spawn_app().await;
    let id = booking_under(&app, &tariff(1.00, 2.00), Duration::hours(3)).await;
    let pi = pay(&app, &id).await;
    let cancelled = cancel(&app, &id).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["payment_status"], "refunded");
    assert_eq!(cancelled.body["amount_refunded_minor"], 350);
    assert!(
        cancelled.body.get("cancellation_fee").is_none(),
        "{}",
        cancelled.body
    );
    assert_eq!(refunds_at_stripe(&app, &pi).await, [350]);
}

#[tokio::test]
async fn a_fee_below_stripe_s_minimum_is_waived_never_a_400() {
    let app = spawn_app().await;
    let id = booking_under(&app, &tariff(0.30, 2.00), Duration::minutes(30)).await;
    let pi = authorize(&app, &id).await;
    let cancelled = cancel(&app, &id).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(
        cancelled.body["payment_status"], "canceled",
        "the hold released: {}",
        cancelled.body
    );
    let mut waived = fee(30, "waived");
    waived["reason"] = json!("below Stripe's minimum charge of 0.50 usd");
    assert_eq!(
        cancelled.body["cancellation_fee"], waived,
        "{}",
        cancelled.body
    );
    assert_eq!(app.stripe_intent(&pi).await["status"], "canceled");
}

#[tokio::test]
async fn concurrent_cancels_take_the_fee_once() {
    let app = spawn_app().await;
    let id = booking_under(&app, &tariff(1.00, 2.00), Duration::minutes(30)).await;
    let pi = pay(&app, &id).await;
    let answers = futures::future::join_all((0..8).map(|_| cancel(&app, &id))).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["cancellation_fee"], fee(100, "charged"));
        assert_eq!(a.body["amount_refunded_minor"], 250);
    }
    assert_eq!(refunds_at_stripe(&app, &pi).await, [250], "one refund");
}

async fn check_in(app: &TestApp, id: &str) -> Answer {
    app.post_json(&format!("/v1/bookings/{id}/check-in"), &json!({}))
        .await
}

#[tokio::test]
async fn check_in_is_idempotent_and_only_for_a_confirmed_booking() {
    let app = spawn_app().await;
    let id = app.new_booking().await;
    let first = check_in(&app, &id).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let at: DateTime<Utc> = first.body["checked_in_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((Utc::now() - at).abs() < Duration::minutes(1));
    // An empty body too; the first check-in is kept.
    let again = app
        .post_raw(&format!("/v1/bookings/{id}/check-in"), "")
        .await;
    assert_eq!((again.status, &again.body), (200, &first.body));
    assert_eq!(
        app.booking(&id).await["checked_in_at"],
        first.body["checked_in_at"]
    );

    let unknown = check_in(&app, &new_id()).await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"detail": "Booking not found"}))
    );
    let bad = check_in(&app, "nope").await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let other = app.new_booking().await;
    assert_eq!(cancel(&app, &other).await.status, 200);
    let refused = check_in(&app, &other).await;
    assert_eq!(
        (refused.status, refused.body),
        (
            409,
            json!({"detail": "Only a confirmed booking can be checked in; this one is cancelled"})
        )
    );
    let wrong = app
        .send(app.keyed(Method::GET, &format!("/v1/bookings/{id}/check-in")))
        .await;
    assert_eq!(wrong.status, 405, "{:?}", wrong.body);
}
