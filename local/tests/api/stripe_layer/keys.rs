//! API keys (<https://docs.stripe.com/keys>): the layer accepts only the account's secret
//! keys, and answers any other as Stripe answers a revoked or rolled key (localstripe accepts
//! any `sk_` string).

use reqwest::Method;
use serde_json::json;

use super::{rig, SECRET_KEY};
use crate::support::{spawn_app, Answer};

const REVOKED: &str = "sk_test_revoked_key_51Hx0123456789";

fn assert_invalid_key(answer: &Answer, key: &str) {
    assert_eq!(answer.status, 401, "{:?}", answer.body);
    let last4 = &key[key.len() - 4..];
    assert_eq!(
        answer.body,
        json!({"error": {
            "type": "invalid_request_error",
            "message": format!("Invalid API Key provided: sk_test_****{last4}"),
        }})
    );
    assert!(!answer.body.to_string().contains(key));
}

#[tokio::test]
async fn a_key_the_account_does_not_have_is_401_without_the_key_in_the_answer() {
    let rig = rig().await;
    let revoked = rig.stripe.with_secret_key(REVOKED);
    let refused = revoked.call(Method::GET, "/v1/payment_intents", &[]).await;
    assert_invalid_key(&refused, REVOKED);
    // Nothing is created with it, also through Basic auth as `curl -u key:` sends it.
    let basic = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", rig.layer.url()))
        .basic_auth(REVOKED, Some(""))
        .form(&super::intent_form("350", "revoked"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let listed = rig
        .localstripe
        .call(Method::GET, "/v1/payment_intents", &[])
        .await;
    assert_eq!(listed.body["data"], json!([]));
    // The account's key works.
    assert_eq!(rig.get("/v1/payment_intents").await.status, 200);
}

#[tokio::test]
async fn a_rolled_key_is_refused_and_the_new_one_accepted() {
    let rig = rig().await;
    let new_key = "sk_test_rolled_in_key_9876543210";
    rig.layer.set_api_keys(vec![new_key.to_string()]);
    assert_invalid_key(&rig.get("/v1/payment_intents").await, SECRET_KEY);
    let renewed = rig.stripe.with_secret_key(new_key);
    let listed = renewed.call(Method::GET, "/v1/payment_intents", &[]).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
}

/// The product against a key Stripe no longer accepts: create-intent says payments are
/// misconfigured (a 500 with no Stripe text), and the booking is untouched.
#[tokio::test]
async fn the_api_with_a_revoked_stripe_key_answers_misconfigured() {
    let app = spawn_app().await;
    let booking_id = app.new_booking().await;
    let before = app.booking(&booking_id).await;
    app.stack
        .stripe_layer()
        .expect("the stack runs the layer")
        .set_api_keys(vec!["sk_test_someone_rolled_it_0000".into()]);
    let resp = app
        .create_intent(&json!({"amount": 3.50, "booking_id": booking_id}))
        .await;
    assert_eq!(
        (resp.status, resp.body),
        (500, json!({"detail": "Payments are misconfigured"}))
    );
    assert_eq!(app.booking(&booking_id).await, before);
}
