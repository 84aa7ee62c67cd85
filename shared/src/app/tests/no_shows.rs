//! No-shows and check-in on the fakes (issue 22): the check-in's rules, the scheduled run's
//! no-show fee at its instant (captured once, waived below the minimum, left alone for paid
//! bookings and bookings without terms), racing runs and a cancel.

use chrono::{DateTime, Duration, Utc};

use super::terms::{
    authorized, deliver, intent_for, paid, priced, start, tariff, tariff_without_fees,
};
use super::uc::{cancel_booking, reconcile};
use super::*;
use crate::adapters::memory::Call;
use crate::app::terms::check_in;
use crate::domain::capture::HoldSettings;
use crate::domain::terms::FeeStatus;
use crate::domain::{BookingStatus, CaptureMethod, IntentStatus, PaymentStatus};

#[tokio::test]
async fn check_in_is_idempotent_and_only_for_a_confirmed_booking() {
    let w = World::new();
    let id = priced(&w, start(), Some(tariff("1.00", "2.00")));
    let first_at = Utc::now();
    let first = check_in(&*w.store, id, || first_at).await.unwrap();
    assert_eq!(first.checked_in_at, Some(first_at));
    let again = check_in(&*w.store, id, || first_at + Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(again.checked_in_at, Some(first_at), "the first is kept");
    assert_eq!(again, first);
    // Unknown: 404.
    let unknown = check_in(&*w.store, BookingId::generate(), Utc::now).await;
    assert_eq!(unknown.unwrap_err(), AppError::BookingNotFound);
    // Cancelled: 409.
    let other = priced(&w, start(), None);
    cancel_booking(&*w.store, &*w.stripe, other, Utc::now)
        .await
        .unwrap();
    let refused = check_in(&*w.store, other, Utc::now).await.unwrap_err();
    assert!(matches!(refused, AppError::Conflict(d) if d.contains("cancelled")));
}

/// The scheduled run at `now`.
async fn run_at(w: &World, now: DateTime<Utc>) -> crate::app::reconcile::Summary {
    reconcile(&*w.store, &*w.stripe, &HoldSettings::default(), now)
        .await
        .unwrap()
}

fn no_show_at(b: &Booking) -> DateTime<Utc> {
    b.slot.start() + Duration::minutes(15)
}

#[tokio::test]
async fn a_no_show_has_its_fee_captured_once_from_its_instant_on() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("1.00", "2.00")).await;
    let due = no_show_at(&w.get(id).await);
    let before = run_at(&w, due - Duration::milliseconds(1)).await;
    assert_eq!(before.no_shows_charged, 0);
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Authorized);
    let run = run_at(&w, due).await;
    assert_eq!(run.no_shows_charged, 1);
    assert_eq!(w.stripe.intent(&pi).unwrap().amount_received, Some(200));
    let b = w.get(id).await;
    assert_eq!(b.status, BookingStatus::Confirmed);
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    let fee = b.payment.as_ref().unwrap().no_show_fee.unwrap();
    assert_eq!(
        (fee.minor, fee.status(b.payment_status)),
        (200, FeeStatus::Charged)
    );
    // Later runs, and a check-in after it, change nothing.
    assert_eq!(
        run_at(&w, due + Duration::minutes(10))
            .await
            .no_shows_charged,
        0
    );
    assert_eq!(w.stripe.calls(Call::Capture), 1);
    let late_check_in = check_in(&*w.store, id, Utc::now).await.unwrap_err();
    assert!(matches!(late_check_in, AppError::Conflict(d) if d.contains("no-show")));
    // A cancel keeps the no-show fee: nothing refunded.
    let cancelled = cancel_booking(&*w.store, &*w.stripe, id, || due + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    assert_eq!(w.stripe.calls(Call::Refund), 0);
    assert_eq!(cancelled.payment.unwrap().cancellation_fee, None);
}

#[tokio::test]
async fn a_booking_checked_in_in_time_is_not_charged_and_a_late_check_in_is() {
    for (checked_in_after_start, charged) in [
        (Duration::minutes(15) - Duration::milliseconds(1), false),
        (Duration::minutes(-30), false),
        (Duration::minutes(15), true),
    ] {
        let w = World::new();
        let (id, pi) = authorized(&w, tariff("1.00", "2.00")).await;
        let b = w.get(id).await;
        let at = b.slot.start() + checked_in_after_start;
        check_in(&*w.store, id, || at).await.unwrap();
        let run = run_at(&w, no_show_at(&b) + Duration::minutes(5)).await;
        assert_eq!(run.no_shows_charged, usize::from(charged));
        let at_stripe = w.stripe.intent(&pi).unwrap();
        if charged {
            assert_eq!(at_stripe.amount_received, Some(200));
        } else {
            assert_eq!(
                at_stripe.status,
                IntentStatus::RequiresCapture,
                "held still"
            );
            assert_eq!(w.get(id).await.payment_status, PaymentStatus::Authorized);
        }
    }
}

#[tokio::test]
async fn paid_bookings_and_bookings_without_terms_are_left_alone_by_the_run() {
    let w = World::new();
    let (paid_id, paid_pi) = paid(&w, Some(tariff("1.00", "2.00"))).await;
    let plain = priced(&w, start(), Some(tariff_without_fees()));
    let pi = intent_for(&w, plain, CaptureMethod::Manual).await;
    w.stripe.set_status(&pi, IntentStatus::RequiresCapture);
    let held = IntentEvent::Authorized {
        amount_capturable: Some(800),
    };
    deliver(&w, plain, &pi, held, 100).await;
    let run = run_at(&w, start() + Duration::hours(2)).await;
    assert_eq!(run.no_shows_charged + run.no_shows_waived, 0);
    assert_eq!(
        w.stripe.calls(Call::Capture) + w.stripe.calls(Call::Refund),
        0
    );
    let paid = w.get(paid_id).await;
    assert_eq!(paid.payment_status, PaymentStatus::Completed);
    assert_eq!(paid.payment.unwrap().no_show_fee, None);
    assert!(w.stripe.refunds(&paid_pi).is_empty());
    assert_eq!(w.get(plain).await.payment_status, PaymentStatus::Authorized);
}

#[tokio::test]
async fn a_no_show_fee_below_the_minimum_releases_the_hold_and_is_shown_waived() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("1.00", "0.20")).await;
    let run = run_at(&w, no_show_at(&w.get(id).await)).await;
    assert_eq!((run.no_shows_charged, run.no_shows_waived), (0, 1));
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    let b = w.get(id).await;
    assert_eq!(b.payment_status, PaymentStatus::Canceled);
    let fee = b.payment.unwrap().no_show_fee.unwrap();
    assert_eq!(
        (fee.minor, fee.status(b.payment_status)),
        (20, FeeStatus::Waived)
    );
}

#[tokio::test]
async fn concurrent_runs_and_a_cancel_capture_a_no_show_once() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("1.00", "2.00")).await;
    let due = no_show_at(&w.get(id).await);
    let runs = (0..4).map(|_| run_at(&w, due));
    let cancel = cancel_booking(&*w.store, &*w.stripe, id, move || due);
    let (summaries, cancelled) = futures::join!(futures::future::join_all(runs), cancel);
    let cancelled = cancelled.unwrap();
    let at_stripe = w.stripe.intent(&pi).unwrap();
    // One capture, of one fee: the no-show's (decided first) or the late cancel's.
    let received = at_stripe.amount_received.unwrap();
    assert!(received == 200 || received == 100, "{received}");
    let p = cancelled.payment.unwrap();
    let shown = p.no_show_fee.map_or(0, |f| f.minor) + p.cancellation_fee.map_or(0, |f| f.minor);
    assert_eq!(shown, received, "{p:?}");
    assert!(summaries.iter().map(|s| s.no_shows_charged).sum::<usize>() <= 1);
    assert_eq!(w.stripe.calls(Call::Refund), 0);
}

#[tokio::test]
async fn a_no_show_decided_but_not_captured_is_captured_by_a_cancel_with_the_run_s_key() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("1.00", "2.00")).await;
    let due = no_show_at(&w.get(id).await);
    w.stripe.fail_next(
        Call::Capture,
        crate::ports::ProviderError::Unavailable("down".into()),
    );
    let run = run_at(&w, due).await;
    assert_eq!(run.no_shows_failed, 1);
    let b = w.get(id).await;
    assert_eq!(b.payment_status, PaymentStatus::Authorized);
    let fee = b.payment.unwrap().no_show_fee.unwrap();
    assert_eq!(fee.status(PaymentStatus::Authorized), FeeStatus::Pending);
    let cancelled = cancel_booking(&*w.store, &*w.stripe, id, || due)
        .await
        .unwrap();
    assert_eq!(w.stripe.intent(&pi).unwrap().amount_received, Some(200));
    assert_eq!(cancelled.payment_status, PaymentStatus::Completed);
    assert_eq!(cancelled.payment.unwrap().cancellation_fee, None);
    // The next run finds nothing left to take.
    assert_eq!(
        run_at(&w, due + Duration::minutes(10))
            .await
            .no_shows_charged,
        0
    );
    assert_eq!(w.stripe.intent(&pi).unwrap().amount_received, Some(200));
}
