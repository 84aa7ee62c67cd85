//! Stripe's idempotent requests (<https://docs.stripe.com/api/idempotent_requests>), which
//! localstripe ignores: the same key twice there creates two objects.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{intent_form, rig, rig_behind_proxy, SECRET_KEY};
use crate::fault_proxy::{request, Fault};
use crate::support::CARD_DECLINED;

fn replayed(answer: &crate::support::Answer) -> bool {
    answer
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

/// Every intent localstripe holds with this tag.
async fn tagged(rig: &super::Rig, tag: &str) -> Vec<Value> {
    let all = rig
        .localstripe
        .call(Method::GET, "/v1/payment_intents?limit=1000", &[])
        .await;
    all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pi| pi["metadata"]["test"] == tag)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_key_replays_its_first_answer_with_the_header_even_after_the_object_changed() {
    let rig = rig().await;
    let form = intent_form("350", "replay");
    let first = rig
        .post("/v1/payment_intents", &form, Some("k-replay"))
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert!(!replayed(&first));
    let pi = first.body["id"].as_str().unwrap().to_string();

    // Cancelled since: the replay still hands back the intent as it was first answered.
    let cancel = format!("/v1/payment_intents/{pi}/cancel");
    assert_eq!(rig.post(&cancel, &[], Some("k-cancel")).await.status, 200);
    let again = rig
        .post("/v1/payment_intents", &form, Some("k-replay"))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert!(replayed(&again), "{:?}", again.headers);
    assert_eq!(again.body, first.body);
    assert_eq!(again.body["status"], "requires_payment_method");

    // Nothing ran again: one intent, cancelled; the cancel's own key replays its answer.
    let held = tagged(&rig, "replay").await;
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["status"], "canceled");
    let cancelled_again = rig.post(&cancel, &[], Some("k-cancel")).await;
    assert_eq!(cancelled_again.status, 200, "{:?}", cancelled_again.body);
    assert!(replayed(&cancelled_again));

    // Without a key, or on a GET, nothing is replayed.
    let unkeyed = rig.post("/v1/payment_intents", &form, None).await;
    assert!(!replayed(&unkeyed));
    let read = rig
        .stripe
        .call_with_key(
            Method::GET,
            &format!("/v1/payment_intents/{pi}"),
            &[],
            Some("k-replay"),
        )
        .await;
    assert_eq!(
        (read.status, read.body["status"].as_str()),
        (200, Some("canceled"))
    );
    assert!(!replayed(&read));
}

#[tokio::test]
async fn a_key_reused_with_other_parameters_or_on_another_endpoint_is_an_idempotency_error() {
    let rig = rig().await;
    let first = rig
        .post(
            "/v1/payment_intents",
            &intent_form("350", "mismatch"),
            Some("k-1"),
        )
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);

    let other_amount = rig
        .post(
            "/v1/payment_intents",
            &intent_form("450", "mismatch"),
            Some("k-1"),
        )
        .await;
    let pi = first.body["id"].as_str().unwrap();
    let other_endpoint = rig
        .post(
            &format!("/v1/payment_intents/{pi}/cancel"),
            &[],
            Some("k-1"),
        )
        .await;
    for refused in [&other_amount, &other_endpoint] {
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["type"], "idempotency_error");
        assert!(refused.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("k-1")));
    }
    // Neither reached localstripe: one intent, still payable.
    let held = tagged(&rig, "mismatch").await;
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["status"], "requires_payment_method");
}

/// The key's first request is held at localstripe's door (the fault proxy stalls it), so the
/// second surely arrives while the first runs.
#[tokio::test]
async fn a_key_whose_first_request_still_runs_is_409_idempotency_key_in_use() {
    let rig = rig_behind_proxy().await;
    let proxy = rig.proxy.as_ref().unwrap();
    let creates = request("POST", "/v1/payment_intents");
    proxy.fail_next(creates.clone(), [Fault::Stall(Duration::from_secs(3))]);
    let form = intent_form("350", "in-flight");
    let first = {
        let stripe = rig.stripe.clone();
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::spawn(async move {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            stripe
                .call_with_key(Method::POST, "/v1/payment_intents", &form, Some("k-busy"))
                .await
        })
    };
    for _ in 0..100 {
        if !proxy.seen(&creates).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        proxy.seen(&creates).len(),
        1,
        "the first request reached localstripe's door"
    );

    let second = rig.post("/v1/payment_intents", &form, Some("k-busy")).await;
    assert_eq!(second.status, 409, "{:?}", second.body);
    assert_eq!(second.body["error"]["code"], "idempotency_key_in_use");
    assert_eq!(
        proxy.seen(&creates).len(),
        1,
        "the second never left the layer"
    );

    // The first one never got an answer from localstripe (a 5xx): its key is free again.
    let first = first.await.unwrap();
    assert!(first.status >= 500, "{:?}", first.body);
    let third = rig.post("/v1/payment_intents", &form, Some("k-busy")).await;
    assert_eq!(third.status, 200, "{:?}", third.body);
    assert!(!replayed(&third));
    assert_eq!(tagged(&rig, "in-flight").await.len(), 1);
}

#[tokio::test]
async fn server_errors_are_not_saved_and_the_same_key_runs_again() {
    let rig = rig_behind_proxy().await;
    let proxy = rig.proxy.as_ref().unwrap();
    proxy.fail_next(
        request("POST", "/v1/payment_intents"),
        [Fault::stripe_500()],
    );
    let form = intent_form("350", "after-500");
    let failed = rig.post("/v1/payment_intents", &form, Some("k-500")).await;
    assert_eq!(failed.status, 500, "{:?}", failed.body);

    let retried = rig.post("/v1/payment_intents", &form, Some("k-500")).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert!(!replayed(&retried));
    let again = rig.post("/v1/payment_intents", &form, Some("k-500")).await;
    assert!(replayed(&again));
    assert_eq!(again.body["id"], retried.body["id"]);
    assert_eq!(tagged(&rig, "after-500").await.len(), 1);
}

/// A decline is an error returned once the confirm ran: Stripe saves it, so the retry gets the
/// decline again (localstripe alone would answer the retry differently: the intent is back to
/// `requires_payment_method`).
#[tokio::test]
async fn an_error_from_a_request_that_ran_is_replayed() {
    let rig = rig().await;
    let intent = rig.new_intent("350", "declined").await;
    let pi = intent["id"].as_str().unwrap();
    let pm = rig
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", CARD_DECLINED),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2030"),
                ("card[cvc]", "123"),
            ],
            None,
        )
        .await;
    let pm = pm.body["id"].as_str().unwrap();
    let path = format!("/v1/payment_intents/{pi}");
    assert_eq!(
        rig.post(&path, &[("payment_method", pm)], None)
            .await
            .status,
        200
    );
    let confirm = format!("{path}/confirm");
    let declined = rig.post(&confirm, &[], Some("k-confirm")).await;
    assert_eq!(declined.status, 402, "{:?}", declined.body);
    let again = rig.post(&confirm, &[], Some("k-confirm")).await;
    assert_eq!((again.status, &again.body), (402, &declined.body));
    assert!(replayed(&again));
}

#[tokio::test]
async fn keys_belong_to_the_api_key_that_used_them() {
    let rig = rig().await;
    rig.layer.set_api_keys(vec![
        SECRET_KEY.to_string(),
        "sk_test_other_account_key".into(),
    ]);
    let other = rig.stripe.with_secret_key("sk_test_other_account_key");
    let mine = rig
        .post(
            "/v1/payment_intents",
            &intent_form("350", "scoped"),
            Some("k-shared"),
        )
        .await;
    let theirs = other
        .call_with_key(
            Method::POST,
            "/v1/payment_intents",
            &intent_form("450", "scoped"),
            Some("k-shared"),
        )
        .await;
    assert_eq!(
        (mine.status, theirs.status),
        (200, 200),
        "{:?}",
        theirs.body
    );
    assert!(!replayed(&theirs));
    assert_ne!(mine.body["id"], theirs.body["id"]);
    let mine_again = rig
        .post(
            "/v1/payment_intents",
            &intent_form("350", "scoped"),
            Some("k-shared"),
        )
        .await;
    assert!(replayed(&mine_again));
    assert_eq!(mine_again.body["id"], mine.body["id"]);
}
