//! The webhook as an attacker or a flaky network sees it: forged, stale, replayed and
//! out-of-order deliveries, each answered correctly and none changing a booking wrongly.

use crate::support::product::webhook_signature::sign;
use crate::support::{event, new_id, now, spawn_app, succeeded, CARD_OK};
use serde_json::json;

#[tokio::test]
async fn forged_missing_wrong_secret_and_stale_signatures_change_nothing() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let payload = event("payment_intent.succeeded", now(), &succeeded(&intent));
    let secret = &app.stack.webhook_secrets[0];
    let forged = [
        None,
        Some(String::new()),
        Some("garbage".to_string()),
        Some(sign(payload.as_bytes(), "whsec_wrong_secret", now())),
        Some(sign(payload.as_bytes(), secret, now() - 301)),
        Some(sign(payload.as_bytes(), secret, now() + 301)),
        Some(sign(b"{\"other\": \"payload\"}", secret, now())),
        // The right signature moved to a different scheme.
        Some(sign(payload.as_bytes(), secret, now()).replace("v1=", "v0=")),
    ];
    for sig in forged {
        let resp = app.deliver(&payload, sig.clone()).await;
        assert_eq!(
            (resp.status, resp.body),
            (400, json!({"detail": "Invalid signature"})),
            "{sig:?}"
        );
    }
    // A tampered body under a valid signature of the original.
    let sig = sign(payload.as_bytes(), secret, now());
    let tampered = payload.replace("\"amount\":350", "\"amount\":1");
    assert_ne!(tampered, payload);
    assert_eq!(app.deliver(&tampered, Some(sig)).await.status, 400);

    assert_eq!(app.booking(&booking_id).await["payment_status"], "pending");
}

#[tokio::test]
async fn a_header_signed_with_an_old_and_the_current_secret_is_accepted() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let payload = event("payment_intent.succeeded", now(), &succeeded(&intent));
    let t = now();
    let old = sign(payload.as_bytes(), "whsec_rolled_out", t);
    let current = sign(payload.as_bytes(), &app.stack.webhook_secrets[0], t);
    let v1 = |h: &str| h.split_once("v1=").unwrap().1.to_string();
    let header = format!("t={t},v1={},v1={}", v1(&old), v1(&current));
    let resp = app.deliver(&payload, Some(header)).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.body["result"], "applied");
    assert_eq!(
        app.booking(&booking_id).await["payment_status"],
        "completed"
    );
}

#[tokio::test]
async fn a_replayed_event_is_applied_once() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let failed = {
        let mut pi = intent.clone();
        pi["last_payment_error"] = json!({"message": "Your card was declined."});
        event("payment_intent.payment_failed", now(), &pi)
    };
    let first = app.deliver(&failed, Some(app.sign_now(&failed))).await;
    assert_eq!(first.body["result"], "applied", "{:?}", first.body);
    let before = app.booking(&booking_id).await;
    assert_eq!(before["payment_status"], "failed");
    // Redelivered, concurrently, several times: nothing further changes.
    let again = futures::future::join_all(
        (0..5).map(|_| app.deliver(&failed, Some(app.sign_now(&failed)))),
    )
    .await;
    for resp in again {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body["result"], "duplicate", "{:?}", resp.body);
    }
    assert_eq!(
        app.booking(&booking_id).await["updated_at"],
        before["updated_at"]
    );
}

#[tokio::test]
async fn late_and_out_of_order_events_never_move_a_completed_booking_back() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    assert_eq!(app.pay(pi, CARD_OK).await.status, 200);
    app.wait_for_payment_status(&booking_id, "completed").await;

    for kind in [
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.canceled",
    ] {
        for created in [now() - 100, now() + 100] {
            let payload = event(kind, created, &intent);
            let resp = app.deliver(&payload, Some(app.sign_now(&payload))).await;
            assert_eq!(resp.status, 200, "{kind}");
            assert_eq!(resp.body["result"], "ignored", "{kind}: {:?}", resp.body);
        }
    }
    assert_eq!(
        app.booking(&booking_id).await["payment_status"],
        "completed"
    );

    // Before any payment: an older event cannot overwrite a newer one.
    let (other, intent) = app.booking_with_intent().await;
    let newer = event("payment_intent.payment_failed", now(), &intent);
    app.deliver(&newer, Some(app.sign_now(&newer))).await;
    let older = event("payment_intent.processing", now() - 60, &intent);
    let resp = app.deliver(&older, Some(app.sign_now(&older))).await;
    assert_eq!(resp.body["result"], "ignored");
    assert_eq!(app.booking(&other).await["payment_status"], "failed");
}

#[tokio::test]
async fn events_for_other_intents_unknown_bookings_and_types_are_acknowledged_and_ignored() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;

    // Another booking's intent claiming to be for this booking.
    let (_, foreign) = app.booking_with_intent().await;
    let mut claimed = succeeded(&foreign);
    claimed["metadata"]["booking_id"] = json!(booking_id);
    // An intent for a booking that does not exist.
    let mut orphan = succeeded(&intent);
    orphan["metadata"]["booking_id"] = json!(new_id());
    // No booking_id at all, and a type we do not handle.
    let mut bare = succeeded(&intent);
    bare["metadata"] = json!({});
    let cases = [
        event("payment_intent.succeeded", now(), &claimed),
        event("payment_intent.succeeded", now(), &orphan),
        event("payment_intent.succeeded", now(), &bare),
        event(
            "charge.succeeded",
            now(),
            &json!({"id": "ch_1", "object": "charge"}),
        ),
    ];
    for payload in cases {
        let resp = app.deliver(&payload, Some(app.sign_now(&payload))).await;
        assert_eq!(resp.status, 200, "{payload}");
        assert_eq!(resp.body["result"], "ignored", "{:?}", resp.body);
    }
    assert_eq!(app.booking(&booking_id).await["payment_status"], "pending");
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let app = spawn_app().await;
    let junk = "{not json";
    let resp = app.deliver(junk, Some(app.sign_now(junk))).await;
    assert_eq!(
        (resp.status, resp.body),
        (400, json!({"detail": "Malformed event"}))
    );

    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let resp = app.deliver(&huge, Some(app.sign_now(&huge))).await;
    assert_eq!(resp.status, 413, "{:?}", resp.body);
}

#[tokio::test]
async fn the_webhook_needs_no_api_key_but_only_accepts_post() {
    let app = spawn_app().await;
    let resp = app
        .send(app.client.get(app.url("/v1/payments/webhook")))
        .await;
    assert_eq!(resp.status, 405);
}

/// Issue 12: events delivered at the same moment, in any order, end where the same events
/// delivered one by one (in Stripe's order) end, also when they share a `created` second.
#[tokio::test]
async fn events_delivered_at_once_in_any_order_end_as_one_by_one() {
    let app = spawn_app().await;
    let t = now() - 100;
    let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 1, 0], [1, 2, 0]];
    for order in orders {
        let (booking_id, intent) = app.booking_with_intent().await;
        let mut failed = intent.clone();
        failed["last_payment_error"] = json!({"message": "Your card was declined."});
        let events = [
            event("payment_intent.requires_action", t, &intent),
            event("payment_intent.processing", t, &intent),
            event("payment_intent.payment_failed", t, &failed),
        ];
        let deliveries = order
            .iter()
            .map(|&i| app.deliver(&events[i], Some(app.sign_now(&events[i]))));
        for resp in futures::future::join_all(deliveries).await {
            assert_eq!(resp.status, 200, "{:?}", resp.body);
        }
        // One by one in Stripe's order: requires_action, processing, then failed.
        assert_eq!(
            app.booking(&booking_id).await["payment_status"],
            "failed",
            "order {order:?}"
        );
    }
}
