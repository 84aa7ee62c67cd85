//! The webhook's own keys: only the secrets Stripe signs events with, never the Stripe API key
//! (the webhook makes no Stripe calls, so its role can read this secret and nothing else).
//!
//! From the environment (`STRIPE_WEBHOOK_SECRETS`, comma-separated: the local stack, the bench)
//! or a stored secret `{"webhook_secrets": ["whsec_...", ...]}` (`STRIPE_WEBHOOK_SECRET_ARN`
//! on Lambda), read on first use and again, at most once a minute, when a signature does not
//! match (a secret rolled in the Dashboard reaches warm instances).

use std::sync::{Mutex, RwLock};
use std::time::Instant;

use serde::Deserialize;

use super::keys::{split_secrets, SecretReader, SecretsManagerReader};
use super::WEBHOOK_SECRET_RELOAD_INTERVAL;
use crate::domain::Secret;
use crate::ports::{ProviderError, WebhookSecrets};

enum Source {
    Static(Vec<Secret>),
    Stored(Box<dyn SecretReader>),
    Missing,
}

pub struct SigningSecrets {
    source: Source,
    cached: RwLock<Option<Vec<Secret>>>,
    last_reload: Mutex<Option<Instant>>,
    reading: tokio::sync::Mutex<()>,
    /// The Stripe mode these secrets' endpoint takes events from (`None`: any).
    livemode: Option<bool>,
}

impl SigningSecrets {
    fn with(source: Source) -> Self {
        Self {
            source,
            cached: RwLock::new(None),
            last_reload: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            livemode: None,
        }
    }

    /// These secrets take events of one Stripe mode only (`Some(true)`: live).
    pub fn with_livemode(mut self, livemode: Option<bool>) -> Self {
        self.livemode = livemode;
        self
    }

    pub fn fixed(secrets: Vec<Secret>) -> Self {
        Self::with(Source::Static(secrets))
    }

    pub fn stored(reader: Box<dyn SecretReader>) -> Self {
        Self::with(Source::Stored(reader))
    }

    /// `STRIPE_WEBHOOK_SECRETS` if set, else the Secrets Manager secret
    /// `STRIPE_WEBHOOK_SECRET_ARN`.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (
            var("STRIPE_WEBHOOK_SECRETS"),
            var("STRIPE_WEBHOOK_SECRET_ARN"),
        ) {
            (Some(joined), _) => Self::fixed(split_secrets(&joined)),
            (None, Some(secret_id)) => Self::stored(Box::new(SecretsManagerReader {
                client: aws_sdk_secretsmanager::Client::new(aws),
                secret_id,
            })),
            (None, None) => Self::with(Source::Missing),
        }
    }

    fn cached(&self) -> Option<Vec<Secret>> {
        self.cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn read(&self, reader: &dyn SecretReader, again: bool) -> Result<bool, ProviderError> {
        let _one_at_a_time = self.reading.lock().await;
        let last = *self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        let skip = if again {
            last.is_some_and(|at| at.elapsed() < WEBHOOK_SECRET_RELOAD_INTERVAL)
        } else {
            self.cached().is_some()
        };
        if skip {
            return Ok(false);
        }
        let text = reader.read().await.map_err(ProviderError::NotConfigured)?;
        let secrets = parse(&text)?;
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(secrets);
        if again {
            *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        Ok(true)
    }
}

impl WebhookSecrets for SigningSecrets {
    async fn webhook_secrets(&self) -> Result<Vec<Secret>, ProviderError> {
        match &self.source {
            Source::Static(secrets) => Ok(secrets.clone()),
            Source::Missing => Err(ProviderError::NotConfigured(
                "set STRIPE_WEBHOOK_SECRETS or STRIPE_WEBHOOK_SECRET_ARN".into(),
            )),
            Source::Stored(reader) => {
                if self.cached().is_none() {
                    self.read(reader.as_ref(), false).await?;
                }
                Ok(self.cached().unwrap_or_default())
            }
        }
    }

    async fn reload(&self) -> Result<bool, ProviderError> {
        match &self.source {
            Source::Stored(reader) => self.read(reader.as_ref(), true).await,
            _ => Ok(false),
        }
    }

    fn livemode(&self) -> Option<bool> {
        self.livemode
    }
}

fn parse(raw: &str) -> Result<Vec<Secret>, ProviderError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Secrets {
        List(Vec<Secret>),
        Joined(String),
    }
    #[derive(Deserialize)]
    struct Stored {
        webhook_secrets: Secrets,
    }
    let stored: Stored = serde_json::from_str(raw).map_err(|_| {
        // serde's message could quote the secret's content: say only what is wrong.
        ProviderError::NotConfigured(
            "the webhook secret must be JSON {\"webhook_secrets\": [\"whsec_...\", ...]}".into(),
        )
    })?;
    Ok(match stored.webhook_secrets {
        Secrets::List(list) => list,
        Secrets::Joined(joined) => split_secrets(&joined),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    struct Rolling(Arc<Mutex<Vec<&'static str>>>, Arc<Mutex<u32>>);

    impl SecretReader for Rolling {
        fn read(&self) -> futures::future::BoxFuture<'_, Result<String, String>> {
            Box::pin(async move {
                *self.1.lock().unwrap() += 1;
                let mut all = self.0.lock().unwrap();
                let next = if all.len() > 1 { all.remove(0) } else { all[0] };
                Ok(format!(r#"{{"webhook_secrets":["{next}"]}}"#))
            })
        }
    }

    #[tokio::test]
    async fn read_once_then_again_at_most_once_a_minute() {
        let reads = Arc::new(Mutex::new(0));
        let secrets = SigningSecrets::stored(Box::new(Rolling(
            Arc::new(Mutex::new(vec!["whsec_old", "whsec_new"])),
            reads.clone(),
        )));
        let first = secrets.webhook_secrets().await.unwrap();
        assert_eq!(first[0].expose(), "whsec_old");
        assert_eq!(
            secrets.webhook_secrets().await.unwrap()[0].expose(),
            "whsec_old"
        );
        assert!(secrets.reload().await.unwrap());
        assert_eq!(
            secrets.webhook_secrets().await.unwrap()[0].expose(),
            "whsec_new"
        );
        assert!(
            !secrets.reload().await.unwrap(),
            "not twice within a minute"
        );
        assert_eq!(*reads.lock().unwrap(), 2);
    }

    #[test]
    fn only_the_signing_secrets_are_read_and_never_printed() {
        let parsed = parse(r#"{"webhook_secrets": "whsec_a, whsec_b"}"#).unwrap();
        assert_eq!(parsed.len(), 2);
        let err = parse(r#"{"secret_key": "sk_live_leak"}"#).unwrap_err();
        assert!(!err.to_string().contains("sk_live_leak"));
    }
}
