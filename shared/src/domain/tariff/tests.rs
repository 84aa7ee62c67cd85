//! Tariffs: validation naming the field, and prices against hand-computed amounts (step
//! rounding, min/max adjustment lines, jpy and the three-decimal currencies), then the rules
//! every price keeps over every window.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::domain::money::currency;

fn input<'a>(
    code: &'a str,
    prices: &[(&'a str, &'a str)],
    minutes: &[(&'a str, i64)],
) -> TariffInput<'a> {
    TariffInput {
        currency: code,
        prices: prices.to_vec(),
        minutes: minutes.to_vec(),
    }
}

fn err(input: &TariffInput<'_>) -> String {
    Tariff::parse(input).unwrap_err().to_string()
}

/// The example: `ev-standard`.
fn ev_standard() -> Tariff {
    Tariff::parse(&input(
        "usd",
        &[
            ("flat", "0.50"),
            ("per_hour", "3.00"),
            ("per_kwh", "0.35"),
            ("min_price", "2.00"),
            ("max_price", "40.00"),
            ("late_cancel_fee", "1.00"),
            ("no_show_fee", "2.00"),
        ],
        &[
            ("step_minutes", 15),
            ("free_cancel_minutes", 60),
            ("no_show_after_minutes", 15),
        ],
    ))
    .unwrap()
}

fn slot_minutes(minutes: i64) -> Slot {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap();
    Slot::new(start, start + Duration::minutes(minutes)).unwrap()
}

fn amounts(lines: &[Line]) -> Vec<(&'static str, i64)> {
    lines.iter().map(|l| (l.kind.as_str(), l.minor)).collect()
}

fn time_only(code: &str, per_hour: &str, step: i64) -> Tariff {
    Tariff::parse(&input(
        code,
        &[("per_hour", per_hour)],
        &[("step_minutes", step)],
    ))
    .unwrap()
}

#[test]
fn the_example_tariff_reads_into_minor_units() {
    let t = ev_standard();
    assert_eq!(t.currency.code, "usd");
    assert_eq!(
        (t.flat, t.per_hour, t.per_kwh, t.min_price, t.max_price),
        (Some(50), Some(300), Some(35), Some(200), Some(4000))
    );
    assert_eq!((t.late_cancel_fee, t.no_show_fee), (Some(100), Some(200)));
    assert_eq!(
        (
            t.step_minutes,
            t.free_cancel_minutes,
            t.no_show_after_minutes
        ),
        (15, Some(60), Some(15))
    );
}

#[test]
fn only_the_currency_is_required_and_step_defaults_to_one_minute() {
    let t = Tariff::parse(&input("EUR", &[], &[])).unwrap();
    assert_eq!(t.currency.code, "eur");
    assert_eq!(t.step_minutes, 1);
    assert_eq!(t.flat, None);
    assert!(t.quote(&slot_minutes(30)).is_empty());
}

#[test]
fn fifty_minutes_on_fifteen_minute_steps_bill_an_hour() {
    // flat 0.50 + 4 steps of 15 min at 3.00/h = 3.00: 3.50, between min and max.
    let lines = ev_standard().quote(&slot_minutes(50));
    assert_eq!(amounts(&lines), [("flat", 50), ("time", 300)]);
    assert_eq!(total(&lines), 350);
}

#[test]
fn a_price_below_min_price_gets_a_positive_adjustment_line() {
    // 10 min -> one 15-minute step: 0.75 + 0.50 = 1.25 < 2.00: +0.75 to the minimum.
    let lines = ev_standard().quote(&slot_minutes(10));
    assert_eq!(
        amounts(&lines),
        [("flat", 50), ("time", 75), ("min_price", 75)]
    );
    assert_eq!(total(&lines), 200);
}

#[test]
fn a_price_above_max_price_gets_a_negative_adjustment_line() {
    // 7 days at 3.00/h = 504.00, + 0.50 = 504.50 > 40.00: -464.50.
    let lines = ev_standard().quote(&slot_minutes(7 * 24 * 60));
    assert_eq!(
        amounts(&lines),
        [("flat", 50), ("time", 50_400), ("max_price", -46_450)]
    );
    assert_eq!(total(&lines), 4000);
}

#[test]
fn energy_is_priced_at_capture_and_rounded_half_up() {
    // 12.345 kWh at 0.35 = 4.32075 -> 4.32; 60 min -> 3.00; flat 0.50: 7.82.
    let lines = ev_standard().price(60 * 60_000, Some(12_345));
    assert_eq!(
        amounts(&lines),
        [("flat", 50), ("time", 300), ("energy", 432)]
    );
    assert_eq!(total(&lines), 782);
    // 0.1 kWh -> 0.035 -> 0.04 (half up); 5 min -> 0.75: 1.29 -> +0.71 to 2.00.
    let lines = ev_standard().price(5 * 60_000, Some(100));
    assert_eq!(
        amounts(&lines),
        [("flat", 50), ("time", 75), ("energy", 4), ("min_price", 71)]
    );
    // 150 kWh: 52.50 + 3.00 + 0.50 capped to 40.00.
    let lines = ev_standard().price(60 * 60_000, Some(150_000));
    assert_eq!(
        amounts(&lines),
        [
            ("flat", 50),
            ("time", 300),
            ("energy", 5250),
            ("max_price", -1600)
        ]
    );
    assert_eq!(total(&lines), 4000);
}

#[test]
fn time_lines_round_half_up_to_the_cent() {
    let t = time_only("usd", "1.00", 1);
    // 20 min of 1.00/h = 0.3333 -> 0.33; 25 min = 0.41666 -> 0.42.
    assert_eq!(amounts(&t.quote(&slot_minutes(20))), [("time", 33)]);
    assert_eq!(amounts(&t.quote(&slot_minutes(25))), [("time", 42)]);
    // Exactly half a cent rounds up: 30 min at 0.01/h = 0.005 -> 0.01; 90 min = 0.015 -> 0.02.
    let cent = time_only("usd", "0.01", 1);
    assert_eq!(amounts(&cent.quote(&slot_minutes(30))), [("time", 1)]);
    assert_eq!(amounts(&cent.quote(&slot_minutes(90))), [("time", 2)]);
    // Just under half rounds down: 29 min at 0.01/h = 0.00483 -> 0.00.
    assert_eq!(amounts(&cent.quote(&slot_minutes(29))), [("time", 0)]);
}

#[test]
fn steps_round_the_time_up_to_whole_steps() {
    let t = time_only("usd", "6.00", 15); // 1.50 a step
    for (minutes, steps) in [(5, 1), (15, 1), (16, 2), (30, 2), (44, 3), (45, 3), (46, 4)] {
        assert_eq!(
            amounts(&t.quote(&slot_minutes(minutes))),
            [("time", 150 * steps)],
            "{minutes} min"
        );
    }
    // A millisecond over a step is a step.
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap();
    let slot = Slot::new(start, start + Duration::milliseconds(15 * 60_000 + 1)).unwrap();
    assert_eq!(amounts(&t.quote(&slot)), [("time", 300)]);
}

#[test]
fn jpy_has_no_decimals() {
    let t = time_only("jpy", "300", 1);
    assert_eq!(t.per_hour, Some(300));
    assert_eq!(amounts(&t.quote(&slot_minutes(20))), [("time", 100)]);
    // 100 yen/h for 20 min = 33.3 -> 33 yen; 45 min = 75 yen.
    let t = time_only("jpy", "100", 1);
    assert_eq!(amounts(&t.quote(&slot_minutes(20))), [("time", 33)]);
    assert_eq!(amounts(&t.quote(&slot_minutes(45))), [("time", 75)]);
    assert_eq!(
        err(&input("jpy", &[("flat", "0.5")], &[])),
        "flat has more decimal places than jpy allows (0)"
    );
    assert_eq!(decimal(33, &currency("jpy").unwrap()), "33");
}

#[test]
fn three_decimal_currencies_round_to_ten_minor_units() {
    // 1.000 kwd/h: 20 min = 0.33333 -> 0.330; 25 min = 0.41666 -> 0.420.
    let t = time_only("kwd", "1.000", 1);
    assert_eq!(amounts(&t.quote(&slot_minutes(20))), [("time", 330)]);
    assert_eq!(amounts(&t.quote(&slot_minutes(25))), [("time", 420)]);
    // 0.670/h for 30 min = 0.335: half of the unit, up to 0.340.
    let t = time_only("bhd", "0.670", 1);
    assert_eq!(amounts(&t.quote(&slot_minutes(30))), [("time", 340)]);
    assert_eq!(decimal(340, &currency("bhd").unwrap()), "0.340");
    assert_eq!(
        err(&input("kwd", &[("per_hour", "1.005")], &[])),
        "per_hour has more decimal places than kwd allows (3, and Stripe requires the last one \
         to be 0)"
    );
}

#[test]
fn bad_prices_are_refused_naming_the_field() {
    for field in PRICE_FIELDS {
        let with = |raw: &'static str| input("usd", &[(field, raw)], &[]);
        assert_eq!(err(&with("-1")), format!("{field} must not be negative"));
        assert_eq!(err(&with("-0.01")), format!("{field} must not be negative"));
        assert_eq!(
            err(&with("\"1.00\"")),
            format!("{field} must be a JSON number")
        );
        assert_eq!(err(&with("null")), format!("{field} must be a JSON number"));
        assert_eq!(
            err(&with("0.001")),
            format!("{field} has more decimal places than usd allows (2)")
        );
        assert_eq!(
            err(&with("1000000")),
            format!("{field} must be at most 999999.99 usd")
        );
        assert_eq!(
            err(&with("1e400")),
            format!("{field} must be at most 999999.99 usd")
        );
    }
}

#[test]
fn zero_prices_are_allowed_and_no_minimum_charge_applies_to_a_price() {
    let t = Tariff::parse(&input(
        "usd",
        &[
            ("flat", "0"),
            ("per_hour", "0.01"),
            ("late_cancel_fee", "0.00"),
        ],
        &[],
    ))
    .unwrap();
    assert_eq!(
        (t.flat, t.per_hour, t.late_cancel_fee),
        (Some(0), Some(1), Some(0))
    );
}

#[test]
fn cross_field_rules_name_the_field() {
    assert_eq!(
        err(&input(
            "usd",
            &[("min_price", "5"), ("max_price", "4.99")],
            &[]
        )),
        "max_price must not be below min_price"
    );
    assert!(Tariff::parse(&input(
        "usd",
        &[("min_price", "5"), ("max_price", "5")],
        &[]
    ))
    .is_ok());
    assert_eq!(
        err(&input("usd", &[("per_kwh", "0.35")], &[])),
        "max_price is required with per_kwh (an EV session is authorized for it)"
    );
}

#[test]
fn minutes_are_bounded_naming_the_field() {
    assert_eq!(
        err(&input("usd", &[], &[("step_minutes", 0)])),
        "step_minutes must be a whole number from 1 to 1440"
    );
    assert_eq!(
        err(&input("usd", &[], &[("step_minutes", 1441)])),
        "step_minutes must be a whole number from 1 to 1440"
    );
    for field in ["free_cancel_minutes", "no_show_after_minutes"] {
        assert_eq!(
            err(&input("usd", &[], &[(field, -1)])),
            format!("{field} must be a whole number from 0 to 10080")
        );
        assert_eq!(
            err(&input("usd", &[], &[(field, 10_081)])),
            format!("{field} must be a whole number from 0 to 10080")
        );
        assert!(Tariff::parse(&input("usd", &[], &[(field, 0)])).is_ok());
    }
    assert!(Tariff::parse(&input("usd", &[], &[("step_minutes", 1440)])).is_ok());
}

#[test]
fn unknown_currencies_are_refused() {
    assert_eq!(
        err(&input("xyz", &[], &[])),
        "currency 'xyz' is not supported"
    );
    assert_eq!(err(&input("", &[], &[])), "currency '' is not supported");
}

#[test]
fn tariff_ids() {
    for ok in ["a", "ev-standard", "EV_2026-b", &"x".repeat(64)] {
        assert_eq!(TariffId::parse(ok).unwrap().as_str(), ok);
    }
    for bad in ["", "ev standard", "ev/1", "ev.1", "é", &"x".repeat(65)] {
        assert_eq!(
            TariffId::parse(bad).unwrap_err().to_string(),
            "tariff_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
            "{bad:?}"
        );
    }
}

#[test]
fn line_types_round_trip() {
    for t in [
        LineType::Flat,
        LineType::Time,
        LineType::Energy,
        LineType::MinPrice,
        LineType::MaxPrice,
    ] {
        assert_eq!(LineType::parse(t.as_str()), Some(t));
    }
    assert_eq!(LineType::parse("other"), None);
}

/// Over every window from 5 minutes to 12 hours, minute by minute, in usd, jpy and kwd, on
/// several steps: lines add up, the total is within min/max, every line is a multiple of the
/// chargeable unit, and a longer window never costs less.
#[test]
fn every_price_adds_up_within_its_bounds() {
    let cases = [
        ("usd", "0.25", "2.99", "1.00", "20.00"),
        ("jpy", "30", "333", "100", "2000"),
        ("kwd", "0.100", "0.990", "0.500", "5.000"),
    ];
    for (code, flat, per_hour, min, max) in cases {
        for step in [1, 5, 7, 15, 60] {
            let t = Tariff::parse(&input(
                code,
                &[
                    ("flat", flat),
                    ("per_hour", per_hour),
                    ("min_price", min),
                    ("max_price", max),
                ],
                &[("step_minutes", step)],
            ))
            .unwrap();
            let unit = chargeable_unit(&t.currency);
            let (min, max) = (t.min_price.unwrap(), t.max_price.unwrap());
            let mut last_time = 0;
            for minutes in 5..=12 * 60 {
                let lines = t.quote(&slot_minutes(minutes));
                let sum: i64 = lines.iter().map(|l| l.minor).sum();
                assert_eq!(total(&lines), sum);
                let at = format!("{code} step {step} {minutes} min: {lines:?}");
                assert!((min..=max).contains(&sum), "{at}");
                assert!(lines.iter().all(|l| l.minor % unit == 0), "{at}");
                assert!(lines.len() <= 3, "{at}");
                let time = lines
                    .iter()
                    .find(|l| l.kind == LineType::Time)
                    .unwrap()
                    .minor;
                assert!(time >= last_time, "{at}");
                last_time = time;
                // The time line is the billed steps' exact price, rounded half up.
                let steps = (minutes + step - 1) / step;
                let exact_x2 = 2 * t.per_hour.unwrap() * steps * step;
                let rounded = (exact_x2 + 60 * unit) / (120 * unit) * unit;
                assert_eq!(time, rounded, "{at}");
            }
        }
    }
}
