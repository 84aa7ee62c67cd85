//! Lambda entry point for `/v1/bookings...`: builds the store once, then serves requests.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};
use shared::dynamo::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let store = DynamoStore::from_env().await;
    let store = &store;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(shared::bookings::handle(store, req).await)
    }))
    .await
}
