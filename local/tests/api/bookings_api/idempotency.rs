//! `Idempotency-Key` on `POST /v1/bookings`: a retry gets the first answer, a different body
//! under the same key is refused, and concurrent retries create one booking.

use crate::support::{booking, new_id, spawn_app};
use serde_json::json;

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_and_refuses_a_different_body() {
    let app = spawn_app().await;
    let user = new_id();
    let body = booking(
        &new_id(),
        &user,
        "2026-10-01T10:00:00Z",
        "2026-10-01T11:00:00Z",
    );
    let first = app.create_booking_with_key(&body, Some("key-1")).await;
    assert_eq!(first.status, 201);
    // Same request, re-ordered and with an equivalent offset: still the same request.
    let same = json!({
        "end_time": "2026-10-01T13:00:00+02:00",
        "start_time": "2026-10-01T10:00:00Z",
        "user_id": body["user_id"], "asset_type": "charging_station", "asset_id": body["asset_id"],
    });
    let replay = app.create_booking_with_key(&same, Some("key-1")).await;
    assert_eq!((replay.status, &replay.body), (201, &first.body));
    assert_eq!(replay.headers.get("idempotent-replayed").unwrap(), "true");

    let mut other = body.clone();
    other["end_time"] = json!("2026-10-01T12:00:00Z");
    let mismatch = app.create_booking_with_key(&other, Some("key-1")).await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body["detail"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));

    let bad_key = app.create_booking_with_key(&body, Some("")).await;
    assert_eq!(bad_key.status, 400);
    assert_eq!(
        app.list(&user, "").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_create_one_booking() {
    let app = spawn_app().await;
    let user = new_id();
    let body = booking(
        &new_id(),
        &user,
        "2026-10-02T10:00:00Z",
        "2026-10-02T11:00:00Z",
    );
    let requests = (0..10).map(|_| app.create_booking_with_key(&body, Some("retry-me")));
    let answers = futures::future::join_all(requests).await;
    assert!(
        answers.iter().all(|a| a.status == 201),
        "{:?}",
        answers
            .iter()
            .map(|a| (a.status, a.body.clone()))
            .collect::<Vec<_>>()
    );
    let first_id = &answers[0].body["id"];
    assert!(answers.iter().all(|a| &a.body["id"] == first_id));
    assert_eq!(
        app.list(&user, "").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
