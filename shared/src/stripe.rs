//! A small Stripe REST client: only the calls the product makes, parsed leniently.
//!
//! Built once per Lambda instance (connection pool, keys). Every POST carries an
//! `Idempotency-Key` chosen by the caller, so retries after a timeout or a 5xx can never
//! create a second object on real Stripe. Keys never reach a log line or an error message:
//! they live in [`Secret`], whose `Debug` is redacted.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::OnceCell;

/// The API version this client was written against; pinned so Stripe's changes to defaults
/// cannot change our behaviour underneath us.
pub const STRIPE_VERSION: &str = "2024-06-20";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Per attempt. Three attempts plus backoff stay inside the functions' Lambda timeouts.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
const MAX_ATTEMPTS: u32 = 3;

/// A secret string: usable, but never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug)]
pub struct StripeKeys {
    pub secret_key: Secret,
    /// Webhook signing secrets; several while a secret is being rolled.
    pub webhook_secrets: Vec<Secret>,
}

/// Where the keys come from: the environment (local stack, tests) or a Secrets Manager
/// secret read on first use and kept for the life of the Lambda instance.
enum KeySource {
    Static(StripeKeys),
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        keys: OnceCell<StripeKeys>,
    },
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe refused the request (4xx): its message is safe and useful to the client.
    #[error("{message}")]
    Rejected {
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// Unreachable, timed out, or 5xx after retries.
    #[error("Stripe unavailable: {0}")]
    Unavailable(String),
    /// Stripe answered 2xx with something we cannot read.
    #[error("unexpected Stripe response: {0}")]
    Protocol(String),
    #[error("Stripe is not configured: {0}")]
    NotConfigured(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub amount_received: Option<i64>,
    #[serde(default, deserialize_with = "lenient_metadata")]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub last_payment_error: Option<LastPaymentError>,
}

impl PaymentIntent {
    /// Could the customer still pay this intent?
    pub fn is_payable(&self) -> bool {
        matches!(
            self.status.as_str(),
            "requires_payment_method" | "requires_confirmation" | "requires_action"
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LastPaymentError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
}

fn lenient_metadata<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<HashMap<String, String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// What a new PaymentIntent is for.
#[derive(Debug, Clone)]
pub struct NewIntent<'a> {
    pub amount_minor: i64,
    pub currency: &'a str,
    pub booking_id: &'a str,
}

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    keys: Arc<KeySource>,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(base: impl Into<String>, keys: StripeKeys) -> Self {
        Self::build(base.into(), KeySource::Static(keys))
    }

    /// Configuration as on Lambda: `STRIPE_API_BASE` (default `https://api.stripe.com`), and
    /// keys from `STRIPE_SECRET_KEY` + `STRIPE_WEBHOOK_SECRETS` (comma-separated) if set,
    /// otherwise from the Secrets Manager secret `STRIPE_SECRET_ARN`, whose SecretString is
    /// `{"secret_key": "sk_...", "webhook_secrets": ["whsec_...", ...]}`.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Self {
        let base = std::env::var("STRIPE_API_BASE")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "https://api.stripe.com".into());
        let source = match (
            std::env::var("STRIPE_SECRET_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            std::env::var("STRIPE_SECRET_ARN")
                .ok()
                .filter(|a| !a.is_empty()),
        ) {
            (Some(key), _) => KeySource::Static(StripeKeys {
                secret_key: Secret::new(key),
                webhook_secrets: split_secrets(
                    &std::env::var("STRIPE_WEBHOOK_SECRETS").unwrap_or_default(),
                ),
            }),
            (None, Some(secret_id)) => KeySource::SecretsManager {
                client: aws_sdk_secretsmanager::Client::new(aws),
                secret_id,
                keys: OnceCell::new(),
            },
            (None, None) => KeySource::Missing,
        };
        Self::build(base, source)
    }

    fn build(base: String, keys: KeySource) -> Self {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            keys: Arc::new(keys),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn keys(&self) -> Result<&StripeKeys, StripeError> {
        match &*self.keys {
            KeySource::Static(keys) => Ok(keys),
            KeySource::Missing => Err(StripeError::NotConfigured(
                "set STRIPE_SECRET_KEY or STRIPE_SECRET_ARN".into(),
            )),
            KeySource::SecretsManager {
                client,
                secret_id,
                keys,
            } => {
                keys.get_or_try_init(|| async {
                    let out = client
                        .get_secret_value()
                        .secret_id(secret_id)
                        .send()
                        .await
                        .map_err(|e| {
                            StripeError::NotConfigured(format!(
                                "cannot read the Stripe secret: {}",
                                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                            ))
                        })?;
                    parse_secret_string(out.secret_string().unwrap_or_default())
                })
                .await
            }
        }
    }

    pub async fn create_payment_intent(
        &self,
        intent: &NewIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let form = vec![
            ("amount", intent.amount_minor.to_string()),
            ("currency", intent.currency.to_string()),
            ("metadata[booking_id]", intent.booking_id.to_string()),
            ("payment_method_types[]", "card".to_string()),
        ];
        self.call(
            Method::POST,
            "/v1/payment_intents",
            &form,
            Some(idempotency_key),
        )
        .await
    }

    pub async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}", checked_id(id)?);
        self.call(Method::GET, &path, &[], None).await
    }

    pub async fn cancel_payment_intent(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}/cancel", checked_id(id)?);
        self.call(Method::POST, &path, &[], Some(idempotency_key))
            .await
    }

    pub async fn refund_payment_intent(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let form = vec![("payment_intent", checked_id(id)?.to_string())];
        self.call(Method::POST, "/v1/refunds", &form, Some(idempotency_key))
            .await
    }

    /// One Stripe call with retries: network errors, 429 and 5xx are retried with the same
    /// idempotency key, honouring `Stripe-Should-Retry` when Stripe sends it.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let keys = self.keys().await?;
        let url = format!("{}{}", self.base, path);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut last_error = StripeError::Unavailable("no attempt made".into());
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(retry_delay(attempt)).await;
            }
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(keys.secret_key.expose())
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            if method == Method::POST {
                req = req
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let resp = match req.send().await {
                Ok(resp) => resp,
                Err(err) => {
                    last_error = StripeError::Unavailable(describe(&err));
                    tracing::warn!(%method, path, attempt, error = %last_error, "Stripe request failed");
                    continue;
                }
            };
            let status = resp.status();
            let should_retry = resp
                .headers()
                .get("stripe-should-retry")
                .and_then(|v| v.to_str().ok())
                .map(|v| v == "true");
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(err) => {
                    last_error = StripeError::Unavailable(describe(&err));
                    continue;
                }
            };
            if status.is_success() {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| StripeError::Protocol(format!("{path}: {e}")));
            }
            last_error = error_from(status, &bytes);
            let retry = should_retry
                .unwrap_or(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error());
            tracing::warn!(%method, path, attempt, status = status.as_u16(), retry, "Stripe answered an error");
            if !retry {
                break;
            }
        }
        Err(last_error)
    }
}

fn error_from(status: StatusCode, body: &[u8]) -> StripeError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        code: Option<String>,
    }
    if status.is_server_error() {
        return StripeError::Unavailable(format!("Stripe answered {}", status.as_u16()));
    }
    let parsed = serde_json::from_slice::<Envelope>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|e| e.error.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Stripe refused the request ({})", status.as_u16()));
    StripeError::Rejected {
        status: status.as_u16(),
        message,
        code: parsed.and_then(|e| e.error.code),
    }
}

/// A reqwest error without its URL's query or anything from our headers.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "response body unreadable"
    } else {
        "request failed"
    };
    kind.to_string()
}

fn retry_delay(attempt: u32) -> Duration {
    let base = 250u64 << attempt.min(4);
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    Duration::from_millis(base / 2 + jitter)
}

/// Stripe ids are `[A-Za-z0-9_]`; anything else must never be spliced into a URL path.
fn checked_id(id: &str) -> Result<&str, StripeError> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(StripeError::Protocol("malformed Stripe object id".into()))
    }
}

pub fn split_secrets(raw: &str) -> Vec<Secret> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

fn parse_secret_string(raw: &str) -> Result<StripeKeys, StripeError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Secrets {
        List(Vec<Secret>),
        Joined(String),
    }
    #[derive(Deserialize)]
    struct Stored {
        secret_key: Secret,
        #[serde(default)]
        webhook_secrets: Option<Secrets>,
    }
    let stored: Stored = serde_json::from_str(raw).map_err(|_| {
        // serde's message could quote the secret's content: say only what is wrong.
        StripeError::NotConfigured(
            "the Stripe secret must be JSON {\"secret_key\": ..., \"webhook_secrets\": [...]}"
                .into(),
        )
    })?;
    let webhook_secrets = match stored.webhook_secrets {
        Some(Secrets::List(list)) => list,
        Some(Secrets::Joined(joined)) => split_secrets(&joined),
        None => Vec::new(),
    };
    Ok(StripeKeys {
        secret_key: stored.secret_key,
        webhook_secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let keys = StripeKeys {
            secret_key: Secret::new("sk_test_supersecret"),
            webhook_secrets: vec![Secret::new("whsec_abc")],
        };
        let shown = format!("{keys:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(!shown.contains("whsec_abc"), "{shown}");
    }

    #[test]
    fn secret_string_shapes() {
        let keys =
            parse_secret_string(r#"{"secret_key":"sk_1","webhook_secrets":["whsec_a","whsec_b"]}"#)
                .unwrap();
        assert_eq!(keys.secret_key.expose(), "sk_1");
        assert_eq!(keys.webhook_secrets.len(), 2);
        let keys =
            parse_secret_string(r#"{"secret_key":"sk_1","webhook_secrets":"whsec_a, whsec_b"}"#)
                .unwrap();
        assert_eq!(keys.webhook_secrets[1].expose(), "whsec_b");
        let err = parse_secret_string(r#"{"secret_key": 5, "x": "sk_live_leak"}"#).unwrap_err();
        assert!(!err.to_string().contains("sk_live_leak"));
        assert!(parse_secret_string("sk_live_plain").is_err());
    }

    #[test]
    fn ids_are_checked_before_reaching_a_path() {
        assert!(checked_id("pi_3SxbzLQ1qtFrV1Tp16Yftm36").is_ok());
        for bad in ["", "pi_1/../refunds", "pi 1", "pi_1?x=1", &"a".repeat(256)] {
            assert!(checked_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stripe_errors_keep_stripes_message() {
        let err = error_from(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"type":"invalid_request_error","message":"Amount must be at least $0.50 usd","code":"amount_too_small"}}"#,
        );
        assert_eq!(err.to_string(), "Amount must be at least $0.50 usd");
        let err = error_from(StatusCode::PAYMENT_REQUIRED, b"not json");
        assert_eq!(err.to_string(), "Stripe refused the request (402)");
        assert!(matches!(
            error_from(StatusCode::BAD_GATEWAY, b""),
            StripeError::Unavailable(_)
        ));
    }

    #[test]
    fn intents_parse_leniently() {
        let pi: PaymentIntent = serde_json::from_str(
            r#"{"id":"pi_1","object":"payment_intent","status":"requires_payment_method","amount":350,
                "currency":"usd","client_secret":"pi_1_secret_x","metadata":{"booking_id":"b","n":5},
                "latest_charge":{"id":"ch_1"},"unknown":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(pi.metadata.get("booking_id").map(String::as_str), Some("b"));
        assert!(pi.is_payable());
        assert!(!format!("{pi:?}").contains("pi_1_secret_x"));
    }
}
