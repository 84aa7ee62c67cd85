//! Lambda entry point for the scheduled reconciliation (EventBridge, every 10 minutes; one run
//! at a time by a lease in DynamoDB, not reserved concurrency): builds the clients once per
//! instance, then runs `shared::app::reconcile` for every scheduled event, within the
//! invocation's deadline. A failed run is the invocation's error, so Lambda's error metric and
//! on-failure handling see it; a run that finds the lease taken ends without error.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::StripeClient;
use shared::app::reconcile::Budget;

// The same runtime flavour as the other functions.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    // On Lambda the Stripe keys come from Secrets Manager only (README, Deploy).
    shared::runtime::config::refuse_plain_secrets_in_env()?;
    // A wrong policy stops the function at start-up (its error alarm), never a guess.
    let holds = shared::runtime::config::hold_settings(|name| std::env::var(name).ok())?;
    let rules = shared::runtime::config::hold_rules(|name| std::env::var(name).ok())?;
    let (holds, rules) = (&holds, &rules);
    let aws = shared::runtime::config::aws_sdk_config().await;
    let store = DynamoStore::from_env(&aws);
    let stripe = StripeClient::from_env(&aws);
    let (store, stripe) = (&store, &stripe);
    run(service_fn(
        move |scheduled: LambdaEvent<Value>| async move {
            // Stops before the invocation's deadline; the next run resumes where it stopped.
            let budget = Budget::from_lambda_deadline(scheduled.context.deadline);
            // The run logs its summary (and its error) itself. `None`: another run holds the
            // lease (logged at INFO), and this one ends without error.
            let summary = shared::app::reconcile::run(store, stripe, holds, rules, &budget).await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        },
    ))
    .await
}
