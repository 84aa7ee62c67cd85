//! The API Gateway stand-in: routes by path to the functions' handlers, checks `X-API-Key` on
//! every route but the webhook, and turns each HTTP request into the REST (v1) proxy event
//! Lambda would receive.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::StripeClient;
use shared::http::response::error_response;
use shared::http::ApiError;
use tokio::net::TcpListener;

use crate::WEBHOOK_PATH;

/// API Gateway refuses payloads over 10 MB; we stop reading well before.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

pub(crate) struct App {
    pub(crate) api_keys: Vec<String>,
    pub(crate) stores: Stores,
    pub(crate) stripe: StripeClient,
}

/// Each function's store: one table set, a client of its own (see `dynamo_access`).
pub(crate) struct Stores {
    pub(crate) bookings: DynamoStore,
    pub(crate) create_intent: DynamoStore,
    pub(crate) webhook: DynamoStore,
}

pub(crate) async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(dispatch(&app, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn dispatch(app: &App, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = route(app, req).await;
    tracing::info!(%method, %path, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    resp
}

async fn route(app: &App, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    // What API Gateway does before Lambda sees anything: the API-key check on every route
    // but Stripe's webhook (which proves itself with its signature instead).
    let key_index = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .and_then(|k| app.api_keys.iter().position(|valid| valid == k));
    if key_index.is_none() && path != WEBHOOK_PATH {
        return to_hyper(error_response(&ApiError::Unauthorized));
    }
    // API Gateway names the key it checked by its id (`identity.apiKeyId`), never its value
    // in anything we store: here, its place in the stack's list.
    let api_key_id = key_index.map(|i| format!("local-key-{i}"));
    let event = match to_event(req, api_key_id).await {
        Ok(event) => event,
        Err(resp) => return resp,
    };
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(err) => {
            tracing::warn!(%err, "request could not be turned into an API Gateway event");
            return to_hyper(error_response(&ApiError::bad_request("Malformed request")));
        }
    };
    if path == "/v1/bookings"
        || path.starts_with("/v1/bookings/")
        || path.starts_with("/v1/assets/")
        || path.starts_with("/v1/asset-types/")
        || path.starts_with("/v1/tariffs/")
    {
        to_hyper(shared::http::bookings::handle(&app.stores.bookings, &app.stripe, request).await)
    } else if path == "/v1/payments/create-intent" || path == "/v1/payments/capture" {
        to_hyper(
            shared::http::create_intent::handle(&app.stores.create_intent, &app.stripe, request)
                .await,
        )
    } else if path == WEBHOOK_PATH {
        to_hyper(shared::http::webhook::handle(&app.stores.webhook, &app.stripe, request).await)
    } else {
        to_hyper(error_response(&ApiError::NotFound("Not found".into())))
    }
}

/// Builds the API Gateway REST (v1) proxy event Lambda would receive for this request.
async fn to_event(
    req: hyper::Request<Incoming>,
    api_key_id: Option<String>,
) -> Result<Value, hyper::Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|_| to_hyper(error_response(&ApiError::PayloadTooLarge)))?
        .to_bytes();
    let mut headers = BTreeMap::<String, Vec<String>>::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers
                .entry(name.as_str().to_string())
                .or_default()
                .push(v.to_string());
        }
    }
    let mut query = BTreeMap::<String, Vec<String>>::new();
    if let Some(q) = parts.uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
    }
    let single = |m: &BTreeMap<String, Vec<String>>| -> Value {
        if m.is_empty() {
            Value::Null
        } else {
            m.iter()
                .map(|(k, v)| (k.clone(), json!(v.last())))
                .collect()
        }
    };
    let multi = |m: &BTreeMap<String, Vec<String>>| -> Value {
        if m.is_empty() {
            Value::Null
        } else {
            json!(m)
        }
    };
    let method = parts.method.as_str();
    let path = parts.uri.path();
    Ok(json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": single(&headers),
        "multiValueHeaders": multi(&headers),
        "queryStringParameters": single(&query),
        "multiValueQueryStringParameters": multi(&query),
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/local{path}"),
            "stage": "local",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTimeEpoch": chrono_millis(),
            "identity": { "sourceIp": "127.0.0.1", "apiKeyId": api_key_id }
        },
        "body": if body.is_empty() { Value::Null } else { json!(STANDARD.encode(&body)) },
        "isBase64Encoded": !body.is_empty()
    }))
}

fn chrono_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn to_hyper(resp: lambda_http::Response<lambda_http::Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = Bytes::copy_from_slice(body.as_ref());
    hyper::Response::from_parts(parts, Full::new(bytes))
}
