//! Deadlines: a slow Stripe or a stalled DynamoDB still ends in the function's own answer
//! (`{"detail": ...}`) before its Lambda timeout.

use super::*;

/// template.yaml gives create-intent a 15 s Lambda timeout "so one slow Stripe call ends in
/// the code's own clean 502 rather than a Lambda timeout". But replacing an intent makes three
/// Stripe calls in a row (retrieve, cancel, create), each allowed 3 x 4 s plus backoff, with
/// no deadline across them. A Stripe that times out once on each of the first two and twice
/// on the create keeps the function busy ~19 s: on Lambda it is killed at 15 s (API Gateway
/// answers 502 `{"message": "Internal server error"}`, not `{"detail": ...}`), mid-way between
/// cancelling the old intent and attaching the new one.
#[tokio::test]
async fn create_intent_under_a_slow_stripe_answers_within_its_lambda_timeout() {
    let rig = rig().await;
    let booking_id = rig.app.new_booking().await;
    let first = rig.create_intent(&booking_id, json!(3.50)).await;
    let pi = pi_of(&first);
    rig.stripe
        .fail_next(super::retrieve_of(&pi), [Fault::Stall(STALL)]);
    rig.stripe.fail_next(cancel_of(&pi), [Fault::Stall(STALL)]);
    rig.stripe.fail_next(
        creates_for(&booking_id),
        [Fault::Stall(STALL), Fault::Stall(STALL)],
    );
    let started = std::time::Instant::now();
    let answer = rig.create_intent(&booking_id, json!(4.50)).await;
    let took = started.elapsed();
    assert!(
        answer.status == 200 || answer.body["detail"].is_string(),
        "{:?}",
        answer.body
    );
    assert!(
        took < Duration::from_secs(15),
        "answered {} after {took:?}; the Lambda would have been killed at 15 s",
        answer.status
    );
}

/// The DynamoDB client has no operation or read timeout (the SDK's defaults: only a 3.1 s
/// connect timeout), so a DynamoDB connection that stops answering holds the function until
/// Lambda kills it (API Gateway then answers without a `{"detail": ...}`), instead of the
/// documented 503.
#[tokio::test]
async fn a_stalled_dynamodb_is_a_503_before_the_lambda_timeout() {
    let rig = rig().await;
    let id = rig.app.new_booking().await;
    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::Stall(Duration::from_secs(60)));
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        rig.app.get(&format!("/v1/bookings/{id}")),
    )
    .await
    .expect("no answer within 10 s (the webhook's Lambda timeout; bookings has 15 s)");
    assert_unavailable(&answer);
}
