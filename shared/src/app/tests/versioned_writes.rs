//! Issue 20, item 4: a booking write never drops what another write recorded between its read
//! and its write. The cancel write and the create-intent attach are conditional on the
//! booking's version, and the attach keeps what the booking owes.

use chrono::Utc;

use super::uc::cancel_booking;
use super::*;
use crate::adapters::memory::{Call, When};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::refunds::apply_money_event;
use crate::domain::{BookingStatus, IntentStatus, MoneyEvent, PaymentStatus};
use crate::ports::MoneyEventIn;

fn dispute_opened() -> MoneyEventIn {
    MoneyEventIn {
        event_id: "evt_dispute".into(),
        created: 200,
        event_type: "charge.dispute.created".into(),
        intent_id: None,
        charge_id: Some("ch_1".into()),
        change: MoneyEvent::Dispute {
            status: "needs_response".into(),
            reason: Some("fraudulent".into()),
        },
    }
}

/// A dispute opens while the cancel's refund is at Stripe: the cancel's write, made from the
/// booking as read before, must not erase it.
#[tokio::test]
async fn a_dispute_recorded_while_a_cancel_refunds_is_kept() {
    let w = World::new();
    let (id, pi) = super::refunds::paid(&w).await;
    let webhook = w.clone();
    w.stripe.on(
        Call::Refund,
        When::During,
        Box::new(move || {
            Box::pin(async move {
                let outcome = apply_money_event(&*webhook.store, &dispute_opened(), Utc::now())
                    .await
                    .unwrap();
                assert_eq!(outcome, EventOutcome::Applied(PaymentStatus::Completed));
            })
        }),
    );
    let cancelled = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    assert_eq!(cancelled.payment_status, PaymentStatus::Refunded);
    let after = cancelled.payment.unwrap().after;
    assert_eq!(after.dispute_status.as_deref(), Some("needs_response"));
    assert_eq!(after.dispute_reason.as_deref(), Some("fraudulent"));
    assert!(w.stripe.intent(&pi).is_some());
}

/// The driver paid an intent the booking had replaced; the webhook records it as owed back
/// while a new create-intent is creating its intent at Stripe. The attach must not erase the
/// debt: the money goes back to the driver.
#[tokio::test]
async fn an_owed_refund_recorded_while_create_intent_attaches_is_kept() {
    let w = World::new();
    let id = w.booking();
    let first = w.pay(id, "3.50").await.unwrap().id;
    let second = w.pay(id, "4.00").await.unwrap().id;
    assert_ne!(first, second);
    // The driver's confirmation of the first intent won at Stripe all the same.
    w.stripe.set_status(&first, IntentStatus::Succeeded);
    let webhook = w.clone();
    let owed = first.clone();
    w.stripe.on(
        Call::Create,
        When::During,
        Box::new(move || {
            Box::pin(async move {
                let paid = event(
                    id,
                    &owed,
                    IntentEvent::Succeeded {
                        amount_received: Some(350),
                    },
                    300,
                );
                let outcome = apply_intent_event(&*webhook.store, &paid, Utc::now())
                    .await
                    .unwrap();
                assert_eq!(outcome, EventOutcome::RefundOwed);
            })
        }),
    );
    let third = w.pay(id, "4.50").await.unwrap();
    let b = w.get(id).await;
    assert_eq!(b.intent_id(), Some(&third.id));
    let owed_now = b.payment.unwrap().refunds_owed;
    let refunded = w.stripe.calls(Call::Refund);
    assert!(
        owed_now.contains(&first) || refunded == 1,
        "the debt is recorded ({owed_now:?}) or paid ({refunded} refunds)"
    );
    // Whatever touches the booking next gives it back, once.
    cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(w.stripe.calls(Call::Refund), 1);
    assert!(w.get(id).await.payment.unwrap().refunds_owed.is_empty());
}

/// A dispute opened on an intent the booking replaced (the driver paid it anyway) is not the
/// booking's payment, but it is not ignored: the booking shows it, once, and its status moves
/// nothing; a failed refund of that intent is kept the same way.
#[tokio::test]
async fn a_dispute_or_failed_refund_on_another_intent_is_recorded_on_the_booking() {
    use crate::domain::other_intents::IssueKind;
    let w = World::new();
    let id = w.booking();
    let first = w.pay(id, "3.50").await.unwrap().id;
    w.pay(id, "4.00").await.unwrap();
    let before = w.get(id).await;
    let on_first = |event_id: &str, change: MoneyEvent, created: i64| MoneyEventIn {
        event_id: event_id.into(),
        created,
        event_type: "charge.dispute.created".into(),
        intent_id: Some(first.clone()),
        charge_id: Some("ch_other".into()),
        change,
    };
    let opened = on_first(
        "evt_d1",
        MoneyEvent::Dispute {
            status: "needs_response".into(),
            reason: Some("fraudulent".into()),
        },
        100,
    );
    let outcome = apply_money_event(&*w.store, &opened, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, EventOutcome::Applied(before.payment_status));
    assert_eq!(
        apply_money_event(&*w.store, &opened, Utc::now())
            .await
            .unwrap(),
        EventOutcome::Duplicate
    );
    let failed = on_first(
        "evt_r1",
        MoneyEvent::RefundUpdated {
            refund_id: "re_9".into(),
            amount: 350,
            status: crate::domain::RefundStatus::Failed,
            reason: None,
            created: None,
        },
        110,
    );
    apply_money_event(&*w.store, &failed, Utc::now())
        .await
        .unwrap();
    let b = w.get(id).await;
    assert_eq!(b.payment_status, before.payment_status);
    let issues = b.payment.unwrap().other_intents;
    assert_eq!(issues.len(), 2, "{issues:?}");
    assert_eq!(issues[0].intent_id, first);
    assert_eq!(issues[0].kind, IssueKind::Dispute);
    assert_eq!(issues[1].kind, IssueKind::RefundFailed);
    // A new intent keeps them (they are the booking's).
    w.pay(id, "4.50").await.unwrap();
    assert_eq!(w.get(id).await.payment.unwrap().other_intents.len(), 2);
}
