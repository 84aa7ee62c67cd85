//! The Stripe layer (`local_stack::stripe_layer`), over HTTP: localstripe behind it, called as
//! the functions and the README's curl call it, one rule of Stripe's per test (see the layer's
//! module doc for the rules and where Stripe documents each):
//!
//! - `idempotency`: replays, mismatched keys, keys in use, 5xx not saved, keys per API key;
//! - `keys`: a key the account does not have (revoked, rolled) is Stripe's 401;
//! - `events`: every event the layer makes up is listed by `GET /v1/events` (merged with
//!   localstripe's) and delivered signed to the endpoints registered through it, with
//!   localstripe's own, which the layer relays;
//! - `test_cards`: Stripe's test-mode triggers (refunds, the refund that fails, disputes);
//! - `capture`: manual capture (a hold, then a partial capture) in answers and events;
//! - `config`: `LOCALSTRIPE_*` variables, and a stack that registers no webhook.
//!
//! Most tests run the layer alone in front of its own localstripe ([`rig`]); some put the
//! tests' fault proxy between the two ([`rig_behind_proxy`]) to hold or fail what localstripe
//! answers, and some run the whole stack.

mod capture;
mod config;
mod events;
mod idempotency;
mod keys;
mod test_cards;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use local_stack::stripe_layer::{LayerConfig, StripeLayer};
use local_stack::{default_python, start_localstripe};
use reqwest::Method;
use serde_json::Value;

use crate::fault_proxy::FaultProxy;
use crate::support::product::webhook_signature;
use crate::support::{now, Answer, StripeApi, Turn};

pub const SECRET_KEY: &str = local_stack::LOCAL_SECRET_KEY;
pub const ENDPOINT_SECRET: &str = "whsec_stripe_layer_tests";

/// localstripe, and the layer in front of it (with the fault proxy between them, or not).
pub struct Rig {
    pub layer: StripeLayer,
    /// Through the layer, with the secret key.
    pub stripe: StripeApi,
    /// localstripe itself: what it really holds.
    pub localstripe: StripeApi,
    pub proxy: Option<FaultProxy>,
    _child: tokio::process::Child,
    _turn: Turn,
}

pub async fn rig() -> Rig {
    start_rig(false).await
}

/// The layer in front of the fault proxy in front of localstripe.
pub async fn rig_behind_proxy() -> Rig {
    start_rig(true).await
}

async fn start_rig(with_proxy: bool) -> Rig {
    let turn = Turn::shared().await;
    let (base, child) = start_localstripe(&default_python(), 0)
        .await
        .expect("localstripe starts (run `make tools` first)");
    let proxy = match with_proxy {
        true => Some(FaultProxy::start(&base).await),
        false => None,
    };
    let upstream = proxy.as_ref().map(FaultProxy::url).unwrap_or(base.clone());
    let layer = StripeLayer::start(
        "127.0.0.1:0".parse().unwrap(),
        LayerConfig {
            upstream,
            api_keys: vec![SECRET_KEY.to_string()],
        },
    )
    .await
    .expect("the layer starts");
    let client = reqwest::Client::new();
    Rig {
        stripe: StripeApi::new(client.clone(), &layer.url(), SECRET_KEY),
        localstripe: StripeApi::new(client, &base, SECRET_KEY),
        layer,
        proxy,
        _child: child,
        _turn: turn,
    }
}

impl Rig {
    /// A POST through the layer, with this `Idempotency-Key` if any.
    pub async fn post(&self, path: &str, form: &[(&str, &str)], key: Option<&str>) -> Answer {
        self.stripe
            .call_with_key(Method::POST, path, form, key)
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.stripe.call(Method::GET, path, &[]).await
    }

    /// A new PaymentIntent of `amount` cents, tagged `metadata[test]=tag`.
    pub async fn new_intent(&self, amount: &str, tag: &str) -> Value {
        let made = self
            .post("/v1/payment_intents", &intent_form(amount, tag), None)
            .await;
        assert_eq!(made.status, 200, "{:?}", made.body);
        made.body
    }

    /// A PaymentIntent paid with `card` (the answer to its confirm).
    pub async fn paid_intent(&self, amount: &str, card: &str) -> Value {
        let intent = self.new_intent(amount, "paid").await;
        let paid = self.stripe.pay(intent["id"].as_str().unwrap(), card).await;
        assert_eq!(paid.status, 200, "{:?}", paid.body);
        paid.body
    }

    /// `GET /v1/events` with this query, as a list of events.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let listed = self.get(&format!("/v1/events?{query}")).await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        listed.body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `GET /v1/events?type=kind` until an event of that type matches `pred`.
    pub async fn wait_event(&self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..150 {
            let listed = self.events(&format!("type={kind}&limit=100")).await;
            if let Some(found) = listed.into_iter().find(|e| pred(e)) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {kind} event matched within 15 s");
    }

    /// Registers `url` for deliveries, as the local stack registers its webhook (localstripe's
    /// `/_config/webhooks/<id>`, which answers an empty 200).
    pub async fn register(&self, id: &str, url: &str, events: &[&str]) -> u16 {
        self.register_as(Some(SECRET_KEY), id, url, events).await
    }

    /// [`Rig::register`] with this API key (or none).
    pub async fn register_as(
        &self,
        key: Option<&str>,
        id: &str,
        url: &str,
        events: &[&str],
    ) -> u16 {
        let mut form = vec![("url", url), ("secret", ENDPOINT_SECRET)];
        form.extend(events.iter().map(|e| ("events[]", *e)));
        let mut req = reqwest::Client::new()
            .post(format!("{}/_config/webhooks/{id}", self.layer.url()))
            .form(&form);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
            .await
            .expect("the layer answers")
            .status()
            .as_u16()
    }
}

/// A PaymentIntent's creation form.
pub fn intent_form<'a>(amount: &'a str, tag: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("amount", amount),
        ("currency", "usd"),
        ("payment_method_types[]", "card"),
        ("metadata[test]", tag),
    ]
}

/// The object an event carries.
pub fn object(event: &Value) -> &Value {
    &event["data"]["object"]
}

/// Each delivery's `Stripe-Signature` and body.
type Deliveries = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;

/// A webhook endpoint: every POST it gets, answered 200.
pub struct Receiver {
    addr: SocketAddr,
    got: Deliveries,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Deliveries = Arc::default();
        let sink = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sink = sink.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let sink = sink.clone();
                            async move {
                                let signature = req
                                    .headers()
                                    .get("stripe-signature")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_string);
                                let body = req.into_body().collect().await?.to_bytes();
                                sink.lock().unwrap().push((signature, body));
                                Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
                            }
                        },
                    );
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, got, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every event delivered so far, with its signature checked as the webhook checks it.
    pub fn delivered(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(signature, body)| {
                let verified = webhook_signature::verify(
                    body,
                    signature.as_deref(),
                    &[ENDPOINT_SECRET.to_string()],
                    now(),
                    300,
                );
                assert!(verified.is_ok(), "badly signed delivery: {verified:?}");
                serde_json::from_slice(body).expect("a JSON event")
            })
            .collect()
    }

    /// Waits until the event `id` is delivered, signed, and returns it.
    pub async fn wait_for(&self, id: &str) -> Value {
        for _ in 0..150 {
            if let Some(event) = self.delivered().into_iter().find(|e| e["id"] == id) {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("event {id} was not delivered within 15 s");
    }
}
