//! Exact money: request amounts to integer minor units and back, with no floating point anywhere.
//!
//! # Why no floats
//!
//! A client sends `"amount": 3.50`; Stripe wants the integer `350` (cents). Going through `f64`
//! is wrong in both directions: most decimal fractions have no exact binary representation
//! (`0.29 * 100.0 == 28.999999999999996`), large values lose digits silently, and `1e308`,
//! `NaN` or `-0.0` sneak through arithmetic. So [`parse_amount`] reads the exact JSON text of the
//! value (`serde_json::value::RawValue::get()`), parses the JSON number grammar itself into a
//! decimal significand and a power of ten, and scales it into minor units with checked `i64`
//! arithmetic. Anything that is not exactly representable in the currency's minor unit is
//! rejected, never rounded; anything too large is rejected, never overflowed or saturated.
//! [`format_minor`] is the inverse, again with integers only.
//!
//! # Where the currency table comes from
//!
//! Stripe's documentation (<https://docs.stripe.com/currencies>):
//! - "Zero-decimal currencies": bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf.
//! - "Three-decimal currencies": bhd jod kwd omr tnd; Stripe requires the last of the three
//!   decimals to be 0, i.e. the amount in minor units must be a multiple of 10.
//! - "Minimum and maximum charge amounts": the minimum per settlement currency (usd 0.50, gbp
//!   0.30, jpy 50, ...) and an 8-digit limit on the integer amount (99,999,999 minor units, so
//!   usd 999,999.99).
//!
//! Only the currencies listed here are supported; adding one means adding a row with its
//! exponent and minimum. Codes are canonical lowercase, as Stripe's API uses them.

/// A supported currency: its ISO code as Stripe spells it (lowercase), the number of decimals of
/// its minor unit, and the accepted range of an amount in minor units (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub exponent: u32,
    pub min_minor: i64,
    pub max_minor: i64,
}

/// Stripe's 8-digit limit on `amount`, the same for every currency (usd 999,999.99).
const MAX_MINOR: i64 = 99_999_999;

const fn cur(code: &'static str, exponent: u32, min_minor: i64) -> Currency {
    Currency {
        code,
        exponent,
        min_minor,
        max_minor: MAX_MINOR,
    }
}

/// The supported currencies. Keep it explicit: every row is checked by the tests below.
const CURRENCIES: &[Currency] = &[
    // Two-decimal currencies: exactly Stripe's published minimum-charge table.
    cur("usd", 2, 50),
    cur("aud", 2, 50),
    cur("brl", 2, 50),
    cur("cad", 2, 50),
    cur("chf", 2, 50),
    cur("eur", 2, 50),
    cur("inr", 2, 50),
    cur("nzd", 2, 50),
    cur("sgd", 2, 50),
    cur("gbp", 2, 30),
    cur("aed", 2, 200),
    cur("czk", 2, 1_500),
    cur("dkk", 2, 250),
    cur("hkd", 2, 400),
    cur("huf", 2, 17_500),
    cur("mxn", 2, 1_000),
    cur("myr", 2, 200),
    cur("nok", 2, 300),
    cur("pln", 2, 200),
    cur("ron", 2, 200),
    cur("sek", 2, 300),
    cur("thb", 2, 1_000),
    // Zero-decimal currencies. Only jpy (50) has a published minimum. For the others Stripe's
    // rule is "the equivalent of the minimum in your settlement currency", which moves with the
    // exchange rate, so these are OUR conservative choices: roughly USD 0.50 at early-2025
    // rates, rounded UP to a round number, so that Stripe does not refuse an amount we accepted.
    cur("bif", 0, 1_500),  // ~2,900 BIF per USD
    cur("clp", 0, 500),    // ~950 CLP per USD
    cur("djf", 0, 100),    // ~178 DJF per USD
    cur("gnf", 0, 5_000),  // ~8,600 GNF per USD
    cur("jpy", 0, 50),     // published by Stripe
    cur("kmf", 0, 250),    // ~460 KMF per USD
    cur("krw", 0, 750),    // ~1,400 KRW per USD
    cur("mga", 0, 2_500),  // ~4,600 MGA per USD
    cur("pyg", 0, 4_000),  // ~7,800 PYG per USD
    cur("rwf", 0, 750),    // ~1,400 RWF per USD
    cur("ugx", 0, 2_000),  // ~3,700 UGX per USD
    cur("vnd", 0, 15_000), // ~25,500 VND per USD
    cur("vuv", 0, 65),     // ~120 VUV per USD
    cur("xaf", 0, 350),    // ~610 XAF per USD
    cur("xof", 0, 350),    // ~610 XOF per USD
    cur("xpf", 0, 60),     // ~110 XPF per USD
    // Three-decimal currencies: no published minimum either; same rule as above (about USD
    // 0.50, rounded up), and a multiple of 10 minor units as Stripe requires for these.
    cur("bhd", 3, 190),   // 0.190 BHD; ~0.376 BHD per USD
    cur("jod", 3, 360),   // 0.360 JOD; ~0.709 JOD per USD
    cur("kwd", 3, 160),   // 0.160 KWD; ~0.308 KWD per USD
    cur("omr", 3, 200),   // 0.200 OMR; ~0.385 OMR per USD
    cur("tnd", 3, 1_600), // 1.600 TND; ~3.1 TND per USD
];

/// An exact amount of money: integer minor units of a supported currency. Made only by
/// [`Money::parse`] (a client's JSON number text) or [`Money::parse_minor`] (minor units from
/// storage or Stripe), so its currency is always one we support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// A client's amount (`3.50`) in `currency`, with every rule of [`parse_amount`].
    pub fn parse(raw: &str, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Self {
            minor: parse_amount(raw, &currency)?,
            currency,
        })
    }

    /// An amount already in minor units (a stored booking, a Stripe object): the currency must
    /// be supported and the amount not negative; the charge minimum does not apply (a refund
    /// or a received amount can be below it).
    pub fn parse_minor(minor: i64, currency_code: &str) -> Result<Self, MoneyError> {
        let currency = currency(currency_code)?;
        if minor < 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(Self { minor, currency })
    }

    /// The exact decimal text (350 usd -> `3.50`), a valid JSON number.
    pub fn decimal(&self) -> String {
        format_minor(self.minor, &self.currency)
    }
}

/// Why an amount or currency was refused. The `Display` text is the client-facing 400 `detail`
/// and always names the field (`amount` or `currency`).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    /// Not JSON number text: a string (even `"3.50"`), `null`, a boolean, an object, `NaN`, ...
    #[error("amount must be a JSON number")]
    NotANumber,
    /// Zero, `-0`, or negative.
    #[error("amount must be greater than zero")]
    NotPositive,
    /// Below zero where zero is allowed (a capture of 0 releases the hold).
    #[error("amount must not be negative")]
    Negative,
    /// Not an exact multiple of the currency's minor unit (`0.005` usd).
    #[error("amount has more decimal places than {currency} allows ({exponent})")]
    TooManyDecimals {
        currency: &'static str,
        exponent: u32,
    },
    /// Three-decimal currencies: Stripe requires the last decimal to be 0 (`1.235` kwd).
    #[error(
        "amount has more decimal places than {currency} allows (3, and Stripe requires the last \
         one to be 0)"
    )]
    LastDecimalMustBeZero { currency: &'static str },
    /// Below the currency's minimum charge. `min` is formatted as by [`format_minor`].
    #[error("amount must be at least {min} {currency}")]
    BelowMinimum { min: String, currency: &'static str },
    /// Above Stripe's maximum (or far too large to represent at all: `1e308`).
    #[error("amount must be at most {max} {currency}")]
    AboveMaximum { max: String, currency: &'static str },
    /// A currency code not in the table; holds the code as given (shortened if very long).
    #[error("currency '{0}' is not supported")]
    UnsupportedCurrency(String),
}

/// Case-insensitive lookup ("USD" and "usd" both work); returns the lowercase canonical code in `code`.
pub fn currency(code: &str) -> Result<Currency, MoneyError> {
    CURRENCIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
        .copied()
        .ok_or_else(|| {
            // Echo the client's code back, but never an unbounded amount of it.
            let shown: String = code.chars().take(32).collect();
            MoneyError::UnsupportedCurrency(shown)
        })
}

/// `raw` is the exact JSON text of the request's `amount` value (from serde_json::value::RawValue::get(), e.g. `3.50`, `4`, `3.5e0`, `"3.50"`, `null`, `true`). Returns integer minor units.
///
/// Checks, in order: JSON number grammar (`NotANumber`), sign and zero (`NotPositive`), exact
/// multiple of the minor unit (`TooManyDecimals`, then `LastDecimalMustBeZero` for three-decimal
/// currencies), then the currency's range (`BelowMinimum`, `AboveMaximum`). Values too large to
/// fit an `i64` at all are `AboveMaximum`.
pub fn parse_amount(raw: &str, currency: &Currency) -> Result<i64, MoneyError> {
    let minor = parse_chargeable(raw, currency)?;
    if minor < currency.min_minor {
        return Err(MoneyError::BelowMinimum {
            min: format_minor(currency.min_minor, currency),
            currency: currency.code,
        });
    }
    Ok(minor)
}

/// A price or fee in a tariff (`raw` as for [`parse_amount`]): zero allowed and no minimum
/// charge (a 0.35 per-kWh rate is not a charge), otherwise every rule of [`parse_amount`]:
/// exact in the minor unit, Stripe's trailing zero for three-decimal currencies, at most
/// Stripe's maximum. Negative amounts are refused as such.
pub fn parse_price(raw: &str, currency: &Currency) -> Result<i64, MoneyError> {
    if check_capture_amount(raw)? {
        return Ok(0);
    }
    parse_chargeable(raw, currency)
}

/// Every rule of [`parse_amount`] but the minimum charge.
fn parse_chargeable(raw: &str, currency: &Currency) -> Result<i64, MoneyError> {
    let number = parse_json_number(raw).ok_or(MoneyError::NotANumber)?;

    // The significand's digits without leading zeros; none left means the value is zero.
    let first_nonzero = number.digits.iter().position(|&d| d != b'0');
    let Some(first_nonzero) = first_nonzero else {
        return Err(MoneyError::NotPositive);
    };
    if number.negative {
        return Err(MoneyError::NotPositive);
    }
    let digits = &number.digits[first_nonzero..];

    // value = digits * 10^exponent10; in minor units: digits * 10^(exponent10 + currency exponent).
    // Move trailing zeros of the significand into the power of ten (`3.500` is `35 * 10^-1`).
    let trailing_zeros = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let significand = &digits[..digits.len() - trailing_zeros];
    let scale = number
        .exponent10
        .saturating_add(i64::from(currency.exponent))
        .saturating_add(i64::try_from(trailing_zeros).unwrap_or(i64::MAX));

    if scale < 0 {
        // The significand has no trailing zero, so a negative power of ten leaves a fraction of
        // a minor unit.
        return Err(MoneyError::TooManyDecimals {
            currency: currency.code,
            exponent: currency.exponent,
        });
    }

    let too_large = || MoneyError::AboveMaximum {
        max: format_minor(currency.max_minor, currency),
        currency: currency.code,
    };
    let mut minor: i64 = 0;
    for &d in significand {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(i64::from(d - b'0')))
            .ok_or_else(too_large)?;
    }
    let scale = u32::try_from(scale).map_err(|_| too_large())?;
    let minor = 10_i64
        .checked_pow(scale)
        .and_then(|p| minor.checked_mul(p))
        .ok_or_else(too_large)?;

    if currency.exponent == 3 && minor % 10 != 0 {
        return Err(MoneyError::LastDecimalMustBeZero {
            currency: currency.code,
        });
    }
    if minor > currency.max_minor {
        return Err(too_large());
    }
    Ok(minor)
}

/// A quantity that is not money (`energy_kwh`): `raw` JSON number text, not negative, with at
/// most `decimals` decimals, as an integer of 10^-`decimals` units (12.345 kWh, 3 -> 12345 Wh).
/// `None` for anything else, or beyond `max` units.
pub fn parse_quantity(raw: &str, decimals: u32, max: i64) -> Option<i64> {
    let number = parse_json_number(raw)?;
    let first_nonzero = number.digits.iter().position(|&d| d != b'0');
    let Some(first_nonzero) = first_nonzero else {
        return Some(0);
    };
    if number.negative {
        return None;
    }
    let digits = &number.digits[first_nonzero..];
    let trailing_zeros = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let significand = &digits[..digits.len() - trailing_zeros];
    let scale = number
        .exponent10
        .saturating_add(i64::from(decimals))
        .saturating_add(i64::try_from(trailing_zeros).ok()?);
    let scale = u32::try_from(scale).ok()?;
    let mut value: i64 = 0;
    for &d in significand {
        value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    let value = 10_i64.checked_pow(scale)?.checked_mul(value)?;
    (value <= max).then_some(value)
}

/// A capture's `amount` (`raw` as for [`parse_amount`]): zero (any spelling of it, `0`,
/// `0.00`, `0e3`) releases the hold and is `Ok(0)`; anything else obeys every rule of
/// [`parse_amount`], so a positive amount below the currency's minimum charge is refused
/// before Stripe is asked. Negative amounts are refused as such.
pub fn parse_capture_amount(raw: &str, currency: &Currency) -> Result<i64, MoneyError> {
    if check_capture_amount(raw)? {
        return Ok(0);
    }
    parse_amount(raw, currency)
}

/// The checks of [`parse_capture_amount`] that need no currency (a JSON number, not
/// negative), for a body read before the payment's currency is known. `Ok(true)`: zero.
pub fn check_capture_amount(raw: &str) -> Result<bool, MoneyError> {
    let number = parse_json_number(raw).ok_or(MoneyError::NotANumber)?;
    if number.digits.iter().all(|&d| d == b'0') {
        return Ok(true);
    }
    if number.negative {
        return Err(MoneyError::Negative);
    }
    Ok(false)
}

/// Formats minor units as a plain decimal with exactly `exponent` decimals: (350, usd) -> "3.50", (500, jpy) -> "500", (1230, kwd) -> "1.230". Must itself be valid JSON number text.
///
/// Negative values get a leading `-` (`-0.50`); the result is always valid JSON number text.
pub fn format_minor(minor: i64, currency: &Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    let exponent = currency.exponent as usize;
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    // Left-pad so there is at least one digit before the point: 5 usd -> "005" -> "0.05".
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (units, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{units}.{fraction}")
}

/// A JSON number read exactly: `-`? digits (integer part then fraction, concatenated) times
/// 10^`exponent10`.
struct JsonNumber {
    negative: bool,
    digits: Vec<u8>,
    exponent10: i64,
}

/// Parses RFC 8259's number grammar, nothing more:
/// `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`, surrounded by optional JSON whitespace.
/// Returns `None` for anything else (strings, literals, `+1`, `01`, `.5`, `1.`, `NaN`, ...).
fn parse_json_number(raw: &str) -> Option<JsonNumber> {
    let text = raw.trim_matches([' ', '\t', '\n', '\r']).as_bytes();
    let mut i = 0;
    let at = |i: usize| text.get(i).copied();
    let is_digit = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit());

    let negative = at(i) == Some(b'-');
    if negative {
        i += 1;
    }

    let mut digits = Vec::new();
    match at(i) {
        Some(b'0') => {
            digits.push(b'0');
            i += 1;
            if is_digit(at(i)) {
                return None; // leading zero: `01`
            }
        }
        Some(b'1'..=b'9') => {
            while let Some(d @ b'0'..=b'9') = at(i) {
                digits.push(d);
                i += 1;
            }
        }
        _ => return None,
    }

    let mut fraction_len: i64 = 0;
    if at(i) == Some(b'.') {
        i += 1;
        if !is_digit(at(i)) {
            return None; // `1.`
        }
        while let Some(d @ b'0'..=b'9') = at(i) {
            digits.push(d);
            fraction_len += 1;
            i += 1;
        }
    }

    let mut exponent: i64 = 0;
    if matches!(at(i), Some(b'e' | b'E')) {
        i += 1;
        let exponent_negative = match at(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        if !is_digit(at(i)) {
            return None; // `1e`, `1e+`
        }
        // Saturate: any exponent beyond this is "far too large" or "far too small" anyway, and
        // the digit count of the text (at most a request body) cannot make up for it.
        const EXPONENT_LIMIT: i64 = 1_000_000_000_000;
        while let Some(d @ b'0'..=b'9') = at(i) {
            exponent = (exponent * 10 + i64::from(d - b'0')).min(EXPONENT_LIMIT);
            i += 1;
        }
        if exponent_negative {
            exponent = -exponent;
        }
    }

    if i != text.len() {
        return None; // trailing garbage
    }
    Some(JsonNumber {
        negative,
        digits,
        exponent10: exponent - fraction_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        currency(code).unwrap()
    }

    fn usd(raw: &str) -> Result<i64, MoneyError> {
        parse_amount(raw, &c("usd"))
    }

    fn decimals(code: &'static str) -> MoneyError {
        let cur = c(code);
        MoneyError::TooManyDecimals {
            currency: cur.code,
            exponent: cur.exponent,
        }
    }

    fn above(code: &'static str) -> MoneyError {
        let cur = c(code);
        MoneyError::AboveMaximum {
            max: format_minor(cur.max_minor, &cur),
            currency: cur.code,
        }
    }

    fn below(code: &'static str) -> MoneyError {
        let cur = c(code);
        MoneyError::BelowMinimum {
            min: format_minor(cur.min_minor, &cur),
            currency: cur.code,
        }
    }

    // ---- the brief's examples ----

    #[test]
    fn examples_from_the_contract() {
        assert_eq!(usd("3.50"), Ok(350));
        assert_eq!(usd("4"), Ok(400));
        assert_eq!(usd("3.5e0"), Ok(350));
        assert_eq!(usd("35e-1"), Ok(350));
        assert_eq!(usd("1e2"), Ok(10_000));
        assert_eq!(usd("3.500"), Ok(350));
        assert_eq!(usd("\"3.50\""), Err(MoneyError::NotANumber));
        assert_eq!(usd("null"), Err(MoneyError::NotANumber));
        assert_eq!(usd("true"), Err(MoneyError::NotANumber));
        assert_eq!(usd("0.005"), Err(decimals("usd")));
        assert_eq!(usd("1e308"), Err(above("usd")));
        assert_eq!(usd("1e-400"), Err(decimals("usd")));
    }

    #[test]
    fn display_texts_name_the_field() {
        assert_eq!(
            MoneyError::NotANumber.to_string(),
            "amount must be a JSON number"
        );
        assert_eq!(
            MoneyError::NotPositive.to_string(),
            "amount must be greater than zero"
        );
        assert_eq!(
            usd("0.005").unwrap_err().to_string(),
            "amount has more decimal places than usd allows (2)"
        );
        assert_eq!(
            usd("0.49").unwrap_err().to_string(),
            "amount must be at least 0.50 usd"
        );
        assert_eq!(
            usd("1000000").unwrap_err().to_string(),
            "amount must be at most 999999.99 usd"
        );
        assert_eq!(
            currency("xyz").unwrap_err().to_string(),
            "currency 'xyz' is not supported"
        );
        assert_eq!(
            parse_amount("1.5", &c("jpy")).unwrap_err().to_string(),
            "amount has more decimal places than jpy allows (0)"
        );
        assert_eq!(
            parse_amount("1.235", &c("kwd")).unwrap_err().to_string(),
            "amount has more decimal places than kwd allows (3, and Stripe requires the last one \
             to be 0)"
        );
        assert_eq!(
            parse_amount("49", &c("jpy")).unwrap_err().to_string(),
            "amount must be at least 50 jpy"
        );
        assert_eq!(
            parse_amount("0.150", &c("kwd")).unwrap_err().to_string(),
            "amount must be at least 0.160 kwd"
        );
        // Every message names its field.
        for err in [
            MoneyError::NotANumber,
            MoneyError::NotPositive,
            decimals("usd"),
            MoneyError::LastDecimalMustBeZero { currency: "kwd" },
            below("usd"),
            above("usd"),
        ] {
            assert!(err.to_string().starts_with("amount "), "{err}");
        }
        assert!(MoneyError::UnsupportedCurrency("x".into())
            .to_string()
            .starts_with("currency "));
    }

    // ---- grammar ----

    #[test]
    fn not_json_numbers() {
        for raw in [
            "\"3.50\"",
            "\"350\"",
            "\"\"",
            "null",
            "true",
            "false",
            "{}",
            "{\"value\":3.5}",
            "[]",
            "[3.5]",
            "NaN",
            "-NaN",
            "Infinity",
            "-Infinity",
            "inf",
            "",
            " ",
            "-",
            "+1",
            "+3.50",
            "01",
            "00",
            "-01",
            "001.5",
            ".5",
            "-.5",
            "1.",
            "1.e2",
            "1e",
            "1e+",
            "1e-",
            "1E",
            "e2",
            "1.2.3",
            "1e2e3",
            "1,5",
            "3.50usd",
            "3.50 4",
            "0x10",
            "1_000",
            "１",   // full-width digit
            "٣.٥٠", // Arabic-Indic digits
            "3.5f",
            "--1",
            "1e2.5",
        ] {
            assert_eq!(usd(raw), Err(MoneyError::NotANumber), "{raw:?}");
        }
    }

    #[test]
    fn json_whitespace_around_the_value_is_tolerated() {
        assert_eq!(usd(" 3.50"), Ok(350));
        assert_eq!(usd("3.50\n"), Ok(350));
        assert_eq!(usd("\t\r\n3.50 "), Ok(350));
        // but not inside it
        assert_eq!(usd("3. 50"), Err(MoneyError::NotANumber));
        assert_eq!(usd("- 3.50"), Err(MoneyError::NotANumber));
    }

    #[test]
    fn exponent_forms() {
        assert_eq!(usd("3.5e0"), Ok(350));
        assert_eq!(usd("3.5E0"), Ok(350));
        assert_eq!(usd("3.5e+0"), Ok(350));
        assert_eq!(usd("3.5e-0"), Ok(350));
        assert_eq!(usd("35e-1"), Ok(350));
        assert_eq!(usd("350e-2"), Ok(350));
        assert_eq!(usd("3500e-3"), Ok(350));
        assert_eq!(usd("0.35e1"), Ok(350));
        assert_eq!(usd("0.035E+2"), Ok(350));
        assert_eq!(usd("1e2"), Ok(10_000));
        assert_eq!(usd("1E2"), Ok(10_000));
        assert_eq!(usd("1e+2"), Ok(10_000));
        assert_eq!(usd("1e002"), Ok(10_000));
        assert_eq!(usd("5e-1"), Ok(50));
        assert_eq!(usd("5e-2"), Err(below("usd")));
        assert_eq!(usd("5e-3"), Err(decimals("usd")));
        assert_eq!(usd("35e-3"), Err(decimals("usd")));
        assert_eq!(usd("350000e-5"), Ok(350));
        assert_eq!(usd("3500000000000000000000e-21"), Ok(350));
        assert_eq!(usd("9.9999999e5"), Ok(99_999_999));
        assert_eq!(usd("1e6"), Err(above("usd")));
    }

    #[test]
    fn trailing_zeros_are_exact() {
        assert_eq!(usd("3.500"), Ok(350));
        assert_eq!(usd("3.50000000000000000000000000000000000000"), Ok(350));
        assert_eq!(usd("4.0"), Ok(400));
        assert_eq!(usd("4.00"), Ok(400));
        assert_eq!(parse_amount("500.0", &c("jpy")), Ok(500));
        assert_eq!(parse_amount("500.000", &c("jpy")), Ok(500));
        assert_eq!(parse_amount("1.2300", &c("kwd")), Ok(1_230));
        assert_eq!(usd("3.5000000000000000000000000001"), Err(decimals("usd")));
    }

    // ---- sign and zero ----

    #[test]
    fn zero_and_negatives_are_not_positive() {
        for raw in [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "0.00",
            "0e0",
            "0e5",
            "-0e-5",
            "0E+999999",
            "0.000e-400",
            "-1",
            "-3.50",
            "-0.01",
            "-1e2",
            "-1e308",
            "-1e-400",
            "-0.005",
        ] {
            assert_eq!(usd(raw), Err(MoneyError::NotPositive), "{raw:?}");
        }
    }

    // ---- precision ----

    #[test]
    fn more_decimals_than_the_currency_allows() {
        for raw in [
            "0.005",
            "3.501",
            "3.505",
            "1.999",
            "0.001",
            "999999.999",
            "1e-3",
            "1e-400",
            "1e-99999999999999999999999",
            "0.0000000000000000000000000000000000000000000000001",
        ] {
            assert_eq!(usd(raw), Err(decimals("usd")), "{raw:?}");
        }
        for raw in ["100.5", "50.1", "1e-1", "99999999.9"] {
            assert_eq!(
                parse_amount(raw, &c("jpy")),
                Err(decimals("jpy")),
                "{raw:?}"
            );
        }
        for raw in ["1.0001", "0.2345", "1e-4"] {
            assert_eq!(
                parse_amount(raw, &c("kwd")),
                Err(decimals("kwd")),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn three_decimal_currencies_need_a_trailing_zero() {
        for code in ["bhd", "jod", "kwd", "omr", "tnd"] {
            let cur = c(code);
            assert_eq!(parse_amount("2.000", &cur), Ok(2_000), "{code}");
            assert_eq!(parse_amount("2.010", &cur), Ok(2_010), "{code}");
            assert_eq!(parse_amount("2.01", &cur), Ok(2_010), "{code}");
            assert_eq!(parse_amount("2.1", &cur), Ok(2_100), "{code}");
            assert_eq!(parse_amount("2", &cur), Ok(2_000), "{code}");
            for raw in ["2.001", "2.005", "2.019", "2019e-3"] {
                assert_eq!(
                    parse_amount(raw, &cur),
                    Err(MoneyError::LastDecimalMustBeZero { currency: cur.code }),
                    "{code} {raw}"
                );
            }
            // A fourth decimal is the ordinary precision error.
            assert_eq!(parse_amount("2.0001", &cur), Err(decimals(code)));
        }
    }

    // ---- range ----

    #[test]
    fn huge_values_are_above_maximum_never_a_panic() {
        for raw in [
            "1e308",
            "1e309",
            "1E400",
            "9e18",
            "1e17",
            "1e19",
            "1e99999999999999999999999999",
            "12345678901234567890123456789012345678901234567890",
            "99999999999999999999999999999999999999999999999999.99",
            "9223372036854775807",
            "9223372036854775808",
            "92233720368547758.07",
            "92233720368547758.08",
            "18446744073709551616",
            "1000000",
            "999999.991e1",
        ] {
            assert_eq!(usd(raw), Err(above("usd")), "{raw:?}");
        }
        for code in ["jpy", "kwd", "usd"] {
            assert_eq!(parse_amount("1e308", &c(code)), Err(above(code)), "{code}");
        }
        // Many digits that are nonetheless exact and in range.
        let long = format!("0.{}", "0".repeat(10_000)); // zero
        assert_eq!(usd(&long), Err(MoneyError::NotPositive));
        let long = format!("1{}e-10000", "0".repeat(10_000)); // 1
        assert_eq!(usd(&long), Ok(100));
        let long = format!("5{}e-10001", "0".repeat(10_000)); // 0.5
        assert_eq!(usd(&long), Ok(50));
    }

    #[test]
    fn usd_boundaries() {
        assert_eq!(usd("0.50"), Ok(50)); // exactly min
        assert_eq!(usd("0.5"), Ok(50));
        assert_eq!(usd("0.49"), Err(below("usd"))); // min - 1 minor unit
        assert_eq!(usd("0.01"), Err(below("usd")));
        assert_eq!(usd("999999.99"), Ok(99_999_999)); // exactly max
        assert_eq!(usd("1000000.00"), Err(above("usd"))); // max + 1 minor unit
        assert_eq!(usd("1000000"), Err(above("usd")));
    }

    #[test]
    fn boundaries_of_every_currency() {
        for cur in CURRENCIES {
            let step = if cur.exponent == 3 { 10 } else { 1 };
            let ok = |minor: i64| parse_amount(&format_minor(minor, cur), cur);
            assert_eq!(ok(cur.min_minor), Ok(cur.min_minor), "{} min", cur.code);
            assert_eq!(
                ok(cur.min_minor - step),
                Err(below(cur.code)),
                "{} min - 1",
                cur.code
            );
            let max_ok = cur.max_minor - cur.max_minor % step;
            assert_eq!(ok(max_ok), Ok(max_ok), "{} max", cur.code);
            assert_eq!(
                ok(max_ok + step),
                Err(above(cur.code)),
                "{} max + 1",
                cur.code
            );
            assert_eq!(ok(cur.max_minor + 1), Err(above(cur.code)));
            assert_eq!(ok(i64::MAX - i64::MAX % step), Err(above(cur.code)));
        }
        // Three-decimal currencies: 99,999,999 itself breaks the trailing-zero rule.
        let kwd = c("kwd");
        assert_eq!(
            parse_amount("99999.999", &kwd),
            Err(MoneyError::LastDecimalMustBeZero { currency: "kwd" })
        );
        assert_eq!(parse_amount("99999.99", &kwd), Ok(99_999_990));
        assert_eq!(parse_amount("100000", &kwd), Err(above("kwd")));
    }

    #[test]
    fn stripe_published_minimums() {
        let expected: &[(&str, &str)] = &[
            ("usd", "0.50"),
            ("aud", "0.50"),
            ("brl", "0.50"),
            ("cad", "0.50"),
            ("chf", "0.50"),
            ("eur", "0.50"),
            ("inr", "0.50"),
            ("nzd", "0.50"),
            ("sgd", "0.50"),
            ("gbp", "0.30"),
            ("aed", "2.00"),
            ("czk", "15.00"),
            ("dkk", "2.50"),
            ("hkd", "4.00"),
            ("huf", "175.00"),
            ("mxn", "10.00"),
            ("myr", "2.00"),
            ("nok", "3.00"),
            ("pln", "2.00"),
            ("ron", "2.00"),
            ("sek", "3.00"),
            ("thb", "10.00"),
            ("jpy", "50"),
        ];
        for (code, min) in expected {
            let cur = c(code);
            assert_eq!(format_minor(cur.min_minor, &cur), *min, "{code}");
            assert_eq!(parse_amount(min, &cur), Ok(cur.min_minor), "{code}");
        }
    }

    // ---- currencies ----

    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
    const TWO_DECIMAL: [&str; 22] = [
        "usd", "aud", "brl", "cad", "chf", "eur", "inr", "nzd", "sgd", "gbp", "aed", "czk", "dkk",
        "hkd", "huf", "mxn", "myr", "nok", "pln", "ron", "sek", "thb",
    ];

    #[test]
    fn every_currency_has_its_exponent() {
        for code in ZERO_DECIMAL {
            assert_eq!(c(code).exponent, 0, "{code}");
        }
        for code in TWO_DECIMAL {
            assert_eq!(c(code).exponent, 2, "{code}");
        }
        for code in THREE_DECIMAL {
            assert_eq!(c(code).exponent, 3, "{code}");
        }
        assert_eq!(
            CURRENCIES.len(),
            ZERO_DECIMAL.len() + TWO_DECIMAL.len() + THREE_DECIMAL.len()
        );
    }

    #[test]
    fn table_is_consistent() {
        for (i, cur) in CURRENCIES.iter().enumerate() {
            assert_eq!(cur.code.len(), 3, "{}", cur.code);
            assert!(
                cur.code.bytes().all(|b| b.is_ascii_lowercase()),
                "{}",
                cur.code
            );
            assert!(
                CURRENCIES[i + 1..].iter().all(|o| o.code != cur.code),
                "duplicate {}",
                cur.code
            );
            assert!(matches!(cur.exponent, 0 | 2 | 3), "{}", cur.code);
            assert_eq!(cur.max_minor, 99_999_999, "{}", cur.code);
            assert!(
                cur.min_minor > 0 && cur.min_minor < cur.max_minor,
                "{}",
                cur.code
            );
            if cur.exponent == 3 {
                assert_eq!(cur.min_minor % 10, 0, "{}", cur.code);
            }
        }
        assert_eq!(format_minor(c("usd").max_minor, &c("usd")), "999999.99");
    }

    #[test]
    fn currency_lookup_is_case_insensitive_and_canonical() {
        for cur in CURRENCIES {
            assert_eq!(currency(cur.code), Ok(*cur));
            assert_eq!(currency(&cur.code.to_uppercase()), Ok(*cur));
            let mixed: String = cur
                .code
                .chars()
                .enumerate()
                .map(|(i, ch)| {
                    if i % 2 == 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect();
            assert_eq!(currency(&mixed).map(|c| c.code), Ok(cur.code));
        }
        assert_eq!(c("USD").code, "usd");
        assert_eq!(c("Jpy").code, "jpy");
    }

    #[test]
    fn unsupported_currencies() {
        for code in [
            "xyz",
            "",
            " usd",
            "usd ",
            "us",
            "usdd",
            "US$",
            "btc",
            "ars",
            "ılı",
            "uſd",
            "ｕｓｄ",
        ] {
            assert_eq!(
                currency(code),
                Err(MoneyError::UnsupportedCurrency(code.to_string())),
                "{code:?}"
            );
        }
        assert_eq!(
            currency("XYZ").unwrap_err().to_string(),
            "currency 'XYZ' is not supported"
        );
        let long = "x".repeat(1_000);
        assert_eq!(
            currency(&long),
            Err(MoneyError::UnsupportedCurrency("x".repeat(32)))
        );
    }

    // ---- formatting ----

    #[test]
    fn format_examples() {
        assert_eq!(format_minor(350, &c("usd")), "3.50");
        assert_eq!(format_minor(500, &c("jpy")), "500");
        assert_eq!(format_minor(1_230, &c("kwd")), "1.230");
        assert_eq!(format_minor(0, &c("usd")), "0.00");
        assert_eq!(format_minor(5, &c("usd")), "0.05");
        assert_eq!(format_minor(50, &c("usd")), "0.50");
        assert_eq!(format_minor(100, &c("usd")), "1.00");
        assert_eq!(format_minor(99_999_999, &c("usd")), "999999.99");
        assert_eq!(format_minor(7, &c("kwd")), "0.007");
        assert_eq!(format_minor(0, &c("kwd")), "0.000");
        assert_eq!(format_minor(0, &c("jpy")), "0");
        assert_eq!(format_minor(-50, &c("usd")), "-0.50");
        assert_eq!(format_minor(-1_234, &c("jpy")), "-1234");
        assert_eq!(format_minor(i64::MAX, &c("usd")), "92233720368547758.07");
        assert_eq!(format_minor(i64::MIN, &c("usd")), "-92233720368547758.08");
        assert_eq!(format_minor(i64::MIN, &c("kwd")), "-9223372036854775.808");
    }

    #[test]
    fn formatted_values_are_json_numbers() {
        for cur in CURRENCIES {
            for minor in [0, 1, 9, 10, 99, 100, 12_345, -1, -100, i64::MAX, i64::MIN] {
                let text = format_minor(minor, cur);
                assert!(parse_json_number(&text).is_some(), "{text}");
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert!(json.is_number(), "{text}");
            }
        }
    }

    #[test]
    fn format_and_parse_round_trip_for_every_currency() {
        for cur in CURRENCIES {
            let step = if cur.exponent == 3 { 10 } else { 1 };
            let mut values = vec![
                cur.min_minor,
                cur.min_minor + step,
                cur.max_minor - cur.max_minor % step,
                cur.max_minor - cur.max_minor % step - step,
            ];
            // A spread of values across the range, snapped to valid multiples.
            let mut v = cur.min_minor;
            while v <= cur.max_minor {
                values.push(v - v % step);
                v = v * 7 + 13;
            }
            for p in 0..8 {
                values.push(10_i64.pow(p) * step);
            }
            for m in values {
                if m < cur.min_minor || m > cur.max_minor {
                    continue;
                }
                let text = format_minor(m, cur);
                assert_eq!(parse_amount(&text, cur), Ok(m), "{} {text}", cur.code);
                // The same value written with an exponent parses to the same minor units.
                let with_exponent = format!("{}e-{}", m, cur.exponent);
                assert_eq!(
                    parse_amount(&with_exponent, cur),
                    Ok(m),
                    "{} {with_exponent}",
                    cur.code
                );
                // And with a trailing zero.
                if cur.exponent > 0 {
                    let padded = format!("{text}0");
                    assert_eq!(parse_amount(&padded, cur), Ok(m), "{} {padded}", cur.code);
                }
            }
        }
    }

    #[test]
    fn every_usd_cent_in_a_range_round_trips() {
        let cur = c("usd");
        for m in 50..=20_000 {
            assert_eq!(parse_amount(&format_minor(m, &cur), &cur), Ok(m));
        }
        for m in 99_989_999..=99_999_999 {
            assert_eq!(parse_amount(&format_minor(m, &cur), &cur), Ok(m));
        }
    }

    #[test]
    fn zero_decimal_amounts() {
        let jpy = c("jpy");
        assert_eq!(parse_amount("500", &jpy), Ok(500));
        assert_eq!(parse_amount("5e2", &jpy), Ok(500));
        assert_eq!(parse_amount("50", &jpy), Ok(50));
        assert_eq!(parse_amount("49", &jpy), Err(below("jpy")));
        assert_eq!(parse_amount("99999999", &jpy), Ok(99_999_999));
        assert_eq!(parse_amount("100000000", &jpy), Err(above("jpy")));
        assert_eq!(parse_amount("1e8", &jpy), Err(above("jpy")));
    }
}
