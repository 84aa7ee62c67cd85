//! Times as the API writes them (RFC 3339) and as Stripe does (Unix seconds).

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC, to the second: `2026-07-01T22:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time.
pub fn ms(t: &str) -> i64 {
    DateTime::parse_from_rfc3339(t)
        .unwrap_or_else(|e| panic!("bad time {t:?}: {e}"))
        .timestamp_millis()
}

/// Now, in Unix seconds (Stripe's `created`, the signature's `t=`).
pub fn now() -> i64 {
    Utc::now().timestamp()
}
