//! The `bookings` function: create, read, list and cancel bookings.

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{parse_uuid, Booking, NewBooking};
use crate::error::ApiError;
use crate::http::{error_response, json_body, json_response, raw_json_response, route_path};
use crate::idempotency::{self, IdempotencyRecord};
use crate::store::{BookingStore, StoreError};

const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;
const CREATE_ROUTE: &str = "POST /v1/bookings";

/// Entry point for every request routed to the bookings function. Never fails: every error
/// becomes a `{"detail": ...}` response here.
pub async fn handle<S: BookingStore>(store: &S, req: Request) -> Response<Body> {
    match route(store, &req).await {
        Ok(resp) => resp,
        Err(err) => {
            if err.status().is_server_error() {
                tracing::warn!(status = err.status().as_u16(), detail = %err, "request failed");
            }
            error_response(&err)
        }
    }
}

async fn route<S: BookingStore>(store: &S, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = route_path(req);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    match segments.as_slice() {
        ["v1", "bookings"] => match *method {
            Method::POST => create(store, req).await,
            Method::GET => list(store, req).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["v1", "bookings", id] => match *method {
            Method::GET => get(store, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["v1", "bookings", id, "cancel"] => match *method {
            Method::POST => cancel(store, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        _ => Err(ApiError::NotFound("Not found".into())),
    }
}

async fn create<S: BookingStore>(store: &S, req: &Request) -> Result<Response<Body>, ApiError> {
    let new = NewBooking::from_json(json_body(req)?)?;
    let key = idempotency::key_from_header(req.headers().get("idempotency-key"))?
        .map(|k| idempotency::scoped_key(CREATE_ROUTE, &k));
    let request_hash = idempotency::hash_request(&new.canonical());
    if let Some(key) = &key {
        if let Some(record) = store.get_idempotency(key).await? {
            return replay(record, &request_hash);
        }
    }

    let now = Utc::now();
    let booking = Booking::new(new, Uuid::new_v4(), now);
    let body = booking.to_json().to_string();
    let record = key.as_ref().map(|key| IdempotencyRecord {
        key: key.clone(),
        request_hash: request_hash.clone(),
        status: StatusCode::CREATED.as_u16(),
        body: body.clone(),
        expires_at: now + idempotency::RETENTION,
    });
    match store.create_booking(&booking, record.as_ref()).await {
        Ok(()) => {
            tracing::info!(booking_id = %booking.id, asset_id = %booking.asset_id, "booking created");
            Ok(raw_json_response(StatusCode::CREATED, body))
        }
        // A concurrent request with the same key may have won (its booking then overlaps
        // ours): answer as that first request did.
        Err(err @ (StoreError::IdempotencyKeyTaken | StoreError::Overlap)) if key.is_some() => {
            match store
                .get_idempotency(key.as_deref().unwrap_or_default())
                .await?
            {
                Some(record) => replay(record, &request_hash),
                None => Err(err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

fn replay(record: IdempotencyRecord, request_hash: &str) -> Result<Response<Body>, ApiError> {
    if record.request_hash != request_hash {
        return Err(ApiError::Unprocessable(
            "Idempotency-Key was already used with a different request body".into(),
        ));
    }
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let mut resp = raw_json_response(status, record.body);
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(resp)
}

async fn get<S: BookingStore>(store: &S, id: &str) -> Result<Response<Body>, ApiError> {
    let id = parse_uuid("booking id", id)?;
    let booking = store
        .get_booking(id)
        .await?
        .ok_or_else(ApiError::booking_not_found)?;
    Ok(json_response(StatusCode::OK, &booking.to_json()))
}

async fn list<S: BookingStore>(store: &S, req: &Request) -> Result<Response<Body>, ApiError> {
    let params = req.query_string_parameters();
    let user_id = params
        .first("user_id")
        .ok_or_else(|| ApiError::bad_request("user_id query parameter is required"))?;
    let user_id = parse_uuid("user_id", user_id)?;
    let limit = match params.first("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be an integer from 1 to {MAX_PAGE}"))
            })?,
    };
    let page = store
        .list_user_bookings(user_id, limit, params.first("cursor"))
        .await?
        .ok_or_else(|| ApiError::bad_request("cursor is invalid for this user_id"))?;
    let items: Vec<_> = page.items.iter().map(Booking::to_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

async fn cancel<S: BookingStore>(store: &S, id: &str) -> Result<Response<Body>, ApiError> {
    let id = parse_uuid("booking id", id)?;
    let booking = store
        .cancel_booking(id, Utc::now())
        .await?
        .ok_or_else(ApiError::booking_not_found)?;
    tracing::info!(booking_id = %booking.id, "booking cancelled");
    Ok(json_response(StatusCode::OK, &booking.to_json()))
}
