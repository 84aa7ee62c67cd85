use crate::support::{booking, example_booking, new_id, spawn_app_with};
use local_stack::Dynamo;

#[tokio::test]
async fn bookings_survive_a_restart_of_the_local_stack() {
    let dir = std::env::temp_dir().join(format!("local-stack-{}", new_id()));
    let db = dir.join("dynamodb.sqlite");
    let app = spawn_app_with(Dynamo::File(db.clone())).await;
    let asset = new_id();
    let created = app
        .create_booking(&example_booking(&asset, &new_id()))
        .await;
    assert_eq!(created.status, 201);
    drop(app);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let app = spawn_app_with(Dynamo::File(db)).await;
    let id = created.body["id"].as_str().unwrap();
    let fetched = app.get(&format!("/v1/bookings/{id}")).await;
    assert_eq!((fetched.status, &fetched.body), (200, &created.body));
    // The slot is still held after the restart.
    let clash = app
        .create_booking(&booking(
            &asset,
            &new_id(),
            "2026-02-05T23:10:00Z",
            "2026-02-05T23:20:00Z",
        ))
        .await;
    assert_eq!(clash.status, 409);
    let _ = std::fs::remove_dir_all(dir);
}
