//! One asset, one booking at a time: overlapping bookings conflict (also when they race, and
//! across days), adjacent and concurrent non-overlapping ones do not, and cancelling frees the
//! slot.

use crate::support::{booking, new_id, spawn_app};
use serde_json::json;

#[tokio::test]
async fn overlapping_bookings_of_one_asset_conflict_but_adjacent_ones_do_not() {
    let app = spawn_app().await;
    let asset = new_id();
    let user = new_id();
    let first = app
        .create_booking(&booking(
            &asset,
            &user,
            "2026-05-01T10:00:00Z",
            "2026-05-01T11:00:00Z",
        ))
        .await;
    assert_eq!(first.status, 201);

    for (start, end) in [
        ("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"),
        ("2026-05-01T09:00:00Z", "2026-05-01T10:00:00.001Z"),
        ("2026-05-01T10:59:59.999Z", "2026-05-01T12:00:00Z"),
        ("2026-05-01T10:15:00Z", "2026-05-01T10:30:00Z"),
        ("2026-04-30T12:00:00Z", "2026-05-02T12:00:00Z"),
        ("2026-05-01T12:00:00+02:00", "2026-05-01T12:30:00+02:00"),
    ] {
        let clash = app
            .create_booking(&booking(&asset, &new_id(), start, end))
            .await;
        assert_eq!(
            clash.status, 409,
            "{start}..{end} should clash: {:?}",
            clash.body
        );
        assert!(clash.body["detail"]
            .as_str()
            .unwrap()
            .contains("overlapping"));
    }
    for (start, end) in [
        ("2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z"),
        ("2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"),
    ] {
        let ok = app
            .create_booking(&booking(&asset, &user, start, end))
            .await;
        assert_eq!(ok.status, 201, "{start}..{end} is adjacent: {:?}", ok.body);
    }
    let other_asset = app
        .create_booking(&booking(
            &new_id(),
            &user,
            "2026-05-01T10:00:00Z",
            "2026-05-01T11:00:00Z",
        ))
        .await;
    assert_eq!(other_asset.status, 201);
    // Nothing the 409s tried to write is visible.
    assert_eq!(
        app.list(&user, "").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn a_multi_day_booking_blocks_every_day_it_touches() {
    let app = spawn_app().await;
    let asset = new_id();
    let long = app
        .create_booking(&booking(
            &asset,
            &new_id(),
            "2026-06-01T22:00:00Z",
            "2026-06-04T02:00:00Z",
        ))
        .await;
    assert_eq!(long.status, 201);
    for (start, end) in [
        ("2026-06-02T12:00:00Z", "2026-06-02T13:00:00Z"),
        ("2026-06-04T01:00:00Z", "2026-06-04T03:00:00Z"),
        ("2026-06-01T23:00:00Z", "2026-06-01T23:30:00Z"),
    ] {
        assert_eq!(
            app.create_booking(&booking(&asset, &new_id(), start, end))
                .await
                .status,
            409
        );
    }
    assert_eq!(
        app.create_booking(&booking(
            &asset,
            &new_id(),
            "2026-06-04T02:00:00Z",
            "2026-06-04T03:00:00Z"
        ))
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn twenty_concurrent_overlapping_bookings_yield_exactly_one_201() {
    let app = spawn_app().await;
    let asset = new_id();
    let user = new_id();
    // Each request overlaps all the others but none is identical.
    let requests = (0..20).map(|i| {
        let body = booking(
            &asset,
            &user,
            &format!("2026-07-01T10:{:02}:00Z", i),
            &format!("2026-07-01T11:{:02}:00Z", i),
        );
        let app = &app;
        async move { app.create_booking(&body).await }
    });
    let answers = futures::future::join_all(requests).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(
        (created, conflicts),
        (1, 19),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let stored = app.list(&user, "").await.body;
    assert_eq!(stored["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_non_overlapping_bookings_of_one_asset_all_succeed() {
    let app = spawn_app().await;
    let asset = new_id();
    let requests = (0..12).map(|i| {
        let body = booking(
            &asset,
            &new_id(),
            &format!("2026-07-02T{:02}:00:00Z", i),
            &format!("2026-07-02T{:02}:00:00Z", i + 1),
        );
        let app = &app;
        async move { app.create_booking(&body).await }
    });
    let answers = futures::future::join_all(requests).await;
    assert!(
        answers.iter().all(|a| a.status == 201),
        "{:?}",
        answers
            .iter()
            .map(|a| (a.status, a.body.clone()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn cancelling_frees_the_slot_and_is_idempotent() {
    let app = spawn_app().await;
    let asset = new_id();
    let body = booking(
        &asset,
        &new_id(),
        "2026-09-01T10:00:00Z",
        "2026-09-02T11:00:00Z",
    );
    let first = app.create_booking(&body).await;
    let id = first.body["id"].as_str().unwrap().to_string();
    assert_eq!(app.create_booking(&body).await.status, 409);

    let cancelled = app
        .post_json(&format!("/v1/bookings/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["cancelled_at"].is_string());
    let again = app
        .post_json(&format!("/v1/bookings/{id}/cancel"), &json!({}))
        .await;
    assert_eq!((again.status, &again.body), (200, &cancelled.body));
    assert_eq!(
        app.get(&format!("/v1/bookings/{id}")).await.body["status"],
        "cancelled"
    );

    let rebooked = app.create_booking(&body).await;
    assert_eq!(rebooked.status, 201, "{:?}", rebooked.body);
}

#[tokio::test]
async fn a_booking_shorter_than_five_minutes_is_a_400_naming_end_time() {
    let app = spawn_app().await;
    let asset = new_id();
    for end in ["2026-10-01T10:01:00Z", "2026-10-01T10:04:59.999Z"] {
        let short = app
            .create_booking(&booking(&asset, &new_id(), "2026-10-01T10:00:00Z", end))
            .await;
        assert_eq!(
            (short.status, short.body),
            (
                400,
                json!({"detail": "end_time must be at least 5 minutes after start_time"})
            ),
            "{end}"
        );
    }
    let five = app
        .create_booking(&booking(
            &asset,
            &new_id(),
            "2026-10-01T10:00:00Z",
            "2026-10-01T10:05:00Z",
        ))
        .await;
    assert_eq!(five.status, 201, "{:?}", five.body);
}

/// The most bookings one UTC day can hold from midnight to midnight (288 five-minute ones; a
/// 289th could only share the day across a midnight): the day item stays small (README), and
/// once the day is full, one more is a 409.
#[tokio::test]
async fn a_fully_booked_asset_day_takes_288_five_minute_bookings_then_one_more_is_a_409() {
    let app = spawn_app().await;
    let asset = new_id();
    let day = chrono::DateTime::parse_from_rfc3339("2026-10-02T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let at = |i: i64| {
        (day + chrono::Duration::minutes(5 * i)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    for i in 0..288 {
        let created = app
            .create_booking(&booking(&asset, &new_id(), &at(i), &at(i + 1)))
            .await;
        assert_eq!(created.status, 201, "booking {i}: {:?}", created.body);
    }
    let one_more = app
        .create_booking(&booking(
            &asset,
            &new_id(),
            "2026-10-02T12:01:00Z",
            "2026-10-02T12:06:00Z",
        ))
        .await;
    assert_eq!(one_more.status, 409, "{:?}", one_more.body);
    // The neighbouring days are untouched.
    let next_day = app
        .create_booking(&booking(&asset, &new_id(), &at(288), &at(289)))
        .await;
    assert_eq!(next_day.status, 201, "{:?}", next_day.body);
}
