//! Booking terms on the fakes (issue 22): a cancellation under terms (partial refund, the fee
//! captured from a hold, the free window, a waived fee), the webhook's events after it, racing
//! cancels. Check-in and no-shows: `no_shows`.

use chrono::{DateTime, Duration, Utc};

use super::uc::{cancel_booking, reconcile};
use super::*;
use crate::adapters::memory::{Call, When};
use crate::app::events::{apply_intent_event, EventOutcome};
use crate::app::intents::Asked;
use crate::app::refunds::apply_money_event;
use crate::domain::capture::HoldSettings;
use crate::domain::tariff::{Quote, StoredTariff, Tariff, TariffId, TariffInput};
use crate::domain::terms::{FeeStatus, Waiver};
use crate::domain::{
    BookingStatus, CaptureMethod, HoldRules, IntentStatus, MoneyEvent, PaymentStatus,
};
use crate::ports::MoneyEventIn;

/// The slot's start: two days from now, so creating the booking changes nothing.
pub(super) fn start() -> DateTime<Utc> {
    crate::domain::slot::truncate_to_millis(Utc::now() + Duration::days(2))
}

/// Terms: free until 60 minutes before, `late` after; `no_show` 15 minutes after the start.
/// Priced 3.50 flat, authorized for 8.00 (`max_price`).
pub(super) fn tariff(late: &str, no_show: &str) -> Tariff {
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
pub(super) fn priced(w: &World, start: DateTime<Utc>, tariff: Option<Tariff>) -> BookingId {
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

pub(super) async fn intent_for(w: &World, id: BookingId, method: CaptureMethod) -> IntentId {
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

pub(super) async fn deliver(
    w: &World,
    id: BookingId,
    pi: &IntentId,
    change: IntentEvent,
    created: i64,
) {
    let mut e = event(id, pi, change, created);
    e.event_id = format!("evt_{pi}_{created}_{}", uuid::Uuid::new_v4().simple());
    apply_intent_event(&*w.store, &e, Utc::now()).await.unwrap();
}

/// Paid 3.50 (the price), the webhook's success applied.
pub(super) async fn paid(w: &World, tariff: Option<Tariff>) -> (BookingId, IntentId) {
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
pub(super) async fn authorized(w: &World, tariff: Tariff) -> (BookingId, IntentId) {
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
pub(super) fn late(b: &Booking) -> DateTime<Utc> {
    b.slot.start() - Duration::minutes(30)
}

/// The refunds Stripe made of the intent: their amounts (the fake states the amount of a
/// refund of everything too).
pub(super) fn refunded(w: &World, pi: &IntentId) -> Vec<Option<i64>> {
    w.stripe.refunds(pi).iter().map(|(r, _)| r.amount).collect()
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

pub(super) fn tariff_without_fees() -> Tariff {
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

/// An operator refund before a late cancel: the cancel refunds what is still refundable minus
/// the fee, so the driver never gets back more than was paid, and the fee is taken once. An
/// operator refund whose outcome is unknown (Stripe unreachable, still reserved) counts as
/// given: neither the fee nor the cancel's refund takes it.
#[tokio::test]
async fn a_late_cancel_after_an_operator_refund_refunds_only_what_is_left_minus_the_fee() {
    use crate::app::operator_refunds::refund_booking;
    use crate::domain::operator_refund::{RefundAsk, RefundReason};
    use crate::domain::IdempotencyKey;
    use crate::ports::ProviderError;
    // (operator refund, its outcome known, the cancel's refund, the fee taken)
    for (operator, operator_minor, known, cancel_refund, fee) in [
        ("1.25", 125, true, Some(125), Some(100)),
        ("2.50", 250, true, None, Some(100)),
        ("1.25", 125, false, Some(125), Some(100)),
        ("3.00", 300, true, None, Some(50)),
    ] {
        let w = World::new();
        let (id, pi) = paid(&w, Some(tariff("1.00", "2.00"))).await;
        if !known {
            w.stripe.fail_next(
                Call::Refund,
                ProviderError::Unavailable("connection reset".into()),
            );
        }
        let ask = RefundAsk {
            amount_raw: operator.into(),
            reason: RefundReason::RequestedByCustomer,
        };
        let key = IdempotencyKey::parse("op-1")
            .unwrap()
            .for_caller("api-key-1");
        let made = refund_booking(&*w.store, &*w.stripe, id, &ask, &key, Utc::now).await;
        assert_eq!(made.is_ok(), known, "{operator}: {made:?}");
        let at = late(&w.get(id).await);
        let b = cancel_booking(&*w.store, &*w.stripe, id, || at)
            .await
            .unwrap();
        let at_stripe = refunded(&w, &pi);
        let expected: Vec<Option<i64>> = [
            known.then_some(Some(operator_minor)),
            cancel_refund.map(Some),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(at_stripe, expected, "{operator} {known}: refunds at Stripe");
        let p = b.payment.as_ref().unwrap();
        assert_eq!(
            p.cancellation_fee.map(|f| f.minor),
            fee,
            "{operator} {known}: the fee"
        );
        let given: i64 = at_stripe.iter().flatten().sum();
        assert!(
            given + fee.unwrap_or(0) <= 350,
            "{operator} {known}: over-refunded"
        );
        assert_eq!(b.status, BookingStatus::Cancelled);
    }
}
