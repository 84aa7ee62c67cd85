//! Reading requests: the route, the JSON body (content type and size checked), headers.

use lambda_http::http::header;
use lambda_http::Request;

use super::error::ApiError;
use crate::domain::IdempotencyKey;

/// Our bodies are a few hundred bytes; anything far larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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

/// The `Idempotency-Key` header: absent is fine, present must be 1..=255 visible ASCII chars.
pub fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("\u{0}");
    Ok(Some(IdempotencyKey::parse(text)?.for_caller(&caller(req))))
}

/// Who sent the request: the id of the API key API Gateway checked
/// (`requestContext.identity.apiKeyId`; never the key's value), or empty if none is known.
fn caller(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            ctx.identity.api_key_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}
