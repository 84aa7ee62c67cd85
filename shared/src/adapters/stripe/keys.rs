//! Where the Stripe keys come from: the environment (local stack, tests) or a stored secret
//! (Secrets Manager on Lambda), read on first use and again when a key was rolled.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::domain::Secret;
use crate::ports::ProviderError;

#[derive(Clone, Debug)]
pub struct StripeKeys {
    pub secret_key: Secret,
    /// Webhook signing secrets; several while a secret is being rolled.
    pub webhook_secrets: Vec<Secret>,
}

/// Reads the stored secret's text (`{"secret_key": ..., "webhook_secrets": [...]}`) from
/// wherever it is kept: Secrets Manager on Lambda, anything else in tests.
pub trait SecretReader: Send + Sync {
    fn read(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// Secrets Manager's `GetSecretValue` of one secret.
pub(super) struct SecretsManagerReader {
    pub(super) client: aws_sdk_secretsmanager::Client,
    pub(super) secret_id: String,
}

impl SecretReader for SecretsManagerReader {
    fn read(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let out = self
                .client
                .get_secret_value()
                .secret_id(&self.secret_id)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot read the Stripe secret: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                    )
                })?;
            Ok(out.secret_string().unwrap_or_default().to_string())
        })
    }
}

/// Stored keys, read on first use and kept for the life of the Lambda instance, read again
/// (at most once per interval) when Stripe refuses the key or a webhook signature does not
/// match: so a rolled key or signing secret reaches warm instances without a redeploy.
pub(super) struct StoredKeys {
    reader: Box<dyn SecretReader>,
    cached: RwLock<Option<Arc<StripeKeys>>>,
    /// When the keys were last read again (the first read does not count).
    last_reload: Mutex<Option<Instant>>,
    /// One read at a time per instance.
    reading: tokio::sync::Mutex<()>,
}

pub(super) enum KeySource {
    Static(Arc<StripeKeys>),
    Stored(StoredKeys),
    Missing,
}

impl KeySource {
    pub(super) fn stored(reader: Box<dyn SecretReader>) -> Self {
        Self::Stored(StoredKeys {
            reader,
            cached: RwLock::new(None),
            last_reload: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    pub async fn get(&self) -> Result<Arc<StripeKeys>, ProviderError> {
        match self {
            KeySource::Static(keys) => Ok(keys.clone()),
            KeySource::Missing => Err(ProviderError::NotConfigured(
                "set STRIPE_SECRET_KEY or STRIPE_SECRET_ARN".into(),
            )),
            KeySource::Stored(stored) => {
                if let Some(keys) = stored.cached() {
                    return Ok(keys);
                }
                stored.read(None).await?;
                stored.cached().ok_or_else(|| {
                    ProviderError::NotConfigured("the Stripe secret could not be read".into())
                })
            }
        }
    }

    /// Reads the stored keys again unless they were read less than `min_interval` ago.
    /// `Ok(true)` if they were read (and may have changed).
    pub async fn reload(&self, min_interval: Duration) -> Result<bool, ProviderError> {
        match self {
            KeySource::Stored(stored) => stored.read(Some(min_interval)).await,
            _ => Ok(false),
        }
    }
}

impl StoredKeys {
    fn cached(&self) -> Option<Arc<StripeKeys>> {
        self.cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `None`: the first read (skipped if a concurrent caller just made it); `Some(min)`: a
    /// read again, skipped if the last one was less than `min` ago.
    async fn read(&self, min_interval: Option<Duration>) -> Result<bool, ProviderError> {
        let _one_at_a_time = self.reading.lock().await;
        let last = *self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        let skip = match min_interval {
            None => self.cached().is_some(),
            Some(min) => last.is_some_and(|at| at.elapsed() < min),
        };
        if skip {
            return Ok(false);
        }
        let text = self
            .reader
            .read()
            .await
            .map_err(ProviderError::NotConfigured)?;
        let keys = parse_secret_string(&text)?;
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
        if min_interval.is_some() {
            *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        Ok(true)
    }
}

pub fn split_secrets(raw: &str) -> Vec<Secret> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

pub(super) fn parse_secret_string(raw: &str) -> Result<StripeKeys, ProviderError> {
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
        ProviderError::NotConfigured(
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
}
