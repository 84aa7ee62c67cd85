//! Tariff routes, served by the bookings function: `PUT/GET /v1/tariffs/{tariff_id}`,
//! `PUT /v1/assets/{asset_id}/tariff`, `PUT /v1/asset-types/{asset_type}/tariff`,
//! `GET /v1/assets/{asset_id}/quote`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

use super::dto::fields_of;
use super::error::ApiError;
use super::request::json_body;
use super::response::json_response;
use crate::app::tariffs::{self, Put};
use crate::domain::slot::{format_time, parse_time, Slot};
use crate::domain::tariff::{
    decimal, Quote, StoredTariff, Tariff, TariffId, TariffInput, TariffTarget, MINUTE_FIELDS,
    PRICE_FIELDS,
};
use crate::domain::{AssetId, AssetType, Currency};
use crate::ports::TariffStore;

/// The routes of this module, `None` for any other path.
pub async fn route<S: TariffStore>(
    store: &S,
    segments: &[&str],
    req: &Request,
) -> Option<Result<Response<Body>, ApiError>> {
    let method = req.method();
    Some(match segments {
        ["v1", "tariffs", id] => match *method {
            Method::PUT => put_tariff(store, id, req).await,
            Method::GET => get_tariff(store, id).await,
            _ => Err(ApiError::MethodNotAllowed("GET, PUT")),
        },
        ["v1", "assets", asset_id, "tariff"] => match *method {
            Method::PUT => match AssetId::parse("asset_id", asset_id) {
                Ok(asset_id) => assign(store, TariffTarget::Asset(asset_id), req).await,
                Err(err) => Err(err.into()),
            },
            _ => Err(ApiError::MethodNotAllowed("PUT")),
        },
        ["v1", "asset-types", asset_type, "tariff"] => match *method {
            Method::PUT => match AssetType::parse(asset_type) {
                Ok(t) => assign(store, TariffTarget::AssetType(t), req).await,
                Err(err) => Err(err.into()),
            },
            _ => Err(ApiError::MethodNotAllowed("PUT")),
        },
        ["v1", "assets", asset_id, "quote"] => match *method {
            Method::GET => quote(store, asset_id, req).await,
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        _ => return None,
    })
}

fn tariff_id(text: &str) -> Result<TariffId, ApiError> {
    Ok(TariffId::parse(text)?)
}

async fn put_tariff<S: TariffStore>(
    store: &S,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let id = tariff_id(id)?;
    let tariff = tariff_body(json_body(req)?)?;
    Ok(match tariffs::put_tariff(store, id, tariff).await? {
        Put::Created(t) => json_response(StatusCode::CREATED, &tariff_json(&t)),
        Put::Replaced(t) => json_response(StatusCode::OK, &tariff_json(&t)),
    })
}

async fn get_tariff<S: TariffStore>(store: &S, id: &str) -> Result<Response<Body>, ApiError> {
    let tariff = tariffs::get_tariff(store, &tariff_id(id)?).await?;
    Ok(json_response(StatusCode::OK, &tariff_json(&tariff)))
}

/// A `PUT /v1/tariffs/{tariff_id}` body: `currency` and any of the price and minute fields.
fn tariff_body(body: &[u8]) -> Result<Tariff, ApiError> {
    let mut known = vec!["currency"];
    known.extend(PRICE_FIELDS);
    known.extend(MINUTE_FIELDS);
    let fields = fields_of(body, &known)?;
    let currency: String = match fields.get("currency") {
        None => return Err(ApiError::bad_request("currency is required")),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|_| ApiError::bad_request("currency must be a string"))?,
    };
    let mut input = TariffInput {
        currency: &currency,
        ..TariffInput::default()
    };
    for name in PRICE_FIELDS {
        if let Some(raw) = fields.get(name) {
            input.prices.push((name, raw.get()));
        }
    }
    for name in MINUTE_FIELDS {
        if let Some(raw) = fields.get(name) {
            // Not a whole number: out of every range, so the domain's text names the field.
            let value = serde_json::from_str::<i64>(raw.get()).unwrap_or(i64::MIN);
            input.minutes.push((name, value));
        }
    }
    Ok(Tariff::parse(&input)?)
}

/// `PUT .../tariff {"tariff_id": ...}`: 200 with the assignment; 404 for an unknown tariff.
async fn assign<S: TariffStore>(
    store: &S,
    target: TariffTarget,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let fields = fields_of(json_body(req)?, &["tariff_id"])?;
    let id: String = match fields.get("tariff_id") {
        None => return Err(ApiError::bad_request("tariff_id is required")),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|_| ApiError::bad_request("tariff_id must be a string"))?,
    };
    let id = tariff_id(&id)?;
    tariffs::assign_tariff(store, target, &id).await?;
    let body = match target {
        TariffTarget::Asset(asset_id) => {
            json!({"asset_id": asset_id.to_string(), "tariff_id": id.as_str()})
        }
        TariffTarget::AssetType(t) => json!({"asset_type": t.as_str(), "tariff_id": id.as_str()}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /v1/assets/{asset_id}/quote?start_time=&end_time=[&asset_type=]`.
async fn quote<S: TariffStore>(
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
    let slot = Slot::new(time("start_time")?, time("end_time")?)?;
    let asset_type = params
        .first("asset_type")
        .map(AssetType::parse)
        .transpose()?;
    let quote = tariffs::quote(store, asset_id, asset_type, &slot).await?;
    let mut body = quote_json(&quote);
    body["asset_id"] = Value::String(asset_id.to_string());
    body["start_time"] = Value::String(format_time(slot.start()));
    body["end_time"] = Value::String(format_time(slot.end()));
    Ok(json_response(StatusCode::OK, &body))
}

/// An amount as the exact decimal JSON number (350 usd -> 3.5), never through float arithmetic.
fn amount(minor: i64, currency: &Currency) -> Value {
    serde_json::from_str(&decimal(minor, currency)).unwrap_or(Value::Null)
}

/// The terms of a tariff, shown with the tariff and with every price made from it.
fn terms_json(t: &Tariff, v: &mut Value) {
    let c = &t.currency;
    if let Some(m) = t.free_cancel_minutes {
        v["free_cancel_minutes"] = m.into();
    }
    if let Some(fee) = t.late_cancel_fee {
        v["late_cancel_fee"] = amount(fee, c);
    }
    if let Some(fee) = t.no_show_fee {
        v["no_show_fee"] = amount(fee, c);
    }
    if let Some(m) = t.no_show_after_minutes {
        v["no_show_after_minutes"] = m.into();
    }
}

/// A tariff as GET shows it: the fields PUT takes, plus `tariff_id` and `version`.
pub fn tariff_json(stored: &StoredTariff) -> Value {
    let t = &stored.tariff;
    let mut v = json!({
        "tariff_id": stored.id.as_str(),
        "version": stored.version,
        "currency": t.currency.code,
        "step_minutes": t.step_minutes,
    });
    let prices = [
        ("flat", t.flat),
        ("per_hour", t.per_hour),
        ("per_kwh", t.per_kwh),
        ("min_price", t.min_price),
        ("max_price", t.max_price),
    ];
    for (name, price) in prices {
        if let Some(minor) = price {
            v[name] = amount(minor, &t.currency);
        }
    }
    terms_json(t, &mut v);
    v
}

/// A price (a quote, or a booking's frozen price): its line items (each `type`, `amount`, `amount_minor`), adding up to `total` /
/// `total_minor`, the currency, the tariff and version it came from, and the terms.
pub fn quote_json(quote: &Quote) -> Value {
    let t = &quote.tariff.tariff;
    let c = &t.currency;
    let lines: Vec<Value> = quote
        .lines
        .iter()
        .map(|l| json!({"type": l.kind.as_str(), "amount": amount(l.minor, c), "amount_minor": l.minor}))
        .collect();
    let total = quote.total_minor();
    let mut v = json!({
        "tariff_id": quote.tariff.id.as_str(),
        "tariff_version": quote.tariff.version,
        "currency": c.code,
        "line_items": lines,
        "total": amount(total, c),
        "total_minor": total,
    });
    terms_json(t, &mut v);
    v
}
