//! Stripe's test cards for card payments as Stripe's testing page lists them
//! (<https://docs.stripe.com/testing>): each decline card fails the confirm with its `code`,
//! `decline_code` and message, the intent goes back to `requires_payment_method` and can be
//! paid with another card; 3155 authenticates once, 3184 always; confirming with a payment
//! method in one call works (localstripe: 500 "Not implemented"; 0002 paid).

use reqwest::Method;
use serde_json::{json, Value};

use super::{object, rig, Rig};
use crate::support::{spawn_app, CARD_OK};

const CARD_3155: &str = "4000002500003155";
const CARD_3184: &str = "4000002760003184";

/// (card, code, decline_code, message) as Stripe documents them.
const DECLINES: [(&str, &str, Option<&str>, &str); 8] = [
    (
        "4000000000000002",
        "card_declined",
        Some("generic_decline"),
        "Your card was declined.",
    ),
    (
        "4000000000009995",
        "card_declined",
        Some("insufficient_funds"),
        "Your card has insufficient funds.",
    ),
    (
        "4000000000009987",
        "card_declined",
        Some("lost_card"),
        "Your card was declined.",
    ),
    (
        "4000000000009979",
        "card_declined",
        Some("stolen_card"),
        "Your card was declined.",
    ),
    (
        "4000000000000069",
        "expired_card",
        None,
        "Your card has expired.",
    ),
    (
        "4000000000000127",
        "incorrect_cvc",
        None,
        "Your card's security code is incorrect.",
    ),
    (
        "4000000000000119",
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    (
        "4000000000000341",
        "card_declined",
        Some("generic_decline"),
        "Your card was declined.",
    ),
];

async fn card(rig: &Rig, number: &str) -> String {
    let pm = rig
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2030"),
                ("card[cvc]", "123"),
            ],
            None,
        )
        .await;
    assert_eq!(pm.status, 200, "{:?}", pm.body);
    pm.body["id"].as_str().unwrap().to_string()
}

fn assert_declined(body: &Value, code: &str, decline_code: Option<&str>, message: &str) {
    let error = &body["error"];
    assert_eq!(error["type"], "card_error", "{body}");
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["decline_code"].as_str(), decline_code, "{body}");
    assert_eq!(error["message"], message, "{body}");
}

#[tokio::test]
async fn each_decline_card_fails_the_confirm_with_stripes_code_decline_code_and_message() {
    let rig = rig().await;
    for (number, code, decline_code, message) in DECLINES {
        let intent = rig.new_intent("500", "declines").await;
        let pi = intent["id"].as_str().unwrap();
        let declined = rig.stripe.pay(pi, number).await;
        assert_eq!(declined.status, 402, "{number}: {:?}", declined.body);
        assert_declined(&declined.body, code, decline_code, message);
        assert_eq!(declined.body["error"]["payment_intent"]["id"], pi);
        assert_eq!(
            declined.body["error"]["payment_intent"]["status"],
            "requires_payment_method"
        );
        assert!(declined.body["error"]["payment_method"]["id"].is_string());

        let now = rig.get(&format!("/v1/payment_intents/{pi}")).await.body;
        assert_eq!(now["status"], "requires_payment_method", "{number}");
        assert_eq!(now["payment_method"], Value::Null, "{number}");
        let last = &now["last_payment_error"];
        assert_eq!(
            (last["code"].as_str(), last["decline_code"].as_str()),
            (Some(code), decline_code),
            "{number}: {now}"
        );
        let failed = rig
            .wait_event("payment_intent.payment_failed", |e| object(e)["id"] == pi)
            .await;
        assert_eq!(
            object(&failed)["last_payment_error"]["message"],
            message,
            "{number}"
        );
    }
}

#[tokio::test]
async fn confirm_takes_the_payment_method_in_one_call_and_a_declined_intent_can_be_retried() {
    let rig = rig().await;
    let intent = rig.new_intent("700", "retry").await;
    let pi = intent["id"].as_str().unwrap();
    let confirm = format!("/v1/payment_intents/{pi}/confirm");
    let poor = card(&rig, "4000000000009995").await;
    let declined = rig
        .post(&confirm, &[("payment_method", poor.as_str())], None)
        .await;
    assert_eq!(declined.status, 402, "{:?}", declined.body);
    assert_eq!(declined.body["error"]["decline_code"], "insufficient_funds");

    let good = card(&rig, CARD_OK).await;
    let paid = rig
        .post(&confirm, &[("payment_method", good.as_str())], None)
        .await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(
        (paid.body["status"].as_str(), paid.body["id"].as_str()),
        (Some("succeeded"), Some(pi))
    );
    assert_eq!(paid.body["payment_method"], good.as_str());

    // A new card in the confirm itself (payment_method_data), as on Stripe.
    let other = rig.new_intent("800", "data").await;
    let pi2 = other["id"].as_str().unwrap();
    let made = rig
        .post(
            &format!("/v1/payment_intents/{pi2}/confirm"),
            &[
                ("payment_method_data[type]", "card"),
                ("payment_method_data[card][number]", CARD_OK),
                ("payment_method_data[card][exp_month]", "12"),
                ("payment_method_data[card][exp_year]", "2030"),
                ("payment_method_data[card][cvc]", "123"),
            ],
            None,
        )
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    assert_eq!(made.body["status"], "succeeded");
}

#[tokio::test]
async fn create_with_confirm_declines_as_a_confirm_does() {
    let rig = rig().await;
    let pm = card(&rig, "4000000000000002").await;
    let mut form = super::intent_form("500", "create-confirm");
    form.extend([("payment_method", pm.as_str()), ("confirm", "true")]);
    let declined = rig.post("/v1/payment_intents", &form, None).await;
    assert_eq!(declined.status, 402, "{:?}", declined.body);
    assert_declined(
        &declined.body,
        "card_declined",
        Some("generic_decline"),
        "Your card was declined.",
    );
}

/// 3155: authentication for a one-time payment, then none off-session; 3184: always, so an
/// off-session payment declines with `authentication_required`.
#[tokio::test]
async fn card_3155_authenticates_once_and_3184_always() {
    let rig = rig().await;
    for (number, off_session_pays) in [(CARD_3155, true), (CARD_3184, false)] {
        let pm = card(&rig, number).await;
        let intent = rig.new_intent("900", "3ds").await;
        let pi = intent["id"].as_str().unwrap();
        let asked = rig
            .post(
                &format!("/v1/payment_intents/{pi}/confirm"),
                &[("payment_method", pm.as_str())],
                None,
            )
            .await;
        assert_eq!(asked.status, 200, "{:?}", asked.body);
        assert_eq!(asked.body["status"], "requires_action", "{number}");
        let secret = intent["client_secret"].as_str().unwrap();
        let done = rig
            .post(
                &format!("/v1/payment_intents/{pi}/_authenticate?success=true"),
                &[("client_secret", secret)],
                None,
            )
            .await;
        assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);

        // On session, a new payment asks again.
        let again = rig.new_intent("900", "3ds-again").await;
        let asks = rig
            .post(
                &format!(
                    "/v1/payment_intents/{}/confirm",
                    again["id"].as_str().unwrap()
                ),
                &[("payment_method", pm.as_str())],
                None,
            )
            .await;
        assert_eq!(asks.body["status"], "requires_action", "{number}");

        let mut form = super::intent_form("900", "off-session");
        form.extend([
            ("payment_method", pm.as_str()),
            ("confirm", "true"),
            ("off_session", "true"),
        ]);
        let later = rig.post("/v1/payment_intents", &form, None).await;
        if off_session_pays {
            assert_eq!(later.status, 200, "{number}: {:?}", later.body);
            assert_eq!(later.body["status"], "succeeded");
        } else {
            assert_eq!(later.status, 402, "{number}: {:?}", later.body);
            assert_eq!(later.body["error"]["code"], "authentication_required");
            assert_eq!(
                later.body["error"]["payment_intent"]["status"],
                "requires_payment_method"
            );
        }
    }
    // Never authenticated: off-session 3155 declines too.
    let fresh = card(&rig, CARD_3155).await;
    let mut form = super::intent_form("900", "off-session-fresh");
    form.extend([
        ("payment_method", fresh.as_str()),
        ("confirm", "true"),
        ("off_session", "true"),
    ]);
    let refused = rig.post("/v1/payment_intents", &form, None).await;
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    assert_eq!(
        refused.body["error"]["decline_code"],
        "authentication_required"
    );
}

/// The whole stack: the document's decline card fails the booking with Stripe's reason;
/// insufficient funds, then 4242 on the same booking and intent, completes it; a failed 3-D
/// Secure fails the booking.
#[tokio::test]
async fn declines_reach_the_booking_as_failed_and_a_retry_completes_it() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    let declined = app.pay(pi, "4000000000000002").await;
    assert_eq!(declined.status, 402, "{:?}", declined.body);
    let failed = app.wait_for_payment_status(&booking_id, "failed").await;
    assert_eq!(failed["payment_failure_reason"], "Your card was declined.");

    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    assert_eq!(app.pay(pi, "4000000000009995").await.status, 402);
    let failed = app.wait_for_payment_status(&booking_id, "failed").await;
    assert_eq!(
        failed["payment_failure_reason"],
        "Your card has insufficient funds."
    );
    let again = app
        .create_intent(&json!({"amount": 3.50, "booking_id": booking_id}))
        .await;
    assert_eq!(again.body["payment_intent_id"], pi, "{:?}", again.body);
    let paid = app.pay(pi, CARD_OK).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    let done = app.wait_for_payment_status(&booking_id, "completed").await;
    assert_eq!(done["payment_intent_id"], pi);

    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    assert_eq!(
        app.pay(pi, CARD_3155).await.body["status"],
        "requires_action"
    );
    let secret = intent["client_secret"].as_str().unwrap();
    let failed_auth = app
        .stripe(
            Method::POST,
            &format!("/v1/payment_intents/{pi}/_authenticate?success=false"),
            &[("client_secret", secret)],
        )
        .await;
    assert_eq!(failed_auth.body["status"], "requires_payment_method");
    let failed = app.wait_for_payment_status(&booking_id, "failed").await;
    assert!(
        failed["payment_failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed authentication")),
        "{failed}"
    );
}
