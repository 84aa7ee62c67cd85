//! What a browser reaches: the publishable key and CORS, as Stripe answers Stripe.js.
//!
//! - Publishable keys (<https://docs.stripe.com/keys#obtain-api-keys>: "Publishable keys ...
//!   can be publicly accessible in your web or mobile app's client-side code", and only
//!   create what client code needs): the keys of `LOCALSTRIPE_PUBLISHABLE_KEYS`, as
//!   `Authorization: Bearer pk_...` or a `key` parameter (as Stripe.js sends it), may create a
//!   PaymentMethod, and, with the intent's client secret, retrieve a PaymentIntent, confirm it
//!   (<https://docs.stripe.com/api/payment_intents/confirm>) and finish its 3-D Secure step
//!   (localstripe's `_authenticate`). The client secret must be the intent's
//!   (<https://docs.stripe.com/api/payment_intents/object#payment_intent_object-client_secret>).
//!   Any other call with a publishable key is Stripe's 401 "This API call cannot be made with
//!   a publishable API key"; another `pk_` key is 401 `Invalid API Key provided`.
//! - An intent read with a publishable key shows only the fields Stripe marks "retrievable
//!   with publishable key" in the PaymentIntent object (no `metadata`, `customer`, ...).
//! - CORS: every `/v1/` answer to a request with an `Origin` carries the headers
//!   api.stripe.com sends (`Access-Control-Allow-Origin: *`, its methods, exposed headers and
//!   a 300 s max age), and a preflight `OPTIONS` is answered 200 with them; localstripe's own
//!   (which echo the origin) are dropped.

use hyper::HeaderMap;
use serde_json::{Map, Value};

use super::confirm::{body_params, no_such_intent, secret_mismatch, UPSTREAM_AUTH};
use super::server::{execute, Call};
use super::wire::{masked, param, str_of};
use super::{Answer, Layer};

/// The publishable key of the stack's local Stripe account (`LOCALSTRIPE_PUBLISHABLE_KEYS`).
pub const LOCAL_PUBLISHABLE_KEY: &str = "pk_test_local_stack";

/// The PaymentIntent fields Stripe marks "RETRIEVABLE WITH PUBLISHABLE KEY"
/// (<https://docs.stripe.com/api/payment_intents/object>).
const CLIENT_FIELDS: [&str; 22] = [
    "id",
    "object",
    "amount",
    "automatic_payment_methods",
    "canceled_at",
    "cancellation_reason",
    "capture_method",
    "client_secret",
    "confirmation_method",
    "created",
    "currency",
    "description",
    "last_payment_error",
    "livemode",
    "next_action",
    "payment_method",
    "payment_method_configuration_details",
    "payment_method_types",
    "processing",
    "receipt_email",
    "setup_future_usage",
    "status",
];

const SECRET_KEY_ONLY: &str = "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.";

/// The publishable key a request is made with, if it is made with one.
pub(super) fn key_of(call: &Call) -> Option<String> {
    if call.account.starts_with("pk_") {
        return Some(call.account.clone());
    }
    if !call.account.is_empty() {
        return None;
    }
    param(&call.params, "key")
        .filter(|k| k.starts_with("pk_"))
        .map(str::to_string)
}

pub(super) async fn route(layer: &std::sync::Arc<Layer>, call: &Call, key: &str) -> Answer {
    if !layer.publishable_keys.iter().any(|k| k == key) {
        let message = format!("Invalid API Key provided: {}", masked(key));
        return Answer::stripe_error(401, "invalid_request_error", None, &message);
    }
    let secret = param(&call.params, "client_secret");
    let form: Vec<(String, String)> = body_params(call)
        .into_iter()
        .filter(|(k, _)| k != "key")
        .collect();
    match (call.method.as_str(), call.segments().as_slice()) {
        ("POST", ["v1", "payment_methods"]) => {
            let inner = call.with_body(&call.path_and_query, UPSTREAM_AUTH, &form);
            execute(layer, &inner).await
        }
        ("GET", ["v1", "payment_intents", id]) if secret.is_some() => {
            let Some(intent) = layer.upstream_intent(id).await else {
                return no_such_intent(id);
            };
            if str_of(&intent, "client_secret") != secret {
                return secret_mismatch();
            }
            Answer::json(200, &client_view(&intent))
        }
        ("POST", ["v1", "payment_intents", id, "confirm" | "_authenticate"])
            if secret.is_some() =>
        {
            match layer.upstream_intent(id).await {
                None => return no_such_intent(id),
                Some(intent) if str_of(&intent, "client_secret") != secret => {
                    return secret_mismatch()
                }
                Some(_) => {}
            }
            let inner = call.with_body(&call.path_and_query, UPSTREAM_AUTH, &form);
            restricted(execute(layer, &inner).await)
        }
        _ => Answer::stripe_error(401, "invalid_request_error", None, SECRET_KEY_ONLY),
    }
}

/// An intent as a publishable key sees it.
fn client_view(intent: &Value) -> Value {
    let Value::Object(fields) = intent else {
        return intent.clone();
    };
    let shown: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| CLIENT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(shown)
}

/// An answer about an intent (the intent, or an error carrying it), as a publishable key sees it.
fn restricted(mut answer: Answer) -> Answer {
    let Some(mut body) = answer.json_body() else {
        return answer;
    };
    if body["object"] == "payment_intent" {
        body = client_view(&body);
    } else if body["error"]["payment_intent"].is_object() {
        body["error"]["payment_intent"] = client_view(&body["error"]["payment_intent"]);
    } else {
        return answer;
    }
    answer.body = super::idempotency::pretty(&body).into();
    answer
}

/// A browser's request to the API: its method and the headers it asked for in a preflight.
pub(super) struct Cors {
    preflight: bool,
    request_headers: Option<String>,
}

impl Cors {
    pub(super) fn of(method: &hyper::Method, path: &str, headers: &HeaderMap) -> Option<Self> {
        if !path.starts_with("/v1/") || !headers.contains_key("origin") {
            return None;
        }
        Some(Self {
            preflight: method == hyper::Method::OPTIONS,
            request_headers: headers
                .get("access-control-request-headers")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }

    /// The answer to a preflight `OPTIONS`.
    pub(super) fn preflight(&self) -> Option<Answer> {
        if !self.preflight {
            return None;
        }
        let mut answer = Answer {
            status: 200,
            headers: Vec::new(),
            body: Default::default(),
        };
        if let Some(asked) = &self.request_headers {
            answer
                .headers
                .push(("access-control-allow-headers".into(), asked.clone()));
        }
        Some(self.headers_on(answer))
    }

    pub(super) fn apply(self, answer: Answer) -> Answer {
        self.headers_on(answer)
    }

    fn headers_on(&self, mut answer: Answer) -> Answer {
        answer.headers.retain(|(name, _)| {
            !name.to_ascii_lowercase().starts_with("access-control-")
                || name.eq_ignore_ascii_case("access-control-allow-headers") && self.preflight
        });
        for (name, value) in [
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
            (
                "access-control-allow-methods",
                "GET, HEAD, PUT, PATCH, POST, DELETE",
            ),
            (
                "access-control-expose-headers",
                "Request-Id, Stripe-Manage-Version, Stripe-Should-Retry, X-Stripe-External-Auth-Required, X-Stripe-Privileged-Session-Required",
            ),
            ("access-control-max-age", "300"),
        ] {
            answer.headers.push((name.into(), value.into()));
        }
        answer
    }
}
