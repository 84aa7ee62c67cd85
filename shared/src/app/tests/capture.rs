//! Authorize, then capture (issue 14), on the fakes: the capture rules, a capture racing a
//! cancel (both orders, and a webhook landing between), authorizations that must be released,
//! and what `reconcile` does with a hold at its safety margin.

use chrono::{Duration, Utc};

use super::uc::cancel_booking;
use super::uc::create_intent;
use super::uc::reconcile;
use crate::adapters::memory::{Call, When};
use crate::app::capture::capture;
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::intents::Terms;
use crate::domain::capture::{ExpiringHoldPolicy, HoldSettings};
use crate::domain::{
    BookingStatus, CaptureAmount, CaptureMethod, DomainError, IntentStatus, PaymentStatus,
};

use super::*;

fn manual(amount: &str) -> Terms {
    Terms {
        amount: usd(amount),
        capture_method: CaptureMethod::Manual,
    }
}

/// A booking whose driver authorized `amount` (manual capture), the webhook's event applied.
async fn authorized(w: &World, amount: &str) -> (BookingId, IntentId) {
    let id = w.booking();
    let pi = create_intent(&*w.store, &*w.stripe, id, manual(amount), Utc::now)
        .await
        .unwrap()
        .id;
    w.stripe.set_status(&pi, IntentStatus::RequiresCapture);
    let minor = usd(amount).minor;
    let change = IntentEvent::Authorized {
        amount_capturable: Some(minor),
    };
    let applied = apply_intent_event(&*w.store, &event(id, &pi, change, now_s()), Utc::now())
        .await
        .unwrap();
    assert_eq!(applied, EventOutcome::Applied(PaymentStatus::Authorized));
    (id, pi)
}

fn now_s() -> i64 {
    Utc::now().timestamp()
}

async fn take(w: &World, id: BookingId, minor: i64) -> Result<Booking, AppError> {
    capture(
        &*w.store,
        &*w.stripe,
        id,
        |_, _| Ok(CaptureAmount::from_minor(minor)),
        Utc::now,
    )
    .await
}

fn detail(result: Result<Booking, AppError>) -> String {
    match result {
        Err(AppError::Conflict(detail)) => detail,
        other => panic!("expected a 409, got {other:?}"),
    }
}

#[tokio::test]
async fn an_authorization_shows_the_hold_and_never_expires() {
    let w = World::new();
    let (id, _) = authorized(&w, "8.00").await;
    let b = w.get(id).await;
    assert_eq!(b.payment_status, PaymentStatus::Authorized);
    let auth = b.payment.as_ref().unwrap().authorization.unwrap();
    assert_eq!(auth.amount_minor, 800);
    assert!(!auth.from_charge);
    let week = auth.capture_before - Utc::now();
    assert!(week > Duration::days(7) - Duration::minutes(1) && week <= Duration::days(7));
    assert!(!b.is_expired(Utc::now() + Duration::days(30)));
    // create-intent on it is refused, whatever the terms, before Stripe is asked.
    let calls = w.stripe.calls(Call::Retrieve) + w.stripe.calls(Call::Create);
    for terms in [manual("8.00"), usd("8.00").into(), manual("9.00")] {
        let result = create_intent(&*w.store, &*w.stripe, id, terms, Utc::now).await;
        assert!(
            matches!(&result, Err(AppError::Conflict(d)) if d == "Booking already has an authorized payment"),
            "{result:?}"
        );
    }
    assert_eq!(
        w.stripe.calls(Call::Retrieve) + w.stripe.calls(Call::Create),
        calls
    );
}

#[tokio::test]
async fn a_capture_takes_what_was_used_and_a_repeat_gets_the_same_answer() {
    let w = World::new();
    let (id, pi) = authorized(&w, "8.00").await;
    let b = take(&w, id, 275).await.unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    let p = b.payment.as_ref().unwrap();
    assert_eq!(p.amount_received_minor, Some(275), "the captured amount");
    assert_eq!(
        p.after.amount_refunded_minor, 0,
        "the release is not a refund"
    );
    assert_eq!(w.stripe.intent(&pi).unwrap().amount_received, Some(275));
    assert!(b.is_paid());
    let again = take(&w, id, 275).await.unwrap();
    assert_eq!(again.payment_status, PaymentStatus::Completed);
    assert_eq!(
        w.stripe.calls(Call::Capture),
        1,
        "the repeat asks Stripe nothing"
    );
    for other in [274, 0] {
        assert_eq!(
            detail(take(&w, id, other).await),
            "Payment was already captured with a different amount"
        );
    }
    // The succeeded event Stripe sends after the capture changes nothing.
    let change = IntentEvent::Succeeded {
        amount_received: Some(275),
    };
    let late =
        apply_intent_event(&*w.store, &event(id, &pi, change, now_s() + 1), Utc::now()).await;
    assert_eq!(
        late,
        Ok(EventOutcome::Ignored(
            "out of order or booking already final"
        ))
    );
}

#[tokio::test]
async fn amount_zero_releases_the_hold() {
    let w = World::new();
    let (id, pi) = authorized(&w, "8.00").await;
    let b = take(&w, id, 0).await.unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Canceled);
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    assert_eq!(w.stripe.calls(Call::Capture), 0);
    assert_eq!(
        take(&w, id, 0).await.unwrap().payment_status,
        PaymentStatus::Canceled
    );
    assert_eq!(
        detail(take(&w, id, 275).await),
        "Booking has no authorized payment"
    );
}

#[tokio::test]
async fn refused_captures_change_nothing() {
    let w = World::new();
    let (id, _) = authorized(&w, "8.00").await;
    let before = w.get(id).await;
    let over = take(&w, id, 801).await;
    assert!(
        matches!(&over, Err(AppError::Invalid(DomainError::Invalid(d))) if d == "amount exceeds the authorized amount"),
        "{over:?}"
    );
    assert_eq!(w.get(id).await, before);
    assert_eq!(
        w.stripe.calls(Call::Capture) + w.stripe.calls(Call::Cancel),
        0
    );

    // Pending, never authorized.
    let w = World::new();
    let id = w.booking();
    create_intent(&*w.store, &*w.stripe, id, manual("8.00"), Utc::now)
        .await
        .unwrap();
    assert_eq!(
        detail(take(&w, id, 275).await),
        "Booking has no authorized payment"
    );
    // No payment at all; an automatic payment.
    let bare = w.booking();
    assert_eq!(
        detail(take(&w, bare, 275).await),
        "Booking has no authorized payment"
    );
    let paid = w.booking();
    let pi = w.pay(paid, "3.50").await.unwrap().id;
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    assert_eq!(
        detail(take(&w, paid, 275).await),
        "Booking has no authorized payment"
    );
    assert_eq!(w.stripe.calls(Call::Capture), 0);
    let unknown = BookingId::generate();
    assert_eq!(
        take(&w, unknown, 275).await.unwrap_err(),
        AppError::BookingNotFound
    );
}

#[tokio::test]
async fn an_expired_authorization_is_refused() {
    let w = World::new();
    let (id, _) = authorized(&w, "8.00").await;
    let later = Utc::now() + Duration::days(7) + Duration::seconds(1);
    let result = capture(
        &*w.store,
        &*w.stripe,
        id,
        |_, _| Ok(CaptureAmount::Capture(275)),
        || later,
    )
    .await;
    assert_eq!(detail(result), "The authorization has expired");
    assert_eq!(w.stripe.calls(Call::Capture), 0);
}

#[tokio::test]
async fn a_capture_before_the_authorization_event_asks_stripe() {
    let w = World::new();
    let id = w.booking();
    let pi = create_intent(&*w.store, &*w.stripe, id, manual("8.00"), Utc::now)
        .await
        .unwrap()
        .id;
    // The driver confirmed; Stripe's event is still on its way.
    w.stripe.set_status(&pi, IntentStatus::RequiresCapture);
    let b = take(&w, id, 500).await.unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    assert_eq!(b.payment.unwrap().amount_received_minor, Some(500));
}

#[tokio::test]
async fn a_new_capture_method_replaces_the_intent_as_a_new_amount_does() {
    let w = World::new();
    let id = w.booking();
    let auto = w.pay(id, "8.00").await.unwrap();
    let held = create_intent(&*w.store, &*w.stripe, id, manual("8.00"), Utc::now)
        .await
        .unwrap();
    assert_ne!(auto.id, held.id);
    assert_eq!(
        w.stripe.intent(&auto.id).unwrap().status,
        IntentStatus::Canceled
    );
    assert_eq!(held.capture_method, CaptureMethod::Manual);
    let b = w.get(id).await;
    assert_eq!(b.payment.unwrap().capture_method, CaptureMethod::Manual);
    // The same manual terms again: the same intent.
    let again = create_intent(&*w.store, &*w.stripe, id, manual("8.00"), Utc::now)
        .await
        .unwrap();
    assert_eq!(again.id, held.id);
}

#[tokio::test]
async fn cancelling_an_authorized_booking_releases_the_hold() {
    let w = World::new();
    let (id, pi) = authorized(&w, "8.00").await;
    let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
        .await
        .unwrap();
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::Canceled);
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    assert_eq!(w.stripe.calls(Call::Refund), 0);
    assert_eq!(
        detail(take(&w, id, 0).await),
        "Booking has no authorized payment"
    );
}

/// The cancel reaches Stripe first: the capture is refused, nothing was taken.
#[tokio::test]
async fn a_capture_racing_a_cancel_that_wins() {
    let w = World::new();
    let (id, pi) = authorized(&w, "8.00").await;
    let racer = w.clone();
    w.stripe.on(
        Call::Capture,
        When::Before,
        Box::new(move || {
            Box::pin(async move {
                let b = cancel_booking(&*racer.store, &*racer.stripe, id, Utc::now).await;
                assert_eq!(b.unwrap().status, BookingStatus::Cancelled);
            })
        }),
    );
    assert_eq!(
        detail(take(&w, id, 275).await),
        "Booking has no authorized payment"
    );
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::Canceled);
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    assert_eq!(w.stripe.calls(Call::Refund), 0);
}

/// The capture reaches Stripe first (and the cancel runs before the capture's answer is
/// written, or after): the capture is answered 200, the cancel refunds what was captured.
#[tokio::test]
async fn a_capture_racing_a_cancel_that_loses() {
    for when in [When::After, When::Before] {
        let w = World::new();
        let (id, pi) = authorized(&w, "8.00").await;
        let racer = w.clone();
        let hook = Box::new(move || {
            Box::pin(async move {
                let b = cancel_booking(&*racer.store, &*racer.stripe, id, Utc::now).await;
                assert_eq!(b.unwrap().status, BookingStatus::Cancelled);
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        });
        match when {
            // Captured at Stripe, not yet written: the cancel finds it succeeded.
            When::After => w.stripe.on(Call::Capture, When::After, hook),
            // The cancel's own call to Stripe comes after the capture's whole request.
            _ => {
                let capturer = w.clone();
                w.stripe.on(
                    Call::Cancel,
                    When::Before,
                    Box::new(move || {
                        Box::pin(async move {
                            let b = take(&capturer, id, 275).await.unwrap();
                            assert_eq!(b.payment_status, PaymentStatus::Completed);
                        })
                    }),
                );
                let b = cancel_booking(&*w.store, &*w.stripe, id, Utc::now)
                    .await
                    .unwrap();
                assert_eq!(b.status, BookingStatus::Cancelled);
            }
        }
        if when == When::After {
            let b = take(&w, id, 275).await.unwrap();
            assert_eq!(b.payment.as_ref().unwrap().amount_received_minor, Some(275));
        }
        let b = w.get(id).await;
        assert_eq!(b.status, BookingStatus::Cancelled, "{when:?}");
        assert_eq!(b.payment_status, PaymentStatus::Refunded, "{when:?}");
        let p = b.payment.unwrap();
        assert_eq!(p.amount_received_minor, Some(275), "{when:?}");
        assert_eq!(
            p.after.amount_refunded_minor, 275,
            "{when:?}: what was captured"
        );
        assert_eq!(w.stripe.calls(Call::Refund), 1, "{when:?}");
        assert_eq!(
            w.stripe.intent(&pi).unwrap().status,
            IntentStatus::Succeeded
        );
        // And the capture, asked again, still gets its answer.
        assert_eq!(
            take(&w, id, 275).await.unwrap().status,
            BookingStatus::Cancelled
        );
    }
}

/// An authorization that lands for an intent the booking replaced is owed back: `reconcile`
/// releases it; nothing is ever captured. (One that lands after the hold passed, before anyone
/// decided the hold ended, is the booking's own: see `passed_holds`.)
#[tokio::test]
async fn an_authorization_for_a_booking_that_ended_is_released_never_captured() {
    for case in ["replaced"] {
        let w = World::new();
        let id = w.booking();
        let pi = create_intent(&*w.store, &*w.stripe, id, manual("8.00"), Utc::now)
            .await
            .unwrap()
            .id;
        let at = Utc::now();
        // A new amount replaced the intent; the driver's confirmation of the old one won at
        // Stripe all the same (a race the fake lets the test set up).
        create_intent(&*w.store, &*w.stripe, id, manual("9.00"), Utc::now)
            .await
            .unwrap();
        w.stripe.set_status(&pi, IntentStatus::RequiresCapture);
        let change = IntentEvent::Authorized {
            amount_capturable: Some(800),
        };
        let outcome = apply_intent_event(&*w.store, &event(id, &pi, change, at.timestamp()), at)
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                EventOutcome::Applied(PaymentStatus::Authorized) | EventOutcome::RefundOwed
            ),
            "{case}: {outcome:?}"
        );
        assert_eq!(
            w.get(id).await.payment.unwrap().refunds_owed,
            vec![pi.clone()],
            "{case}"
        );
        let summary = reconcile(&*w.store, &*w.stripe, &HoldSettings::default(), at)
            .await
            .unwrap();
        assert_eq!(summary.refunds_settled, 1, "{case}");
        assert_eq!(
            w.stripe.intent(&pi).unwrap().status,
            IntentStatus::Canceled,
            "{case}"
        );
        assert_eq!(
            w.stripe.calls(Call::Capture) + w.stripe.calls(Call::Refund),
            0
        );
        let b = w.get(id).await;
        assert!(
            b.payment.as_ref().unwrap().refunds_owed.is_empty(),
            "{case}"
        );
        if case == "expired" {
            assert_eq!(b.payment_status, PaymentStatus::Canceled);
            assert_eq!(
                detail(take(&w, id, 275).await),
                "Booking has no authorized payment"
            );
        }
    }
}

async fn run(w: &World, policy: ExpiringHoldPolicy, at: chrono::DateTime<Utc>) -> Summary {
    let settings = HoldSettings {
        policy,
        safety_margin: Duration::hours(12),
    };
    reconcile(&*w.store, &*w.stripe, &settings, at)
        .await
        .unwrap()
}

use crate::app::reconcile::Summary;

#[tokio::test]
async fn reconcile_reads_the_charge_and_acts_on_a_hold_at_its_safety_margin() {
    for policy in [ExpiringHoldPolicy::Capture, ExpiringHoldPolicy::Release] {
        let w = World::new();
        let (id, pi) = authorized(&w, "8.00").await;
        // The charge says 5 days, not the 7 estimated from the event.
        let real = Utc::now() + Duration::days(5);
        w.stripe.set_capture_before(&pi, real);
        let summary = run(&w, policy, Utc::now()).await;
        assert_eq!(summary.authorizations_read, 1);
        let auth = w.get(id).await.payment.unwrap().authorization.unwrap();
        assert!(auth.from_charge);
        assert_eq!(auth.capture_before, real);
        assert_eq!(w.get(id).await.payment_status, PaymentStatus::Authorized);
        // Not yet within the margin: untouched, and the charge is not read again.
        let early = real - Duration::hours(12) - Duration::seconds(1);
        let summary = run(&w, policy, early).await;
        assert_eq!(
            (summary.authorizations_read, summary.authorizations_captured),
            (0, 0)
        );
        assert_eq!(w.get(id).await.payment_status, PaymentStatus::Authorized);
        // At the margin: captured in full, or released, by policy.
        let summary = run(&w, policy, real - Duration::hours(12)).await;
        let b = w.get(id).await;
        match policy {
            ExpiringHoldPolicy::Capture => {
                assert_eq!(summary.authorizations_captured, 1);
                assert_eq!(b.payment_status, PaymentStatus::Completed);
                assert_eq!(b.payment.unwrap().amount_received_minor, Some(800));
            }
            ExpiringHoldPolicy::Release => {
                assert_eq!(summary.authorizations_released, 1);
                assert_eq!(b.payment_status, PaymentStatus::Canceled);
                assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
            }
        }
    }
}
