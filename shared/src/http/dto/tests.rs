use super::*;
use crate::domain::slot::format_time;
use lambda_http::http::StatusCode;

fn body(overrides: &[(&str, Value)]) -> Vec<u8> {
    let mut v = serde_json::json!({
        "asset_id": "550e8400-e29b-41d4-a716-446655440000",
        "asset_type": "charging_station",
        "user_id": "650e8400-e29b-41d4-a716-446655440001",
        "start_time": "2026-02-05T23:00:00Z",
        "end_time": "2026-02-05T23:30:00Z"
    });
    for (k, val) in overrides {
        if val.is_null() {
            v.as_object_mut().unwrap().remove(*k);
        } else {
            v[*k] = val.clone();
        }
    }
    serde_json::to_vec(&v).unwrap()
}

fn err(overrides: &[(&str, Value)]) -> String {
    match new_booking(&body(overrides)) {
        Err(ApiError::BadRequest(d)) => d,
        other => panic!("expected 400, got {other:?}"),
    }
}

#[test]
fn accepts_the_documents_example_in_the_past() {
    let b = new_booking(&body(&[])).unwrap();
    assert_eq!(b.asset_type, AssetType::ChargingStation);
    assert_eq!(format_time(b.slot.start()), "2026-02-05T23:00:00Z");
}

#[test]
fn normalises_offsets_to_utc() {
    let b = new_booking(&body(&[
        ("start_time", "2026-02-06T01:00:00+02:00".into()),
        ("end_time", "2026-02-05T23:30:00.500Z".into()),
    ]))
    .unwrap();
    assert_eq!(format_time(b.slot.start()), "2026-02-05T23:00:00Z");
    assert_eq!(format_time(b.slot.end()), "2026-02-05T23:30:00.500Z");
}

#[test]
fn each_bad_field_is_named() {
    assert_eq!(err(&[("asset_id", Value::Null)]), "asset_id is required");
    assert_eq!(
        err(&[("asset_id", "nope".into())]),
        "asset_id must be a UUID"
    );
    assert_eq!(err(&[("asset_id", 5.into())]), "asset_id must be a string");
    assert_eq!(
        err(&[("user_id", "650e8400e29b41d4a716446655440001".into())]),
        "user_id must be a UUID"
    );
    assert!(err(&[("asset_type", "bike".into())]).starts_with("asset_type must be"));
    assert!(err(&[("start_time", "tomorrow".into())]).starts_with("start_time must be an RFC 3339"));
    assert!(
        err(&[("end_time", "2026-02-05 23:30".into())]).starts_with("end_time must be an RFC 3339")
    );
    assert_eq!(err(&[("extra", 1.into())]), "Unknown field: extra");
    assert!(err(&[("start_time", "1999-12-31T23:00:00Z".into())]).contains("between the years"));
    assert!(err(&[("start_time", "2026-02-05T23:00:00.0001Z".into())]).contains("millisecond"));
}

#[test]
fn rejects_empty_reversed_and_overlong_slots() {
    assert_eq!(
        err(&[("end_time", "2026-02-05T23:00:00Z".into())]),
        "end_time must be after start_time"
    );
    assert_eq!(
        err(&[("end_time", "2026-02-05T22:00:00Z".into())]),
        "end_time must be after start_time"
    );
    assert!(err(&[("end_time", "2026-02-12T23:00:00.001Z".into())]).contains("at most 7 days"));
    // exactly seven days is allowed
    new_booking(&body(&[("end_time", "2026-02-12T23:00:00Z".into())])).unwrap();
}

#[test]
fn rejects_non_objects_and_bad_json() {
    assert!(
        matches!(new_booking(b"[1]"), Err(ApiError::BadRequest(d)) if d.contains("JSON object"))
    );
    assert!(
        matches!(new_booking(b"{"), Err(ApiError::BadRequest(d)) if d.contains("not valid JSON"))
    );
    assert!(matches!(new_booking(b""), Err(ApiError::BadRequest(_))));
}

const ID: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e40";

fn parse(body: &str) -> Result<IntentRequest, ApiError> {
    intent_request(body.as_bytes())
}

#[test]
fn the_documents_example_is_350_cents() {
    let r = parse(&format!(
        r#"{{"amount": 3.50, "currency": "usd", "booking_id": "{ID}"}}"#
    ))
    .unwrap();
    let amount = r.amount.unwrap();
    assert_eq!(amount.minor, 350);
    assert_eq!(amount.currency.code, "usd");
    assert_eq!(r.currency.map(|c| c.code), Some("usd"));
    assert_eq!(r.booking_id.to_string(), ID);
    let r = parse(&format!(r#"{{"amount": 4.5, "booking_id": "{ID}"}}"#)).unwrap();
    let amount = r.amount.unwrap();
    assert_eq!((amount.minor, amount.currency.code), (450, "usd"));
    assert_eq!(r.currency, None);
}

/// No amount: the booking's price is charged (the use case refuses it for a booking
/// without one, `amount is required`); a given currency is kept to check against it.
#[test]
fn the_amount_may_be_left_to_the_booking_s_price() {
    let r = parse(&format!(r#"{{"booking_id": "{ID}"}}"#)).unwrap();
    assert_eq!((r.amount, r.currency), (None, None));
    let r = parse(&format!(r#"{{"booking_id": "{ID}", "currency": "JPY"}}"#)).unwrap();
    assert_eq!((r.amount, r.currency.map(|c| c.code)), (None, Some("jpy")));
}

#[test]
fn a_receipt_email_is_an_address() {
    let r = parse(&format!(
        r#"{{"amount": 3.50, "booking_id": "{ID}", "receipt_email": "driver@example.com"}}"#
    ))
    .unwrap();
    assert_eq!(
        r.receipt_email.as_ref().map(ReceiptEmail::expose),
        Some("driver@example.com")
    );
    for bad in [r#""driver""#, "5", "null", r#""a@b""#] {
        let err = parse(&format!(
            r#"{{"amount": 3.50, "booking_id": "{ID}", "receipt_email": {bad}}}"#
        ))
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            err.to_string(),
            "receipt_email must be an e-mail address",
            "{bad}"
        );
    }
}

#[test]
fn bad_requests_name_the_field() {
    let cases = [
        ("[]".to_string(), "JSON object"),
        ("{".to_string(), "JSON object"),
        (r#"{"amount": 3.5}"#.to_string(), "booking_id"),
        (
            r#"{"amount": 3.5, "booking_id": "nope"}"#.to_string(),
            "booking_id",
        ),
        (
            r#"{"amount": 3.5, "booking_id": 7}"#.to_string(),
            "booking_id",
        ),
        (
            format!(r#"{{"amount": "3.50", "booking_id": "{ID}"}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount": 0, "booking_id": "{ID}"}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount": -3.5, "booking_id": "{ID}"}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount": 0.005, "booking_id": "{ID}"}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount": 0.49, "booking_id": "{ID}"}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount": 1e308, "booking_id": "{ID}"}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount": 3.5, "currency": "xyz", "booking_id": "{ID}"}}"#),
            "currency",
        ),
        (
            format!(r#"{{"amount": 3.5, "currency": 5, "booking_id": "{ID}"}}"#),
            "currency",
        ),
        (
            format!(r#"{{"amount": 3.5, "booking_id": "{ID}", "tip": 1}}"#),
            "tip",
        ),
    ];
    for (body, field) in cases {
        let err = parse(&body).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(err.to_string().contains(field), "{body}: {err}");
    }
}
