//! Configuration read once per Lambda instance from the environment.

/// Names of the DynamoDB tables. Defaults match the local stack; `template.yaml` sets them on AWS.
#[derive(Debug, Clone)]
pub struct Tables {
    pub bookings: String,
    pub slots: String,
    pub idempotency: String,
    /// Processed Stripe event ids (TTL `expires_at`).
    pub events: String,
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
        }
    }
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
