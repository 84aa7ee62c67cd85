//! Create-intent in every state Stripe can report, and against racers and webhook events that
//! land between its calls.

use chrono::Utc;

use super::*;
use crate::adapters::memory::{Call, When};
use crate::app::events::apply_intent_event;
use crate::domain::{IntentStatus, PaymentStatus};

fn conflict(result: Result<Intent, AppError>) -> String {
    match result {
        Err(AppError::Conflict(detail)) => detail,
        other => panic!("expected a 409, got {other:?}"),
    }
}

#[tokio::test]
async fn a_new_booking_gets_a_payable_intent_and_a_repeat_gets_the_same() {
    let w = World::new();
    let id = w.booking();
    let first = w.pay(id, "3.50").await.unwrap();
    assert!(w.payable_now(&first));
    assert!(first.client_secret.is_some());
    assert_eq!(w.get(id).await.intent_id(), Some(&first.id));
    let again = w.pay(id, "3.50").await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(w.stripe.calls(Call::Create), 1);
}

#[tokio::test]
async fn every_intent_state_same_amount() {
    for status in IntentStatus::KNOWN {
        let w = World::new();
        let id = w.booking();
        let first = w.pay(id, "3.50").await.unwrap();
        w.stripe.set_status(&first.id, status.clone());
        let result = w.pay(id, "3.50").await;
        let name = status.as_str();
        match status {
            IntentStatus::RequiresPaymentMethod
            | IntentStatus::RequiresConfirmation
            | IntentStatus::RequiresAction => {
                assert_eq!(result.unwrap().id, first.id, "{name}: the same intent");
            }
            IntentStatus::Canceled => {
                let new = result.unwrap();
                assert_ne!(new.id, first.id, "{name}: a new intent");
                assert!(w.payable_now(&new), "{name}");
                assert_eq!(w.get(id).await.intent_id(), Some(&new.id), "{name}");
            }
            IntentStatus::Processing => assert_eq!(
                conflict(result),
                "A payment for this booking is already processing"
            ),
            IntentStatus::Succeeded => assert_eq!(conflict(result), "Booking is already paid"),
            IntentStatus::RequiresCapture => assert_eq!(
                conflict(result),
                "Booking already has an authorized payment"
            ),
            IntentStatus::Unknown(_) => unreachable!(),
        }
    }
}

#[tokio::test]
async fn every_intent_state_new_amount() {
    for status in IntentStatus::KNOWN {
        let w = World::new();
        let id = w.booking();
        let first = w.pay(id, "3.50").await.unwrap();
        w.stripe.set_status(&first.id, status.clone());
        let result = w.pay(id, "4.50").await;
        let name = status.as_str();
        if status.is_payable() || status == IntentStatus::Canceled {
            let new = result.unwrap();
            assert_ne!(new.id, first.id, "{name}");
            assert_eq!(new.amount_minor, 450, "{name}");
            assert!(w.payable_now(&new), "{name}");
            // The old intent can no longer be paid: never two payable intents.
            let old = w.stripe.intent(&first.id).unwrap();
            assert_eq!(old.status, IntentStatus::Canceled, "{name}");
            assert_eq!(w.get(id).await.intent_id(), Some(&new.id), "{name}");
        } else {
            assert!(
                matches!(result, Err(AppError::Conflict(_))),
                "{name}: {result:?}"
            );
            assert_eq!(w.get(id).await.intent_id(), Some(&first.id), "{name}");
        }
    }
}

#[tokio::test]
async fn a_paid_or_cancelled_booking_is_refused_before_stripe() {
    let w = World::new();
    let id = w.booking();
    let mut booking = w.get(id).await;
    booking.payment_status = PaymentStatus::Completed;
    w.store.insert(booking.clone());
    assert_eq!(conflict(w.pay(id, "3.50").await), "Booking is already paid");
    booking.payment_status = PaymentStatus::Pending;
    booking.status = crate::domain::BookingStatus::Cancelled;
    w.store.insert(booking);
    assert_eq!(conflict(w.pay(id, "3.50").await), "Booking is cancelled");
    assert_eq!(w.stripe.calls(Call::Create), 0);
    let missing = BookingId::generate();
    assert_eq!(
        w.pay(missing, "3.50").await.unwrap_err(),
        AppError::BookingNotFound
    );
}

/// Registers a racer: another create-intent for the same booking that runs to completion
/// after Stripe created this call's intent and before this call writes the booking.
fn racer(
    w: &World,
    id: BookingId,
    amount: &'static str,
) -> std::sync::Arc<std::sync::Mutex<Option<Intent>>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (racer, slot) = (w.clone(), out.clone());
    w.stripe.on(
        Call::Create,
        When::After,
        Box::new(move || {
            Box::pin(async move {
                let intent = racer.pay(id, amount).await.unwrap();
                *slot.lock().unwrap() = Some(intent);
            })
        }),
    );
    out
}

#[tokio::test]
async fn a_racer_with_the_same_amount_that_attaches_first_shares_the_intent() {
    let w = World::new();
    let id = w.booking();
    let theirs = racer(&w, id, "3.50");
    let ours = w.pay(id, "3.50").await.unwrap();
    let theirs = theirs.lock().unwrap().clone().unwrap();
    // The same idempotency key: Stripe replays one intent to both.
    assert_eq!(ours.id, theirs.id);
    assert!(w.payable_now(&ours));
    assert_eq!(w.get(id).await.intent_id(), Some(&ours.id));
    assert_eq!(w.stripe.intents().len(), 1);
}

#[tokio::test]
async fn a_racer_with_another_amount_that_attaches_first_leaves_one_payable_intent() {
    let w = World::new();
    let id = w.booking();
    let _theirs = racer(&w, id, "4.50");
    let ours = w.pay(id, "3.50").await.unwrap();
    assert!(w.payable_now(&ours));
    assert_eq!(ours.amount_minor, 350);
    assert_eq!(w.get(id).await.intent_id(), Some(&ours.id));
    let payable: Vec<_> = w
        .stripe
        .intents()
        .into_iter()
        .filter(|i| i.status.is_payable())
        .collect();
    assert_eq!(payable.len(), 1, "{payable:?}");
}

/// Issue 12's first failure: the old intent's `payment_intent.canceled` event changes the
/// booking between Stripe's create and the conditional write.
#[tokio::test]
async fn a_webhook_event_between_stripes_create_and_the_booking_write() {
    let w = World::new();
    let id = w.booking();
    let old = w.pay(id, "3.50").await.unwrap();
    let delivery = w.clone();
    let old_id = old.id.clone();
    w.stripe.on(
        Call::Create,
        When::After,
        Box::new(move || {
            Box::pin(async move {
                let canceled = event(id, &old_id, IntentEvent::Canceled, Utc::now().timestamp());
                apply_intent_event(&*delivery.store, &canceled, Utc::now())
                    .await
                    .unwrap();
            })
        }),
    );
    let new = w.pay(id, "4.50").await.unwrap();
    assert!(
        w.payable_now(&new),
        "the driver was given a cancelled intent"
    );
    assert_eq!(w.get(id).await.intent_id(), Some(&new.id));
}

/// Stripe replays the saved answer for a key even when the intent was cancelled since (by a
/// release whose write lost, or in the Dashboard): the answer must still be an intent the
/// driver can pay.
#[tokio::test]
async fn an_idempotent_replay_of_an_intent_cancelled_since() {
    let w = World::new();
    let id = w.booking();
    let old = w.pay(id, "3.50").await.unwrap();
    w.stripe.set_status(&old.id, IntentStatus::Canceled);
    // Stripe already holds an answer for the key the next create will use, for an intent that
    // was cancelled after that answer was saved.
    let auto = crate::domain::CaptureMethod::Automatic;
    let key = crate::app::keys::intent_key(id, Some(&old.id), &usd("4.50"), auto);
    let new = crate::ports::NewIntent {
        amount: usd("4.50"),
        booking_id: id,
        capture_method: auto,
        receipt_email: None,
    };
    let saved = crate::ports::PaymentProvider::create_intent(&*w.stripe, &new, &key)
        .await
        .unwrap();
    w.stripe.set_status(&saved.id, IntentStatus::Canceled);
    let handed_out = w.pay(id, "4.50").await.unwrap();
    assert!(
        w.payable_now(&handed_out),
        "handed out {} (canceled)",
        handed_out.id
    );
}

/// Issue 12: Stripe answers 409 `idempotency_key_in_use` to a request whose key's first request
/// is still running. That is ours to wait out, never the client's error.
#[tokio::test]
async fn a_racer_that_meets_the_key_in_use_waits_for_the_first_answer() {
    let w = World::new();
    let id = w.booking();
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (racer, slot) = (w.clone(), out.clone());
    w.stripe.on(
        Call::Create,
        When::During,
        Box::new(move || {
            Box::pin(async move {
                let task = tokio::spawn(async move { racer.pay(id, "3.50").await });
                // Let the racer reach Stripe while this request still holds the key.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                *slot.lock().unwrap() = Some(task);
            })
        }),
    );
    let ours = w.pay(id, "3.50").await.unwrap();
    let task = out.lock().unwrap().take().unwrap();
    let theirs = task.await.unwrap().unwrap();
    assert_eq!(theirs.id, ours.id);
    assert!(
        w.stripe.calls(Call::Create) >= 2,
        "the racer met the key in use"
    );
    assert_eq!(w.stripe.intents().len(), 1);
}
