//! What a priced booking is charged: the intent's amount (create-intent), and an EV session's
//! price from its energy (capture).

use super::{total, Quote};
use crate::domain::error::DomainError;
use crate::domain::money::{format_minor, Currency, Money};
use crate::domain::slot::Slot;

impl Quote {
    /// What a booking with this price is charged (automatic capture: the total) or authorized
    /// for (manual capture: the tariff's `max_price`, else the total).
    pub fn intent_amount(&self, manual: bool) -> Money {
        let tariff = &self.tariff.tariff;
        let minor = match (manual, tariff.max_price) {
            (true, Some(max)) => max,
            _ => self.total_minor(),
        };
        Money {
            minor,
            currency: tariff.currency,
        }
    }

    /// The amount of an intent for this price: `asked` (the client's amount, if any, and its
    /// currency, if given) must be exactly [`Quote::intent_amount`], which must be chargeable.
    /// Each refusal names the booking's price.
    pub fn check_intent(
        &self,
        asked: Option<Money>,
        currency: Option<Currency>,
        manual: bool,
    ) -> Result<Money, DomainError> {
        let due = self.intent_amount(manual);
        let code = due.currency.code;
        let what = if manual && self.tariff.tariff.max_price.is_some() {
            "the booking's authorization (its tariff's max_price)"
        } else {
            "the booking's price"
        };
        let currency = asked.map(|m| m.currency).or(currency);
        if currency.is_some_and(|c| c != due.currency) {
            return Err(DomainError::invalid(format!(
                "currency must be {code}, the currency of the booking's price"
            )));
        }
        match asked {
            Some(m) if m.minor != due.minor => Err(DomainError::invalid(format!(
                "amount must be {} {code}, {what}",
                due.decimal()
            ))),
            Some(m) => Ok(m),
            None if due.minor < due.currency.min_minor => Err(DomainError::invalid(format!(
                "amount: {what} ({} {code}) is below Stripe's minimum charge ({} {code})",
                due.decimal(),
                format_minor(due.currency.min_minor, &due.currency)
            ))),
            None => Ok(due),
        }
    }
}

/// The most energy one session may report, in Wh: 10 MWh.
pub const MAX_ENERGY_WH: i64 = 10_000_000;

/// A capture's `energy_kwh` (JSON number text): not negative, at most 3 decimals (Wh), at most
/// 10,000 kWh; in Wh.
pub fn parse_energy_kwh(raw: &str) -> Result<u64, DomainError> {
    crate::domain::money::parse_quantity(raw, 3, MAX_ENERGY_WH)
        .and_then(|wh| u64::try_from(wh).ok())
        .ok_or_else(|| {
            DomainError::invalid(
                "energy_kwh must be a JSON number from 0 to 10000 with at most 3 decimals",
            )
        })
}

/// What an EV session that used `energy_wh` costs, captured from its hold: the booking's
/// frozen tariff's flat, time (the booked slot) and energy lines, within min/max. 0 releases
/// the hold; a positive price below Stripe's minimum charge cannot be captured.
pub fn session_price(
    price: Option<&Quote>,
    slot: &Slot,
    energy_wh: u64,
) -> Result<i64, DomainError> {
    let Some(price) = price else {
        return Err(DomainError::invalid(
            "energy_kwh needs a booking priced by a tariff; send amount instead",
        ));
    };
    let tariff = &price.tariff.tariff;
    let minor = total(&tariff.price(slot.end_ms() - slot.start_ms(), Some(energy_wh)));
    let c = &tariff.currency;
    if minor > 0 && minor < c.min_minor {
        return Err(DomainError::invalid(format!(
            "energy_kwh: the session's price ({} {code}) is below Stripe's minimum charge ({} \
             {code}); capture amount 0 to release the hold",
            format_minor(minor, c),
            format_minor(c.min_minor, c),
            code = c.code
        )));
    }
    Ok(minor)
}

#[cfg(test)]
mod tests;
