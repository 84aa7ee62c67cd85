//! The fakes hold to the rules they claim: Stripe's idempotency, and the store's conditions.

use std::sync::Arc;

use chrono::Duration;

use super::*;
use crate::domain::money::currency;
use crate::domain::{BookingId, IntentId, IntentStatus, Money};
use crate::ports::{Intent, NewIntent, PaymentProvider, ProviderError};

fn new_intent(amount: &str) -> NewIntent {
    NewIntent {
        amount: Money::parse(amount, currency("usd").unwrap()).unwrap(),
        booking_id: BookingId::parse("id", "6db74bfd-bfba-47a9-86e5-2304af3a6e40").unwrap(),
        capture_method: crate::domain::CaptureMethod::Automatic,
        receipt_email: None,
    }
}

fn code(err: &ProviderError) -> (u16, &str) {
    match err {
        ProviderError::Rejected { status, code, .. } => (*status, code.as_deref().unwrap_or("")),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_key_replays_its_first_result_as_it_was_then() {
    let stripe = FakeStripe::new();
    let first = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    stripe.cancel_intent(&first.id, "c").await.unwrap();
    let replay = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    assert!(replay.replayed && !first.replayed);
    let replay = Intent {
        replayed: false,
        ..replay
    };
    assert_eq!(
        replay, first,
        "the saved answer, not the intent as it is now"
    );
    assert_eq!(
        stripe.intent(&first.id).unwrap().status,
        IntentStatus::Canceled
    );
    assert_eq!(stripe.intents().len(), 1);
}

#[tokio::test]
async fn other_parameters_or_another_endpoint_with_a_key_are_400() {
    let stripe = FakeStripe::new();
    let pi = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    let err = stripe
        .create_intent(&new_intent("4.50"), "k")
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::KeyReused);
    let err = stripe.cancel_intent(&pi.id, "k").await.unwrap_err();
    assert_eq!(err, ProviderError::KeyReused);
}

#[tokio::test]
async fn a_key_in_use_is_409_and_not_saved() {
    let stripe = Arc::new(FakeStripe::new());
    let inner = stripe.clone();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in = seen.clone();
    stripe.on(
        Call::Create,
        When::During,
        Box::new(move || {
            Box::pin(async move {
                let err = inner
                    .create_intent(&new_intent("3.50"), "k")
                    .await
                    .unwrap_err();
                *seen_in.lock().unwrap() = Some(err);
            })
        }),
    );
    let first = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(ProviderError::KeyInUse));
    // The 409 saved nothing: the key still replays the first request's intent.
    let again = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
}

#[tokio::test]
async fn errors_from_an_executing_request_are_saved_but_not_5xx() {
    let stripe = FakeStripe::new();
    stripe.fail_next(Call::Create, ProviderError::Unavailable("503".into()));
    assert!(stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .is_err());
    let pi = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();

    // Cancelling a cancelled intent began executing: its 400 is saved under the key.
    stripe.cancel_intent(&pi.id, "c1").await.unwrap();
    let err = stripe.cancel_intent(&pi.id, "c2").await.unwrap_err();
    assert_eq!(code(&err), (400, "payment_intent_unexpected_state"));
    assert_eq!(
        code(&stripe.cancel_intent(&pi.id, "c2").await.unwrap_err()),
        (400, "payment_intent_unexpected_state")
    );
}

#[tokio::test]
async fn keys_are_forgotten_after_24_hours() {
    let stripe = FakeStripe::new();
    let first = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    stripe.advance(Duration::hours(23));
    assert_eq!(
        stripe
            .create_intent(&new_intent("3.50"), "k")
            .await
            .unwrap()
            .id,
        first.id
    );
    stripe.advance(Duration::hours(2));
    let later = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    assert_ne!(later.id, first.id);
}

#[tokio::test]
async fn only_a_succeeded_intent_is_refunded_and_only_once() {
    let stripe = FakeStripe::new();
    let pi = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    let err = stripe.refund_intent(&pi.id, None, "r1").await.unwrap_err();
    assert_eq!(code(&err).0, 400);
    stripe.set_status(&pi.id, IntentStatus::Succeeded);
    let refund = stripe.refund_intent(&pi.id, None, "r2").await.unwrap();
    assert_eq!(
        stripe.refund_intent(&pi.id, None, "r2").await.unwrap(),
        refund
    );
    let err = stripe.refund_intent(&pi.id, None, "r3").await.unwrap_err();
    assert_eq!(code(&err), (400, "charge_already_refunded"));
    let missing = IntentId::parse("pi_missing").unwrap();
    assert_eq!(
        code(&stripe.retrieve_intent(&missing).await.unwrap_err()).0,
        404
    );
}

/// Partial refunds, as Stripe makes them: each for at most what is still unrefunded, the
/// same key replaying the first, and one without an amount refunding what is left.
#[tokio::test]
async fn partial_refunds_never_exceed_what_was_received() {
    let stripe = FakeStripe::new();
    let pi = stripe
        .create_intent(&new_intent("3.50"), "k")
        .await
        .unwrap();
    stripe.set_status(&pi.id, IntentStatus::Succeeded);
    let first = stripe.refund_intent(&pi.id, Some(100), "p1").await.unwrap();
    assert_eq!(first.amount, Some(100));
    assert_eq!(
        stripe.refund_intent(&pi.id, Some(100), "p1").await.unwrap(),
        first,
        "the same key replays the first refund"
    );
    let err = stripe
        .refund_intent(&pi.id, Some(251), "p2")
        .await
        .unwrap_err();
    assert_eq!(code(&err).0, 400, "{err}: 250 are left");
    let rest = stripe.refund_intent(&pi.id, None, "p3").await.unwrap();
    assert_eq!(rest.amount, Some(250));
    let err = stripe
        .refund_intent(&pi.id, Some(1), "p4")
        .await
        .unwrap_err();
    assert_eq!(code(&err), (400, "charge_already_refunded"));
}
