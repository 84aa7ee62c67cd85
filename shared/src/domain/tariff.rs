//! Tariffs: what an operator charges for a booking (OCPI 2.3's FLAT, TIME and ENERGY price
//! components, with a step size and min/max prices) and the terms it is sold under, and the
//! pure pricing of a booking's window as line items that always add up.
//!
//! # Rounding (the README states the same)
//!
//! Every amount is integer minor units of the tariff's currency. A line is computed exactly as
//! a fraction and rounded once, half up, to the currency's chargeable unit: one minor unit
//! (a cent; a yen for jpy), ten for Stripe's three-decimal currencies (bhd, jod, kwd, omr,
//! tnd: Stripe wants the last decimal 0). Time is billed in whole steps of `step_minutes`,
//! rounded up (a 50-minute booking on 15-minute steps bills 60 minutes). The total is the sum
//! of the rounded lines; when it is below `min_price` or above `max_price` an adjustment line
//! (`min_price` positive, `max_price` negative) brings it to the bound, so the lines always
//! add up to the total in minor units.

use super::error::DomainError;
use super::money::{format_minor, parse_price, Currency, MoneyError};
use super::slot::Slot;

/// `tariff_id`: 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TariffId(String);

impl TariffId {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::invalid(
                "tariff_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TariffId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest step, free-cancel window or no-show delay: a day (a booking lasts at most 7).
pub const MAX_STEP_MINUTES: u32 = 1440;
pub const MAX_TERM_MINUTES: u32 = 7 * 1440;

/// A validated tariff: prices in minor units of `currency`. Made by [`Tariff::parse`] from a
/// request, or by a store reading back what `parse` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tariff {
    pub currency: Currency,
    pub flat: Option<i64>,
    pub per_hour: Option<i64>,
    pub step_minutes: u32,
    pub per_kwh: Option<i64>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub free_cancel_minutes: Option<u32>,
    pub late_cancel_fee: Option<i64>,
    pub no_show_fee: Option<i64>,
    pub no_show_after_minutes: Option<u32>,
}

/// The price fields of a tariff, by name, in the order the API lists them.
pub const PRICE_FIELDS: [&str; 7] = [
    "flat",
    "per_hour",
    "per_kwh",
    "min_price",
    "max_price",
    "late_cancel_fee",
    "no_show_fee",
];
/// The whole-minute fields of a tariff.
pub const MINUTE_FIELDS: [&str; 3] = [
    "step_minutes",
    "free_cancel_minutes",
    "no_show_after_minutes",
];

/// A tariff as a request gives it: the currency code, each price as its JSON number text, each
/// minute field as a whole number (`None`: absent).
#[derive(Debug, Clone, Default)]
pub struct TariffInput<'a> {
    pub currency: &'a str,
    /// `(field, raw JSON text)` for the fields of [`PRICE_FIELDS`] present.
    pub prices: Vec<(&'a str, &'a str)>,
    /// `(field, value)` for the fields of [`MINUTE_FIELDS`] present.
    pub minutes: Vec<(&'a str, i64)>,
}

impl Tariff {
    /// Every rule, each failure naming its field: a supported currency; prices JSON numbers,
    /// not negative, exact in the currency, at most Stripe's maximum; `step_minutes` 1 to 1440
    /// (default 1); the other minutes 0 to 10080; `max_price` not below `min_price`; a tariff
    /// with `per_kwh` has a `max_price` (what an EV session is authorized for).
    pub fn parse(input: &TariffInput<'_>) -> Result<Self, DomainError> {
        let currency = super::money::currency(input.currency)?;
        let price = |name: &str| -> Result<Option<i64>, DomainError> {
            let Some((_, raw)) = input.prices.iter().find(|(f, _)| *f == name) else {
                return Ok(None);
            };
            parse_price(raw, &currency)
                .map(Some)
                .map_err(|e| DomainError::invalid(name_field(name, &e)))
        };
        let minutes = |name: &str, min: u32, max: u32| -> Result<Option<u32>, DomainError> {
            let Some((_, value)) = input.minutes.iter().find(|(f, _)| *f == name) else {
                return Ok(None);
            };
            u32::try_from(*value)
                .ok()
                .filter(|v| (min..=max).contains(v))
                .map(Some)
                .ok_or_else(|| {
                    DomainError::invalid(format!(
                        "{name} must be a whole number from {min} to {max}"
                    ))
                })
        };
        let tariff = Self {
            currency,
            flat: price("flat")?,
            per_hour: price("per_hour")?,
            step_minutes: minutes("step_minutes", 1, MAX_STEP_MINUTES)?.unwrap_or(1),
            per_kwh: price("per_kwh")?,
            min_price: price("min_price")?,
            max_price: price("max_price")?,
            free_cancel_minutes: minutes("free_cancel_minutes", 0, MAX_TERM_MINUTES)?,
            late_cancel_fee: price("late_cancel_fee")?,
            no_show_fee: price("no_show_fee")?,
            no_show_after_minutes: minutes("no_show_after_minutes", 0, MAX_TERM_MINUTES)?,
        };
        if let (Some(min), Some(max)) = (tariff.min_price, tariff.max_price) {
            if max < min {
                return Err(DomainError::invalid(
                    "max_price must not be below min_price",
                ));
            }
        }
        if tariff.per_kwh.is_some() && tariff.max_price.is_none() {
            return Err(DomainError::invalid(
                "max_price is required with per_kwh (an EV session is authorized for it)",
            ));
        }
        Ok(tariff)
    }

    /// The tariff's price of `slot` before energy: the flat fee and the time in whole steps,
    /// within min/max. A per-kWh tariff's energy is priced at capture.
    pub fn quote(&self, slot: &Slot) -> Vec<Line> {
        self.price(slot.end_ms() - slot.start_ms(), None)
    }

    /// The lines of a session of `duration_ms` that used `energy_wh` watt-hours (`None`: not
    /// known yet): flat, time, energy (each only when the tariff has it), then at most one
    /// adjustment to `min_price` or `max_price`.
    pub fn price(&self, duration_ms: i64, energy_wh: Option<u64>) -> Vec<Line> {
        let unit = chargeable_unit(&self.currency);
        let mut lines = Vec::new();
        if let Some(flat) = self.flat {
            lines.push(Line::new(LineType::Flat, flat));
        }
        if let Some(per_hour) = self.per_hour {
            let step_ms = i128::from(self.step_minutes) * 60_000;
            let duration = i128::from(duration_ms.max(0));
            let billed_ms = (duration + step_ms - 1) / step_ms * step_ms;
            let amount = round_half_up(i128::from(per_hour) * billed_ms, 3_600_000, unit);
            lines.push(Line::new(LineType::Time, amount));
        }
        if let (Some(per_kwh), Some(wh)) = (self.per_kwh, energy_wh) {
            let amount = round_half_up(i128::from(per_kwh) * i128::from(wh), 1000, unit);
            lines.push(Line::new(LineType::Energy, amount));
        }
        let subtotal: i64 = lines.iter().map(|l| l.minor).sum();
        if let Some(min) = self.min_price.filter(|&min| subtotal < min) {
            lines.push(Line::new(LineType::MinPrice, min - subtotal));
        } else if let Some(max) = self.max_price.filter(|&max| subtotal > max) {
            lines.push(Line::new(LineType::MaxPrice, max - subtotal));
        }
        lines
    }
}

/// Replaces the leading `amount` of a money error's text by the field's name.
fn name_field(field: &str, err: &MoneyError) -> String {
    let text = match err {
        // Zero is allowed here, so a "not positive" amount is a negative one.
        MoneyError::NotPositive => MoneyError::Negative.to_string(),
        other => other.to_string(),
    };
    match text.strip_prefix("amount") {
        Some(rest) => format!("{field}{rest}"),
        None => text,
    }
}

/// The smallest amount Stripe charges in: one minor unit, ten for three-decimal currencies.
pub fn chargeable_unit(currency: &Currency) -> i64 {
    if currency.exponent == 3 {
        10
    } else {
        1
    }
}

/// `numerator / denominator` minor units rounded half up to a multiple of `unit` (all positive,
/// `numerator` not negative). Saturates at `i64::MAX` (never reached by validated tariffs: a
/// price is at most 10^8 and a booking at most 7 days).
fn round_half_up(numerator: i128, denominator: i128, unit: i64) -> i64 {
    let unit = i128::from(unit);
    let steps = (2 * numerator + denominator * unit) / (2 * denominator * unit);
    i64::try_from(steps * unit).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineType {
    Flat,
    Time,
    Energy,
    MinPrice,
    MaxPrice,
}

impl LineType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flat => "flat",
            Self::Time => "time",
            Self::Energy => "energy",
            Self::MinPrice => "min_price",
            Self::MaxPrice => "max_price",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Flat,
            Self::Time,
            Self::Energy,
            Self::MinPrice,
            Self::MaxPrice,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// One line of a price: its type and amount in minor units (negative only for a `max_price`
/// adjustment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub kind: LineType,
    pub minor: i64,
}

impl Line {
    pub fn new(kind: LineType, minor: i64) -> Self {
        Self { kind, minor }
    }
}

/// The total of `lines` in minor units.
pub fn total(lines: &[Line]) -> i64 {
    lines.iter().map(|l| l.minor).sum()
}

/// An amount of `currency` as decimal text (`-0.50`).
pub fn decimal(minor: i64, currency: &Currency) -> String {
    format_minor(minor, currency)
}

/// A stored tariff: its id, its version (1 when created, one more for every change) and its
/// content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTariff {
    pub id: TariffId,
    pub version: u64,
    pub tariff: Tariff,
}

/// The price a booking of a window gets: the tariff (id, version and content, as frozen on a
/// booking) and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub tariff: StoredTariff,
    pub lines: Vec<Line>,
}

impl Quote {
    pub fn of(tariff: StoredTariff, slot: &Slot) -> Self {
        let lines = tariff.tariff.quote(slot);
        Self { tariff, lines }
    }

    pub fn total_minor(&self) -> i64 {
        total(&self.lines)
    }
}

/// What a tariff applies to: one asset, or every asset of a type that has none of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TariffTarget {
    Asset(super::AssetId),
    AssetType(super::AssetType),
}

mod charge;
pub use charge::{parse_energy_kwh, session_price, MAX_ENERGY_WH};

#[cfg(test)]
mod tests;
