//! Every sample Lambda event in `events/` (see events/README.md), parsed exactly as the Lambda
//! runtime parses it (`lambda_http::request::from_str`) and handed to the real handler of its
//! function, against the local stack's DynamoDB and Stripe emulators. Each must get the status
//! `events/expected.json` names and a JSON body (`{"detail": "..."}` for errors). The scheduled
//! sample runs the reconcile function's use case, as its `main` does for every EventBridge
//! event: 200 stands for a run that returned its summary.
//!
//! `make sam-local` runs the same samples through `sam local invoke` in containers, seeding
//! what events/seeds.json lists: it must list the bookings this test seeds.

use crate::support::product::{
    booking_json, bookings, create_intent, reconcile, webhook, BookingId, BookingStore,
};
use crate::support::samples::*;
use crate::support::spawn_app;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde_json::{json, Value};

#[tokio::test]
async fn every_sample_event_gets_its_expected_status_from_the_real_handler() {
    let app = spawn_app().await;
    let stack = &app.stack;
    let Prepared {
        intent_id,
        stripe,
        samples,
    } = prepare(&app).await;
    let mut failures = Vec::new();
    for Sample { name, want, event } in &samples {
        if want.function == "reconcile" {
            // As the function's main: the run's summary is its result, a failed run its error.
            let status = match reconcile::run(
                &stack.store,
                &stripe,
                &Default::default(),
                &Default::default(),
                &reconcile::Budget::unbounded(),
            )
            .await
            {
                Ok(summary) => {
                    println!("{name}: 200 {}", serde_json::to_value(summary).unwrap());
                    200
                }
                Err(err) => {
                    failures.push(format!("{name}: the run failed: {err:?}"));
                    500
                }
            };
            if status != want.status {
                failures.push(format!("{name}: status {status}, expected {}", want.status));
            }
            continue;
        }

        let req = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("{name}: Lambda could not parse it: {e}"));
        match (req.request_context_ref(), is_function_url(event)) {
            (Some(RequestContext::ApiGatewayV2(_)), true)
            | (Some(RequestContext::ApiGatewayV1(_)), false) => {}
            (other, _) => panic!("{name}: parsed as the wrong kind of event: {other:?}"),
        }
        let resp = match want.function.as_str() {
            "bookings" => bookings::handle(&stack.store, &stripe, req).await,
            "create-intent" => create_intent::handle(&stack.store, &stripe, req).await,
            _ => webhook::handle(&stack.store, &stripe, req).await,
        };
        let status = resp.status().as_u16();
        let text = String::from_utf8_lossy(resp.body().as_ref()).to_string();
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            failures.push(format!("{name}: body is not JSON: {text:?}"));
            continue;
        };
        if resp.headers().get("content-type").map(|v| v.as_bytes()) != Some(b"application/json") {
            failures.push(format!("{name}: no Content-Type: application/json"));
        }
        if status != want.status {
            failures.push(format!(
                "{name}: status {status}, expected {} ({body})",
                want.status
            ));
        }
        if status >= 400 {
            let detail_only = body
                .as_object()
                .is_some_and(|o| o.len() == 1 && o.get("detail").is_some_and(Value::is_string));
            if !detail_only {
                failures.push(format!(
                    "{name}: error body is not {{\"detail\": ...}}: {body}"
                ));
            }
        } else if name.starts_with("create-intent-ok") && body["payment_intent_id"] != intent_id {
            failures.push(format!(
                "{name}: expected the booking's intent {intent_id} again, got {body}"
            ));
        }
        println!("{name}: {status} {body}");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // The re-signed webhook samples really reached the booking: it is paid with the real
    // intent, at the sample's time, and the cancel sample cancelled its booking.
    let paid = stack
        .store
        .get_booking(BookingId::parse("id", BOOKING_ID).unwrap())
        .await
        .unwrap()
        .map(|b| booking_json(&b))
        .unwrap();
    assert_eq!(paid["payment_status"], "completed", "{paid}");
    assert_eq!(paid["payment_intent_id"], json!(intent_id), "{paid}");
    assert_eq!(paid["paid_at"], SUCCEEDED_AT, "{paid}");
    assert_eq!(paid["amount_received_minor"], 350, "{paid}");
    let cancelled = stack
        .store
        .get_booking(BookingId::parse("id", CANCEL_BOOKING_ID).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(booking_json(&cancelled)["status"], "cancelled");
}
