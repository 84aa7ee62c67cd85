//! API errors, and the one mapping from every lower error (use case, domain, store, payment
//! provider) to HTTP. Every error body is `{"detail": "..."}`.

use lambda_http::http::StatusCode;

use crate::app::AppError;
use crate::domain::DomainError;
use crate::ports::{ProviderError, StoreError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Invalid API key")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// With the methods the resource does support, for the `Allow` header.
    #[error("Method not allowed")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A downstream service (Stripe) failed or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    /// Our own misconfiguration; the detail never names secrets.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(detail.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn booking_not_found() -> Self {
        Self::NotFound("Booking not found".into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Overlap => {
                Self::Conflict("The asset is already booked for an overlapping time slot".into())
            }
            // The caller resolves idempotency conflicts itself; reaching here means a race we
            // could not settle, which the client can safely retry.
            StoreError::IdempotencyKeyTaken | StoreError::Contention => Self::ServiceUnavailable(
                "The asset is busy with concurrent bookings; please retry".into(),
            ),
            StoreError::Unavailable(reason) => {
                // The reason is for the logs, not the client: it may name tables or endpoints.
                tracing::error!(%reason, "booking store unavailable");
                Self::ServiceUnavailable(
                    "Booking store is temporarily unavailable; please retry".into(),
                )
            }
            StoreError::Corrupt(reason) => {
                tracing::error!(%reason, "corrupt item in booking store");
                Self::ServiceUnavailable("Booking store returned an unreadable item".into())
            }
            StoreError::Rejected(reason) => {
                // Not the client's mistake (every rule it must follow was checked before) and
                // not passing: ours to look into.
                tracing::error!(%reason, "booking store refused a write as invalid");
                Self::Internal("The booking could not be stored".into())
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid(e) => e.into(),
            AppError::BookingNotFound => Self::booking_not_found(),
            AppError::NotFound(detail) => Self::NotFound(detail),
            AppError::Conflict(detail) => Self::Conflict(detail),
            AppError::IdempotencyMismatch => Self::Unprocessable(err.to_string()),
            AppError::Busy(detail) => Self::ServiceUnavailable(detail),
            AppError::Store(e) => e.into(),
            // Stripe's own message about the caller's request, as the API document promises:
            // written for humans, and never containing our keys.
            AppError::Declined(message) => Self::BadRequest(message),
            AppError::Unsettled(detail) => Self::BadGateway(detail),
            AppError::Provider(e) => e.into(),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> Self {
        match err {
            // A request the service made on its own (the caller's own requests are
            // `AppError::Declined`): ours to look into, and none of Stripe's text in the answer.
            ProviderError::Rejected {
                status,
                message,
                code,
            } => {
                tracing::error!(status, code = code.as_deref().unwrap_or(""), %message,
                    "Stripe refused a request the service made");
                Self::BadGateway(
                    "The payment provider refused a request the service made; please retry later"
                        .into(),
                )
            }
            ProviderError::Unavailable(reason) => {
                tracing::error!(%reason, "Stripe unavailable");
                Self::BadGateway("Payment provider is unavailable; please retry".into())
            }
            ProviderError::Protocol(reason) => {
                tracing::error!(%reason, "unexpected Stripe response");
                Self::BadGateway("Unexpected response from the payment provider".into())
            }
            ProviderError::Unauthorized { status } => {
                // Our configuration, not the client's request: never Stripe's text, which can
                // quote part of the key.
                tracing::error!(
                    status,
                    "Stripe refused our API key: revoked, rolled or missing a permission"
                );
                Self::Internal("Payments are misconfigured".into())
            }
            ProviderError::RateLimited => {
                tracing::warn!("Stripe rate limit reached after retries");
                Self::ServiceUnavailable("Payment provider is busy; please retry".into())
            }
            ProviderError::KeyInUse => Self::ServiceUnavailable(
                "The booking is busy with concurrent payment requests; please retry".into(),
            ),
            ProviderError::KeyReused => {
                tracing::error!("Stripe idempotency key reused with other parameters");
                Self::Internal("The payment request could not be made".into())
            }
            ProviderError::NotConfigured(reason) => {
                tracing::error!(%reason, "Stripe not configured");
                Self::Internal("Payments are not configured".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(err: ProviderError) -> (u16, String) {
        let api = ApiError::from(err);
        (api.status().as_u16(), api.to_string())
    }

    /// Issue 20, item 5: Stripe refusing a request the service made on its own (an owed
    /// refund, a cancel, a read) is not the caller's error, and none of its text is shown.
    #[test]
    fn stripe_refusing_a_request_of_ours_is_no_400_and_quotes_nothing() {
        let ours = ProviderError::Rejected {
            status: 400,
            message: "Charge ch_3Poison has been charged back; cannot issue a refund.".into(),
            code: Some("charge_disputed".into()),
        };
        let api = ApiError::from(AppError::Provider(ours));
        assert_eq!(api.status().as_u16(), 502, "{api}");
        let detail = api.to_string();
        assert!(
            !detail.contains("charge") && !detail.contains("ch_3Poison"),
            "{detail}"
        );
    }

    #[test]
    fn provider_errors_by_kind() {
        let own = ProviderError::Rejected {
            status: 400,
            message: "Amount must be at least $0.50 usd".into(),
            code: Some("amount_too_small".into()),
        };
        let callers = ApiError::from(AppError::callers(own));
        assert_eq!(
            (callers.status().as_u16(), callers.to_string()),
            (400, "Amount must be at least $0.50 usd".into())
        );
        for status in [401, 403] {
            assert_eq!(
                answer(ProviderError::Unauthorized { status }),
                (500, "Payments are misconfigured".into())
            );
        }
        assert_eq!(answer(ProviderError::RateLimited).0, 503);
        assert_eq!(answer(ProviderError::KeyInUse).0, 503);
        assert_eq!(answer(ProviderError::KeyReused).0, 500);
        assert_eq!(answer(ProviderError::Unavailable("x".into())).0, 502);
    }

    #[derive(Clone, Default)]
    struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_dynamodb_refuses_as_invalid_is_a_500_logged_as_an_error() {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let api = tracing::subscriber::with_default(subscriber, || {
            ApiError::from(StoreError::Rejected(
                "ValidationError: Item size has exceeded the maximum allowed size".into(),
            ))
        });
        assert_eq!(
            (api.status().as_u16(), api.to_string()),
            (500, "The booking could not be stored".into())
        );
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("ERROR"), "{logged}");
        assert!(logged.contains("Item size has exceeded"), "{logged}");
    }
}
