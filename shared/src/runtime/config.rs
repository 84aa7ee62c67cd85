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

/// Whether the process runs on Lambda itself: `AWS_LAMBDA_FUNCTION_NAME` is set (by Lambda,
/// and by every emulator of it), and neither `AWS_SAM_LOCAL=true` (set by `sam local` itself)
/// nor `LOCAL_STACK=true` (set by the local stack's harnesses: `make bench`, the README's
/// `cargo lambda watch`) says it is a local run. Neither marker is in an `env.json`, so copying
/// one into a deployment does not make it local.
pub fn on_lambda(var: &impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| v.trim() == "true");
    var("AWS_LAMBDA_FUNCTION_NAME").is_some() && !set("AWS_SAM_LOCAL") && !set("LOCAL_STACK")
}

/// On Lambda, the Stripe keys come from Secrets Manager only: plain `STRIPE_SECRET_KEY` or
/// `STRIPE_WEBHOOK_SECRETS` variables (a local `env.json` copied into a deployment, with the
/// public local signing secret) are refused, so the function does not start.
pub fn refuse_plain_secrets(var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    if !on_lambda(&var) {
        return Ok(());
    }
    let plain: Vec<&str> = ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRETS"]
        .into_iter()
        .filter(|name| var(name).is_some_and(|v| !v.is_empty()))
        .collect();
    if plain.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} set as a plain variable on Lambda: the Stripe keys come from Secrets Manager only \
         (STRIPE_SECRET_ARN, STRIPE_WEBHOOK_SECRET_ARN); remove {} from the function's \
         environment (a local env.json copied into a deployment?)",
        plain.join(" and "),
        if plain.len() == 1 { "it" } else { "them" },
    ))
}

/// [`refuse_plain_secrets`] on the process environment, logged at ERROR when refused: each
/// function's `main` calls it first, so a refused configuration never starts.
pub fn refuse_plain_secrets_in_env() -> Result<(), String> {
    refuse_plain_secrets(|name| std::env::var(name).ok()).inspect_err(|reason| {
        tracing::error!(%reason, "refusing to start");
    })
}

/// [`stripe_livemode`] of the process environment, logged at ERROR when refused.
pub fn stripe_livemode_in_env() -> Result<Option<bool>, String> {
    stripe_livemode(|name| std::env::var(name).ok()).inspect_err(|reason| {
        tracing::error!(%reason, "refusing to start");
    })
}

/// `STRIPE_LIVEMODE` (`true` or `false`): the Stripe mode the webhook takes events from.
/// Required on Lambda (the template sets it by stage); unset locally, where any mode goes.
pub fn stripe_livemode(var: impl Fn(&str) -> Option<String>) -> Result<Option<bool>, String> {
    match var("STRIPE_LIVEMODE").as_deref() {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!(
            "STRIPE_LIVEMODE must be 'true' or 'false', not {other:?}"
        )),
        None if on_lambda(&var) => Err(
            "STRIPE_LIVEMODE is not set: the webhook must know which Stripe mode it takes \
             events from (template.yaml sets it by stage)"
                .into(),
        ),
        None => Ok(None),
    }
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

    fn lookup<'v>(
        vars: &'v [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + 'v {
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const ON_LAMBDA: (&str, &str) = ("AWS_LAMBDA_FUNCTION_NAME", "payments-api-prod-webhook");

    #[test]
    fn plain_stripe_secrets_are_refused_on_lambda_only() {
        for plain in [
            ("STRIPE_SECRET_KEY", "sk_test_local_stack"),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_local_stack_signing_secret"),
        ] {
            let err = refuse_plain_secrets(lookup(&[ON_LAMBDA, plain])).unwrap_err();
            assert!(err.contains(plain.0), "{err}");
            assert!(err.contains("Secrets Manager"), "{err}");
            assert!(!err.contains(plain.1), "the value is never repeated: {err}");
            // Under sam local, the local stack's harnesses, or no Lambda at all: allowed.
            for local in [
                &[ON_LAMBDA, plain, ("AWS_SAM_LOCAL", "true")][..],
                &[ON_LAMBDA, plain, ("LOCAL_STACK", "true")],
                &[plain],
            ] {
                assert_eq!(refuse_plain_secrets(lookup(local)), Ok(()), "{local:?}");
            }
            // A marker that is not `true` is not a local run.
            let almost = [ON_LAMBDA, plain, ("AWS_SAM_LOCAL", "false")];
            assert!(refuse_plain_secrets(lookup(&almost)).is_err());
        }
        let arns = [ON_LAMBDA, ("STRIPE_SECRET_ARN", "arn:aws:secretsmanager:x")];
        assert_eq!(refuse_plain_secrets(lookup(&arns)), Ok(()));
        // Set but empty is as good as unset (the template never sets them).
        let empty = [ON_LAMBDA, ("STRIPE_SECRET_KEY", "")];
        assert_eq!(refuse_plain_secrets(lookup(&empty)), Ok(()));
    }

    #[test]
    fn stripe_livemode_is_required_on_lambda_and_must_be_a_boolean() {
        let mode = |vars: &[(&'static str, &'static str)]| stripe_livemode(lookup(vars));
        assert_eq!(
            mode(&[ON_LAMBDA, ("STRIPE_LIVEMODE", "true")]),
            Ok(Some(true))
        );
        assert_eq!(
            mode(&[ON_LAMBDA, ("STRIPE_LIVEMODE", "false")]),
            Ok(Some(false))
        );
        assert_eq!(mode(&[("STRIPE_LIVEMODE", "true")]), Ok(Some(true)));
        assert_eq!(mode(&[]), Ok(None));
        assert_eq!(mode(&[ON_LAMBDA, ("LOCAL_STACK", "true")]), Ok(None));
        assert!(mode(&[ON_LAMBDA]).unwrap_err().contains("STRIPE_LIVEMODE"));
        for bad in ["1", "yes", "True", ""] {
            assert!(mode(&[("STRIPE_LIVEMODE", bad)]).is_err(), "{bad}");
        }
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
