//! Configuration read once per Lambda instance from the environment.

/// Names of the DynamoDB tables. Defaults match the local stack; `template.yaml` sets them on AWS.
#[derive(Debug, Clone)]
pub struct Tables {
    pub bookings: String,
    pub slots: String,
    pub idempotency: String,
    /// Processed Stripe event ids (TTL `expires_at`).
    pub events: String,
    /// Tariffs and their assignments to assets and asset types.
    pub tariffs: String,
}

impl Tables {
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
        Self {
            bookings: var("BOOKINGS_TABLE", "bookings"),
            slots: var("SLOTS_TABLE", "booking-slots"),
            idempotency: var("IDEMPOTENCY_TABLE", "idempotency"),
            events: var("EVENTS_TABLE", "stripe-events"),
            tariffs: var("TARIFFS_TABLE", "tariffs"),
        }
    }
}

/// `EXPIRING_HOLD_POLICY` (`capture`, the default, or `release`) and
/// `CAPTURE_SAFETY_MARGIN_SECONDS` (default 43200), given a lookup of variables. Anything else
/// is an error: `reconcile` refuses to start rather than guess what to do with people's money.
pub fn hold_settings(
    var: impl Fn(&str) -> Option<String>,
) -> Result<crate::domain::capture::HoldSettings, String> {
    use crate::domain::capture::{ExpiringHoldPolicy, HoldSettings};
    let mut settings = HoldSettings::default();
    if let Some(policy) = var("EXPIRING_HOLD_POLICY") {
        settings.policy = ExpiringHoldPolicy::parse(policy.trim()).ok_or_else(|| {
            format!("EXPIRING_HOLD_POLICY must be 'capture' or 'release', not {policy:?}")
        })?;
    }
    if let Some(margin) = var("CAPTURE_SAFETY_MARGIN_SECONDS") {
        let secs = margin
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                format!("CAPTURE_SAFETY_MARGIN_SECONDS must be a positive number of seconds, not {margin:?}")
            })?;
        settings.safety_margin = chrono::Duration::seconds(i64::from(secs));
    }
    Ok(settings)
}

/// `BOOKING_AUTH_GRACE_SECONDS` (default 600, 0 allowed): how long after its hold a booking
/// whose intent waits for 3-D Secure keeps its slot. Read by every function that decides
/// whether a hold ended (bookings, create-intent, reconcile).
pub const AUTH_GRACE_ENV: &str = "BOOKING_AUTH_GRACE_SECONDS";

/// The hold rules from a lookup of variables; a value that is not a whole number of seconds
/// is an error.
pub fn hold_rules(
    var: impl Fn(&str) -> Option<String>,
) -> Result<crate::domain::HoldRules, String> {
    let mut rules = crate::domain::HoldRules::default();
    if let Some(raw) = var(AUTH_GRACE_ENV) {
        let secs = raw.trim().parse::<u32>().map_err(|_| {
            format!("{AUTH_GRACE_ENV} must be a whole number of seconds, not {raw:?}")
        })?;
        rules.auth_grace = chrono::Duration::seconds(i64::from(secs));
    }
    Ok(rules)
}

/// [`hold_rules`] from the environment, read once per instance, for the HTTP functions: a bad
/// value is logged at ERROR and the default used (as `BOOKING_HOLD_SECONDS`).
pub fn hold_rules_from_env() -> &'static crate::domain::HoldRules {
    static RULES: std::sync::OnceLock<crate::domain::HoldRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        hold_rules(|name| std::env::var(name).ok()).unwrap_or_else(|err| {
            tracing::error!(error = %err, "using the default 3-D Secure grace");
            crate::domain::HoldRules::default()
        })
    })
}

/// The AWS SDK configuration as Lambda provides it (region, credentials, and endpoint
/// overrides such as `AWS_ENDPOINT_URL_DYNAMODB`), loaded once per instance, with the HTTPS
/// client of [`crate::runtime::tls`] (compiled-in roots: no CA store to read at init).
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::runtime::tls::aws_https_client())
        .timeout_config(sdk_timeouts())
        // Stalled-stream protection wraps every request and response body in a throughput
        // monitor with its own timers; DynamoDB's bodies are a few KB and the attempt timeout
        // above already bounds a stall, so it is only CPU per call here.
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .load()
        .await
}

/// The SDK's defaults bound only the connect: a DynamoDB connection that stops answering would
/// hold the function until Lambda kills it. DynamoDB answers in milliseconds, so one attempt
/// gets 2 s and the whole call (with the SDK's retries) 5 s, well inside every function's
/// timeout, leaving room for the clean 503.
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(2))
        .operation_timeout(std::time::Duration::from_secs(5))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::capture::{ExpiringHoldPolicy, HoldSettings};

    fn settings(vars: &[(&str, &str)]) -> Result<HoldSettings, String> {
        hold_settings(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn hold_settings_default_to_capture_half_a_day_ahead() {
        let d = settings(&[]).unwrap();
        assert_eq!(d.policy, ExpiringHoldPolicy::Capture);
        assert_eq!(d.safety_margin, chrono::Duration::seconds(43_200));
        let r = settings(&[
            ("EXPIRING_HOLD_POLICY", "release"),
            ("CAPTURE_SAFETY_MARGIN_SECONDS", "600"),
        ])
        .unwrap();
        assert_eq!(r.policy, ExpiringHoldPolicy::Release);
        assert_eq!(r.safety_margin, chrono::Duration::seconds(600));
    }

    #[test]
    fn the_3ds_grace_defaults_to_ten_minutes_and_takes_whole_seconds_only() {
        let rules = |v: Option<&str>| hold_rules(|_| v.map(str::to_string));
        assert_eq!(
            rules(None).unwrap().auth_grace,
            chrono::Duration::seconds(600)
        );
        assert_eq!(
            rules(Some("0")).unwrap().auth_grace,
            chrono::Duration::zero()
        );
        assert_eq!(
            rules(Some(" 120 ")).unwrap().auth_grace,
            chrono::Duration::seconds(120)
        );
        for bad in ["", "-1", "10m", "1.5"] {
            assert!(rules(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn any_other_hold_setting_fails_start_up() {
        for bad in [
            &[("EXPIRING_HOLD_POLICY", "refund")][..],
            &[("EXPIRING_HOLD_POLICY", "")],
            &[("EXPIRING_HOLD_POLICY", "Capture")],
            &[("CAPTURE_SAFETY_MARGIN_SECONDS", "0")],
            &[("CAPTURE_SAFETY_MARGIN_SECONDS", "-5")],
            &[("CAPTURE_SAFETY_MARGIN_SECONDS", "12h")],
        ] {
            assert!(settings(bad).is_err(), "{bad:?}");
        }
    }
}
