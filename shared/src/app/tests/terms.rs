//! Booking terms on the fakes (issue 22): a cancellation under terms (partial refund, the fee
//! captured from a hold, the free window, a waived fee), the webhook's events after it, racing
//! cancels, the check-in, and the scheduled run's no-shows.

use chrono::{DateTime, Duration, Utc};

use super::uc::{cancel_booking, reconcile};
use super::*;
use crate::adapters::memory::{Call, When};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::intents::Asked;
use crate::app::refunds::apply_money_event;
use crate::app::terms::check_in;
use crate::domain::capture::HoldSettings;
use crate::domain::tariff::{Quote, StoredTariff, Tariff, TariffId, TariffInput};
use crate::domain::terms::{FeeStatus, Waiver};
use crate::domain::{
    BookingStatus, CaptureMethod, HoldRules, IntentStatus, MoneyEvent, PaymentStatus,
};
use crate::ports::MoneyEventIn;

/// The slot's start: two days from now, so creating the booking changes nothing.
fn start() -> DateTime<Utc> {
    crate::domain::slot::truncate_to_millis(Utc::now() + Duration::days(2))
}

/// Terms: free until 60 minutes before, `late` after; `no_show` 15 minutes after the start.
/// Priced 3.50 flat, authorized for 8.00 (`max_price`).
fn tariff(late: &str, no_show: &str) -> Tariff {
    Tariff::parse(&TariffInput {
        currency: "usd",
        prices: vec![
            ("flat", "3.50"),
            ("max_price", "8.00"),
            ("late_cancel_fee", late),
            ("no_show_fee", no_show),
        ],
        minutes: vec![("free_cancel_minutes", 60), ("no_show_after_minutes", 15)],
    })
    .unwrap()
}

/// A confirmed booking starting at `start`, priced by `tariff` (`None`: no tariff).
fn priced(w: &World, start: DateTime<Utc>, tariff: Option<Tariff>) -> BookingId {
    let slot = Slot::new(start, start + Duration::minutes(30)).unwrap();
    let new = NewBooking {
        asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
        asset_type: AssetType::ChargingStation,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot,
    };
    let price = tariff.map(|tariff| {
        let stored = StoredTariff {
            id: TariffId::parse("ev").unwrap(),
            version: 1,
            tariff,
        };
        Quote::of(stored, &slot)
    });
    let booking = Booking::new(new, BookingId::generate(), Utc::now()).with_price(price);
    let id = booking.id;
    w.store.insert(booking);
    id
}

async fn intent_for(w: &World, id: BookingId, method: CaptureMethod) -> IntentId {
    let asked = Asked::Price {
        currency: None,
        capture_method: method,
    };
    let rules = HoldRules::default();
    crate::app::intents::create_intent(&*w.store, &*w.stripe, id, asked, &rules, Utc::now)
        .await
        .unwrap()
        .id
}

async fn deliver(w: &World, id: BookingId, pi: &IntentId, change: IntentEvent, created: i64) {
    let mut e = event(id, pi, change, created);
    e.event_id = format!("evt_{pi}_{created}_{}", uuid::Uuid::new_v4().simple());
    apply_intent_event(&*w.store, &e, Utc::now()).await.unwrap();
}

/// Paid 3.50 (the price), the webhook's success applied.
async fn paid(w: &World, tariff: Option<Tariff>) -> (BookingId, IntentId) {
    let id = priced(w, start(), tariff);
    let pi = match w.get(id).await.price {
        Some(_) => intent_for(w, id, CaptureMethod::Automatic).await,
        None => w.pay(id, "3.50").await.unwrap().id,
    };
    w.stripe.set_status(&pi, IntentStatus::Succeeded);
    let success = IntentEvent::Succeeded {
        amount_received: Some(350),
    };
    deliver(w, id, &pi, success, 100).await;
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Completed);
    (id, pi)
}

/// Authorized for 8.00 (the tariff's `max_price`), the webhook's authorization applied.
async fn authorized(w: &World, tariff: Tariff) -> (BookingId, IntentId) {
    let id = priced(w, start(), Some(tariff));
    let pi = intent_for(w, id, CaptureMethod::Manual).await;
    w.stripe.set_status(&pi, IntentStatus::RequiresCapture);
    let held = IntentEvent::Authorized {
        amount_capturable: Some(800),
    };
    deliver(w, id, &pi, held, 100).await;
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Authorized);
    (id, pi)
}

/// 30 minutes before the start: past the free window.
fn late(b: &Booking) -> DateTime<Utc> {
    b.slot.start() - Duration::minutes(30)
}

/// The refunds Stripe made of the intent: their amounts (the fake states the amount of a
/// refund of everything too).
fn refunded(w: &World, pi: &IntentId) -> Vec<Option<i64>> {
    w.stripe.refunds(pi).iter().map(|r| r.amount).collect()
}

#[tokio::test]
async fn a_late_cancel_of_a_paid_booking_refunds_what_was_paid_minus_the_fee() {
    let w = World::new();
    let (id, pi) = paid(&w, Some(tariff("1.00", "2.00"))).await;
    let at = late(&w.get(id).await);
    let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    assert_eq!(
        refunded(&w, &pi),
        [Some(250)],
        "the partial refund at Stripe"
    );
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::PartiallyRefunded);
    let p = b.payment.as_ref().unwrap();
    assert_eq!(p.after.amount_refunded_minor, 250);
    let fee = p.cancellation_fee.unwrap();
    assert_eq!(
        (fee.minor, fee.status(b.payment_status)),
        (100, FeeStatus::Charged)
    );
    // Again: the same booking, nothing more refunded.
    let again = cancel_booking(&*w.store, &*w.stripe, id, || at + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(again, b);
    assert_eq!(refunded(&w, &pi), [Some(250)]);
}

#[tokio::test]
async fn the_free_window_refunds_everything_until_the_millisecond_before_it_closes() {
    let w = World::new();
    for (offset, refund, fee) in [
        (Duration::minutes(60) + Duration::milliseconds(1), 350, None),
        (Duration::minutes(60), 250, Some(100)),
    ] {
        let (id, pi) = paid(&w, Some(tariff("1.00", "2.00"))).await;
        let at = w.get(id).await.slot.start() - offset;
        let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
            .await
            .unwrap();
        assert_eq!(refunded(&w, &pi), [Some(refund)], "{offset}");
        let p = b.payment.unwrap();
        assert_eq!(p.cancellation_fee.map(|f| f.minor), fee, "{offset}");
        let expected = match fee {
            None => PaymentStatus::Refunded,
            Some(_) => PaymentStatus::PartiallyRefunded,
        };
        assert_eq!(b.payment_status, expected);
    }
}

#[tokio::test]
async fn without_terms_a_late_cancel_refunds_everything_as_before() {
    let w = World::new();
    for tariff in [None, Some(tariff_without_fees())] {
        let (id, pi) = paid(&w, tariff).await;
        let at = w.get(id).await.slot.start();
        let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
            .await
            .unwrap();
        assert_eq!(refunded(&w, &pi), [Some(350)]);
        assert_eq!(b.payment_status, PaymentStatus::Refunded);
        assert_eq!(b.payment.unwrap().cancellation_fee, None);
    }
}

fn tariff_without_fees() -> Tariff {
    Tariff::parse(&TariffInput {
        currency: "usd",
        prices: vec![("flat", "3.50")],
        minutes: vec![("free_cancel_minutes", 60)],
    })
    .unwrap()
}

#[tokio::test]
async fn a_late_cancel_of_an_authorized_booking_captures_the_fee_and_later_events_keep_it() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("1.00", "2.00")).await;
    let at = late(&w.get(id).await);
    let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    let at_stripe = w.stripe.intent(&pi).unwrap();
    assert_eq!(at_stripe.status, IntentStatus::Succeeded);
    assert_eq!(at_stripe.amount_received, Some(100), "captured: the fee");
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    let p = b.payment.clone().unwrap();
    assert_eq!(p.amount_received_minor, Some(100));
    assert_eq!(
        p.cancellation_fee.unwrap().status(b.payment_status),
        FeeStatus::Charged
    );

    // Stripe's events of the capture, in both orders, redelivered: the fee stays kept.
    let success = IntentEvent::Succeeded {
        amount_received: Some(100),
    };
    let released = MoneyEventIn {
        event_id: "evt_charge_refunded".into(),
        created: 300,
        event_type: "charge.refunded".into(),
        intent_id: Some(pi.clone()),
        charge_id: None,
        // The released remainder is not a refund (`adapters::stripe::event`).
        change: MoneyEvent::ChargeRefunded { amount_refunded: 0 },
    };
    apply_money_event(&*w.store, &released, Utc::now())
        .await
        .unwrap();
    for created in [200, 200, 400] {
        let e = event(id, &pi, success.clone(), created);
        let outcome = apply_intent_event(&*w.store, &e, Utc::now()).await.unwrap();
        assert!(
            matches!(outcome, EventOutcome::Ignored(_) | EventOutcome::Duplicate),
            "{outcome:?}"
        );
    }
    let after = w.get(id).await;
    assert_eq!(after.status, BookingStatus::Cancelled);
    assert_eq!(after.payment_status, PaymentStatus::Completed);
    assert!(after.payment.as_ref().unwrap().refunds_owed.is_empty());
    // Neither a cancel again nor the scheduled run gives the fee back.
    cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    reconcile(&*w.store, &*w.stripe, &HoldSettings::default(), at)
        .await
        .unwrap();
    assert_eq!(w.stripe.calls(Call::Refund), 0);
    assert_eq!(w.stripe.calls(Call::Capture), 1);
    assert_eq!(w.get(id).await.payment_status, PaymentStatus::Completed);
}

#[tokio::test]
async fn a_success_event_landing_between_the_capture_and_the_cancel_s_write_keeps_the_fee() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("1.00", "2.00")).await;
    let at = late(&w.get(id).await);
    let (hook_w, hook_pi) = (w.clone(), pi.clone());
    w.stripe.on(
        Call::Capture,
        When::After,
        Box::new(move || {
            let (w, pi) = (hook_w.clone(), hook_pi.clone());
            Box::pin(async move {
                let success = IntentEvent::Succeeded {
                    amount_received: Some(100),
                };
                deliver(&w, id, &pi, success, 200).await;
            })
        }),
    );
    let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    assert_eq!(b.status, BookingStatus::Cancelled);
    assert_eq!(b.payment_status, PaymentStatus::Completed);
    assert_eq!(b.payment.unwrap().cancellation_fee.unwrap().minor, 100);
    assert_eq!(w.stripe.calls(Call::Refund), 0, "the fee is not refunded");
}

#[tokio::test]
async fn a_fee_below_stripe_s_minimum_is_waived_never_refused() {
    let w = World::new();
    // Authorized: the hold is released, the waiver shown.
    let (id, pi) = authorized(&w, tariff("0.30", "2.00")).await;
    let at = late(&w.get(id).await);
    let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    assert_eq!(w.stripe.intent(&pi).unwrap().status, IntentStatus::Canceled);
    assert_eq!(w.stripe.calls(Call::Capture), 0);
    assert_eq!(b.payment_status, PaymentStatus::Canceled);
    let fee = b.payment.unwrap().cancellation_fee.unwrap();
    assert_eq!(fee.minor, 30);
    assert_eq!(fee.waived, Some(Waiver::BelowMinimum { min_minor: 50 }));
    assert_eq!(fee.status(PaymentStatus::Canceled), FeeStatus::Waived);
    // Paid: everything is refunded, the waiver shown.
    let (id, pi) = paid(&w, Some(tariff("0.30", "2.00"))).await;
    let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    assert_eq!(refunded(&w, &pi), [Some(350)]);
    assert_eq!(b.payment_status, PaymentStatus::Refunded);
    assert!(b
        .payment
        .unwrap()
        .cancellation_fee
        .unwrap()
        .waived
        .is_some());
}

#[tokio::test]
async fn concurrent_cancels_take_the_fee_once() {
    for manual in [false, true] {
        let w = World::new();
        let (id, pi) = if manual {
            authorized(&w, tariff("1.00", "2.00")).await
        } else {
            paid(&w, Some(tariff("1.00", "2.00"))).await
        };
        let at = late(&w.get(id).await);
        let cancels = (0..10).map(|_| cancel_booking(&*w.store, &*w.stripe, id, move || at));
        let results = futures::future::join_all(cancels).await;
        let done: Vec<Booking> = results.into_iter().map(Result::unwrap).collect();
        assert!(
            done.windows(2).all(|p| p[0] == p[1]),
            "{manual}: one answer"
        );
        let fee = done[0].payment.as_ref().unwrap().cancellation_fee.unwrap();
        assert_eq!(fee.minor, 100);
        if manual {
            assert_eq!(w.stripe.intent(&pi).unwrap().amount_received, Some(100));
            assert!(w.stripe.refunds(&pi).is_empty());
        } else {
            assert_eq!(refunded(&w, &pi), [Some(250)], "one refund");
        }
    }
}

#[tokio::test]
async fn cancels_either_side_of_the_window_s_end_leave_one_consistent_answer() {
    let w = World::new();
    let (id, pi) = paid(&w, Some(tariff("1.00", "2.00"))).await;
    let closes = w.get(id).await.slot.start() - Duration::minutes(60);
    let free = cancel_booking(&*w.store, &*w.stripe, id, move || {
        closes - Duration::seconds(1)
    });
    let late = cancel_booking(&*w.store, &*w.stripe, id, move || closes);
    let (a, b) = futures::join!(free, late);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    let refunds = refunded(&w, &pi);
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let kept = a.payment.unwrap().cancellation_fee.map(|f| f.minor);
    match kept {
        None => assert_eq!(refunds, [Some(350)]),
        Some(fee) => assert_eq!(refunds, [Some(350 - fee)]),
    }
}

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

#[tokio::test]
async fn a_waiver_is_kept_when_the_release_s_event_lands_before_the_cancel_s_write() {
    let w = World::new();
    let (id, pi) = authorized(&w, tariff("0.30", "2.00")).await;
    let at = late(&w.get(id).await);
    let (hook_w, hook_pi) = (w.clone(), pi.clone());
    w.stripe.on(
        Call::Cancel,
        When::After,
        Box::new(move || {
            Box::pin(async move {
                deliver(&hook_w, id, &hook_pi, IntentEvent::Canceled, 200).await;
            })
        }),
    );
    let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
        .await
        .unwrap();
    assert_eq!(b.payment_status, PaymentStatus::Canceled);
    let fee = b.payment.unwrap().cancellation_fee.unwrap();
    assert_eq!(fee.waived, Some(Waiver::BelowMinimum { min_minor: 50 }));
}
