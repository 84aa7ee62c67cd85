//! Where the Stripe keys come from: the environment (local stack, tests) or a Secrets Manager
//! secret read on first use and kept for the life of the Lambda instance.

use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::domain::Secret;
use crate::ports::ProviderError;

#[derive(Clone, Debug)]
pub struct StripeKeys {
    pub secret_key: Secret,
    /// Webhook signing secrets; several while a secret is being rolled.
    pub webhook_secrets: Vec<Secret>,
}

pub(super) enum KeySource {
    Static(StripeKeys),
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        keys: OnceCell<StripeKeys>,
    },
    Missing,
}

impl KeySource {
    pub async fn get(&self) -> Result<&StripeKeys, ProviderError> {
        match self {
            KeySource::Static(keys) => Ok(keys),
            KeySource::Missing => Err(ProviderError::NotConfigured(
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
                            ProviderError::NotConfigured(format!(
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
}

pub fn split_secrets(raw: &str) -> Vec<Secret> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

fn parse_secret_string(raw: &str) -> Result<StripeKeys, ProviderError> {
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
