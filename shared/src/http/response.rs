//! Responses: JSON bodies, the request deadline, and the one place an error becomes HTTP.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::error::ApiError;

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
