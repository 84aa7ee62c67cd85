//! Applying Stripe events: once, in any order, never moving a paid booking back.

use chrono::Utc;

use super::*;
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::domain::PaymentStatus;

#[tokio::test]
async fn events_apply_once_and_in_order() {
    let w = World::new();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    let apply = |e: IntentEventIn| {
        let store = w.store.clone();
        async move { apply_intent_event(&*store, &e, Utc::now()).await.unwrap() }
    };
    let action = event(id, &pi, IntentEvent::RequiresAction, 100);
    assert_eq!(
        apply(action.clone()).await,
        EventOutcome::Applied(PaymentStatus::RequiresAction)
    );
    assert_eq!(apply(action).await, EventOutcome::Duplicate);
    // An older event than the last applied one changes nothing.
    let failed = event(id, &pi, IntentEvent::PaymentFailed { reason: None }, 99);
    assert!(matches!(apply(failed).await, EventOutcome::Ignored(_)));
    let paid = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        50,
    );
    assert_eq!(
        apply(paid).await,
        EventOutcome::Applied(PaymentStatus::Completed)
    );
    let late = event(id, &pi, IntentEvent::Canceled, 200);
    assert!(matches!(apply(late).await, EventOutcome::Ignored(_)));
    let booking = w.get(id).await;
    assert_eq!(booking.payment_status, PaymentStatus::Completed);
    assert_eq!(booking.payment.unwrap().amount_received_minor, Some(350));
}

#[tokio::test]
async fn events_for_another_intent_or_booking_are_ignored() {
    let w = World::new();
    let id = w.booking();
    w.pay(id, "3.50").await.unwrap();
    let other = IntentId::parse("pi_other").unwrap();
    let e = event(id, &other, IntentEvent::Canceled, 1);
    assert_eq!(
        apply_intent_event(&*w.store, &e, Utc::now()).await.unwrap(),
        EventOutcome::Ignored("not the booking's current payment intent")
    );
    let e = event(BookingId::generate(), &other, IntentEvent::Canceled, 1);
    assert_eq!(
        apply_intent_event(&*w.store, &e, Utc::now()).await.unwrap(),
        EventOutcome::Ignored("unknown booking")
    );
}
