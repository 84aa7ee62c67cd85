//! Booking terms through the local stack, every answer checked against the document: the
//! check-in (200, again 200, 400, 404, 409), cancellations showing `cancellation_fee` charged
//! and waived, and a no-show's `no_show_fee` after the scheduled run.

use chrono::Duration;
use reqwest::Method;
use serde_json::json;

use super::Contract;
use crate::support::{new_id, spawn_app};
use crate::terms::{authorize, booking_under, pay, set_start};

pub(super) const TERMS_ROUTES: [(&str, &str); 1] = [("POST", "/v1/bookings/{id}/check-in")];
const CHECK_IN: &str = "/v1/bookings/{id}/check-in";
const CANCEL: &str = "/v1/bookings/{id}/cancel";
const BOOKING: &str = "/v1/bookings/{id}";

#[tokio::test]
async fn the_terms_match_the_document() {
    let mut c = Contract::load();
    let app = spawn_app().await;
    let app = &app;
    let terms = |late: f64| {
        json!({"currency": "usd", "flat": 3.50, "max_price": 8.00, "free_cancel_minutes": 60,
               "late_cancel_fee": late, "no_show_fee": 2.00, "no_show_after_minutes": 15})
    };
    let post = |path: String| {
        let req = app.keyed(Method::POST, &path);
        async move { app.send(req).await }
    };

    // Check-in: 200, the same again, a malformed and an unknown id.
    let id = booking_under(app, &terms(1.00), Duration::minutes(5)).await;
    for _ in 0..2 {
        let answer = post(format!("/v1/bookings/{id}/check-in")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body["checked_in_at"].is_string());
        c.check("POST", CHECK_IN, &answer);
    }
    for (bad, status) in [("not-a-uuid".to_string(), 400), (new_id(), 404)] {
        let answer = post(format!("/v1/bookings/{bad}/check-in")).await;
        assert_eq!(answer.status, status, "{}", answer.body);
        c.check("POST", CHECK_IN, &answer);
    }

    // Paid, cancelled late: the fee charged, the rest refunded; then check-in is 409.
    let paid = booking_under(app, &terms(1.00), Duration::minutes(30)).await;
    pay(app, &paid).await;
    let cancelled = post(format!("/v1/bookings/{paid}/cancel")).await;
    assert_eq!(cancelled.body["cancellation_fee"]["status"], "charged");
    c.check("POST", CANCEL, &cancelled);
    let refused = post(format!("/v1/bookings/{paid}/check-in")).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    c.check("POST", CHECK_IN, &refused);
    c.check(
        "GET",
        BOOKING,
        &app.get(&format!("/v1/bookings/{paid}")).await,
    );

    // Authorized, a fee below the minimum: waived with its reason.
    let held = booking_under(app, &terms(0.30), Duration::minutes(30)).await;
    authorize(app, &held).await;
    let waived = post(format!("/v1/bookings/{held}/cancel")).await;
    assert_eq!(waived.body["cancellation_fee"]["status"], "waived");
    c.check("POST", CANCEL, &waived);

    // A no-show: its fee on GET and in the list.
    let absent = booking_under(app, &terms(1.00), Duration::minutes(5)).await;
    authorize(app, &absent).await;
    set_start(app, &absent, chrono::Utc::now() - Duration::hours(1)).await;
    app.stack.reconcile_now().await.expect("the run succeeds");
    let shown = app.get(&format!("/v1/bookings/{absent}")).await;
    assert_eq!(
        shown.body["no_show_fee"]["status"], "charged",
        "{}",
        shown.body
    );
    c.check("GET", BOOKING, &shown);
    let user = shown.body["user_id"].as_str().unwrap().to_string();
    c.check("GET", "/v1/bookings", &app.list(&user, "").await);

    for status in [200, 400, 404, 409] {
        assert!(
            c.seen
                .contains(&("POST".to_string(), CHECK_IN.to_string(), status)),
            "check-in {status} never checked"
        );
    }
}
