//! The browser's side of the layer: a publishable key with the client secret on the endpoints
//! Stripe lets it use (and Stripe's 401 elsewhere), CORS as api.stripe.com answers, and the
//! Stripe.js stand-in at `/v3/`.

use serde_json::Value;

use super::{rig, Rig, PUBLISHABLE_KEY};
use crate::support::CARD_OK;

/// A form call with the publishable key as Stripe.js sends it (a `key` parameter), from a
/// page on another origin.
async fn browser(
    rig: &Rig,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut form = form.to_vec();
    form.push(("key", PUBLISHABLE_KEY));
    let url = format!("{}{path}", rig.layer.url());
    let client = reqwest::Client::new();
    let req = if method == reqwest::Method::GET {
        client.get(url).query(&form)
    } else {
        client.request(method, url).form(&form)
    };
    let resp = req
        .header("origin", "http://127.0.0.1:3001")
        .send()
        .await
        .expect("the layer answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_publishable_key_pays_an_intent_with_its_client_secret() {
    let rig = rig().await;
    let intent = rig.new_intent("450", "browser").await;
    let (pi, secret) = (
        intent["id"].as_str().unwrap(),
        intent["client_secret"].as_str().unwrap(),
    );
    let (status, headers, pm) = browser(
        &rig,
        reqwest::Method::POST,
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", CARD_OK),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
            ("billing_details[name]", "Customer Name"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let (status, _, paid) = browser(
        &rig,
        reqwest::Method::POST,
        &format!("/v1/payment_intents/{pi}/confirm"),
        &[
            ("client_secret", secret),
            ("payment_method", pm["id"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "succeeded");
    // Only the fields Stripe shows a publishable key.
    assert!(paid.get("metadata").is_none(), "{paid}");
    assert_eq!(paid["client_secret"], secret);

    let (status, _, read) = browser(
        &rig,
        reqwest::Method::GET,
        &format!("/v1/payment_intents/{pi}"),
        &[("client_secret", secret)],
    )
    .await;
    assert_eq!((status, read["status"].as_str()), (200, Some("succeeded")));
    assert!(
        read.get("metadata").is_none() && read.get("latest_charge").is_none(),
        "{read}"
    );
}

#[tokio::test]
async fn a_publishable_key_cannot_list_refund_or_read_without_the_client_secret() {
    let rig = rig().await;
    let paid = rig.paid_intent("450", CARD_OK).await;
    let pi = paid["id"].as_str().unwrap();
    let secret_only = "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.";
    for (method, path, form) in [
        (
            reqwest::Method::GET,
            "/v1/payment_intents".to_string(),
            vec![],
        ),
        (
            reqwest::Method::POST,
            "/v1/refunds".to_string(),
            vec![("payment_intent", pi)],
        ),
        (
            reqwest::Method::GET,
            format!("/v1/payment_intents/{pi}"),
            vec![],
        ),
        (
            reqwest::Method::POST,
            format!("/v1/payment_intents/{pi}/cancel"),
            vec![],
        ),
    ] {
        let (status, _, body) = browser(&rig, method, &path, &form).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"]["message"], secret_only, "{path}");
    }
    let (status, _, body) = browser(
        &rig,
        reqwest::Method::GET,
        &format!("/v1/payment_intents/{pi}"),
        &[("client_secret", "pi_other_secret_wrong")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "client_secret");
    // Nothing was refunded.
    let charge = &rig.get(&format!("/v1/payment_intents/{pi}")).await.body["latest_charge"];
    assert_eq!(charge["amount_refunded"], 0, "{charge}");

    // A publishable key the account does not have.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/{pi}", rig.layer.url()))
        .bearer_auth("pk_test_someone_elses_key_1234")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Invalid API Key provided: pk_test_****1234"
    );
}

#[tokio::test]
async fn cors_preflights_and_answers_as_stripes_api() {
    let rig = rig().await;
    let resp = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/payment_methods", rig.layer.url()),
        )
        .header("origin", "http://127.0.0.1:3001")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-headers"], "content-type");
    assert_eq!(h["access-control-max-age"], "300");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let js = reqwest::get(format!("{}/v3/", rig.layer.url()))
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    let text = js.text().await.unwrap();
    assert!(text.contains("window.Stripe = Stripe") && !text.contains("sk_"));
}
