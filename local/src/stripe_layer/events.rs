//! The events the layer makes up: stored, listed with localstripe's own by `GET /v1/events`,
//! and delivered to the webhook endpoints registered through the layer.
//!
//! - Shape: Stripe's example event (`id` `evt_...`, `object`, `api_version`, `created`,
//!   `data.object` and, for updates, `data.previous_attributes`, `livemode: false`,
//!   `pending_webhooks`, `request {id, idempotency_key}`, `type`).
//! - List (<https://docs.stripe.com/api/events/list>): newest first; `type` (with `*`
//!   wildcards), `types[]`, `created` and `created[gt|gte|lt|lte]`, `limit` (1 to 100, default
//!   10), `starting_after`, `ending_before`.
//! - Delivery (<https://docs.stripe.com/webhooks#verify-manually>): a POST of the event's JSON
//!   with `Stripe-Signature: t=<now>,v1=<HMAC-SHA256 of "{t}.{body}" keyed with the endpoint
//!   secret>`, to every endpoint registered for the event's type, in the order the events were
//!   made, promptly, from a task of its own. Like localstripe, one attempt per endpoint.
//!   localstripe's own events, relayed (`relay`), join the same queue as they arrive.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use shared::adapters::stripe::signature::sign;
use tokio::sync::mpsc;

use super::idempotency::pretty;
use super::server::{Call, Origin};
use super::wire::{list_param, new_id, now, param, str_of};
use super::{Answer, Layer};

/// The API version of the events the layer makes: the one the product pins
/// (`shared::adapters::stripe::STRIPE_VERSION`); Stripe uses the account's default version.
const API_VERSION: &str = "2024-06-20";

#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    secret: String,
    /// `None`: every type.
    events: Option<Vec<String>>,
}

impl Endpoint {
    fn wants(&self, kind: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == "*" || t == kind))
    }
}

struct Made {
    event: Value,
    /// How many of localstripe's events existed when it was made: its place among them.
    after_upstream: usize,
}

#[derive(Default)]
struct State {
    made: Vec<Made>,
    endpoints: BTreeMap<String, Endpoint>,
}

type Delivery = (Value, Vec<Endpoint>);

pub(super) struct Events {
    state: Arc<Mutex<State>>,
    queue: mpsc::UnboundedSender<Delivery>,
}

impl Events {
    /// The store, and the delivery task to spawn.
    pub(super) fn new(http: reqwest::Client) -> (Self, impl Future<Output = ()> + Send) {
        let state = Arc::<Mutex<State>>::default();
        let (queue, pending) = mpsc::unbounded_channel();
        let events = Self {
            state: state.clone(),
            queue,
        };
        (events, deliver(pending, http, state))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers an endpoint registered with localstripe (`url`, `secret`, `events[]`).
    pub(super) fn register(&self, id: &str, params: &[(String, String)]) {
        let (Some(url), Some(secret)) = (param(params, "url"), param(params, "secret")) else {
            return;
        };
        let events = list_param(params, "events");
        let endpoint = Endpoint {
            url: url.to_string(),
            secret: secret.to_string(),
            events: (!events.is_empty()).then_some(events),
        };
        self.lock().endpoints.insert(id.to_string(), endpoint);
    }

    pub(super) fn endpoint_urls(&self) -> Vec<String> {
        self.lock()
            .endpoints
            .values()
            .map(|e| e.url.clone())
            .collect()
    }

    pub(super) fn get(&self, id: &str) -> Option<Value> {
        let state = self.lock();
        state
            .made
            .iter()
            .find(|m| m.event["id"] == id)
            .map(|m| m.event.clone())
    }

    /// Queues the delivery of one of localstripe's events (relayed) to endpoint `id`, if it
    /// wants that type. Not stored: `GET /v1/events` lists localstripe's events from it.
    pub(super) fn relay(&self, id: &str, event: Value) {
        let kind = str_of(&event, "type").unwrap_or_default();
        let endpoint = self
            .lock()
            .endpoints
            .get(id)
            .filter(|e| e.wants(kind))
            .cloned();
        if let Some(endpoint) = endpoint {
            let _ = self.queue.send((event, vec![endpoint]));
        }
    }

    /// Stores a new event and queues its deliveries.
    fn push(&self, kind: &str, data: Value, origin: &Origin, after_upstream: usize) -> Value {
        let mut state = self.lock();
        let endpoints: Vec<Endpoint> = state
            .endpoints
            .values()
            .filter(|e| e.wants(kind))
            .cloned()
            .collect();
        let event = json!({
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": data,
            "livemode": false,
            "pending_webhooks": endpoints.len(),
            "request": {"id": origin.request_id, "idempotency_key": origin.idempotency_key},
            "type": kind,
        });
        state.made.push(Made {
            event: event.clone(),
            after_upstream,
        });
        if !endpoints.is_empty() {
            let _ = self.queue.send((event.clone(), endpoints));
        }
        event
    }
}

impl Layer {
    /// Makes an event of `kind` about `object` (with the fields it had before, for updates),
    /// caused by the request `origin` (or by nothing: `Origin::default()`). `authorization`
    /// reads localstripe's events to place it among them.
    pub(super) async fn emit(
        &self,
        kind: &str,
        object: Value,
        previous: Option<Value>,
        origin: &Origin,
        authorization: Option<&str>,
    ) -> Value {
        let after_upstream = self
            .fetch("/v1/events?limit=1", authorization)
            .await
            .and_then(|list| list["total_count"].as_u64())
            .map_or(usize::MAX, |n| n as usize);
        let mut data = json!({ "object": object });
        if let Some(previous) = previous {
            data["previous_attributes"] = previous;
        }
        let event = self.events.push(kind, data, origin, after_upstream);
        tracing::debug!(event_type = kind, "Stripe layer: event made");
        event
    }
}

async fn deliver(
    mut pending: mpsc::UnboundedReceiver<Delivery>,
    http: reqwest::Client,
    state: Arc<Mutex<State>>,
) {
    while let Some((event, endpoints)) = pending.recv().await {
        let body = pretty(&event);
        for endpoint in endpoints {
            let signature = sign(body.as_bytes(), &endpoint.secret, now());
            let sent = http
                .post(&endpoint.url)
                .header("content-type", "application/json; charset=utf-8")
                .header("stripe-signature", signature)
                .header(
                    "user-agent",
                    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                )
                .timeout(Duration::from_secs(10))
                .body(body.clone())
                .send()
                .await;
            let kind = str_of(&event, "type").unwrap_or_default();
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(made) = state.made.iter_mut().find(|m| m.event["id"] == event["id"])
                    {
                        let left = made.event["pending_webhooks"].as_u64().unwrap_or(1);
                        made.event["pending_webhooks"] = json!(left.saturating_sub(1));
                    }
                }
                Ok(resp) => tracing::info!(
                    event_type = kind,
                    status = resp.status().as_u16(),
                    "Stripe layer: webhook refused"
                ),
                Err(err) => {
                    tracing::info!(event_type = kind, error = %err, "Stripe layer: webhook undelivered")
                }
            }
        }
    }
}

/// `GET /v1/events`: localstripe's events and the layer's, newest first, filtered and paged.
pub(super) async fn list(layer: &Layer, call: &Call) -> Answer {
    let filter = match Filter::parse(&call.params) {
        Ok(filter) => filter,
        Err(message) => return Answer::stripe_error(400, "invalid_request_error", None, &message),
    };
    // Every one of localstripe's events, oldest first (its store keeps insertion order).
    let Some(upstream) = layer
        .fetch("/v1/events?limit=1000000", call.header("authorization"))
        .await
    else {
        return Answer::stripe_error(
            502,
            "api_error",
            None,
            "localstripe did not list its events",
        );
    };
    let upstream = upstream["data"].as_array().cloned().unwrap_or_default();
    // Oldest first: each of ours just before the upstream event that came after it.
    let mut all: Vec<(usize, usize, Value)> = upstream
        .into_iter()
        .enumerate()
        .map(|(i, event)| (i, 1, event))
        .collect();
    {
        let state = layer.events.lock();
        all.extend(
            state
                .made
                .iter()
                .map(|m| (m.after_upstream, 0, m.event.clone())),
        );
    }
    all.sort_by_key(|(place, side, _)| (*place, *side));
    let newest_first: Vec<Value> = all
        .into_iter()
        .rev()
        .map(|(_, _, event)| event)
        .filter(|event| filter.admits(event))
        .collect();
    match filter.page(newest_first) {
        Ok((data, has_more)) => Answer::json(
            200,
            &json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/events"}),
        ),
        Err(message) => Answer::stripe_error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            &message,
        ),
    }
}

#[derive(Default)]
struct Filter {
    types: Vec<String>,
    /// `(operator, time)`: `eq`, `gt`, `gte`, `lt`, `lte`.
    created: Vec<(String, i64)>,
    limit: usize,
    starting_after: Option<String>,
    ending_before: Option<String>,
}

impl Filter {
    fn parse(params: &[(String, String)]) -> Result<Self, String> {
        let mut filter = Self {
            limit: 10,
            ..Self::default()
        };
        let time = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("Invalid integer: {v}"))
        };
        for (name, value) in params {
            match name.as_str() {
                "type" => filter.types.push(value.clone()),
                "created" => filter.created.push(("eq".into(), time(value)?)),
                "limit" => {
                    filter.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or("This value must be between 1 and 100 (limit).")?
                }
                "starting_after" => filter.starting_after = Some(value.clone()),
                "ending_before" => filter.ending_before = Some(value.clone()),
                _ => match name
                    .strip_prefix("created[")
                    .and_then(|n| n.strip_suffix(']'))
                {
                    Some(op @ ("gt" | "gte" | "lt" | "lte")) => {
                        filter.created.push((op.into(), time(value)?))
                    }
                    _ if name.starts_with("types[") || name.starts_with("expand[") => {}
                    _ => return Err(format!("Received unknown parameter: {name}")),
                },
            }
        }
        filter.types.extend(list_param(params, "types"));
        Ok(filter)
    }

    fn admits(&self, event: &Value) -> bool {
        let kind = str_of(event, "type").unwrap_or_default();
        let created = event["created"].as_i64().unwrap_or_default();
        (self.types.is_empty() || self.types.iter().any(|t| glob(t, kind)))
            && self.created.iter().all(|(op, t)| match op.as_str() {
                "gt" => created > *t,
                "gte" => created >= *t,
                "lt" => created < *t,
                "lte" => created <= *t,
                _ => created == *t,
            })
    }

    /// The page and whether more follow it.
    fn page(&self, events: Vec<Value>) -> Result<(Vec<Value>, bool), String> {
        let at = |id: &str| {
            events
                .iter()
                .position(|e| e["id"] == id)
                .ok_or(format!("No such event: '{id}'"))
        };
        if let Some(before) = &self.ending_before {
            let end = at(before)?;
            let start = end.saturating_sub(self.limit);
            return Ok((events[start..end].to_vec(), start > 0));
        }
        let start = match &self.starting_after {
            Some(after) => at(after)? + 1,
            None => 0,
        };
        let end = (start + self.limit).min(events.len());
        Ok((events[start..end].to_vec(), end < events.len()))
    }
}

/// Stripe's event type patterns: `*` stands for any text (`charge.dispute.*`).
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn type_patterns() {
        assert!(glob("charge.refunded", "charge.refunded"));
        assert!(!glob("charge.refunded", "charge.refunded.x"));
        assert!(glob("charge.dispute.*", "charge.dispute.closed"));
        assert!(glob("*.canceled", "payment_intent.canceled"));
        assert!(glob("*", "anything"));
        assert!(!glob("charge.*.updated", "charge.refunded"));
    }
}
