//! Priced bookings paid through the API: create-intent charges the frozen price (or
//! authorizes the tariff's max_price), and an EV session is captured at its energy price.

use serde_json::{json, Value};

use super::{ev_standard, put};
use crate::support::{new_id, spawn_app, Answer, TestApp};

#[tokio::test]
async fn create_intent_charges_the_booking_s_price_and_refuses_another_amount() {
    let app = spawn_app().await;
    let asset = new_id();
    put(&app, "/v1/tariffs/ev-standard", &ev_standard()).await;
    put(
        &app,
        &format!("/v1/assets/{asset}/tariff"),
        &json!({"tariff_id": "ev-standard"}),
    )
    .await;
    let body = crate::support::booking(
        &asset,
        &new_id(),
        "2026-03-01T18:00:00Z",
        "2026-03-01T18:50:00Z",
    );
    let created = app.create_booking(&body).await;
    let id = created.body["id"].as_str().unwrap().to_string();

    for (ask, detail) in [
        (
            json!({"booking_id": id, "amount": 4.00}),
            "amount must be 3.50 usd, the booking's price",
        ),
        (
            json!({"booking_id": id, "amount": 3.50, "currency": "eur"}),
            "currency must be usd, the currency of the booking's price",
        ),
        (
            json!({"booking_id": id, "currency": "jpy"}),
            "currency must be usd, the currency of the booking's price",
        ),
        (
            json!({"booking_id": id, "amount": 3.50, "capture_method": "manual"}),
            "amount must be 40.00 usd, the booking's authorization (its tariff's max_price)",
        ),
    ] {
        let answer = app.create_intent(&ask).await;
        assert_eq!(
            (answer.status, answer.body),
            (400, json!({"detail": detail})),
            "{ask}"
        );
    }
    assert!(app.booking(&id).await.get("payment_intent_id").is_none());

    // No amount: the price, in its currency, at Stripe.
    let intent = app.create_intent(&json!({"booking_id": id})).await;
    assert_eq!(intent.status, 200, "{:?}", intent.body);
    let pi = intent.body["payment_intent_id"].as_str().unwrap();
    let at_stripe = app.stripe_api().intent(pi).await;
    assert_eq!(
        (&at_stripe["amount"], &at_stripe["currency"]),
        (&json!(350), &json!("usd"))
    );
    let booking = app.booking(&id).await;
    assert_eq!(
        (&booking["amount_minor"], &booking["currency"]),
        (&json!(350), &json!("usd"))
    );
    // The same price given explicitly is the same intent.
    let again = app
        .create_intent(&json!({"booking_id": id, "amount": 3.50, "currency": "usd"}))
        .await;
    assert_eq!(again.body["payment_intent_id"], json!(pi));

    // Held (EV): the tariff's max_price is authorized.
    let held = app
        .create_intent(&json!({"booking_id": id, "capture_method": "manual"}))
        .await;
    assert_eq!(held.status, 200, "{:?}", held.body);
    let pi = held.body["payment_intent_id"].as_str().unwrap();
    assert_eq!(app.stripe_api().intent(pi).await["amount"], json!(4000));

    // A booking without a price still needs its amount.
    let plain = app.new_booking().await;
    let missing = app.create_intent(&json!({"booking_id": plain})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!({"detail": "amount is required"}))
    );
}

#[tokio::test]
async fn an_ev_session_is_captured_at_its_energy_price_from_the_frozen_tariff() {
    let app = spawn_app().await;
    let asset = new_id();
    put(&app, "/v1/tariffs/ev-standard", &ev_standard()).await;
    put(
        &app,
        &format!("/v1/assets/{asset}/tariff"),
        &json!({"tariff_id": "ev-standard"}),
    )
    .await;
    let body = crate::support::booking(
        &asset,
        &new_id(),
        "2026-03-01T18:00:00Z",
        "2026-03-01T19:00:00Z",
    );
    let id = app.create_booking(&body).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let held = app
        .create_intent(&json!({"booking_id": id, "capture_method": "manual"}))
        .await;
    assert_eq!(held.status, 200, "{:?}", held.body);
    let pi = held.body["payment_intent_id"].as_str().unwrap();
    let paid = app.pay(pi, crate::support::CARD_OK).await;
    assert_eq!(paid.body["status"], "requires_capture", "{:?}", paid.body);
    let authorized = app.wait_for_payment_status(&id, "authorized").await;
    assert_eq!(authorized["amount_authorized_minor"], 4000);

    // The tariff changes after the booking: the session is priced by the frozen one.
    let mut dearer = ev_standard();
    dearer["per_kwh"] = json!(0.99);
    put(&app, "/v1/tariffs/ev-standard", &dearer).await;

    for (bad, detail) in [
        (
            json!({"booking_id": id, "energy_kwh": -1}),
            "energy_kwh must be a JSON number from 0 to 10000 with at most 3 decimals",
        ),
        (
            json!({"booking_id": id, "energy_kwh": "12"}),
            "energy_kwh must be a JSON number from 0 to 10000 with at most 3 decimals",
        ),
        (
            json!({"booking_id": id, "energy_kwh": 1, "amount": 2}),
            "amount and energy_kwh cannot both be given",
        ),
    ] {
        let answer = capture(&app, bad.clone()).await;
        assert_eq!(
            (answer.status, answer.body),
            (400, json!({"detail": detail})),
            "{bad}"
        );
    }
    // 0.50 + 60 min at 3.00 + 12.345 kWh x 0.35 (4.32) = 7.82.
    let taken = capture(&app, json!({"booking_id": id, "energy_kwh": 12.345})).await;
    assert_eq!(taken.status, 200, "{:?}", taken.body);
    assert_eq!(
        (
            &taken.body["payment_status"],
            &taken.body["amount_received_minor"]
        ),
        (&json!("completed"), &json!(782))
    );
    // The same session again: the same answer, nothing more captured.
    let again = capture(&app, json!({"booking_id": id, "energy_kwh": 12.345})).await;
    assert_eq!(
        (again.status, &again.body["amount_received_minor"]),
        (200, &json!(782))
    );
    let other = capture(&app, json!({"booking_id": id, "energy_kwh": 20})).await;
    assert_eq!(other.status, 409, "{:?}", other.body);

    // A booking without a price cannot be captured by energy.
    let plain = app.new_booking().await;
    let answer = capture(&app, json!({"booking_id": plain, "energy_kwh": 1})).await;
    assert_eq!(answer.status, 409, "{:?}", answer.body);
}

async fn capture(app: &TestApp, body: Value) -> Answer {
    app.post_json("/v1/payments/capture", &body).await
}
