//! Money after the payment: refunds made elsewhere, refunds that fail later, disputes, and the
//! refund a cancellation makes.

use chrono::Utc;

use super::*;
use crate::app::bookings::cancel_booking;
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::refunds::apply_money_event;
use crate::domain::{IntentStatus, MoneyEvent, PaymentStatus, RefundStatus};
use crate::ports::MoneyEventIn;

/// A booking paid with 3.50 through its intent, whose charge is `ch_1`.
async fn paid(w: &World) -> (BookingId, IntentId) {
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let mut success = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        100,
    );
    success.charge_id = Some("ch_1".into());
    let outcome = apply_intent_event(&*w.store, &success, Utc::now()).await;
    assert_eq!(outcome, Ok(EventOutcome::Applied(PaymentStatus::Completed)));
    (id, pi)
}

fn money(id: &str, kind: &str, change: MoneyEvent, created: i64) -> MoneyEventIn {
    MoneyEventIn {
        event_id: id.into(),
        created,
        event_type: kind.into(),
        intent_id: None,
        charge_id: Some("ch_1".into()),
        change,
    }
}

async fn apply(w: &World, e: &MoneyEventIn) -> EventOutcome {
    apply_money_event(&*w.store, e, Utc::now()).await.unwrap()
}

#[tokio::test]
async fn dashboard_refunds_partial_then_full_are_shown() {
    let w = World::new();
    let (id, _) = paid(&w).await;
    let partial = money(
        "evt_r1",
        "charge.refunded",
        MoneyEvent::ChargeRefunded {
            amount_refunded: 100,
        },
        200,
    );
    assert_eq!(
        apply(&w, &partial).await,
        EventOutcome::Applied(PaymentStatus::PartiallyRefunded)
    );
    assert_eq!(apply(&w, &partial).await, EventOutcome::Duplicate);
    let b = w.get(id).await;
    assert_eq!(b.payment.unwrap().after.amount_refunded_minor, 100);
    // Partly refunded still counts as paid.
    assert!(
        matches!(w.pay(id, "3.50").await, Err(AppError::Conflict(d)) if d == "Booking is already paid")
    );
    let full = money(
        "evt_r2",
        "charge.refunded",
        MoneyEvent::ChargeRefunded {
            amount_refunded: 350,
        },
        300,
    );
    assert_eq!(
        apply(&w, &full).await,
        EventOutcome::Applied(PaymentStatus::Refunded)
    );
}

#[tokio::test]
async fn a_refund_that_fails_later_moves_the_booking_back_to_completed() {
    let w = World::new();
    let (id, _) = paid(&w).await;
    let full = MoneyEvent::ChargeRefunded {
        amount_refunded: 350,
    };
    apply(&w, &money("evt_1", "charge.refunded", full, 200)).await;
    let failed = MoneyEvent::RefundUpdated {
        refund_id: "re_1".into(),
        amount: 350,
        status: RefundStatus::Failed,
    };
    assert_eq!(
        apply(&w, &money("evt_2", "charge.refund.updated", failed, 300)).await,
        EventOutcome::Applied(PaymentStatus::Completed)
    );
    let p = w.get(id).await.payment.unwrap();
    assert_eq!(p.after.amount_refunded_minor, 0);
    assert_eq!(p.after.refund_status, Some(RefundStatus::Failed));
}

#[tokio::test]
async fn disputes_are_shown_beside_the_payment_status() {
    let w = World::new();
    let (id, _) = paid(&w).await;
    let opened = MoneyEvent::Dispute {
        status: "needs_response".into(),
        reason: Some("fraudulent".into()),
    };
    apply(&w, &money("evt_d1", "charge.dispute.created", opened, 200)).await;
    let b = w.get(id).await;
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    let after = b.payment.unwrap().after;
    assert_eq!(after.dispute_status.as_deref(), Some("needs_response"));
    assert_eq!(after.dispute_reason.as_deref(), Some("fraudulent"));
}

#[tokio::test]
async fn a_charge_we_do_not_know_is_ignored() {
    let w = World::new();
    paid(&w).await;
    let mut e = money(
        "evt_x",
        "charge.refunded",
        MoneyEvent::ChargeRefunded {
            amount_refunded: 350,
        },
        200,
    );
    e.charge_id = Some("ch_other".into());
    assert!(matches!(apply(&w, &e).await, EventOutcome::Ignored(_)));
}

#[tokio::test]
async fn cancelling_a_paid_booking_shows_the_refund_stripe_returned() {
    let w = World::new();
    let (id, _) = paid(&w).await;
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Refunded);
    let p = b.payment.unwrap();
    assert_eq!(p.after.refund_status, Some(RefundStatus::Succeeded));
    assert_eq!(p.after.amount_refunded_minor, 350);

    // A refund Stripe has not finished: shown pending, and the money not yet back.
    let w = World::new();
    let (id, _) = paid(&w).await;
    w.stripe.next_refund_status(RefundStatus::Pending);
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    let p = b.payment.unwrap();
    assert_eq!(p.after.refund_status, Some(RefundStatus::Pending));
    assert_eq!(p.after.amount_refunded_minor, 0);
}
