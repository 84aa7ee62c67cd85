//! A booking's refunds and receipt through the local stack, every answer checked against the
//! document: a part refunded, with and without a key, too much, a replay and a reused key, a
//! booking with nothing captured; the receipt before money moved and after.

use super::Contract;
use crate::support::{spawn_app, CARD_OK};
use reqwest::Method;
use serde_json::{json, Value};

pub(super) const REFUND_ROUTES: [(&str, &str); 2] = [
    ("POST", "/v1/bookings/{id}/refunds"),
    ("GET", "/v1/bookings/{id}/receipt"),
];

#[tokio::test]
async fn the_refund_and_receipt_routes_match_the_document() {
    let mut c = Contract::load();
    let app = spawn_app().await;
    let (id, intent) = app.booking_with_intent().await;
    let paid = app.pay(intent["id"].as_str().unwrap(), CARD_OK).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    app.wait_for_payment_status(&id, "completed").await;

    // Receipts and operator refunds: a part refunded, with and without a key, too much, a
    // replay and a reused key; the receipt after; the booking lists the refund.
    let unpaid = app.new_booking().await;
    let no_money = app.get(&format!("/v1/bookings/{unpaid}/receipt")).await;
    assert_eq!(no_money.status, 404, "{}", no_money.body);
    c.check("GET", "/v1/bookings/{id}/receipt", &no_money);
    let receipt = app.get(&format!("/v1/bookings/{id}/receipt")).await;
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    c.check("GET", "/v1/bookings/{id}/receipt", &receipt);
    let refunds = format!("/v1/bookings/{id}/refunds");
    let part = json!({"amount": 1.00, "reason": "requested_by_customer"});
    c.check_request("POST", "/v1/bookings/{id}/refunds", &part, true);
    let no_key = app.post_json(&refunds, &part).await;
    assert_eq!(no_key.status, 400, "{}", no_key.body);
    c.check("POST", "/v1/bookings/{id}/refunds", &no_key);
    let keyed = |body: &Value, key: &str| {
        app.keyed(Method::POST, &refunds)
            .header("idempotency-key", key)
            .json(body)
    };
    for _ in 0..2 {
        let made = app.send(keyed(&part, "contract-refund-1")).await;
        assert_eq!(made.status, 201, "{}", made.body);
        c.check("POST", "/v1/bookings/{id}/refunds", &made);
    }
    let reused = app
        .send(keyed(
            &json!({"amount": 2, "reason": "duplicate"}),
            "contract-refund-1",
        ))
        .await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    c.check("POST", "/v1/bookings/{id}/refunds", &reused);
    let too_much = app
        .send(keyed(
            &json!({"amount": 100, "reason": "duplicate"}),
            "contract-refund-2",
        ))
        .await;
    assert_eq!(too_much.status, 400, "{}", too_much.body);
    c.check("POST", "/v1/bookings/{id}/refunds", &too_much);
    let on_unpaid = app
        .send(
            app.keyed(Method::POST, &format!("/v1/bookings/{unpaid}/refunds"))
                .header("idempotency-key", "contract-refund-3")
                .json(&part),
        )
        .await;
    assert_eq!(on_unpaid.status, 409, "{}", on_unpaid.body);
    c.check("POST", "/v1/bookings/{id}/refunds", &on_unpaid);
    let receipt = app.get(&format!("/v1/bookings/{id}/receipt")).await;
    assert_eq!(
        receipt.body["refunds"].as_array().map(Vec::len),
        Some(1),
        "{}",
        receipt.body
    );
    c.check("GET", "/v1/bookings/{id}/receipt", &receipt);
    let refunded = app.get(&format!("/v1/bookings/{id}")).await;
    assert_eq!(
        refunded.body["refunds"].as_array().map(Vec::len),
        Some(1),
        "{}",
        refunded.body
    );
    c.check("GET", "/v1/bookings/{id}", &refunded);

    for (method, template) in REFUND_ROUTES {
        let ok = if method == "POST" { 201 } else { 200 };
        assert!(
            c.seen
                .contains(&(method.to_string(), template.to_string(), ok)),
            "{method} {template} {ok} never checked"
        );
    }
}
