//! Cancelling a booking in every state its intent can be in at Stripe.

use chrono::Utc;

use super::uc::cancel_booking;
use crate::adapters::memory::Call;
use crate::domain::{BookingStatus, IntentStatus, PaymentStatus};

use super::*;

#[tokio::test]
async fn cancel_in_every_intent_state() {
    for status in IntentStatus::KNOWN {
        let w = World::new();
        let id = w.booking();
        let pi = w.pay(id, "3.50").await.unwrap();
        w.stripe.set_status(&pi.id, status.clone());
        let result = cancel_booking(&*w.store, &*w.stripe, id, Utc::now).await;
        let name = status.as_str();
        let after = w.stripe.intent(&pi.id).unwrap().status;
        match status {
            IntentStatus::RequiresPaymentMethod
            | IntentStatus::RequiresConfirmation
            | IntentStatus::RequiresAction
            // An authorized hold is released.
            | IntentStatus::RequiresCapture
            | IntentStatus::Canceled => {
                let b = result.unwrap();
                assert_eq!(b.status, BookingStatus::Cancelled, "{name}");
                assert_eq!(b.payment_status, PaymentStatus::Canceled, "{name}");
                assert_eq!(after, IntentStatus::Canceled, "{name}: no longer payable");
            }
            IntentStatus::Succeeded => {
                let b = result.unwrap();
                assert_eq!(b.payment_status, PaymentStatus::Refunded, "{name}");
                assert!(b.payment.unwrap().refund_id.is_some(), "{name}");
                assert_eq!(w.stripe.calls(Call::Refund), 1);
            }
            IntentStatus::Processing => {
                assert!(
                    matches!(result, Err(AppError::Conflict(_))),
                    "{name}: {result:?}"
                );
                assert_eq!(w.get(id).await.status, BookingStatus::Confirmed, "{name}");
            }
            IntentStatus::Unknown(_) => unreachable!(),
        }
        // Cancelling again answers the cancelled booking and asks Stripe nothing more.
        if w.get(id).await.status == BookingStatus::Cancelled {
            let calls = w.stripe.calls(Call::Cancel) + w.stripe.calls(Call::Refund);
            let again = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
                .await
                .unwrap();
            assert_eq!(again.status, BookingStatus::Cancelled);
            assert_eq!(
                w.stripe.calls(Call::Cancel) + w.stripe.calls(Call::Refund),
                calls
            );
        }
    }
}

#[tokio::test]
async fn a_booking_without_an_intent_cancels_without_stripe() {
    let w = World::new();
    let id = w.booking();
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::Pending);
    assert_eq!(w.stripe.calls(Call::Retrieve), 0);
}

/// Issue 12: an answer Stripe replays for a fixed key must never lock a booking. A cancel that
/// met the intent mid-payment is refused (and Stripe saves that refusal under its key); once
/// the payment failed and the intent is payable again, cancelling must still work.
#[tokio::test]
async fn a_refused_cancel_saved_under_its_key_does_not_lock_the_booking() {
    let w = World::new();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    let stripe = w.stripe.clone();
    let paying = pi.clone();
    w.stripe.on(
        Call::Cancel,
        crate::adapters::memory::When::Before,
        Box::new(move || {
            Box::pin(async move { stripe.set_status(&paying, IntentStatus::Processing) })
        }),
    );
    let first = cancel_booking(&*w.store, &*w.stripe, id, Utc::now).await;
    assert!(matches!(first, Err(AppError::Conflict(_))), "{first:?}");
    // The bank declined: the intent is payable again.
    w.stripe
        .set_status(&pi, IntentStatus::RequiresPaymentMethod);
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
}

/// A payment refunded elsewhere (the Dashboard) before the booking is cancelled: Stripe
/// refuses a second refund, and the booking is cancelled as refunded, not stuck.
#[tokio::test]
async fn cancelling_a_booking_refunded_elsewhere_does_not_lock_it() {
    let w = World::new();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    crate::ports::PaymentProvider::refund_intent(&*w.stripe, &pi, None, "dashboard-refund")
        .await
        .unwrap();
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::Refunded);
}
