//! Cancelling a booking in every state its intent can be in at Stripe.

use chrono::Utc;

use crate::adapters::memory::Call;
use crate::app::bookings::cancel_booking;
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
            IntentStatus::Processing | IntentStatus::RequiresCapture => {
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
