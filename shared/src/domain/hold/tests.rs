use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::money::currency;
use crate::domain::{
    AssetId, AssetType, BookingId, IntentId, Money, NewBooking, Payment, Slot, UserId,
};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const HOLD: &str = "2026-02-01T10:15:00Z";

fn booking(
    status: BookingStatus,
    payment_status: PaymentStatus,
    intent: Option<bool>,
    hold: bool,
) -> Booking {
    let new = NewBooking {
        asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
        asset_type: AssetType::ChargingStation,
        user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
        slot: Slot::new(at("2026-02-05T23:00:00Z"), at("2026-02-05T23:30:00Z")).unwrap(),
    };
    let mut b = Booking::new(new, BookingId::generate(), at("2026-02-01T10:00:00Z"))
        .with_hold(hold.then_some(Duration::seconds(900)));
    b.status = status;
    b.payment_status = payment_status;
    b.payment = intent.map(|paid| {
        let mut p = Payment::new(
            IntentId::parse("pi_1").unwrap(),
            Money::parse("3.50", currency("usd").unwrap()).unwrap(),
        );
        p.paid_at = paid.then(|| at("2026-02-01T10:05:00Z"));
        p
    });
    b
}

/// The rules in prose, one line each, as an oracle for every combination.
fn expected(
    status: BookingStatus,
    ps: PaymentStatus,
    intent: Option<bool>,
    hold: bool,
    now: DateTime<Utc>,
    grace: Duration,
) -> HoldState {
    use PaymentStatus as P;
    let passed = now >= at(HOLD);
    let paid = ps.is_paid() || intent == Some(true);
    if status != BookingStatus::Confirmed {
        HoldState::Ended
    } else if !hold || !passed || paid || matches!(ps, P::Processing | P::Authorized) {
        HoldState::Holding
    } else if intent.is_none() || ps == P::Canceled {
        HoldState::Expired
    } else if ps == P::RequiresAction && now < at(HOLD) + grace {
        HoldState::Holding
    } else {
        HoldState::Undecided
    }
}

fn instants(grace: Duration) -> Vec<DateTime<Utc>> {
    let hold = at(HOLD);
    let ms = Duration::milliseconds(1);
    vec![
        hold - Duration::minutes(10),
        hold - ms,
        hold,
        hold + ms,
        hold + grace - ms,
        hold + grace,
        hold + grace + ms,
        hold + Duration::days(30),
    ]
}

#[test]
fn every_booking_at_every_instant_has_the_state_the_rules_give() {
    let mut counts = std::collections::HashMap::new();
    for grace in [DEFAULT_AUTH_GRACE, Duration::seconds(1), Duration::zero()] {
        let rules = HoldRules { auth_grace: grace };
        for status in [
            BookingStatus::Confirmed,
            BookingStatus::Cancelled,
            BookingStatus::Expired,
        ] {
            for ps in PaymentStatus::ALL {
                for intent in [None, Some(false), Some(true)] {
                    for hold in [false, true] {
                        for now in instants(grace) {
                            let b = booking(status, ps, intent, hold);
                            let state = b.hold_state(now, &rules);
                            assert_eq!(
                                state,
                                expected(status, ps, intent, hold, now, grace),
                                "{status:?} {ps:?} intent={intent:?} hold={hold} {now} grace={grace}"
                            );
                            // Expired without asking anyone, whatever the grace: what GET,
                            // list, availability and a takeover see.
                            assert_eq!(
                                b.is_expired(now),
                                status == BookingStatus::Expired || state == HoldState::Expired
                            );
                            let shown = b.clone().as_of(now).status;
                            if state == HoldState::Undecided {
                                assert_eq!(
                                    shown,
                                    BookingStatus::Confirmed,
                                    "undecided shows confirmed"
                                );
                            }
                            *counts.entry(state).or_insert(0) += 1;
                        }
                    }
                }
            }
        }
    }
    // 3 graces x 3 statuses x 9 payment statuses x 3 intents x 2 holds x 8 instants.
    assert_eq!(counts.values().sum::<i32>(), 3 * 3 * 9 * 3 * 2 * 8);
    assert!(counts[&HoldState::Undecided] > 0 && counts[&HoldState::Expired] > 0);
}

#[test]
fn a_hold_with_no_intent_expires_the_instant_it_passes() {
    let b = booking(BookingStatus::Confirmed, PaymentStatus::Pending, None, true);
    let rules = HoldRules::default();
    assert_eq!(
        b.hold_state(at(HOLD) - Duration::milliseconds(1), &rules),
        HoldState::Holding
    );
    assert_eq!(b.hold_state(at(HOLD), &rules), HoldState::Expired);
    assert_eq!(b.clone().as_of(at(HOLD)).status, BookingStatus::Expired);
}

#[test]
fn a_hold_with_a_live_intent_waits_for_stripe_and_3ds_gets_its_grace() {
    let rules = HoldRules::default();
    for ps in [PaymentStatus::Pending, PaymentStatus::Failed] {
        let b = booking(BookingStatus::Confirmed, ps, Some(false), true);
        assert_eq!(
            b.hold_state(at(HOLD), &rules),
            HoldState::Undecided,
            "{ps:?}"
        );
        assert!(!b.is_expired(at(HOLD) + Duration::days(1)));
    }
    let b = booking(
        BookingStatus::Confirmed,
        PaymentStatus::RequiresAction,
        Some(false),
        true,
    );
    let end = at(HOLD) + DEFAULT_AUTH_GRACE;
    assert_eq!(
        b.hold_state(end - Duration::milliseconds(1), &rules),
        HoldState::Holding
    );
    assert_eq!(b.hold_state(end, &rules), HoldState::Undecided);
    let cancelled = booking(
        BookingStatus::Confirmed,
        PaymentStatus::Canceled,
        Some(false),
        true,
    );
    assert_eq!(cancelled.hold_state(at(HOLD), &rules), HoldState::Expired);
}

#[test]
fn every_intent_status_after_the_hold_has_one_answer() {
    use IntentStatus as S;
    let rules = HoldRules::default();
    let hold = at(HOLD);
    let in_grace = hold + DEFAULT_AUTH_GRACE - Duration::milliseconds(1);
    let after_grace = hold + DEFAULT_AUTH_GRACE;
    let table = [
        (S::Succeeded, PassedHold::Record, PassedHold::Record),
        (S::Processing, PassedHold::Record, PassedHold::Record),
        (S::RequiresCapture, PassedHold::Record, PassedHold::Record),
        (S::RequiresAction, PassedHold::Record, PassedHold::Cancel),
        (
            S::RequiresPaymentMethod,
            PassedHold::Cancel,
            PassedHold::Cancel,
        ),
        (
            S::RequiresConfirmation,
            PassedHold::Cancel,
            PassedHold::Cancel,
        ),
        (S::Canceled, PassedHold::Expire, PassedHold::Expire),
        (
            S::Unknown("something_new".into()),
            PassedHold::Leave,
            PassedHold::Leave,
        ),
    ];
    assert_eq!(table.len(), S::KNOWN.len() + 1);
    for (status, within, after) in table {
        assert_eq!(
            decide_passed_hold(&status, hold, hold, &rules),
            within,
            "{status:?} at the hold"
        );
        assert_eq!(
            decide_passed_hold(&status, hold, in_grace, &rules),
            within,
            "{status:?} in the grace"
        );
        assert_eq!(
            decide_passed_hold(&status, hold, after_grace, &rules),
            after,
            "{status:?} after the grace"
        );
    }
    // With no grace, an abandoned 3-D Secure is cancelled at the hold itself.
    let none = HoldRules {
        auth_grace: Duration::zero(),
    };
    assert_eq!(
        decide_passed_hold(&S::RequiresAction, hold, hold, &none),
        PassedHold::Cancel
    );
}
