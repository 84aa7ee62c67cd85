//! The layer's HTTP server: the API key check, idempotency keys, the layer's own endpoints
//! (events, disputes), and everything else forwarded to localstripe, followed by the triggers
//! that make up the events localstripe does not send.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use super::idempotency::pretty;
use super::wire::{api_key_of, masked, new_id, params};
use super::{
    accepted, capture, confirm, disputes, events, publishable, relay, stripe_js, triggers, Answer,
    Begin, Fingerprint, Layer,
};

pub(super) async fn accept_loop(listener: TcpListener, layer: Arc<Layer>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "Stripe layer: accept failed");
                continue;
            }
        };
        let layer = layer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let layer = layer.clone();
                async move { Ok::<_, Infallible>(handle(layer, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Where an event came from: Stripe's `request` field of an event.
#[derive(Debug, Clone, Default)]
pub(super) struct Origin {
    pub(super) request_id: Option<String>,
    pub(super) idempotency_key: Option<String>,
}

/// One API request as the layer reads it.
pub(super) struct Call {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) path_and_query: String,
    pub(super) headers: hyper::HeaderMap,
    pub(super) body: Bytes,
    /// Query and body parameters, flat (`card[number]`).
    pub(super) params: Vec<(String, String)>,
    /// The API key the request used ("" without one).
    pub(super) account: String,
    pub(super) origin: Origin,
}

impl Call {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path's segments: `["v1", "payment_intents", "pi_1", "cancel"]`.
    pub(super) fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The same request (its origin, its other headers) as a form POST of `form` to
    /// `path_and_query`, made with the API key of `authorization`.
    pub(super) fn with_body(
        &self,
        path_and_query: &str,
        authorization: &str,
        form: &[(String, String)],
    ) -> Call {
        let body = Bytes::from(form_body(form));
        let mut headers = self.headers.clone();
        headers.remove("content-length");
        if let Ok(auth) = authorization.parse() {
            headers.insert("authorization", auth);
        }
        headers.insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        Call {
            method: "POST".into(),
            path: path.to_string(),
            path_and_query: path_and_query.to_string(),
            params: params(query, Some("application/x-www-form-urlencoded"), &body),
            account: api_key_of(Some(authorization)).unwrap_or_default(),
            origin: self.origin.clone(),
            headers,
            body,
        }
    }
}

/// Form parameters as an `application/x-www-form-urlencoded` body.
pub(super) fn form_body(form: &[(String, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form {
        out.append_pair(name, value);
    }
    out.finish()
}

async fn handle(layer: Arc<Layer>, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let cors = publishable::Cors::of(&parts.method, parts.uri.path(), &parts.headers);
    if let Some(preflight) = cors.as_ref().and_then(publishable::Cors::preflight) {
        return render(preflight);
    }
    let answer = match body.collect().await {
        Ok(body) => {
            let body = body.to_bytes();
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let method = parts.method.to_string();
            let call = Call {
                params: params(parts.uri.query(), header("content-type"), &body),
                account: api_key_of(header("authorization")).unwrap_or_default(),
                origin: Origin {
                    request_id: Some(new_id("req_")),
                    idempotency_key: header("idempotency-key")
                        .filter(|_| method == "POST")
                        .map(str::to_string),
                },
                method,
                path: parts.uri.path().to_string(),
                path_and_query: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into()),
                headers: parts.headers,
                body,
            };
            // In a task of its own: a request Stripe began executing finishes (and its
            // idempotency key is settled) even if the caller hangs up.
            let (method, path) = (call.method.clone(), call.path.clone());
            let answer = tokio::spawn(respond(layer, call))
                .await
                .unwrap_or_else(|_| {
                    Answer::stripe_error(500, "api_error", None, "The Stripe layer failed")
                });
            tracing::debug!(%method, %path, status = answer.status, "Stripe layer");
            answer
        }
        Err(err) => Answer::stripe_error(400, "invalid_request_error", None, &err.to_string()),
    };
    let answer = match cors {
        Some(cors) => cors.apply(answer),
        None => answer,
    };
    render(answer)
}

fn render(answer: Answer) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        resp = resp.header(name, value);
    }
    resp.body(Full::new(answer.body)).unwrap_or_else(|_| {
        hyper::Response::builder()
            .status(500)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    })
}

async fn respond(layer: Arc<Layer>, call: Call) -> Answer {
    // localstripe's own configuration takes no API key; through the layer it takes one the
    // layer accepts: whoever registers a webhook endpoint is sent every event (client secrets
    // included), so only the stack's own key holders may.
    if call.path.starts_with("/_config/") && !layer.accepts(&call.account) {
        return Answer::stripe_error(
            401,
            "invalid_request_error",
            None,
            "Registering a webhook endpoint needs the Stripe layer's secret key (Authorization: Bearer sk_...)",
        );
    }
    // Its Stripe.js and its deliveries: no API key there.
    if call.method == "POST" {
        if let Some(id) = call.path.strip_prefix("/_config/webhooks/") {
            return relay::register(&layer, &call, id).await;
        }
        if let Some(id) = call.path.strip_prefix("/_relay/") {
            return relay::relay(&layer, &call, id);
        }
    }
    if call.path.starts_with("/_config/") || call.path.starts_with("/js.stripe.com/") {
        return layer.forward(&call).await;
    }
    if let Some(file) = stripe_js::serve(&call) {
        return file;
    }
    if let Some(key) = publishable::key_of(&call) {
        return publishable::route(&layer, &call, &key).await;
    }
    if let Some(refused) = refuse_key(&layer, &call) {
        return refused;
    }
    let Some(key) = call.origin.idempotency_key.clone() else {
        return execute(&layer, &call).await;
    };
    let request = Fingerprint::new(
        &call.method,
        &call.path_and_query,
        call.header("content-type"),
        &call.body,
    );
    match layer.idempotency.begin(&call.account, &key, request) {
        Begin::Replay(answer) | Begin::Refuse(answer) => answer,
        Begin::Execute(ticket) => {
            let answer = execute(&layer, &call).await;
            ticket.finish(&answer);
            answer
        }
    }
}

/// Stripe answers a key the account does not have (revoked, rolled, mistyped) with a 401 that
/// shows only its start and end (<https://docs.stripe.com/error-codes>; localstripe accepts
/// any `sk_` string). A publishable key, or none, is left to localstripe (Stripe.js's calls).
fn refuse_key(layer: &Layer, call: &Call) -> Option<Answer> {
    let key = &call.account;
    if key.is_empty() || key.starts_with("pk_") || layer.accepts(key) {
        return None;
    }
    let mut answer = Answer::stripe_error(
        401,
        "invalid_request_error",
        None,
        &format!("Invalid API Key provided: {}", masked(key)),
    );
    answer
        .headers
        .push(("www-authenticate".into(), "Bearer realm=\"Stripe\"".into()));
    Some(answer)
}

pub(super) async fn execute(layer: &Arc<Layer>, call: &Call) -> Answer {
    if let Some(answer) = own_endpoint(layer, call).await {
        return answer;
    }
    // Parameters Stripe takes and localstripe refuses: taken off, remembered (`accepted`).
    let (stripped, taken) = match accepted::take(call) {
        Err(refused) => return refused,
        Ok(Some((stripped, taken))) => (Some(stripped), Some(taken)),
        Ok(None) => (None, None),
    };
    let call = stripped.as_ref().unwrap_or(call);
    let confirming = match (call.method.as_str(), call.segments().as_slice()) {
        ("POST", ["v1", "payment_intents", id, "confirm"]) => Some(id.to_string()),
        _ => None,
    };
    let creating_confirmed = call.method == "POST"
        && call.segments() == ["v1", "payment_intents"]
        && confirm::body_params(call)
            .iter()
            .any(|(k, v)| k == "confirm" && v == "true");
    let mut answer = if let Some(id) = confirming {
        confirm::confirm(layer, call, &id).await
    } else if creating_confirmed {
        confirm::create_and_confirm(layer, call).await
    } else {
        match triggers::before(layer, call).await {
            Err(refused) => return refused,
            Ok(Some(body)) => layer.forward_body(call, body).await,
            Ok(None) => layer.forward(call).await,
        }
    };
    if let Some(mut object) = answer.json_body() {
        if call.method == "POST" && answer.is_success() {
            // Before the overlay, so that the capture's own answer shows what it took.
            capture::record(layer, call, &object);
            if let Some(taken) = &taken {
                layer.test_mode().accepted.record(taken, &object);
            }
        }
        if layer.test_mode().overlay(&mut object) {
            answer.body = Bytes::from(pretty(&object));
        }
        if call.method == "POST" && answer.is_success() {
            triggers::after(layer, call, &object).await;
        }
    }
    answer
}

/// The endpoints the layer serves itself: the events list (localstripe's merged with the
/// layer's) and disputes (localstripe has none).
async fn own_endpoint(layer: &Arc<Layer>, call: &Call) -> Option<Answer> {
    let segments = call.segments();
    let ours = matches!(
        segments.as_slice(),
        ["v1", "events", ..] | ["v1", "disputes", ..]
    );
    if !ours {
        return None;
    }
    if !layer.accepts(&call.account) {
        return Some(Answer::stripe_error(
            401,
            "invalid_request_error",
            None,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    }
    match (call.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "events"]) => Some(events::list(layer, call).await),
        ("GET", ["v1", "events", id]) => layer.events.get(id).map(|e| Answer::json(200, &e)),
        (_, ["v1", "disputes", ..]) => Some(disputes::route(layer, call).await),
        _ => None,
    }
}

impl Layer {
    /// The request, to localstripe, unchanged; its answer, unchanged.
    pub(super) async fn forward(&self, call: &Call) -> Answer {
        self.forward_body(call, call.body.clone()).await
    }

    /// The request with this body instead of its own.
    pub(super) async fn forward_body(&self, call: &Call, body: Bytes) -> Answer {
        let url = format!("{}{}", self.upstream, call.path_and_query);
        let Ok(method) = reqwest::Method::from_bytes(call.method.as_bytes()) else {
            return Answer::stripe_error(405, "invalid_request_error", None, "Unsupported method");
        };
        let mut out = self.http.request(method, url).body(body);
        for (name, value) in &call.headers {
            if !is_hop_by_hop(name.as_str()) && name != "host" && name != "content-length" {
                out = out.header(name.as_str(), value.as_bytes());
            }
        }
        send(out).await
    }

    /// A form POST to localstripe with the layer's own key.
    pub(super) async fn upstream_post(&self, path: &str, form: &[(String, String)]) -> Answer {
        let url = format!("{}{path}", self.upstream);
        let req = self
            .http
            .post(url)
            .header("authorization", confirm::UPSTREAM_AUTH);
        send(req.form(form)).await
    }

    /// The intent as localstripe has it, with the test-mode overlay (`None`: no such intent).
    pub(super) async fn upstream_intent(&self, id: &str) -> Option<Value> {
        let path = format!("/v1/payment_intents/{id}");
        self.fetch(&path, Some(confirm::UPSTREAM_AUTH)).await
    }

    /// A form POST to localstripe (its `/_config` endpoints, which take no API key).
    pub(super) async fn post_form(&self, path: &str, form: &[(String, String)]) -> Answer {
        let url = format!("{}{path}", self.upstream);
        send(self.http.post(url).form(form)).await
    }

    /// A GET to localstripe with this `Authorization`; the JSON object, with the test-mode
    /// state on it, if localstripe has it.
    pub(super) async fn fetch(&self, path: &str, authorization: Option<&str>) -> Option<Value> {
        let mut req = self.http.get(format!("{}{path}", self.upstream));
        if let Some(auth) = authorization {
            req = req.header("authorization", auth);
        }
        let answer = send(req).await;
        let mut object = answer.json_body().filter(|_| answer.is_success())?;
        self.test_mode().overlay(&mut object);
        Some(object)
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(err) => return unreachable_upstream(&err),
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()) && *name != "content-length")
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    match resp.bytes().await {
        Ok(body) => Answer {
            status,
            headers,
            body,
        },
        Err(err) => unreachable_upstream(&err),
    }
}

fn unreachable_upstream(err: &reqwest::Error) -> Answer {
    let what = if err.is_timeout() {
        "timed out"
    } else {
        "unreachable"
    };
    Answer::stripe_error(
        502,
        "api_error",
        None,
        &format!("localstripe (behind the Stripe layer) is {what}"),
    )
}

pub(super) fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}
