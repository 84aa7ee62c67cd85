//! openapi.yaml against the running handlers: the document lists exactly the routes the
//! functions serve, and every answer of a scripted flow through the local stack has a status
//! the document gives for that operation and a body that validates against its schema
//! (JSON Schema 2020-12, with formats asserted, by the `boon` validator).

mod contract;
mod refunds_flow;
mod scripted_flow;
mod tariffs_flow;
mod terms_flow;

use std::collections::BTreeSet;

use crate::support::{new_id, spawn_app, API_KEY};
use contract::{escape, Contract};
use reqwest::Method;
use serde_json::{json, Value};

/// What the functions serve (shared::http::bookings, shared::http::create_intent, shared::http::webhook), as
/// (method, path template).
const SERVED: [(&str, &str); 16] = [
    ("POST", "/v1/bookings"),
    ("GET", "/v1/bookings"),
    ("GET", "/v1/bookings/{id}"),
    ("POST", "/v1/bookings/{id}/cancel"),
    ("POST", "/v1/bookings/{id}/refunds"),
    ("GET", "/v1/bookings/{id}/receipt"),
    ("POST", "/v1/bookings/{id}/check-in"),
    ("GET", "/v1/assets/{asset_id}/availability"),
    ("PUT", "/v1/tariffs/{tariff_id}"),
    ("GET", "/v1/tariffs/{tariff_id}"),
    ("PUT", "/v1/assets/{asset_id}/tariff"),
    ("PUT", "/v1/asset-types/{asset_type}/tariff"),
    ("GET", "/v1/assets/{asset_id}/quote"),
    ("POST", "/v1/payments/create-intent"),
    ("POST", "/v1/payments/capture"),
    ("POST", "/v1/payments/webhook"),
];
const WEBHOOK: &str = "/v1/payments/webhook";

fn path_of(template: &str, id: &str) -> String {
    template
        .replace("{id}", id)
        .replace("{asset_id}", id)
        .replace("{tariff_id}", id)
        .replace("{asset_type}", "parking_spot")
}

#[test]
fn the_documented_operations_are_exactly_the_routes_the_handlers_serve() {
    let contract = Contract::load();
    let served: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(contract.operations(), served);
    // Every operation but the webhook is behind the API key; the webhook documents the
    // Stripe-Signature header instead.
    assert_eq!(
        contract.spec["components"]["securitySchemes"]["ApiKeyAuth"],
        json!({"type": "apiKey", "in": "header", "name": "X-API-Key"})
    );
    assert_eq!(contract.spec["security"], json!([{"ApiKeyAuth": []}]));
    for (method, template) in SERVED {
        let op = &contract
            .spec
            .pointer(&Contract::operation_pointer(method, template));
        let op = op.unwrap();
        if template == WEBHOOK {
            assert_eq!(op["security"], json!([]));
            let params = op["parameters"].as_array().unwrap();
            assert!(params
                .iter()
                .any(|p| p["name"] == "Stripe-Signature" && p["in"] == "header"));
        } else {
            assert!(op.get("security").is_none(), "{method} {template}");
            assert!(
                contract.response_pointer(method, template, 401).is_some(),
                "{method} {template} must document 401"
            );
        }
    }
}

/// The validator is really on: instances the schemas forbid are refused (formats included),
/// so a passing flow means something.
#[test]
fn the_validator_refuses_what_the_schemas_forbid() {
    let mut c = Contract::load();
    let booking = "/components/schemas/Booking";
    let paid = c
        .spec
        .pointer("/components/examples/PaidBooking/value")
        .unwrap()
        .clone();
    assert_eq!(c.validate_at(booking, &paid), Ok(()));
    let mut wrong = Vec::new();
    for (field, value) in [
        ("id", json!("not-a-uuid")),
        ("id", json!("6db74bfdbfba47a986e52304af3a6e40")),
        ("created_at", json!("yesterday")),
        ("status", json!("pending")),
        ("payment_status", json!("paid")),
        ("asset_type", json!("bicycle_rack")),
        ("amount_minor", json!(4.5)),
        ("amount", json!("4.50")),
        ("currency", json!("USD")),
        ("payment_intent_id", json!("ch_1")),
        ("surprise", json!(1)),
    ] {
        let mut b = paid.clone();
        b[field] = value;
        wrong.push((booking, b));
    }
    for field in ["user_id", "amount_minor", "amount_received_minor"] {
        let mut b = paid.clone();
        b.as_object_mut().unwrap().remove(field);
        wrong.push((booking, b));
    }
    let error = "/components/schemas/Error";
    wrong.push((error, json!({})));
    wrong.push((error, json!({"detail": 5})));
    wrong.push((error, json!({"detail": "x", "code": 1})));
    let list = "/components/schemas/BookingList";
    wrong.push((list, json!({"items": []})));
    wrong.push((list, json!({"items": [], "next_cursor": 5})));
    wrong.push((list, json!({"items": [{}], "next_cursor": null})));
    let intent = "/components/schemas/IntentResponse";
    wrong.push((intent, json!({"client_secret": "pi_1_secret_2"})));
    wrong.push((
        intent,
        json!({"client_secret": "pi_1_secret_2", "payment_intent_id": "pi_1", "x": 1}),
    ));
    let ack = "/components/schemas/WebhookAck";
    wrong.push((
        ack,
        json!({"received": false, "result": "applied", "reason": "x"}),
    ));
    wrong.push((
        ack,
        json!({"received": true, "result": "done", "reason": "x"}),
    ));
    for (schema, instance) in wrong {
        assert!(
            c.validate_at(schema, &instance).is_err(),
            "{schema} accepted {instance}"
        );
    }
    assert_eq!(
        c.validate_at(list, &json!({"items": [paid], "next_cursor": null})),
        Ok(())
    );
}

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_is() {
    let mut contract = Contract::load();
    let app = spawn_app().await;
    let id = new_id();

    // Each documented operation reaches a handler that knows it: never the unknown-path 404.
    for (method, template) in contract.operations() {
        let path = path_of(&template, &id);
        let mut req = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .header("content-type", "application/json");
        if template != WEBHOOK {
            req = req.header("x-api-key", API_KEY);
        }
        if method == "POST" {
            req = req.body("{}");
        }
        let answer = app.send(req).await;
        assert_ne!(
            (answer.status, &answer.body),
            (404, &json!({"detail": "Not found"})),
            "{method} {template} is documented but not served"
        );
        contract.check(&method, &template, &answer);
    }

    // A documented path with a method it does not document: 405, with Allow.
    let documented = contract.operations();
    let templates: BTreeSet<String> = documented.iter().map(|(_, t)| t.clone()).collect();
    for template in &templates {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if documented.contains(&(method.to_string(), template.clone())) {
                continue;
            }
            let answer = app
                .send(app.keyed(method.parse().unwrap(), &path_of(template, &id)))
                .await;
            assert_eq!(answer.status, 405, "{method} {template}: {}", answer.body);
            assert!(answer.headers.contains_key("allow"), "{method} {template}");
            contract.check_component("MethodNotAllowed", &answer);
        }
    }

    // Paths the document does not have: 404 Not found.
    for path in [
        "/",
        "/v1",
        "/v1/booking",
        "/v1/payments",
        "/v1/payments/refund",
        "/v1/payments/create-intent/extra",
        "/v1/payments/webhook/extra",
        &format!("/v1/bookings/{id}/refund"),
        &format!("/v1/bookings/{id}/cancel/now"),
        "/v2/bookings",
    ] {
        for method in [Method::GET, Method::POST] {
            let answer = app.send(app.keyed(method.clone(), path)).await;
            assert_eq!(
                (answer.status, &answer.body),
                (404, &json!({"detail": "Not found"})),
                "{method} {path}"
            );
            contract.check_component("NotFound", &answer);
        }
    }
}

#[test]
fn the_documents_examples_match_their_schemas() {
    let mut contract = Contract::load();
    // Every object with a `schema` and an `example` or `examples` (media types, parameters).
    fn walk(value: &Value, pointer: String, found: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                if map.contains_key("schema") {
                    if let Some(example) = map.get("example") {
                        found.push((pointer.clone(), example.clone()));
                    }
                    if let Some(Value::Object(examples)) = map.get("examples") {
                        for example in examples.values() {
                            found.push((pointer.clone(), example.clone()));
                        }
                    }
                }
                for (k, v) in map {
                    walk(v, format!("{pointer}/{}", escape(k)), found);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{pointer}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&contract.spec, String::new(), &mut found);
    assert!(found.len() > 20, "only {} examples found", found.len());
    for (pointer, example) in found {
        let example = match example.get("$ref").and_then(Value::as_str) {
            Some(r) => contract.spec.pointer(&r[1..]).unwrap()["value"].clone(),
            None if pointer.contains("/examples/") || example.get("value").is_some() => {
                example["value"].clone()
            }
            None => example,
        };
        if let Err(err) = contract.validate_at(&format!("{pointer}/schema"), &example) {
            panic!("example at {pointer} does not match its schema:\n{err}\n{example}");
        }
    }
}
