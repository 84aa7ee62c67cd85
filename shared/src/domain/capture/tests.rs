use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::booking::{AssetType, NewBooking};
use crate::domain::ids::{AssetId, BookingId, IntentId, UserId};
use crate::domain::money::{currency, Money};
use crate::domain::payment::Payment;
use crate::domain::slot::Slot;
use CaptureRefusal as R;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const AUTHORIZED_AT: &str = "2026-02-01T10:00:00Z";

/// A booking with a manual payment of 8.00 usd, authorized at `AUTHORIZED_AT` (so
/// `capture_before` is 7 days later), in `payment_status` / `status`.
fn booking(payment_status: PaymentStatus, status: BookingStatus) -> Booking {
    let new = NewBooking {
        asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
        asset_type: AssetType::ChargingStation,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot: Slot::new(at("2026-02-05T23:00:00Z"), at("2026-02-05T23:30:00Z")).unwrap(),
    };
    let mut b = Booking::new(new, BookingId::generate(), at("2026-02-01T09:59:00Z"));
    let usd = currency("usd").unwrap();
    let mut payment = Payment::new(
        IntentId::parse("pi_1").unwrap(),
        Money::parse("8.00", usd).unwrap(),
    )
    .with_capture_method(CaptureMethod::Manual);
    payment.authorization = Some(Authorization::estimated(800, at(AUTHORIZED_AT)));
    if payment_status.is_paid() {
        payment.amount_received_minor = Some(275);
    }
    b.payment = Some(payment);
    b.payment_status = payment_status;
    b.status = status;
    b
}

const BEFORE: &str = "2026-02-08T09:59:59Z";
const EXPIRY: &str = "2026-02-08T10:00:00Z";

#[test]
fn an_authorized_booking_is_captured_or_released_at_stripe_up_to_the_hold() {
    let b = booking(PaymentStatus::Authorized, BookingStatus::Confirmed);
    for asked in [
        CaptureAmount::Release,
        CaptureAmount::Capture(1),
        CaptureAmount::Capture(275),
        CaptureAmount::Capture(800),
    ] {
        assert_eq!(decide_capture(&b, asked, at(BEFORE)), CaptureStep::AtStripe);
    }
    assert_eq!(
        decide_capture(&b, CaptureAmount::Capture(801), at(BEFORE)),
        CaptureStep::Refuse(R::ExceedsAuthorized)
    );
}

#[test]
fn an_authorization_expires_at_capture_before() {
    let b = booking(PaymentStatus::Authorized, BookingStatus::Confirmed);
    let auth = b.payment.as_ref().unwrap().authorization.unwrap();
    assert_eq!(auth.capture_before, at(EXPIRY));
    assert!(!auth.has_expired(at(BEFORE)));
    assert!(auth.has_expired(at(EXPIRY)));
    for asked in [CaptureAmount::Release, CaptureAmount::Capture(275)] {
        assert_eq!(
            decide_capture(&b, asked, at(EXPIRY)),
            CaptureStep::Refuse(R::Expired)
        );
    }
    // Above the hold is a client error whatever the time.
    assert_eq!(
        decide_capture(&b, CaptureAmount::Capture(900), at(EXPIRY)),
        CaptureStep::Refuse(R::ExceedsAuthorized)
    );
}

#[test]
fn the_safety_margin_is_measured_back_from_capture_before() {
    let auth = Authorization::estimated(800, at(AUTHORIZED_AT));
    let margin = Duration::seconds(43_200);
    assert!(!auth.is_due(at("2026-02-07T21:59:59Z"), margin));
    assert!(auth.is_due(at("2026-02-07T22:00:00Z"), margin));
    assert!(auth.is_due(at("2026-02-09T00:00:00Z"), margin));
}

#[test]
fn a_repeated_capture_gets_the_first_answer_and_another_one_is_refused() {
    for paid in [
        PaymentStatus::Completed,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ] {
        // Also when a cancel refunded it since (the capture won the race).
        for status in [BookingStatus::Confirmed, BookingStatus::Cancelled] {
            let b = booking(paid, status);
            assert_eq!(
                decide_capture(&b, CaptureAmount::Capture(275), at(BEFORE)),
                CaptureStep::Done,
                "{paid:?} {status:?}"
            );
            for other in [CaptureAmount::Capture(274), CaptureAmount::Release] {
                assert_eq!(
                    decide_capture(&b, other, at(BEFORE)),
                    CaptureStep::Refuse(R::DifferentAmount)
                );
            }
        }
    }
    let released = booking(PaymentStatus::Canceled, BookingStatus::Confirmed);
    assert_eq!(
        decide_capture(&released, CaptureAmount::Release, at(BEFORE)),
        CaptureStep::Done
    );
    // A booking past its hold after the release reads expired: still the same answer.
    let released = booking(PaymentStatus::Canceled, BookingStatus::Expired);
    assert_eq!(
        decide_capture(&released, CaptureAmount::Release, at(BEFORE)),
        CaptureStep::Done
    );
    assert_eq!(
        decide_capture(&released, CaptureAmount::Capture(275), at(BEFORE)),
        CaptureStep::Refuse(R::NoAuthorization)
    );
    assert_eq!(
        decide_capture(&released, CaptureAmount::Capture(275), at(EXPIRY)),
        CaptureStep::Refuse(R::Expired)
    );
}

#[test]
fn nothing_authorized_is_a_conflict() {
    // Released by a cancel.
    let cancelled = booking(PaymentStatus::Canceled, BookingStatus::Cancelled);
    // Held for a booking that ended: released by reconcile, never captured.
    let held_dead = booking(PaymentStatus::Authorized, BookingStatus::Cancelled);
    let held_expired = booking(PaymentStatus::Authorized, BookingStatus::Expired);
    let mut never = booking(PaymentStatus::Pending, BookingStatus::Confirmed);
    never.payment.as_mut().unwrap().authorization = None;
    let mut automatic = booking(PaymentStatus::Completed, BookingStatus::Confirmed);
    automatic.payment.as_mut().unwrap().capture_method = CaptureMethod::Automatic;
    let mut no_payment = booking(PaymentStatus::Pending, BookingStatus::Confirmed);
    no_payment.payment = None;
    for b in [
        cancelled,
        held_dead,
        held_expired,
        never,
        automatic,
        no_payment,
    ] {
        for asked in [CaptureAmount::Release, CaptureAmount::Capture(275)] {
            assert_eq!(
                decide_capture(&b, asked, at(BEFORE)),
                CaptureStep::Refuse(R::NoAuthorization),
                "{:?} {:?} {asked:?}",
                b.payment_status,
                b.status
            );
        }
    }
    for status in [
        PaymentStatus::Pending,
        PaymentStatus::RequiresAction,
        PaymentStatus::Processing,
        PaymentStatus::Failed,
    ] {
        let b = booking(status, BookingStatus::Confirmed);
        assert_eq!(
            decide_capture(&b, CaptureAmount::Capture(275), at(BEFORE)),
            CaptureStep::Refuse(R::NoAuthorization),
            "{status:?}"
        );
    }
}

#[test]
fn every_status_and_amount_has_one_answer() {
    // The whole table, so a change to the rules shows up here.
    let mut answers = std::collections::BTreeMap::new();
    for status in PaymentStatus::ALL {
        for booking_status in [
            BookingStatus::Confirmed,
            BookingStatus::Cancelled,
            BookingStatus::Expired,
        ] {
            for asked in [
                CaptureAmount::Release,
                CaptureAmount::Capture(275),
                CaptureAmount::Capture(801),
            ] {
                for now in [BEFORE, EXPIRY] {
                    let step = decide_capture(&booking(status, booking_status), asked, at(now));
                    *answers.entry(format!("{step:?}")).or_insert(0) += 1;
                }
            }
        }
    }
    let total: i32 = answers.values().sum();
    assert_eq!(total, 9 * 3 * 3 * 2);
    assert_eq!(answers["AtStripe"], 2, "{answers:?}");
    assert_eq!(answers["Refuse(ExceedsAuthorized)"], 9 * 3 * 2);
}

#[test]
fn the_api_and_stripe_spell_capture_methods() {
    assert_eq!(CaptureMethod::parse("manual"), Some(CaptureMethod::Manual));
    assert_eq!(
        CaptureMethod::parse("automatic"),
        Some(CaptureMethod::Automatic)
    );
    for bad in ["Manual", "automatic_async", "", "manual "] {
        assert_eq!(CaptureMethod::parse(bad), None);
    }
    assert_eq!(CaptureMethod::from_stripe("manual"), CaptureMethod::Manual);
    for auto in ["automatic", "automatic_async"] {
        assert_eq!(CaptureMethod::from_stripe(auto), CaptureMethod::Automatic);
    }
    assert_eq!(
        ExpiringHoldPolicy::parse("capture"),
        Some(ExpiringHoldPolicy::Capture)
    );
    assert_eq!(
        ExpiringHoldPolicy::parse("release"),
        Some(ExpiringHoldPolicy::Release)
    );
    assert_eq!(ExpiringHoldPolicy::parse("Capture"), None);
}
