//! The `bookings` function: `POST/GET /v1/bookings`, `GET /v1/bookings/{id}`,
//! `POST /v1/bookings/{id}/cancel`, `POST /v1/bookings/{id}/check-in`,
//! `GET /v1/assets/{asset_id}/availability`, a booking's refunds and receipt (`http::refunds`),
//! and the tariff routes (`http::tariffs`).

use chrono::Utc;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::dto;
use super::error::ApiError;
use super::request::{idempotency_key, json_body, route_path};
use super::response::{json_response, raw_json_response, respond, with_deadline};
use super::views::{availability_json, booking_json};
use crate::app::bookings::{self, Created};
use crate::domain::slot::{parse_time, Window};
use crate::domain::{AssetId, BookingId, DomainError, UserId};
use crate::ports::{BookingStore, PaymentProvider, TariffStore};

/// Below the function's 15 s Lambda timeout (template.yaml).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(12);
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// Entry point for every request routed to the bookings function. Never fails: every error
/// becomes a `{"detail": ...}` response here.
pub async fn handle<S: BookingStore + TariffStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    req: Request,
) -> Response<Body> {
    respond(
        "bookings",
        with_deadline(DEADLINE, route(store, provider, &req)).await,
    )
}

async fn route<S: BookingStore + TariffStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let path = route_path(req);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    match segments.as_slice() {
        ["v1", "bookings"] => match *method {
            Method::POST => create(store, provider, req).await,
            Method::GET => list(store, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["v1", "bookings", id] => match *method {
            Method::GET => {
                let booking = bookings::get_booking(store, booking_id(id)?).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &booking_json(&booking.as_of(Utc::now())),
                ))
            }
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["v1", "bookings", id, "cancel"] => match *method {
            Method::POST => {
                let rules = crate::runtime::config::hold_rules_from_env();
                let booking =
                    bookings::cancel_booking(store, provider, booking_id(id)?, rules, Utc::now)
                        .await?;
                Ok(json_response(StatusCode::OK, &booking_json(&booking)))
            }
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        ["v1", "bookings", id, "check-in"] => match *method {
            // No body is read (the app or the charger may send `{}`).
            Method::POST => {
                let booking = crate::app::terms::check_in(store, booking_id(id)?, Utc::now).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &booking_json(&booking.as_of(Utc::now())),
                ))
            }
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        ["v1", "assets", asset_id, "availability"] => match *method {
            Method::GET => availability(store, asset_id, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        _ => {
            if let Some(result) = super::refunds::route(store, provider, &segments, req).await {
                return result;
            }
            match super::tariffs::route(store, &segments, req).await {
                Some(result) => result,
                None => Err(ApiError::NotFound("Not found".into())),
            }
        }
    }
}

/// `GET /v1/assets/{asset_id}/availability?from=...&to=...`: the asset's busy intervals.
async fn availability<S: BookingStore>(
    store: &S,
    asset_id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let asset_id = AssetId::parse("asset_id", asset_id)?;
    let params = req.query_string_parameters();
    let time = |name: &str| -> Result<_, ApiError> {
        let raw = params
            .first(name)
            .ok_or_else(|| ApiError::bad_request(format!("{name} query parameter is required")))?;
        Ok(parse_time(name, raw)?)
    };
    let window = Window::new(time("from")?, time("to")?)?;
    let busy = bookings::availability(store, asset_id, window, Utc::now()).await?;
    Ok(json_response(
        StatusCode::OK,
        &availability_json(asset_id, window, &busy),
    ))
}

/// `BOOKING_HOLD_SECONDS`: how long a new unpaid booking holds its slot (default 900; 0: holds
/// never expire). Read once per Lambda instance; a value that is not a whole number of seconds
/// is logged and the default used.
pub const HOLD_ENV: &str = "BOOKING_HOLD_SECONDS";
const DEFAULT_HOLD_SECONDS: i64 = 900;

fn hold_from_env() -> Option<chrono::Duration> {
    static HOLD: std::sync::OnceLock<Option<chrono::Duration>> = std::sync::OnceLock::new();
    *HOLD.get_or_init(|| {
        let seconds = match std::env::var(HOLD_ENV) {
            Err(_) => DEFAULT_HOLD_SECONDS,
            Ok(raw) => raw.trim().parse::<u32>().map(i64::from).unwrap_or_else(|_| {
                tracing::error!(value = %raw, "{HOLD_ENV} is not a whole number of seconds; using {DEFAULT_HOLD_SECONDS}");
                DEFAULT_HOLD_SECONDS
            }),
        };
        (seconds > 0).then(|| chrono::Duration::seconds(seconds))
    })
}

fn booking_id(text: &str) -> Result<BookingId, DomainError> {
    BookingId::parse("booking id", text)
}

async fn create<S: BookingStore + TariffStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let new = dto::new_booking(json_body(req)?)?;
    let key = idempotency_key(req)?;
    let render = |b: &_| booking_json(b).to_string();
    let holds = (
        hold_from_env(),
        crate::runtime::config::hold_rules_from_env(),
    );
    match crate::app::tariffs::create_booking_at_tariff(
        store,
        provider,
        new,
        key.as_ref(),
        Utc::now(),
        holds,
        render,
    )
    .await?
    {
        Created::New { body, .. } => Ok(raw_json_response(StatusCode::CREATED, body)),
        Created::Replayed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut resp = raw_json_response(status, body);
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
    }
}

async fn list<S: BookingStore>(store: &S, req: &Request) -> Result<Response<Body>, ApiError> {
    let params = req.query_string_parameters();
    let user_id = params
        .first("user_id")
        .ok_or_else(|| ApiError::bad_request("user_id query parameter is required"))?;
    let user_id = UserId::parse("user_id", user_id)?;
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
    let page = bookings::list_bookings(store, user_id, limit, params.first("cursor")).await?;
    let now = Utc::now();
    let items: Vec<_> = page
        .items
        .into_iter()
        .map(|b| booking_json(&b.as_of(now)))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}
