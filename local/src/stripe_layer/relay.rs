//! localstripe's own events (`payment_intent.succeeded`, `payment_intent.payment_failed`, ...),
//! relayed through the layer so that they carry what the layer lays over localstripe's objects
//! (`capture`, failed refunds, disputes), as the same events listed by `GET /v1/events` do.
//!
//! - Registering an endpoint (`POST /_config/webhooks/<id>` with `url`, `secret`,
//!   `events[]`): the layer keeps the endpoint for its deliveries (`events`) and registers with
//!   localstripe, under the same id and for the same types, its own `/_relay/<id>` with a
//!   secret only it knows. localstripe never learns the endpoint, so nothing reaches it past
//!   the layer, and each event arrives once.
//! - A delivery to `/_relay/<id>`: checked against the layer's secret as a webhook endpoint
//!   checks Stripe's signature (<https://docs.stripe.com/webhooks#verify-manually>), its
//!   `data.object` overlaid, then queued for endpoint `<id>` with the layer's own events and
//!   signed with that endpoint's secret. Its `id`, `type` and `created` stay localstripe's.

use serde_json::Value;
use shared::adapters::stripe::signature::verify;

use super::server::Call;
use super::wire::{list_param, now, param};
use super::{Answer, Layer};

/// How old (or early) a signature from localstripe may be: Stripe's default tolerance. It
/// signs with the event's `created` and delivers about a second later.
const TOLERANCE_SECS: i64 = 300;

/// `POST /_config/webhooks/<id>`: the endpoint kept by the layer, the relay registered with
/// localstripe. localstripe's own checks (`url` and `secret` required, `url` over HTTP) are
/// made here, since localstripe sees only the relay's.
pub(super) async fn register(layer: &Layer, call: &Call, id: &str) -> Answer {
    let (Some(url), Some(_)) = (param(&call.params, "url"), param(&call.params, "secret")) else {
        return Answer::stripe_error(400, "invalid_request_error", None, "Bad request");
    };
    if !url.starts_with("http") {
        return Answer::stripe_error(400, "invalid_request_error", None, "Bad request");
    }
    let relay = format!("{}/_relay/{id}", layer.relay_base);
    let mut form = vec![
        ("url".to_string(), relay),
        ("secret".to_string(), layer.relay_secret.clone()),
    ];
    form.extend(
        list_param(&call.params, "events")
            .into_iter()
            .map(|kind| ("events[]".to_string(), kind)),
    );
    let answer = layer
        .post_form(&format!("/_config/webhooks/{id}"), &form)
        .await;
    if answer.is_success() {
        layer.events.register(id, &call.params);
    }
    answer
}

/// `POST /_relay/<id>`: an event localstripe delivered for endpoint `<id>`.
pub(super) fn relay(layer: &Layer, call: &Call, id: &str) -> Answer {
    let secret = [layer.relay_secret.clone()];
    let signature = call.header("stripe-signature");
    if let Err(err) = verify(&call.body, signature, &secret, now(), TOLERANCE_SECS) {
        let message = format!("Not signed by localstripe: {err:?}");
        return Answer::stripe_error(400, "invalid_request_error", None, &message);
    }
    let Ok(mut event) = serde_json::from_slice::<Value>(&call.body) else {
        return Answer::stripe_error(400, "invalid_request_error", None, "Not a JSON event");
    };
    if let Some(object) = event.get_mut("data").and_then(|d| d.get_mut("object")) {
        layer.test_mode().overlay(object);
    }
    layer.events.relay(id, event);
    Answer {
        status: 200,
        headers: Vec::new(),
        body: Default::default(),
    }
}
