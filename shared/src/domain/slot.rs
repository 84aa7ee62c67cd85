//! Time slots and the times they are made of.

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Timelike, Utc};

use super::error::DomainError;

/// Longest booking we accept; longer requests are almost certainly mistakes.
pub const MAX_BOOKING: Duration = Duration::days(7);
/// Shortest booking we accept. It bounds how many bookings can touch one UTC day (289: 287
/// inside it and one across each midnight), so a slot day item stays far below DynamoDB's
/// 400 KB item limit (README, "Design: no double booking without locks").
pub const MIN_BOOKING: Duration = Duration::minutes(5);
/// Bookings outside these years are rejected as nonsense (past times inside are fine).
const MIN_YEAR: i32 = 2000;
const MAX_YEAR: i32 = 2100;

/// A validated time slot `[start, end)` in UTC with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Slot {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, DomainError> {
        if end <= start {
            return Err(DomainError::invalid("end_time must be after start_time"));
        }
        if end - start < MIN_BOOKING {
            return Err(DomainError::invalid(
                "end_time must be at least 5 minutes after start_time",
            ));
        }
        if end - start > MAX_BOOKING {
            return Err(DomainError::invalid(
                "end_time must be at most 7 days after start_time",
            ));
        }
        Ok(Self { start, end })
    }

    /// A slot as stored: only non-empty. The length rules are for new bookings; a booking
    /// stored before a rule changed still reads (bookings shorter than 5 minutes were
    /// accepted before issue 13).
    pub fn stored(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, DomainError> {
        if end <= start {
            return Err(DomainError::invalid("end_time must be after start_time"));
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn overlaps(&self, other_start_ms: i64, other_end_ms: i64) -> bool {
        self.start_ms() < other_end_ms && other_start_ms < self.end_ms()
    }

    pub fn start_ms(&self) -> i64 {
        self.start.timestamp_millis()
    }

    pub fn end_ms(&self) -> i64 {
        self.end.timestamp_millis()
    }

    /// The UTC days the slot touches; `end` is exclusive, so a slot ending at midnight does
    /// not touch the next day.
    pub fn days(&self) -> Vec<NaiveDate> {
        days_between(self.start, self.end)
    }
}

/// The UTC days `[start, end)` touches (`start < end`).
fn days_between(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<NaiveDate> {
    let first = start.date_naive();
    let last = (end - Duration::milliseconds(1)).date_naive();
    first.iter_days().take_while(|d| *d <= last).collect()
}

/// Longest window an availability request may ask about.
pub const MAX_WINDOW: Duration = Duration::days(31);

/// A validated availability window `[from, to)` in UTC: `to` after `from`, at most 31 days
/// later (so it touches at most 32 UTC days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Window {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, DomainError> {
        if to <= from {
            return Err(DomainError::invalid("to must be after from"));
        }
        if to - from > MAX_WINDOW {
            return Err(DomainError::invalid(
                "to must be at most 31 days after from",
            ));
        }
        Ok(Self { from, to })
    }

    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// Does the interval `[start_ms, end_ms)` share an instant with the window?
    pub fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        start_ms < self.to.timestamp_millis() && self.from.timestamp_millis() < end_ms
    }

    /// The UTC days the window touches. Every booking overlapping the window touches one of
    /// them, and a booking is recorded on every day it touches, so these days' slot items
    /// hold every booking the window needs.
    pub fn days(&self) -> Vec<NaiveDate> {
        days_between(self.from, self.to)
    }
}

/// A client's time: RFC 3339 with any offset (normalised to UTC), years 2000 to 2100, at most
/// millisecond precision. `field` names it in the error.
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, DomainError> {
    let t = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| {
            DomainError::invalid(format!(
                "{field} must be an RFC 3339 date-time, e.g. 2026-02-05T23:00:00Z"
            ))
        })?
        .with_timezone(&Utc);
    if !(MIN_YEAR..=MAX_YEAR).contains(&t.year()) {
        return Err(DomainError::invalid(format!(
            "{field} must be between the years {MIN_YEAR} and {MAX_YEAR}"
        )));
    }
    if t.nanosecond() % 1_000_000 != 0 {
        return Err(DomainError::invalid(format!(
            "{field} must have at most millisecond precision"
        )));
    }
    Ok(t)
}

/// Times the client gave: seconds, plus milliseconds only when present.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Times we generate: always milliseconds, fixed width, so they sort as strings.
pub fn format_stored_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(s: &str, e: &str) -> Slot {
        Slot::new(s.parse().unwrap(), e.parse().unwrap()).unwrap()
    }

    #[test]
    fn overlap_is_half_open() {
        let a = slot("2026-02-05T10:00:00Z", "2026-02-05T11:00:00Z");
        let ms = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        assert!(!a.overlaps(ms("2026-02-05T11:00:00Z"), ms("2026-02-05T12:00:00Z")));
        assert!(!a.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T10:00:00Z")));
        assert!(a.overlaps(ms("2026-02-05T10:59:59.999Z"), ms("2026-02-05T12:00:00Z")));
        assert!(a.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T10:00:00.001Z")));
        assert!(a.overlaps(ms("2026-02-05T10:10:00Z"), ms("2026-02-05T10:20:00Z")));
        assert!(a.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T13:00:00Z")));
    }

    #[test]
    fn a_booking_is_at_least_five_minutes_long() {
        let t: DateTime<Utc> = "2026-02-05T10:00:00Z".parse().unwrap();
        for short in [
            Duration::milliseconds(1),
            Duration::minutes(1),
            Duration::minutes(5) - Duration::milliseconds(1),
        ] {
            assert_eq!(
                Slot::new(t, t + short).unwrap_err().to_string(),
                "end_time must be at least 5 minutes after start_time"
            );
        }
        assert!(Slot::new(t, t + Duration::minutes(5)).is_ok());
    }

    fn window(from: &str, to: &str) -> Result<Window, String> {
        Window::new(from.parse().unwrap(), to.parse().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_window_ends_after_it_starts_and_spans_at_most_31_days() {
        for (from, to) in [
            ("2026-02-05T10:00:00Z", "2026-02-05T10:00:00Z"),
            ("2026-02-05T10:00:00Z", "2026-02-05T09:00:00Z"),
        ] {
            assert_eq!(window(from, to).unwrap_err(), "to must be after from");
        }
        assert_eq!(
            window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00.001Z").unwrap_err(),
            "to must be at most 31 days after from"
        );
        let w = window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z").unwrap();
        assert_eq!(w.days().len(), 31);
        assert!(window("2026-02-05T10:00:00Z", "2026-02-05T10:00:00.001Z").is_ok());
    }

    #[test]
    fn a_window_overlaps_half_open_and_touches_its_own_days() {
        let w = window("2026-02-05T10:00:00Z", "2026-02-06T00:00:00Z").unwrap();
        let ms = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        assert!(!w.overlaps(ms("2026-02-05T09:00:00Z"), ms("2026-02-05T10:00:00Z")));
        assert!(!w.overlaps(ms("2026-02-06T00:00:00Z"), ms("2026-02-06T01:00:00Z")));
        assert!(w.overlaps(ms("2026-02-01T00:00:00Z"), ms("2026-02-05T10:00:00.001Z")));
        assert!(w.overlaps(ms("2026-02-05T23:59:59.999Z"), ms("2026-02-08T00:00:00Z")));
        assert_eq!(w.days(), vec!["2026-02-05".parse::<NaiveDate>().unwrap()]);
    }

    #[test]
    fn days_touched_exclude_an_end_at_midnight() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            slot("2026-02-05T23:00:00Z", "2026-02-06T00:00:00Z").days(),
            vec![d("2026-02-05")]
        );
        assert_eq!(
            slot("2026-02-05T23:00:00Z", "2026-02-06T00:00:00.001Z").days(),
            vec![d("2026-02-05"), d("2026-02-06")]
        );
        assert_eq!(
            slot("2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z")
                .days()
                .len(),
            7
        );
        assert_eq!(
            slot("2026-02-01T12:00:00Z", "2026-02-08T12:00:00Z")
                .days()
                .len(),
            8
        );
    }
}
