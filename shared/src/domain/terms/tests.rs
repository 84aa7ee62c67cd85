//! The terms' rules at every boundary: each deadline's instant and the millisecond before it,
//! the cap at what the booking can give, Stripe's minimum per currency (and its exact edge),
//! absent and zero terms, and the fee's shown status for every payment status.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::domain::money::currency;
use crate::domain::tariff::TariffInput;

fn tariff(code: &str, prices: &[(&str, &str)], minutes: &[(&str, i64)]) -> Tariff {
    Tariff::parse(&TariffInput {
        currency: code,
        prices: prices.to_vec(),
        minutes: minutes.to_vec(),
    })
    .unwrap()
}

/// The example terms: free until 60 minutes before, 1.00 late, 2.00 after 15 minutes.
fn ev_standard() -> Terms {
    Terms::of(&tariff(
        "usd",
        &[("late_cancel_fee", "1.00"), ("no_show_fee", "2.00")],
        &[("free_cancel_minutes", 60), ("no_show_after_minutes", 15)],
    ))
    .unwrap()
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap()
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

const USD_MIN: Waiver = Waiver::BelowMinimum { min_minor: 50 };

#[test]
fn a_tariff_without_fees_has_no_terms_and_absent_minutes_are_zero() {
    assert_eq!(
        Terms::of(&tariff("usd", &[("per_hour", "3.00")], &[])),
        None
    );
    // Minutes alone are no terms: nothing is ever charged.
    let minutes_only = tariff(
        "usd",
        &[],
        &[("free_cancel_minutes", 60), ("no_show_after_minutes", 15)],
    );
    assert_eq!(Terms::of(&minutes_only), None);
    let late_only = Terms::of(&tariff("usd", &[("late_cancel_fee", "1.00")], &[])).unwrap();
    assert_eq!(late_only.free_cancel_minutes, 0);
    assert_eq!(late_only.no_show_after_minutes, 0);
    assert_eq!(late_only.free_cancel_until(start()), start());
    assert_eq!(late_only.no_show_at(start()), start());
    // A late fee alone: no no-show fee ever.
    assert_eq!(
        no_show_fee(&late_only, start(), None, start() + Duration::days(1), 1000),
        Some(Decision::NoFee)
    );
}

#[test]
fn cancelling_is_free_strictly_before_the_window_closes_and_late_from_its_instant() {
    let t = ev_standard();
    let closes = start() - Duration::minutes(60);
    assert_eq!(t.free_cancel_until(start()), closes);
    for free in [closes - ms(1), closes - Duration::days(3)] {
        assert_eq!(cancellation_fee(&t, start(), free, 350), Decision::NoFee);
    }
    for late in [
        closes,
        closes + ms(1),
        start() - ms(1),
        start(),
        start() + Duration::hours(5),
    ] {
        assert_eq!(
            cancellation_fee(&t, start(), late, 350),
            Decision::Take(100),
            "{late}"
        );
    }
}

#[test]
fn without_a_free_window_cancelling_is_free_until_the_start() {
    let t = Terms::of(&tariff("usd", &[("late_cancel_fee", "1.00")], &[])).unwrap();
    assert_eq!(
        cancellation_fee(&t, start(), start() - ms(1), 350),
        Decision::NoFee
    );
    assert_eq!(
        cancellation_fee(&t, start(), start(), 350),
        Decision::Take(100)
    );
}

#[test]
fn a_fee_never_exceeds_what_the_booking_can_give() {
    let t = ev_standard();
    let late = start();
    assert_eq!(
        cancellation_fee(&t, start(), late, 100),
        Decision::Take(100)
    );
    assert_eq!(cancellation_fee(&t, start(), late, 99), Decision::Take(99));
    assert_eq!(cancellation_fee(&t, start(), late, 50), Decision::Take(50));
    // Capped below the minimum: waived with what it would have been.
    assert_eq!(
        cancellation_fee(&t, start(), late, 49),
        Decision::Waive(49, USD_MIN)
    );
    // Nothing left (refunded already): no fee.
    for available in [0, -5] {
        assert_eq!(
            cancellation_fee(&t, start(), late, available),
            Decision::NoFee
        );
    }
    let due = start() + Duration::minutes(15);
    assert_eq!(
        no_show_fee(&t, start(), None, due, 150),
        Some(Decision::Take(150))
    );
    assert_eq!(
        no_show_fee(&t, start(), None, due, 0),
        Some(Decision::NoFee)
    );
}

#[test]
fn a_fee_below_stripe_s_minimum_is_waived_at_the_exact_edge_per_currency() {
    // (currency, the minimum as text, one minor unit below it as text)
    let cases = [
        ("usd", "0.50", "0.49", 50),
        ("gbp", "0.30", "0.29", 30),
        ("jpy", "50", "49", 50),
        ("huf", "175.00", "174.99", 17_500),
        // Three decimals: Stripe charges in tens of the minor unit.
        ("kwd", "0.160", "0.150", 160),
    ];
    for (code, min, below, min_minor) in cases {
        let with_fee = |fee: &str| {
            Terms::of(&tariff(
                code,
                &[("late_cancel_fee", fee), ("no_show_fee", fee)],
                &[],
            ))
            .unwrap()
        };
        let at_min = with_fee(min);
        assert_eq!(
            cancellation_fee(&at_min, start(), start(), 1_000_000),
            Decision::Take(min_minor),
            "{code}"
        );
        assert_eq!(
            no_show_fee(&at_min, start(), None, start(), 1_000_000),
            Some(Decision::Take(min_minor)),
            "{code}"
        );
        let below_min = with_fee(below);
        let waiver = Waiver::BelowMinimum { min_minor };
        let below_minor = match cancellation_fee(&below_min, start(), start(), 1_000_000) {
            Decision::Waive(minor, w) => {
                assert_eq!(w, waiver, "{code}");
                minor
            }
            other => panic!("{code}: {other:?}"),
        };
        assert!(below_minor < min_minor && below_minor > 0, "{code}");
        assert_eq!(
            no_show_fee(&below_min, start(), None, start(), 1_000_000),
            Some(Decision::Waive(below_minor, waiver)),
            "{code}"
        );
    }
    let usd = currency("usd").unwrap();
    assert_eq!(
        USD_MIN.reason(&usd),
        "below Stripe's minimum charge of 0.50 usd"
    );
    let jpy = currency("jpy").unwrap();
    assert_eq!(
        Waiver::BelowMinimum { min_minor: 50 }.reason(&jpy),
        "below Stripe's minimum charge of 50 jpy"
    );
    assert_eq!(USD_MIN.code(), "below_minimum_charge");
}

#[test]
fn a_zero_fee_is_no_fee() {
    let t = Terms::of(&tariff(
        "usd",
        &[("late_cancel_fee", "0"), ("no_show_fee", "0.00")],
        &[],
    ))
    .unwrap();
    assert_eq!(cancellation_fee(&t, start(), start(), 350), Decision::NoFee);
    assert_eq!(
        no_show_fee(&t, start(), None, start(), 350),
        Some(Decision::NoFee)
    );
}

#[test]
fn a_no_show_is_due_from_its_instant_unless_checked_in_strictly_before() {
    let t = ev_standard();
    let due = start() + Duration::minutes(15);
    assert_eq!(t.no_show_at(start()), due);
    // Not yet.
    for now in [due - ms(1), start(), start() - Duration::days(1)] {
        assert_eq!(no_show_fee(&t, start(), None, now, 800), None, "{now}");
    }
    // Due, with no check-in, from the instant on.
    for now in [due, due + ms(1), due + Duration::days(2)] {
        assert_eq!(
            no_show_fee(&t, start(), None, now, 800),
            Some(Decision::Take(200)),
            "{now}"
        );
    }
    // Checked in on time (strictly before the instant, even long before the start).
    for checked_in in [due - ms(1), start(), start() - Duration::hours(1)] {
        for now in [due, due + Duration::days(1)] {
            assert_eq!(
                no_show_fee(&t, start(), Some(checked_in), now, 800),
                None,
                "{checked_in}"
            );
        }
    }
    // Checked in at the instant or later: late, still a no-show.
    for checked_in in [due, due + ms(1), due + Duration::minutes(5)] {
        assert_eq!(
            no_show_fee(
                &t,
                start(),
                Some(checked_in),
                due + Duration::minutes(10),
                800
            ),
            Some(Decision::Take(200)),
            "{checked_in}"
        );
    }
}

#[test]
fn decisions_become_the_fee_recorded() {
    assert_eq!(Decision::NoFee.fee(), None);
    assert_eq!(
        Decision::Take(100).fee(),
        Some(Fee {
            minor: 100,
            waived: None
        })
    );
    assert_eq!(
        Decision::Waive(30, USD_MIN).fee(),
        Some(Fee {
            minor: 30,
            waived: Some(USD_MIN)
        })
    );
}

#[test]
fn a_fee_s_status_follows_the_payment() {
    use PaymentStatus::*;
    let taken = Fee {
        minor: 100,
        waived: None,
    };
    let waived = Fee {
        minor: 30,
        waived: Some(USD_MIN),
    };
    for status in PaymentStatus::ALL {
        let expected = match status {
            Completed | PartiallyRefunded | Refunded => FeeStatus::Charged,
            Authorized => FeeStatus::Pending,
            Pending | RequiresAction | Processing | Failed | Canceled => FeeStatus::Uncollected,
        };
        assert_eq!(taken.status(status), expected, "{status:?}");
        assert_eq!(waived.status(status), FeeStatus::Waived, "{status:?}");
    }
    let shown: Vec<&str> = [
        FeeStatus::Charged,
        FeeStatus::Waived,
        FeeStatus::Pending,
        FeeStatus::Uncollected,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    assert_eq!(shown, ["charged", "waived", "pending", "uncollected"]);
}
