//! Every log line of a whole payment flow, at the most verbose level, and not one secret.
//!
//! A test binary of its own (not a module of `tests/api`): it installs the process-wide
//! `tracing` subscriber (`init`, which panics if one is already set) and captures everything
//! logged in its process. Any test running beside it in one process would log into that capture,
//! and a second such test could not install its own.

#[path = "api/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::{spawn_app, CARD_DECLINED, CARD_OK};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_full_payment_flow_logs_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    // TRACE for every crate (ours, the AWS SDK, hyper, reqwest): what an operator turning
    // RUST_LOG all the way up would see. JSON as on Lambda, then text as locally.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .json()
        .with_writer(move || writer.clone())
        .init();

    let app = spawn_app().await;
    let mut client_secrets = Vec::new();
    for card in [CARD_OK, CARD_DECLINED] {
        let booking_id = app.new_booking().await;
        let intent = app
            .create_intent(&json!({"amount": 3.50, "booking_id": booking_id}))
            .await;
        assert_eq!(intent.status, 200, "{:?}", intent.body);
        let pi = intent.body["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_string();
        client_secrets.push(intent.body["client_secret"].as_str().unwrap().to_string());
        // Asking again goes through the path that retrieves the secret from Stripe.
        let again = app
            .create_intent(&json!({"amount": 3.50, "booking_id": booking_id}))
            .await;
        assert_eq!(again.status, 200);
        app.pay(&pi, card).await;
        let want = if card == CARD_OK {
            "completed"
        } else {
            "failed"
        };
        app.wait_for_payment_status(&booking_id, want).await;
        let cancelled = app
            .post_json(&format!("/v1/bookings/{booking_id}/cancel"), &json!({}))
            .await;
        assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    }
    // A forged webhook is logged as rejected; its content must not echo our secret either.
    let forged = app.deliver("{}", Some("t=1,v1=00".into())).await;
    assert_eq!(forged.status, 400);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("payment updated") && logs.contains("intent ready"),
        "the capture must hold the flow's logs, or this test proves nothing"
    );
    let mut secrets = vec![
        app.stack.stripe_secret_key.clone(),
        app.stack.webhook_secrets[0].clone(),
    ];
    secrets.extend(client_secrets.iter().cloned());
    // The client secret's secret half alone, too (`pi_x_secret_<this>`).
    secrets.extend(
        client_secrets
            .iter()
            .map(|s| s.split("_secret_").nth(1).unwrap().to_string()),
    );
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(&secret),
            "a secret appears in the logs: {}",
            logs.lines().find(|l| l.contains(&secret)).unwrap_or("")
        );
    }
}
