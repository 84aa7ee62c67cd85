//! Tariffs through the bookings function and DynamoDB: `PUT/GET /v1/tariffs/{id}` (201 new,
//! 200 replaced, a version only for a change), assignments to an asset or an asset type, and
//! `GET /v1/assets/{id}/quote` against hand-computed prices; bad input a 400 naming the field
//! that writes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{new_id, spawn_app, Answer, TestApp};

mod payments;

pub(super) fn ev_standard() -> Value {
    json!({"currency": "usd", "flat": 0.50, "per_hour": 3.00, "step_minutes": 15,
           "per_kwh": 0.35, "min_price": 2.00, "max_price": 40.00, "free_cancel_minutes": 60,
           "late_cancel_fee": 1.00, "no_show_fee": 2.00, "no_show_after_minutes": 15})
}

pub(super) async fn put(app: &TestApp, path: &str, body: &Value) -> Answer {
    app.send(app.keyed(Method::PUT, path).json(body)).await
}

async fn put_raw(app: &TestApp, path: &str, body: &str) -> Answer {
    app.send(
        app.keyed(Method::PUT, path)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

fn quote_path(asset: &str, start: &str, end: &str, extra: &str) -> String {
    format!("/v1/assets/{asset}/quote?start_time={start}&end_time={end}{extra}")
}

#[tokio::test]
async fn a_tariff_is_created_then_replaced_with_a_new_version_only_when_it_changes() {
    let app = spawn_app().await;
    let created = put(&app, "/v1/tariffs/ev-standard", &ev_standard()).await;
    let mut want = ev_standard();
    want["tariff_id"] = json!("ev-standard");
    want["version"] = json!(1);
    assert_eq!((created.status, &created.body), (201, &want));
    let got = app.get("/v1/tariffs/ev-standard").await;
    assert_eq!((got.status, &got.body), (200, &want));

    // The same tariff again (other spellings of the same amounts): 200, still version 1.
    let same = put_raw(
        &app,
        "/v1/tariffs/ev-standard",
        r#"{"no_show_after_minutes": 15, "currency": "USD", "flat": 0.5, "per_hour": 3,
            "step_minutes": 15, "per_kwh": 35e-2, "min_price": 2, "max_price": 40.000,
            "free_cancel_minutes": 60, "late_cancel_fee": 1, "no_show_fee": 2.0}"#,
    )
    .await;
    assert_eq!((same.status, &same.body), (200, &want));

    let mut changed = ev_standard();
    changed["per_hour"] = json!(3.25);
    let replaced = put(&app, "/v1/tariffs/ev-standard", &changed).await;
    assert_eq!(
        (replaced.status, &replaced.body["version"]),
        (200, &json!(2))
    );
    assert_eq!(replaced.body["per_hour"], json!(3.25));
    // Only the currency is needed; the step defaults to 1 minute.
    let minimal = put(&app, "/v1/tariffs/free", &json!({"currency": "eur"})).await;
    assert_eq!(
        (minimal.status, minimal.body),
        (
            201,
            json!({"tariff_id": "free", "version": 1, "currency": "eur", "step_minutes": 1})
        )
    );
}

#[tokio::test]
async fn twenty_concurrent_changes_make_twenty_versions() {
    let app = spawn_app().await;
    let puts = (1..=20).map(|i| {
        let app = &app;
        async move {
            let body = json!({"currency": "usd", "per_hour": i});
            put(app, "/v1/tariffs/racy", &body).await
        }
    });
    let answers = futures::future::join_all(puts).await;
    let mut versions: Vec<u64> = answers
        .iter()
        .map(|a| {
            assert!(
                a.status == 200 || a.status == 201,
                "{} {:?}",
                a.status,
                a.body
            );
            a.body["version"].as_u64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>());
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    assert_eq!(app.get("/v1/tariffs/racy").await.body["version"], json!(20));
}

#[tokio::test]
async fn bad_tariffs_are_a_400_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let with = |field: &str, value: Value| {
        let mut body = ev_standard();
        body[field] = value;
        body
    };
    let cases = [
        (with("flat", json!(-0.5)), "flat must not be negative"),
        (
            with("per_hour", json!("3.00")),
            "per_hour must be a JSON number",
        ),
        (
            with("max_price", json!(1.00)),
            "max_price must not be below min_price",
        ),
        (
            with("step_minutes", json!(0)),
            "step_minutes must be a whole number from 1 to 1440",
        ),
        (
            with("step_minutes", json!(1.5)),
            "step_minutes must be a whole number from 1 to 1440",
        ),
        (
            with("currency", json!("xyz")),
            "currency 'xyz' is not supported",
        ),
        (
            with("per_kwh", json!(0.355)),
            "per_kwh has more decimal places than usd allows (2)",
        ),
        (with("colour", json!("red")), "Unknown field: colour"),
        (json!({"flat": 1}), "currency is required"),
        (
            json!({"currency": "usd", "per_kwh": 0.35}),
            "max_price is required with per_kwh (an EV session is authorized for it)",
        ),
    ];
    for (body, detail) in cases {
        let answer = put(&app, "/v1/tariffs/t1", &body).await;
        assert_eq!(
            (answer.status, answer.body),
            (400, json!({"detail": detail})),
            "{body}"
        );
    }
    let bad_id = put(&app, "/v1/tariffs/ev.standard", &ev_standard()).await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(
        bad_id.body["detail"],
        "tariff_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"
    );
    let not_json = put_raw(&app, "/v1/tariffs/t1", "{").await;
    assert_eq!(not_json.status, 400);
    // Nothing was written.
    let got = app.get("/v1/tariffs/t1").await;
    assert_eq!(
        (got.status, got.body),
        (404, json!({"detail": "Tariff not found"}))
    );
    // A bad replace leaves the stored version as it was.
    put(&app, "/v1/tariffs/t1", &ev_standard()).await;
    put(&app, "/v1/tariffs/t1", &with("flat", json!(-1))).await;
    assert_eq!(app.get("/v1/tariffs/t1").await.body["flat"], json!(0.5));
    // The API key is needed, as on every route.
    let no_key = app
        .send(reqwest::Client::new().get(app.url("/v1/tariffs/t1")))
        .await;
    assert_eq!(no_key.status, 401);
}

#[tokio::test]
async fn a_quote_prices_the_window_from_the_asset_s_tariff_or_its_type_s() {
    let app = spawn_app().await;
    let asset = new_id();
    let (start, end) = ("2026-03-01T18:00:00Z", "2026-03-01T18:10:00Z");
    let none = app.get(&quote_path(&asset, start, end, "")).await;
    assert_eq!(
        (none.status, none.body),
        (404, json!({"detail": "No tariff applies to this asset"}))
    );
    let unknown = put(
        &app,
        &format!("/v1/assets/{asset}/tariff"),
        &json!({"tariff_id": "nope"}),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.body),
        (404, json!({"detail": "Tariff not found"}))
    );

    put(&app, "/v1/tariffs/ev-standard", &ev_standard()).await;
    let typed = put(
        &app,
        "/v1/asset-types/charging_station/tariff",
        &json!({"tariff_id": "ev-standard"}),
    )
    .await;
    assert_eq!(
        (typed.status, typed.body),
        (
            200,
            json!({"asset_type": "charging_station", "tariff_id": "ev-standard"})
        )
    );
    // The type's tariff is found only when the quote names the type.
    assert_eq!(
        app.get(&quote_path(&asset, start, end, "")).await.status,
        404
    );
    let q = app
        .get(&quote_path(
            &asset,
            start,
            end,
            "&asset_type=charging_station",
        ))
        .await;
    // 10 min -> one 15-minute step at 3.00/h = 0.75; + 0.50 = 1.25, raised to the 2.00 minimum.
    assert_eq!(
        (q.status, q.body),
        (
            200,
            json!({
                "asset_id": asset, "start_time": start, "end_time": end,
                "tariff_id": "ev-standard", "tariff_version": 1, "currency": "usd",
                "line_items": [
                    {"type": "flat", "amount": 0.5, "amount_minor": 50},
                    {"type": "time", "amount": 0.75, "amount_minor": 75},
                    {"type": "min_price", "amount": 0.75, "amount_minor": 75},
                ],
                "total": 2.0, "total_minor": 200,
                "free_cancel_minutes": 60, "late_cancel_fee": 1.0, "no_show_fee": 2.0,
                "no_show_after_minutes": 15,
            })
        )
    );
    let parking = app
        .get(&quote_path(&asset, start, end, "&asset_type=parking_spot"))
        .await;
    assert_eq!(parking.status, 404);

    // The asset's own tariff wins over its type's: 100 jpy an hour, 20 minutes = 33 yen.
    put(
        &app,
        "/v1/tariffs/tokyo",
        &json!({"currency": "jpy", "per_hour": 100}),
    )
    .await;
    let own = put(
        &app,
        &format!("/v1/assets/{asset}/tariff"),
        &json!({"tariff_id": "tokyo"}),
    )
    .await;
    assert_eq!(
        (own.status, own.body),
        (200, json!({"asset_id": asset, "tariff_id": "tokyo"}))
    );
    let q = app
        .get(&quote_path(
            &asset,
            start,
            "2026-03-01T18:20:00Z",
            "&asset_type=charging_station",
        ))
        .await;
    assert_eq!(q.status, 200, "{:?}", q.body);
    assert_eq!(
        (
            &q.body["line_items"],
            &q.body["total_minor"],
            &q.body["currency"]
        ),
        (
            &json!([{"type": "time", "amount": 33, "amount_minor": 33}]),
            &json!(33),
            &json!("jpy")
        )
    );
}

#[tokio::test]
async fn bad_quote_and_assignment_requests_are_a_400_naming_the_field() {
    let app = spawn_app().await;
    let asset = new_id();
    let cases = [
        (
            quote_path(
                "not-a-uuid",
                "2026-03-01T18:00:00Z",
                "2026-03-01T19:00:00Z",
                "",
            ),
            "asset_id must be a UUID",
        ),
        (
            format!("/v1/assets/{asset}/quote?end_time=2026-03-01T19:00:00Z"),
            "start_time query parameter is required",
        ),
        (
            quote_path(&asset, "2026-03-01T18:00:00Z", "2026-03-01T18:01:00Z", ""),
            "end_time must be at least 5 minutes after start_time",
        ),
        (
            quote_path(
                &asset,
                "2026-03-01T18:00:00Z",
                "2026-03-01T19:00:00Z",
                "&asset_type=boat",
            ),
            "asset_type must be 'charging_station' or 'parking_spot'",
        ),
    ];
    for (path, detail) in cases {
        let answer = app.get(&path).await;
        assert_eq!(
            (answer.status, &answer.body["detail"]),
            (400, &json!(detail)),
            "{path}"
        );
    }
    let path = format!("/v1/assets/{asset}/tariff");
    for (body, detail) in [
        (json!({}), "tariff_id is required"),
        (json!({"tariff_id": 7}), "tariff_id must be a string"),
        (
            json!({"tariff_id": "a b"}),
            "tariff_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
        ),
        (
            json!({"tariff_id": "a", "extra": 1}),
            "Unknown field: extra",
        ),
    ] {
        let answer = put(&app, &path, &body).await;
        assert_eq!(
            (answer.status, answer.body),
            (400, json!({"detail": detail})),
            "{body}"
        );
    }
    let boat = put(
        &app,
        "/v1/asset-types/boat/tariff",
        &json!({"tariff_id": "a"}),
    )
    .await;
    assert_eq!(boat.status, 400);
    let wrong = app.send(app.keyed(Method::POST, "/v1/tariffs/a")).await;
    assert_eq!(
        (wrong.status, wrong.headers["allow"].to_str().unwrap()),
        (405, "GET, PUT")
    );
}

#[tokio::test]
async fn a_booking_keeps_the_price_of_its_creation_when_the_tariff_is_edited() {
    let app = spawn_app().await;
    let (asset, user) = (new_id(), new_id());
    put(&app, "/v1/tariffs/ev-standard", &ev_standard()).await;
    let assigned = put(
        &app,
        &format!("/v1/assets/{asset}/tariff"),
        &json!({"tariff_id": "ev-standard"}),
    )
    .await;
    assert_eq!(assigned.status, 200);
    let body = crate::support::booking(
        &asset,
        &user,
        "2026-03-01T18:00:00Z",
        "2026-03-01T18:50:00Z",
    );
    let created = app.create_booking(&body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    // 50 min -> 4 steps of 15 at 3.00/h = 3.00, + 0.50: 3.50, between min and max.
    let want = json!({
        "tariff_id": "ev-standard", "tariff_version": 1, "currency": "usd",
        "line_items": [
            {"type": "flat", "amount": 0.5, "amount_minor": 50},
            {"type": "time", "amount": 3.0, "amount_minor": 300},
        ],
        "total": 3.5, "total_minor": 350,
        "free_cancel_minutes": 60, "late_cancel_fee": 1.0, "no_show_fee": 2.0,
        "no_show_after_minutes": 15,
    });
    assert_eq!(created.body["price"], want);
    let id = created.body["id"].as_str().unwrap();

    let mut dearer = ev_standard();
    dearer["per_hour"] = json!(6.00);
    assert_eq!(
        put(&app, "/v1/tariffs/ev-standard", &dearer).await.body["version"],
        2
    );
    assert_eq!(app.booking(id).await["price"], want);
    let listed = app.list(&user, "").await;
    assert_eq!(listed.body["items"][0]["price"], want);
    // A new booking gets the new version: 30 min at 6.00/h = 3.00, + 0.50.
    let next = crate::support::booking(
        &asset,
        &user,
        "2026-03-02T18:00:00Z",
        "2026-03-02T18:30:00Z",
    );
    let created = app.create_booking(&next).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        (
            &created.body["price"]["tariff_version"],
            &created.body["price"]["total_minor"]
        ),
        (&json!(2), &json!(350))
    );
    // No tariff for the asset (nor its type): no price, as before tariffs.
    let plain = app
        .create_booking(&crate::support::example_booking(&new_id(), &user))
        .await;
    assert_eq!(plain.status, 201);
    assert!(plain.body.get("price").is_none(), "{}", plain.body);
}
