//! Small helpers shared by the handlers: JSON responses, the error mapping, body checks.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use crate::error::ApiError;

/// Our bodies are a few hundred bytes; anything far larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    raw_json_response(status, body.to_string())
}

pub fn raw_json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Runs a handler under an overall deadline set below the function's Lambda timeout, so a slow
/// Stripe or DynamoDB ends in a clean `{"detail": ...}` 503 instead of Lambda killing the
/// function (API Gateway would then answer without our body). Stopping mid-way is safe: every
/// Stripe call carries a deterministic idempotency key and every write is conditional, so the
/// client's retry finishes the work.
pub async fn with_deadline<F>(
    deadline: std::time::Duration,
    work: F,
) -> Result<Response<Body>, ApiError>
where
    F: std::future::Future<Output = Result<Response<Body>, ApiError>>,
{
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(
                deadline_ms = deadline.as_millis() as u64,
                "request deadline reached"
            );
            Err(ApiError::ServiceUnavailable(
                "The request took too long (a payment or storage provider is slow); please retry"
                    .into(),
            ))
        }
    }
}

/// A handler's outcome as HTTP: server errors are logged (client errors are the client's
/// business), then mapped by `error_response`.
pub fn respond(function: &'static str, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(|err| {
        if err.status().is_server_error() {
            tracing::error!(function, status = err.status().as_u16(), detail = %err, "request failed");
        }
        error_response(&err)
    })
}

/// The one place an `ApiError` becomes HTTP.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut resp = json_response(
        err.status(),
        &serde_json::json!({ "detail": err.to_string() }),
    );
    if let ApiError::MethodNotAllowed(allow) = err {
        // RFC 9110 wants Allow on a 405, listing exactly what the resource supports.
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

/// The route part of the path, from `/v1/` on, without a trailing slash. API Gateway REST
/// events carry the stage (`/prod/v1/...`) and custom domains may add a base path, so we
/// route on what follows them.
pub fn route_path(req: &Request) -> String {
    let path = req.uri().path();
    let route = match path.find("/v1/") {
        Some(i) => &path[i..],
        None => path,
    };
    let trimmed = route.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

/// The raw body of a JSON request, after the content-type and size checks.
pub fn json_body(req: &Request) -> Result<&[u8], ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(body)
}
