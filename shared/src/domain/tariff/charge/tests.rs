//! Intents and sessions of priced bookings, against hand-computed amounts.

use chrono::{Duration, TimeZone, Utc};

use crate::domain::money::{currency, Money};
use crate::domain::slot::Slot;
use crate::domain::tariff::*;

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

fn slot_minutes(minutes: i64) -> Slot {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap();
    Slot::new(start, start + Duration::minutes(minutes)).unwrap()
}

fn time_only(code: &str, per_hour: &str, step: i64) -> Tariff {
    Tariff::parse(&input(
        code,
        &[("per_hour", per_hour)],
        &[("step_minutes", step)],
    ))
    .unwrap()
}

fn ev_standard() -> Tariff {
    Tariff::parse(&input(
        "usd",
        &[
            ("flat", "0.50"),
            ("per_hour", "3.00"),
            ("per_kwh", "0.35"),
            ("min_price", "2.00"),
            ("max_price", "40.00"),
        ],
        &[("step_minutes", 15)],
    ))
    .unwrap()
}

fn quote_of(tariff: Tariff, minutes: i64) -> Quote {
    let stored = StoredTariff {
        id: TariffId::parse("t").unwrap(),
        version: 1,
        tariff,
    };
    Quote::of(stored, &slot_minutes(minutes))
}

fn money(minor: i64, code: &str) -> Money {
    Money {
        minor,
        currency: currency(code).unwrap(),
    }
}

#[test]
fn an_intent_for_a_priced_booking_is_its_price_or_its_max_price_when_held() {
    let q = quote_of(ev_standard(), 50); // 3.50
    let usd = currency("usd").unwrap();
    assert_eq!(q.check_intent(None, None, false), Ok(money(350, "usd")));
    assert_eq!(
        q.check_intent(None, Some(usd), false),
        Ok(money(350, "usd"))
    );
    assert_eq!(
        q.check_intent(Some(money(350, "usd")), None, false),
        Ok(money(350, "usd"))
    );
    // Manual capture: the tariff's max_price (40.00), what an EV session can cost at most.
    assert_eq!(q.check_intent(None, None, true), Ok(money(4000, "usd")));
    assert_eq!(
        q.check_intent(Some(money(4000, "usd")), None, true),
        Ok(money(4000, "usd"))
    );
    // No max_price: the total, held.
    let t = time_only("usd", "6.00", 15);
    assert_eq!(
        quote_of(t, 60).check_intent(None, None, true),
        Ok(money(600, "usd"))
    );
}

#[test]
fn another_amount_or_currency_is_refused_naming_the_booking_s_price() {
    let q = quote_of(ev_standard(), 50);
    let err = |amount, currency, manual| {
        q.check_intent(amount, currency, manual)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(Some(money(400, "usd")), None, false),
        "amount must be 3.50 usd, the booking's price"
    );
    assert_eq!(
        err(Some(money(350, "usd")), None, true),
        "amount must be 40.00 usd, the booking's authorization (its tariff's max_price)"
    );
    assert_eq!(
        err(Some(money(350, "eur")), None, false),
        "currency must be usd, the currency of the booking's price"
    );
    assert_eq!(
        err(None, Some(currency("jpy").unwrap()), false),
        "currency must be usd, the currency of the booking's price"
    );
}

#[test]
fn a_price_below_stripe_s_minimum_charge_cannot_be_charged() {
    let t = time_only("usd", "0.60", 1); // 30 min: 0.30
    let q = quote_of(t, 30);
    assert_eq!(
        q.check_intent(None, None, false).unwrap_err().to_string(),
        "amount: the booking's price (0.30 usd) is below Stripe's minimum charge (0.50 usd)"
    );
    let jpy = quote_of(time_only("jpy", "100", 1), 20); // 33 yen < 50
    assert_eq!(
        jpy.check_intent(None, None, false).unwrap_err().to_string(),
        "amount: the booking's price (33 jpy) is below Stripe's minimum charge (50 jpy)"
    );
}

#[test]
fn energy_is_read_exactly_in_watt_hours() {
    for (raw, wh) in [
        ("12.345", 12_345),
        ("0", 0),
        ("0.0", 0),
        ("7", 7_000),
        ("1e3", 1_000_000),
        ("10000", 10_000_000),
    ] {
        assert_eq!(parse_energy_kwh(raw), Ok(wh), "{raw}");
    }
    for raw in [
        "-1",
        "-0.001",
        "1.2345",
        "\"1\"",
        "null",
        "10000.001",
        "1e400",
        "NaN",
    ] {
        assert_eq!(
            parse_energy_kwh(raw).unwrap_err().to_string(),
            "energy_kwh must be a JSON number from 0 to 10000 with at most 3 decimals",
            "{raw}"
        );
    }
}

#[test]
fn a_session_is_priced_from_the_frozen_tariff_with_its_energy() {
    let hour = slot_minutes(60);
    let q = quote_of(ev_standard(), 60);
    // 0.50 + 3.00 + 12.345 kWh x 0.35 (4.32075 -> 4.32) = 7.82.
    assert_eq!(session_price(Some(&q), &hour, 12_345), Ok(782));
    // No energy: the quote's 3.50; a huge session: capped at max_price.
    assert_eq!(session_price(Some(&q), &hour, 0), Ok(350));
    assert_eq!(session_price(Some(&q), &hour, 150_000), Ok(4000));
    assert_eq!(
        session_price(None, &hour, 1).unwrap_err().to_string(),
        "energy_kwh needs a booking priced by a tariff; send amount instead"
    );
    let cheap = Tariff::parse(&input(
        "usd",
        &[("per_kwh", "0.10"), ("max_price", "10")],
        &[],
    ))
    .unwrap();
    let q = quote_of(cheap, 60);
    assert_eq!(session_price(Some(&q), &hour, 0), Ok(0)); // releases the hold
    assert_eq!(
        session_price(Some(&q), &hour, 1_000)
            .unwrap_err()
            .to_string(),
        "energy_kwh: the session's price (0.10 usd) is below Stripe's minimum charge (0.50 usd); \
         capture amount 0 to release the hold"
    );
    assert_eq!(session_price(Some(&q), &hour, 5_000), Ok(50));
}
