//! `GET /v1/assets/{asset_id}/availability`: the asset's confirmed bookings overlapping a
//! window, whole and once each, sorted, with nothing about who booked or paid; bad input a 400
//! naming the parameter.

use crate::support::{booking, new_id, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_asset_never_booked_is_free_and_the_window_is_normalised_to_utc() {
    let app = spawn_app().await;
    let asset = new_id();
    // A `+` offset percent-encoded, as a query string needs it.
    let got = app
        .get(&format!(
            "/v1/assets/{asset}/availability?from=2026-11-01T02:00:00%2B02:00&to=2026-11-02T00:00:00.500Z"
        ))
        .await;
    assert_eq!(
        (got.status, got.body),
        (
            200,
            json!({
                "asset_id": asset,
                "from": "2026-11-01T00:00:00Z",
                "to": "2026-11-02T00:00:00.500Z",
                "busy": [],
            })
        )
    );
}

#[tokio::test]
async fn busy_lists_each_overlapping_confirmed_booking_whole_once_and_sorted() {
    let app = spawn_app().await;
    let asset = new_id();
    let book = |start: &'static str, end: &'static str| {
        let app = &app;
        let asset = asset.clone();
        async move {
            let created = app
                .create_booking(&booking(&asset, &new_id(), start, end))
                .await;
            assert_eq!(created.status, 201, "{:?}", created.body);
            created.body["id"].as_str().unwrap().to_string()
        }
    };
    // From two days before the window into it; later ones booked out of order; one from the
    // window's last day into the next days.
    book("2026-11-08T22:00:00Z", "2026-11-10T01:00:00+01:00").await;
    book("2026-11-10T15:00:00Z", "2026-11-10T15:05:00Z").await;
    book("2026-11-10T09:00:00.250Z", "2026-11-10T10:00:00Z").await;
    book("2026-11-11T23:00:00Z", "2026-11-13T12:00:00Z").await;
    // Before and after the window (on days next to it), cancelled, another asset's: not busy
    // in the window.
    book("2026-11-05T00:00:00Z", "2026-11-08T22:00:00Z").await;
    book("2026-11-13T12:00:00Z", "2026-11-13T13:00:00Z").await;
    let cancelled = book("2026-11-10T12:00:00Z", "2026-11-10T13:00:00Z").await;
    let answer = app
        .send(app.keyed(Method::POST, &format!("/v1/bookings/{cancelled}/cancel")))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let other = app
        .create_booking(&booking(
            &new_id(),
            &new_id(),
            "2026-11-10T12:00:00Z",
            "2026-11-10T13:00:00Z",
        ))
        .await;
    assert_eq!(other.status, 201);

    let got = app
        .get(&format!(
            "/v1/assets/{asset}/availability?from=2026-11-09T00:00:00Z&to=2026-11-12T00:00:00Z"
        ))
        .await;
    assert_eq!(
        (got.status, got.body),
        (
            200,
            json!({
                "asset_id": asset,
                "from": "2026-11-09T00:00:00Z",
                "to": "2026-11-12T00:00:00Z",
                "busy": [
                    {"start_time": "2026-11-08T22:00:00Z", "end_time": "2026-11-10T00:00:00Z"},
                    {"start_time": "2026-11-10T09:00:00.250Z", "end_time": "2026-11-10T10:00:00Z"},
                    {"start_time": "2026-11-10T15:00:00Z", "end_time": "2026-11-10T15:05:00Z"},
                    {"start_time": "2026-11-11T23:00:00Z", "end_time": "2026-11-13T12:00:00Z"},
                ],
            })
        )
    );
    // A window inside one day of a booking that touches three days.
    let inside = app
        .get(&format!(
            "/v1/assets/{asset}/availability?from=2026-11-13T05:00:00Z&to=2026-11-13T06:00:00Z"
        ))
        .await;
    assert_eq!(
        inside.body["busy"],
        json!([{"start_time": "2026-11-11T23:00:00Z", "end_time": "2026-11-13T12:00:00Z"}])
    );
}

#[tokio::test]
async fn bad_parameters_are_400s_naming_the_parameter() {
    let app = spawn_app().await;
    let asset = new_id();
    let from = "from=2026-11-01T00:00:00Z";
    let to = "to=2026-11-02T00:00:00Z";
    for (query, detail) in [
        (to.to_string(), "from query parameter is required"),
        (from.to_string(), "to query parameter is required"),
        (
            format!("from=yesterday&{to}"),
            "from must be an RFC 3339 date-time, e.g. 2026-02-05T23:00:00Z",
        ),
        // An unencoded `+` is a space in a query string.
        (
            format!("{from}&to=2026-11-02T02:00:00+02:00"),
            "to must be an RFC 3339 date-time, e.g. 2026-02-05T23:00:00Z",
        ),
        (
            format!("{from}&to=2026-11-01T00:00:00Z"),
            "to must be after from",
        ),
        (
            format!("{from}&to=2026-10-31T00:00:00Z"),
            "to must be after from",
        ),
        (
            format!("{from}&to=2026-12-02T00:00:00.001Z"),
            "to must be at most 31 days after from",
        ),
        (
            format!("{from}&to=2126-11-02T00:00:00Z"),
            "to must be between the years 2000 and 2100",
        ),
    ] {
        let got = app
            .get(&format!("/v1/assets/{asset}/availability?{query}"))
            .await;
        assert_eq!(
            (got.status, got.body),
            (400, json!({ "detail": detail })),
            "{query}"
        );
    }
    let got = app
        .get(&format!("/v1/assets/not-a-uuid/availability?{from}&{to}"))
        .await;
    assert_eq!(
        (got.status, got.body),
        (400, json!({"detail": "asset_id must be a UUID"}))
    );
    let full = app
        .get(&format!(
            "/v1/assets/{asset}/availability?{from}&to=2026-12-02T00:00:00Z"
        ))
        .await;
    assert_eq!(full.status, 200, "31 days is allowed: {:?}", full.body);
    let post = app
        .send(app.keyed(Method::POST, &format!("/v1/assets/{asset}/availability")))
        .await;
    assert_eq!(post.status, 405);
}
