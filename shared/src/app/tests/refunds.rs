//! Money after the payment: refunds made elsewhere, refunds that fail later, disputes, and the
//! refund a cancellation makes.

use chrono::Utc;

use super::uc::cancel_booking;
use super::*;
use crate::adapters::memory::Call;
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::refunds::apply_money_event;
use crate::domain::{IntentStatus, MoneyEvent, PaymentStatus, RefundStatus};
use crate::ports::MoneyEventIn;

/// A booking paid with 3.50 through its intent, whose charge is `ch_1`.
pub(super) async fn paid(w: &World) -> (BookingId, IntentId) {
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
        reason: None,
        created: None,
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

/// Issue 12: money taken for a booking that was cancelled meanwhile (the driver paid while the
/// cancel was on its way) is refunded automatically, once: the webhook records it as owed (it
/// makes no Stripe calls) and the next API call that touches the booking carries it out.
#[tokio::test]
async fn a_payment_for_a_cancelled_booking_is_refunded_automatically_once() {
    let w = World::new();
    let id = w.booking();
    let pi = w.pay(id, "3.50").await.unwrap().id;
    // Cancelled at Stripe and here; then Stripe reports the payment that raced the cancel.
    cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let success = event(
        id,
        &pi,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        500,
    );
    let outcome = apply_intent_event(&*w.store, &success, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, EventOutcome::Applied(PaymentStatus::Completed));
    assert_eq!(
        w.stripe.calls(Call::Refund),
        0,
        "the webhook calls no Stripe API"
    );
    let b = w.get(id).await;
    assert_eq!(b.payment.as_ref().unwrap().refunds_owed, vec![pi.clone()]);

    // The next call that touches the booking refunds it.
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Refunded);
    let p = b.payment.unwrap();
    assert!(p.refunds_owed.is_empty());
    assert_eq!(p.after.refund_status, Some(RefundStatus::Succeeded));
    assert_eq!(p.after.amount_refunded_minor, 350);
    cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(w.stripe.calls(Call::Refund), 1);
    // A redelivery of the success owes nothing new.
    let again = apply_intent_event(&*w.store, &success, Utc::now())
        .await
        .unwrap();
    assert_eq!(again, EventOutcome::Duplicate);
}

/// A success on an intent the booking no longer uses (replaced by a new amount) is refunded
/// the same way; the booking itself is unchanged.
#[tokio::test]
async fn a_payment_on_a_replaced_intent_is_refunded_and_the_booking_is_unchanged() {
    let w = World::new();
    let id = w.booking();
    let old = w.pay(id, "3.50").await.unwrap().id;
    let new = w.pay(id, "4.50").await.unwrap().id;
    w.stripe.set_status(&old, IntentStatus::Succeeded);
    let success = event(
        id,
        &old,
        IntentEvent::Succeeded {
            amount_received: Some(350),
        },
        500,
    );
    let outcome = apply_intent_event(&*w.store, &success, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, EventOutcome::RefundOwed);
    let before = w.get(id).await;
    assert_eq!(before.payment_status, PaymentStatus::Pending);
    assert_eq!(before.intent_id(), Some(&new));

    // The next create-intent carries the refund out and still answers the booking's intent.
    let again = w.pay(id, "4.50").await.unwrap();
    assert_eq!(again.id, new);
    assert_eq!(w.stripe.calls(Call::Refund), 1);
    let after = w.get(id).await;
    assert_eq!(after.payment_status, PaymentStatus::Pending);
    assert!(after.payment.unwrap().refunds_owed.is_empty());
}

/// A refund of an intent the booking no longer uses (the automatic refund of a replaced
/// intent's payment) is not the booking's money: its events leave the booking as it is.
#[tokio::test]
async fn refund_events_of_a_replaced_intent_leave_the_booking_alone() {
    let w = World::new();
    let id = w.booking();
    let old = w.pay(id, "3.50").await.unwrap().id;
    w.pay(id, "4.50").await.unwrap();
    let mut e = money(
        "evt_old_refund",
        "charge.refunded",
        MoneyEvent::ChargeRefunded {
            amount_refunded: 350,
        },
        200,
    );
    e.intent_id = Some(old);
    e.charge_id = Some("ch_old".into());
    assert!(matches!(apply(&w, &e).await, EventOutcome::Ignored(_)));
    let b = w.get(id).await;
    assert_eq!(b.payment_status, PaymentStatus::Pending);
    assert_eq!(b.payment.unwrap().after.amount_refunded_minor, 0);
}
