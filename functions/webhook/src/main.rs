//! Lambda entry point for `POST /v1/payments/webhook` (API Gateway and the Function URL Stripe
//! calls): builds the store and the signing secrets once per instance, then hands every request
//! to `shared::http::webhook`. No Stripe client: the webhook makes no Stripe calls, so it holds
//! only the signing secrets (`STRIPE_WEBHOOK_SECRET_ARN`), never the API key.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::SigningSecrets;

// One thread: Lambda hands an instance one request at a time, and a multi-thread runtime
// only adds cross-thread wake-ups (about a third of the CPU per warm request, bench/README.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    // On Lambda the Stripe keys come from Secrets Manager only (README, Deploy).
    shared::runtime::config::refuse_plain_secrets_in_env()?;
    // The Stripe mode this deployment takes events from (STRIPE_LIVEMODE, set by stage).
    let livemode = shared::runtime::config::stripe_livemode_in_env()?;
    let aws = shared::runtime::config::aws_sdk_config().await;
    let store = DynamoStore::from_env(&aws);
    let secrets = SigningSecrets::from_env(&aws).with_livemode(livemode);
    let (store, secrets) = (&store, &secrets);
    run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(shared::http::webhook::handle(store, secrets, req).await)
    }))
    .await
}
