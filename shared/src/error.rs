//! API errors and their single mapping to HTTP. Every error body is `{"detail": "..."}`.

use lambda_http::http::StatusCode;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Invalid API key")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
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
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
        }
    }
}
