//! The local stack's Stripe settings: the layer on by default, `LOCALSTRIPE_API_KEYS`,
//! `LOCALSTRIPE_WEBHOOKS=0` (a stack that registers no webhook: reconciliation tests, demos).

use std::collections::HashMap;
use std::time::Duration;

use local_stack::{default_python, Dynamo, LocalStripe, StackConfig, Stripe};
use serde_json::json;

use super::object;
use crate::support::{spawn_app_with_stripe, CARD_OK};

fn config(vars: &[(&str, &str)]) -> Result<StackConfig, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    StackConfig::from_lookup(|name| vars.get(name).cloned())
}

fn local(config: &StackConfig) -> &LocalStripe {
    match &config.stripe {
        Stripe::Local(local) => local,
        other => panic!("not the local emulator: {other:?}"),
    }
}

#[test]
fn the_layer_and_webhooks_are_on_unless_switched_off() {
    let default = config(&[]).unwrap();
    let default = local(&default);
    assert_eq!(
        (default.port, default.layer, default.webhooks),
        (8420, true, true)
    );
    assert!(default.api_keys.is_empty(), "the stack's own key");

    let set = config(&[
        ("LOCALSTRIPE_WEBHOOKS", "0"),
        ("LOCALSTRIPE_LAYER", "false"),
        ("LOCALSTRIPE_API_KEYS", "sk_test_a, sk_test_b,"),
        ("LOCALSTRIPE_PORT", "8500"),
    ])
    .unwrap();
    let set = local(&set);
    assert_eq!((set.port, set.layer, set.webhooks), (8500, false, false));
    assert_eq!(set.api_keys, ["sk_test_a", "sk_test_b"]);

    assert!(config(&[("LOCALSTRIPE_WEBHOOKS", "maybe")]).is_err());
    let external = config(&[("STRIPE_API_BASE", "https://api.stripe.com")]).unwrap();
    assert!(matches!(external.stripe, Stripe::External { .. }));
}

/// With webhooks off nothing is registered: localstripe still makes its event (listed), but
/// the booking never hears of the payment.
#[tokio::test]
async fn a_stack_with_webhooks_off_registers_no_endpoint_and_hears_no_event() {
    let mut stripe = LocalStripe::new(default_python(), 0);
    stripe.webhooks = false;
    let app = spawn_app_with_stripe(Dynamo::Memory, Stripe::Local(stripe)).await;
    let layer = app.stack.stripe_layer().expect("the layer runs");
    assert_eq!(layer.webhook_endpoints(), Vec::<String>::new());

    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    assert_eq!(app.pay(pi, CARD_OK).await.body["status"], "succeeded");
    let mut listed = false;
    for _ in 0..50 {
        let events = app
            .stripe(
                reqwest::Method::GET,
                "/v1/events?type=payment_intent.succeeded",
                &[],
            )
            .await;
        if events.body["data"]
            .as_array()
            .is_some_and(|all| all.iter().any(|e| object(e)["id"] == pi))
        {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "localstripe made the event");
    // localstripe delivers about a second after the event; give it twice that.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let booking = app.booking(&booking_id).await;
    assert_eq!(booking["payment_status"], json!("pending"), "{booking}");
}

/// The stack registers its webhook through the layer, which delivers its own events there.
#[tokio::test]
async fn the_stack_registers_its_webhook_through_the_layer() {
    let app = crate::support::spawn_app().await;
    let layer = app.stack.stripe_layer().expect("the layer runs by default");
    assert_eq!(app.stack.stripe_base, layer.url());
    assert_eq!(
        layer.webhook_endpoints(),
        [format!("{}/v1/payments/webhook", app.stack.url())]
    );
}

/// Anyone who can reach the layer could otherwise register a URL of theirs and be sent every
/// event (client secrets included): a registration needs a key the layer accepts.
#[tokio::test]
async fn registering_a_webhook_needs_the_layers_key() {
    let rig = super::rig().await;
    let url = "http://127.0.0.1:9/hook";
    assert_eq!(rig.register_as(None, "anon", url, &[]).await, 401);
    assert_eq!(
        rig.register_as(Some("sk_test_not_this_layers"), "other", url, &[])
            .await,
        401
    );
    assert_eq!(
        rig.register_as(Some("pk_test_publishable"), "pk", url, &[])
            .await,
        401
    );
    assert!(rig.layer.webhook_endpoints().is_empty());
    assert_eq!(rig.register("ours", url, &[]).await, 200);
    assert_eq!(rig.layer.webhook_endpoints(), [url]);
}
