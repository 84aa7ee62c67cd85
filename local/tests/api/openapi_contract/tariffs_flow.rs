//! The tariff routes through the local stack, every answer checked against the document, and
//! request bodies as strict as the handler.

use super::Contract;
use crate::support::{new_id, spawn_app};
use reqwest::Method;
use serde_json::json;

pub(super) const TARIFF_ROUTES: [(&str, &str); 5] = [
    ("PUT", "/v1/tariffs/{tariff_id}"),
    ("GET", "/v1/tariffs/{tariff_id}"),
    ("PUT", "/v1/assets/{asset_id}/tariff"),
    ("PUT", "/v1/asset-types/{asset_type}/tariff"),
    ("GET", "/v1/assets/{asset_id}/quote"),
];

#[tokio::test]
async fn the_tariff_routes_match_the_document() {
    let mut c = Contract::load();
    let app = spawn_app().await;
    let app = &app;
    let put = |path: String, body: serde_json::Value| {
        let req = app.keyed(Method::PUT, &path).json(&body);
        async move { app.send(req).await }
    };
    const TARIFF: &str = "/v1/tariffs/{tariff_id}";
    let tariff = json!({"currency": "usd", "flat": 0.50, "per_hour": 3.00, "step_minutes": 15,
        "per_kwh": 0.35, "min_price": 2.00, "max_price": 40.00, "free_cancel_minutes": 60,
        "late_cancel_fee": 1.00, "no_show_fee": 2.00, "no_show_after_minutes": 15});
    c.check_request("PUT", TARIFF, &tariff, true);
    let created = put("/v1/tariffs/ev-standard".into(), tariff.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    c.check("PUT", TARIFF, &created);
    let replaced = put("/v1/tariffs/ev-standard".into(), tariff.clone()).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    c.check("PUT", TARIFF, &replaced);
    let got = app.get("/v1/tariffs/ev-standard").await;
    assert_eq!(got.status, 200);
    c.check("GET", TARIFF, &got);
    let missing = app.get("/v1/tariffs/none-here").await;
    assert_eq!(missing.status, 404);
    c.check("GET", TARIFF, &missing);
    let bad_id = app.get("/v1/tariffs/a.b").await;
    assert_eq!(bad_id.status, 400);
    c.check("GET", TARIFF, &bad_id);
    // Bodies the schema refuses are refused by the handler too.
    for (body, schema_valid) in [
        (json!({"flat": 1}), false),
        (json!({"currency": "usd", "flat": -1}), false),
        (json!({"currency": "usd", "step_minutes": 0}), false),
        (json!({"currency": "usd", "per_kwh": 0.35}), false),
        (json!({"currency": "usd", "colour": "red"}), false),
        (json!({"currency": "usd", "flat": "1"}), false),
        // Schema-valid, refused by rules the schema cannot say.
        (json!({"currency": "xyz"}), true),
        (
            json!({"currency": "usd", "min_price": 2, "max_price": 1}),
            true,
        ),
    ] {
        c.check_request("PUT", TARIFF, &body, schema_valid);
        let answer = put("/v1/tariffs/t".into(), body).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        c.check("PUT", TARIFF, &answer);
    }

    const ASSET: &str = "/v1/assets/{asset_id}/tariff";
    const TYPE: &str = "/v1/asset-types/{asset_type}/tariff";
    const QUOTE: &str = "/v1/assets/{asset_id}/quote";
    let asset = new_id();
    let window = "start_time=2026-03-01T18:00:00Z&end_time=2026-03-01T18:10:00Z";
    let none = app.get(&format!("/v1/assets/{asset}/quote?{window}")).await;
    assert_eq!(none.status, 404);
    c.check("GET", QUOTE, &none);
    let assign = json!({"tariff_id": "ev-standard"});
    c.check_request("PUT", ASSET, &assign, true);
    c.check_request("PUT", ASSET, &json!({"tariff_id": "a b"}), false);
    c.check_request("PUT", TYPE, &json!({}), false);
    let unknown = put(
        format!("/v1/assets/{asset}/tariff"),
        json!({"tariff_id": "nope"}),
    )
    .await;
    assert_eq!(unknown.status, 404);
    c.check("PUT", ASSET, &unknown);
    let typed = put("/v1/asset-types/parking_spot/tariff".into(), assign.clone()).await;
    assert_eq!(typed.status, 200, "{}", typed.body);
    c.check("PUT", TYPE, &typed);
    let bad_type = put("/v1/asset-types/boat/tariff".into(), assign.clone()).await;
    assert_eq!(bad_type.status, 400);
    c.check("PUT", TYPE, &bad_type);
    let own = put(format!("/v1/assets/{asset}/tariff"), assign).await;
    assert_eq!(own.status, 200, "{}", own.body);
    c.check("PUT", ASSET, &own);
    let quote = app.get(&format!("/v1/assets/{asset}/quote?{window}")).await;
    assert_eq!(quote.status, 200, "{}", quote.body);
    c.check("GET", QUOTE, &quote);
    let by_type = app
        .get(&format!(
            "/v1/assets/{}/quote?{window}&asset_type=parking_spot",
            new_id()
        ))
        .await;
    assert_eq!(by_type.status, 200, "{}", by_type.body);
    c.check("GET", QUOTE, &by_type);
    // A booking of the asset carries its price, as the document says.
    let booking = crate::support::booking(
        &asset,
        &new_id(),
        "2026-03-01T18:00:00Z",
        "2026-03-01T18:10:00Z",
    );
    let created = app.create_booking(&booking).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["price"]["total_minor"], 200);
    c.check("POST", "/v1/bookings", &created);
    let id = created.body["id"].as_str().unwrap();
    let got = app.get(&format!("/v1/bookings/{id}")).await;
    c.check("GET", "/v1/bookings/{id}", &got);
    let bad = app
        .get(&format!("/v1/assets/{asset}/quote?start_time=x"))
        .await;
    assert_eq!(bad.status, 400);
    c.check("GET", QUOTE, &bad);

    for (method, template) in TARIFF_ROUTES {
        let ok = if method == "PUT" && template == TARIFF {
            201
        } else {
            200
        };
        assert!(
            c.seen
                .contains(&(method.to_string(), template.to_string(), ok)),
            "{method} {template} {ok} never checked"
        );
    }
}
