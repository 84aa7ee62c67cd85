//! Stripe's wire format: the JSON objects we read (leniently: unknown fields are ignored) and
//! its error envelope, turned into the port's types.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use chrono::{DateTime, Utc};

use crate::domain::{CaptureMethod, IntentId, IntentStatus, Secret};
use crate::ports::{Intent, ProviderError};

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
    #[serde(default)]
    pub amount_capturable: Option<i64>,
    #[serde(default)]
    pub capture_method: Option<String>,
    #[serde(default)]
    pub receipt_email: Option<String>,
    /// An id, or the charge when expanded (`expand[]=latest_charge`).
    #[serde(default)]
    pub latest_charge: Option<serde_json::Value>,
}

/// An expanded charge's `payment_method_details.card.capture_before` (Unix seconds), the end
/// of an uncaptured card authorization
/// (<https://docs.stripe.com/api/charges/object#charge_object-payment_method_details-card-capture_before>).
pub(super) fn capture_before(charge: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    let at = charge?
        .get("payment_method_details")?
        .get("card")?
        .get("capture_before")?
        .as_i64()?;
    DateTime::from_timestamp(at, 0)
}

impl PaymentIntent {
    pub fn into_port(self) -> Result<Intent, ProviderError> {
        let id = IntentId::parse(&self.id)
            .map_err(|_| ProviderError::Protocol("malformed PaymentIntent id".into()))?;
        Ok(Intent {
            id,
            status: IntentStatus::parse(&self.status),
            amount_minor: self.amount,
            currency: self.currency,
            client_secret: self.client_secret,
            amount_received: self.amount_received,
            capture_method: self
                .capture_method
                .as_deref()
                .map_or(CaptureMethod::Automatic, CaptureMethod::from_stripe),
            amount_capturable: self.amount_capturable,
            receipt_email: self
                .receipt_email
                .as_deref()
                .map(crate::domain::receipt_email::ReceiptEmail::from_stripe),
            capture_before: capture_before(self.latest_charge.as_ref()),
            replayed: false,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub status: Option<String>,
}

pub(super) fn error_from(status: StatusCode, body: &[u8]) -> ProviderError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        code: Option<String>,
    }
    if status.is_server_error() {
        return ProviderError::Unavailable(format!("Stripe answered {}", status.as_u16()));
    }
    // Stripe's error types and codes: https://docs.stripe.com/error-codes and
    // https://docs.stripe.com/api/errors (401 invalid key, 403 missing permission, 429 rate
    // limit, 409 idempotency_key_in_use, type idempotency_error).
    if matches!(status.as_u16(), 401 | 403) {
        return ProviderError::Unauthorized {
            status: status.as_u16(),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::RateLimited;
    }
    let parsed = serde_json::from_slice::<Envelope>(body).ok();
    let code = parsed.as_ref().and_then(|e| e.error.code.as_deref());
    if status == StatusCode::CONFLICT && code == Some("idempotency_key_in_use") {
        return ProviderError::KeyInUse;
    }
    if parsed.as_ref().and_then(|e| e.error.kind.as_deref()) == Some("idempotency_error") {
        return ProviderError::KeyReused;
    }
    let message = parsed
        .as_ref()
        .and_then(|e| e.error.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Stripe refused the request ({})", status.as_u16()));
    ProviderError::Rejected {
        status: status.as_u16(),
        message,
        code: parsed.and_then(|e| e.error.code),
    }
}

/// A reqwest error without its URL's query or anything from our headers.
pub(super) fn describe(err: &reqwest::Error) -> String {
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

pub(super) fn retry_delay(attempt: u32) -> Duration {
    let base = 250u64 << attempt.min(4);
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    Duration::from_millis(base / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn errors_are_sorted_by_whose_they_are() {
        let revoked = br#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****abcd"}}"#;
        for status in [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN] {
            let err = error_from(status, revoked);
            assert_eq!(
                err,
                ProviderError::Unauthorized {
                    status: status.as_u16()
                }
            );
            assert!(!format!("{err} {err:?}").contains("sk_test"));
        }
        assert_eq!(
            error_from(StatusCode::TOO_MANY_REQUESTS, b"{}"),
            ProviderError::RateLimited
        );
        let in_use = br#"{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Idempotent Key"}}"#;
        assert_eq!(
            error_from(StatusCode::CONFLICT, in_use),
            ProviderError::KeyInUse
        );
        let reused = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#;
        assert_eq!(
            error_from(StatusCode::BAD_REQUEST, reused),
            ProviderError::KeyReused
        );
    }

    #[test]
    fn intents_parse_leniently() {
        let pi: PaymentIntent = serde_json::from_str(
            r#"{"id":"pi_1","object":"payment_intent","status":"requires_payment_method","amount":350,
                "currency":"usd","client_secret":"pi_1_secret_x","metadata":{"booking_id":"b","n":5},
                "latest_charge":{"id":"ch_1"},"unknown":[1,2]}"#,
        )
        .unwrap();
        assert!(pi.clone().into_port().unwrap().status.is_payable());
        assert!(!format!("{pi:?}").contains("pi_1_secret_x"));
    }
}
