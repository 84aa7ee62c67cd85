//! Lambda entry point for `POST /v1/payments/create-intent`: builds the clients once per instance, then hands every
//! request to `shared::http::create_intent`.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::StripeClient;

// One thread: Lambda hands an instance one request at a time, and a multi-thread runtime
// only adds cross-thread wake-ups (about a third of the CPU per warm request, bench/README.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    // On Lambda the Stripe keys come from Secrets Manager only (README, Deploy).
    shared::runtime::config::refuse_plain_secrets_in_env()?;
    let aws = shared::runtime::config::aws_sdk_config().await;
    let store = DynamoStore::from_env(&aws);
    let stripe = StripeClient::from_env(&aws);
    let (store, stripe) = (&store, &stripe);
    run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(shared::http::create_intent::handle(store, stripe, req).await)
    }))
    .await
}
