//! The Stripe adapter: a small REST client for only the calls the product makes, parsed
//! leniently, implementing the `PaymentProvider` port.
//!
//! Built once per Lambda instance (connection pool, keys). Every POST carries an
//! `Idempotency-Key` chosen by the caller, so retries after a timeout or a 5xx can never
//! create a second object on real Stripe. Keys never reach a log line or an error message:
//! they live in [`Secret`], whose `Debug` is redacted.

pub mod event;
pub(crate) mod event_list;
mod keys;
pub mod signature;
mod signing;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};

pub use keys::{split_secrets, SecretReader, StripeKeys};
use keys::{KeySource, SecretsManagerReader};
pub use signing::SigningSecrets;

use crate::domain::operator_refund::RefundReason;
use crate::domain::{CaptureMethod, IntentId, RefundStatus, Secret};
use crate::ports::{Intent, NewIntent, PaymentProvider, ProviderError, Refund, WebhookSecrets};

/// The API version this client was written against; pinned so Stripe's changes to defaults
/// cannot change our behaviour underneath us.
pub const STRIPE_VERSION: &str = "2024-06-20";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Per attempt. Three attempts plus backoff stay inside the functions' Lambda timeouts.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
const MAX_ATTEMPTS: u32 = 3;
/// After Stripe refuses the key, the stored secret is read again at most this often.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// After a webhook signature fails, the signing secrets are read again at most this often
/// (forged deliveries must not turn into a Secrets Manager read each).
pub const WEBHOOK_SECRET_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

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
        Self::build(base.into(), KeySource::Static(Arc::new(keys)))
    }

    /// Keys read from a stored secret through `reader`, and read again when Stripe refuses the
    /// key or a webhook signature does not match (a rolled key or secret).
    pub fn with_secret_reader(base: impl Into<String>, reader: Box<dyn SecretReader>) -> Self {
        Self::build(base.into(), KeySource::stored(reader))
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
            (Some(key), _) => KeySource::Static(Arc::new(StripeKeys {
                secret_key: Secret::new(key),
                webhook_secrets: split_secrets(
                    &std::env::var("STRIPE_WEBHOOK_SECRETS").unwrap_or_default(),
                ),
            })),
            (None, Some(secret_id)) => KeySource::stored(Box::new(SecretsManagerReader {
                client: aws_sdk_secretsmanager::Client::new(aws),
                secret_id,
            })),
            (None, None) => KeySource::Missing,
        };
        Self::build(base, source)
    }

    fn build(base: String, keys: KeySource) -> Self {
        crate::runtime::tls::install_crypto_provider();
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

    pub async fn keys(&self) -> Result<Arc<StripeKeys>, ProviderError> {
        self.keys.get().await
    }

    /// One Stripe call with retries: network errors, 429 and 5xx are retried with the same
    /// idempotency key, honouring `Stripe-Should-Retry` when Stripe sends it.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Answer<T>, ProviderError> {
        let mut keys = self.keys().await?;
        let mut reloaded = false;
        let url = format!("{}{}", self.base, path);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut last_error = ProviderError::Unavailable("no attempt made".into());
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(wire::retry_delay(attempt)).await;
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
                    last_error = ProviderError::Unavailable(wire::describe(&err));
                    tracing::warn!(%method, path, attempt, error = %last_error, "Stripe request failed");
                    continue;
                }
            };
            let status = resp.status();
            // Stripe marks an answer replayed for an idempotency key (stripe-go reads it into
            // `APIResponse.IdempotentReplayed`): the saved body, as it was then.
            let replayed = resp
                .headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let should_retry = resp
                .headers()
                .get("stripe-should-retry")
                .and_then(|v| v.to_str().ok())
                .map(|v| v == "true");
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(err) => {
                    last_error = ProviderError::Unavailable(wire::describe(&err));
                    continue;
                }
            };
            if status.is_success() {
                let value = serde_json::from_slice(&bytes)
                    .map_err(|e| ProviderError::Protocol(format!("{path}: {e}")))?;
                return Ok(Answer { value, replayed });
            }
            last_error = wire::error_from(status, &bytes);
            if matches!(last_error, ProviderError::Unauthorized { .. }) && !reloaded {
                // A rolled or revoked key: read the stored secret again (at most once per
                // interval per instance) and, if the key changed, try once more with it.
                reloaded = true;
                if self.keys.reload(KEY_RELOAD_INTERVAL).await? {
                    let fresh = self.keys().await?;
                    if fresh.secret_key != keys.secret_key {
                        tracing::warn!(
                            path,
                            "Stripe refused the API key; retrying with the key read again"
                        );
                        keys = fresh;
                        continue;
                    }
                }
            }
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

/// A 2xx answer, and whether Stripe replayed it for an idempotency key.
struct Answer<T> {
    value: T,
    replayed: bool,
}

impl Answer<wire::PaymentIntent> {
    fn into_intent(self) -> Result<Intent, ProviderError> {
        let mut intent = self.value.into_port()?;
        intent.replayed = self.replayed;
        Ok(intent)
    }
}

impl PaymentProvider for StripeClient {
    async fn create_intent(
        &self,
        intent: &NewIntent,
        idempotency_key: &str,
    ) -> Result<Intent, ProviderError> {
        let mut form = vec![
            ("amount", intent.amount.minor.to_string()),
            ("currency", intent.amount.currency.code.to_string()),
            ("metadata[booking_id]", intent.booking_id.to_string()),
            ("payment_method_types[]", "card".to_string()),
        ];
        // Only when asked: an automatic intent's request stays what it always was.
        if intent.capture_method == CaptureMethod::Manual {
            form.push(("capture_method", "manual".to_string()));
        }
        // https://docs.stripe.com/api/payment_intents/create#create_payment_intent-receipt_email
        if let Some(email) = &intent.receipt_email {
            form.push(("receipt_email", email.expose().to_string()));
        }
        self.call(
            Method::POST,
            "/v1/payment_intents",
            &form,
            Some(idempotency_key),
        )
        .await?
        .into_intent()
    }

    async fn retrieve_intent(&self, id: &IntentId) -> Result<Intent, ProviderError> {
        // With its charge, whose card details hold an authorization's `capture_before`.
        let path = format!("/v1/payment_intents/{id}?expand%5B%5D=latest_charge");
        self.call(Method::GET, &path, &[], None)
            .await?
            .into_intent()
    }

    async fn cancel_intent(
        &self,
        id: &IntentId,
        idempotency_key: &str,
    ) -> Result<Intent, ProviderError> {
        let path = format!("/v1/payment_intents/{id}/cancel");
        self.call(Method::POST, &path, &[], Some(idempotency_key))
            .await?
            .into_intent()
    }

    async fn capture_intent(
        &self,
        id: &IntentId,
        amount_to_capture: i64,
        idempotency_key: &str,
    ) -> Result<Intent, ProviderError> {
        // https://docs.stripe.com/api/payment_intents/capture
        let path = format!("/v1/payment_intents/{id}/capture");
        let form = vec![("amount_to_capture", amount_to_capture.to_string())];
        self.call(Method::POST, &path, &form, Some(idempotency_key))
            .await?
            .into_intent()
    }

    async fn refund_intent(
        &self,
        id: &IntentId,
        amount: Option<i64>,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        // https://docs.stripe.com/api/refunds/create
        let mut form = vec![("payment_intent", id.to_string())];
        if let Some(amount) = amount {
            form.push(("amount", amount.to_string()));
        }
        self.refund(&form, idempotency_key).await
    }

    async fn refund_with_reason(
        &self,
        id: &IntentId,
        amount: i64,
        reason: RefundReason,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let form = vec![
            ("payment_intent", id.to_string()),
            ("amount", amount.to_string()),
            ("reason", reason.as_str().to_string()),
        ];
        self.refund(&form, idempotency_key).await
    }

    async fn list_events(
        &self,
        query: &crate::ports::EventQuery,
    ) -> Result<crate::ports::EventPage, ProviderError> {
        self.event_page(query).await
    }
}

impl StripeClient {
    /// `POST /v1/refunds` with `form`.
    async fn refund(
        &self,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let refund: wire::Refund = self
            .call(Method::POST, "/v1/refunds", form, Some(idempotency_key))
            .await?
            .value;
        Ok(Refund {
            id: refund.id,
            amount: refund.amount,
            status: refund.status.as_deref().and_then(RefundStatus::parse),
        })
    }
}

impl WebhookSecrets for StripeClient {
    async fn webhook_secrets(&self) -> Result<Vec<Secret>, ProviderError> {
        Ok(self.keys().await?.webhook_secrets.clone())
    }

    async fn reload(&self) -> Result<bool, ProviderError> {
        self.keys.reload(WEBHOOK_SECRET_RELOAD_INTERVAL).await
    }
}
