//! The `bookings` function: create, read, list and cancel bookings.

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use uuid::Uuid;

use crate::create_intent::cancel_key;
use crate::domain::{parse_uuid, Booking, BookingStatus, NewBooking, PaymentStatus};
use crate::error::ApiError;
use crate::http::{
    json_body, json_response, raw_json_response, respond, route_path, with_deadline,
};
use crate::idempotency::{self, IdempotencyRecord};
use crate::store::{BookingStore, StoreError};
use crate::stripe::{StripeClient, StripeError};

/// Below the function's 15 s Lambda timeout (template.yaml).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(12);
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;
const CREATE_ROUTE: &str = "POST /v1/bookings";
/// Rounds of read-decide-write for a cancellation before answering "busy, retry".
const MAX_CANCEL_ROUNDS: u32 = 6;

/// Entry point for every request routed to the bookings function. Never fails: every error
/// becomes a `{"detail": ...}` response here.
pub async fn handle<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    req: Request,
) -> Response<Body> {
    respond(
        "bookings",
        with_deadline(DEADLINE, route(store, stripe, &req)).await,
    )
}

async fn route<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let path = route_path(req);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    match segments.as_slice() {
        ["v1", "bookings"] => match *method {
            Method::POST => create(store, req).await,
            Method::GET => list(store, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["v1", "bookings", id] => match *method {
            Method::GET => get(store, id).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["v1", "bookings", id, "cancel"] => match *method {
            Method::POST => cancel(store, stripe, id).await,
            _ => Err(ApiError::MethodNotAllowed("POST")),
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

/// Cancels a booking and settles its payment first: an unpaid intent is cancelled at Stripe
/// (so it can no longer be paid), a paid one is refunded. Stripe is asked before the booking
/// changes, and the booking only changes if nothing moved meanwhile.
async fn cancel<S: BookingStore>(
    store: &S,
    stripe: &StripeClient,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = parse_uuid("booking id", id)?;
    for _ in 0..MAX_CANCEL_ROUNDS {
        let booking = store
            .get_booking(id)
            .await?
            .ok_or_else(ApiError::booking_not_found)?;
        if booking.status == BookingStatus::Cancelled {
            return Ok(json_response(StatusCode::OK, &booking.to_json()));
        }
        let Some((payment_status, payment)) = settle_payment(stripe, &booking).await? else {
            continue;
        };
        if store
            .cancel_booking(&booking, Utc::now(), payment_status, payment.as_ref())
            .await?
        {
            tracing::info!(booking_id = %booking.id, payment_status = payment_status.as_str(), "booking cancelled");
            let booking = store
                .get_booking(id)
                .await?
                .ok_or_else(ApiError::booking_not_found)?;
            return Ok(json_response(StatusCode::OK, &booking.to_json()));
        }
    }
    Err(StoreError::Contention.into())
}

/// What the booking's payment becomes when it is cancelled, after acting at Stripe; `None` if
/// the intent moved under us and the caller should look again.
async fn settle_payment(
    stripe: &StripeClient,
    booking: &Booking,
) -> Result<Option<(PaymentStatus, Option<crate::domain::Payment>)>, ApiError> {
    let Some(payment) = &booking.payment else {
        return Ok(Some((booking.payment_status, None)));
    };
    let intent = stripe.retrieve_payment_intent(&payment.intent_id).await?;
    let mut payment = payment.clone();
    match intent.status.as_str() {
        "canceled" => Ok(Some((PaymentStatus::Canceled, Some(payment)))),
        "succeeded" => {
            let refund = stripe
                .refund_payment_intent(&intent.id, &format!("refund-{}", intent.id))
                .await?;
            tracing::info!(booking_id = %booking.id, refund_id = %refund.id, "payment refunded");
            payment.refund_id = Some(refund.id);
            if payment.amount_received_minor.is_none() {
                payment.amount_received_minor = intent.amount_received;
            }
            Ok(Some((PaymentStatus::Refunded, Some(payment))))
        }
        "processing" => Err(ApiError::Conflict(
            "A payment for this booking is processing; try again shortly".into(),
        )),
        _ if intent.is_payable() => {
            match stripe
                .cancel_payment_intent(&intent.id, &cancel_key(&intent.id))
                .await
            {
                Ok(_) => Ok(Some((PaymentStatus::Canceled, Some(payment)))),
                // Paid or cancelled in the meantime: look again.
                Err(StripeError::Rejected { .. }) => Ok(None),
                Err(err) => Err(err.into()),
            }
        }
        other => Err(ApiError::Conflict(format!(
            "The booking's payment is in state {other} and cannot be cancelled"
        ))),
    }
}
