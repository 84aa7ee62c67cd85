//! The Stripe emulator as the tests use it: playing Stripe.js's part with the secret key (the
//! browser tests, tests/browser/, play it with the publishable key through the Stripe.js
//! stand-in), reading what Stripe holds, and delivering webhooks signed as Stripe signs them.

use reqwest::Method;
use serde_json::{json, Value};

use super::app::{send, Answer, TestApp};
use super::product::webhook_signature;
use super::time::now;

/// Stripe's test cards, as the Stripe layer plays them (`stripe_layer::cards`).
pub const CARD_OK: &str = "4242424242424242";
/// The document's decline card: `card_declined` / `generic_decline` (localstripe alone paid it).
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_3DS: &str = "4000002500003155";
/// Stripe's test card whose payment succeeds and whose refunds succeed, then fail a moment
/// later (the Stripe layer plays it; localstripe alone does not).
pub const CARD_REFUND_FAILS: &str = "4000000000005126";
/// Stripe's test card whose payment succeeds, then is disputed (the Stripe layer plays it).
pub const CARD_DISPUTED: &str = "4000000000000259";

/// A Stripe API (the app's, or localstripe reached past a proxy), called with the secret key.
#[derive(Clone)]
pub struct StripeApi {
    client: reqwest::Client,
    base: String,
    secret_key: String,
}

impl StripeApi {
    pub fn new(client: reqwest::Client, base: &str, secret_key: &str) -> Self {
        Self {
            client,
            base: base.to_string(),
            secret_key: secret_key.to_string(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> Answer {
        self.call_with_key(method, path, form, None).await
    }

    /// [`StripeApi::call`] with this `Idempotency-Key`, if any.
    pub async fn call_with_key(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.secret_key)
            .form(form);
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        send(req).await
    }

    /// The same Stripe, called with another secret key.
    pub fn with_secret_key(&self, secret_key: &str) -> Self {
        Self::new(self.client.clone(), &self.base, secret_key)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Attaches a card to the intent and confirms it, as Stripe.js's confirmCardPayment does.
    pub async fn pay(&self, intent_id: &str, card: &str) -> Answer {
        let pm = self
            .call(
                Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", card),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        assert_eq!(pm.status, 200, "{:?}", pm.body);
        let attached = self
            .call(
                Method::POST,
                &format!("/v1/payment_intents/{intent_id}"),
                &[("payment_method", pm.body["id"].as_str().unwrap())],
            )
            .await;
        assert_eq!(attached.status, 200, "{:?}", attached.body);
        self.call(
            Method::POST,
            &format!("/v1/payment_intents/{intent_id}/confirm"),
            &[],
        )
        .await
    }

    pub async fn intent(&self, intent_id: &str) -> Value {
        let got = self
            .call(
                Method::GET,
                &format!("/v1/payment_intents/{intent_id}"),
                &[],
            )
            .await;
        assert_eq!(got.status, 200, "{:?}", got.body);
        got.body
    }

    /// Every PaymentIntent here for `booking_id` (by its metadata).
    pub async fn intents_for(&self, booking_id: &str) -> Vec<Value> {
        let all = self
            .call(Method::GET, "/v1/payment_intents?limit=1000", &[])
            .await;
        assert_eq!(all.status, 200, "{:?}", all.body);
        all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pi| pi["metadata"]["booking_id"] == booking_id)
            .cloned()
            .collect()
    }
}

impl TestApp {
    /// A call to the app's Stripe emulator with the secret key.
    pub async fn stripe(&self, method: Method, path: &str, form: &[(&str, &str)]) -> Answer {
        self.stripe_api().call(method, path, form).await
    }

    /// Attaches a card to the intent and confirms it, as Stripe.js's confirmCardPayment does.
    pub async fn pay(&self, intent_id: &str, card: &str) -> Answer {
        self.stripe_api().pay(intent_id, card).await
    }

    pub async fn stripe_intent(&self, intent_id: &str) -> Value {
        self.stripe_api().intent(intent_id).await
    }

    /// Every PaymentIntent in this app's emulator for `booking_id`.
    pub async fn stripe_intents_for(&self, booking_id: &str) -> Vec<Value> {
        self.stripe_api().intents_for(booking_id).await
    }

    /// A new booking with an intent, and that intent as the app's emulator holds it.
    pub async fn booking_with_intent(&self) -> (String, Value) {
        self.booking_with_intent_at(self.stripe_api()).await
    }

    /// A new booking with an intent, and that intent as `stripe` holds it.
    pub async fn booking_with_intent_at(&self, stripe: &StripeApi) -> (String, Value) {
        let booking_id = self.new_booking().await;
        let resp = self
            .create_intent(&json!({"amount": 3.50, "booking_id": booking_id}))
            .await;
        assert_eq!(resp.status, 200, "{:?}", resp.body);
        let intent = stripe
            .intent(resp.body["payment_intent_id"].as_str().unwrap())
            .await;
        (booking_id, intent)
    }

    /// Delivers `payload` to the webhook, with this `Stripe-Signature` header if any.
    pub async fn deliver(&self, payload: &str, signature: Option<String>) -> Answer {
        let mut req = self
            .client
            .post(self.url("/v1/payments/webhook"))
            .header("content-type", "application/json; charset=utf-8")
            .body(payload.to_string());
        if let Some(sig) = signature {
            req = req.header("stripe-signature", sig);
        }
        self.send(req).await
    }

    /// The `Stripe-Signature` Stripe would send for `payload` now, with the app's secret.
    pub fn sign_now(&self, payload: &str) -> String {
        webhook_signature::sign(payload.as_bytes(), &self.stack.webhook_secrets[0], now())
    }
}
