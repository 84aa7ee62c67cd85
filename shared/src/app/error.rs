//! What a use case can answer besides success. `http::error` maps each to a status code, in
//! one place.

use crate::domain::DomainError;
use crate::ports::{ProviderError, StoreError};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AppError {
    /// The request breaks a rule of the domain: the client's to fix.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("Booking not found")]
    BookingNotFound,
    /// Another resource is not there (a tariff; no tariff for an asset); the text says which.
    #[error("{0}")]
    NotFound(String),
    /// The booking's state does not allow it (cancelled, already paid, ...).
    #[error("{0}")]
    Conflict(String),
    #[error("Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    /// Concurrent writers kept winning; the client can safely retry.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider refused the caller's own request (its amount, its capture), with a
    /// message about that request: shown to the caller as it is.
    #[error("{0}")]
    Declined(String),
    /// The provider did not say how a request of ours that moves money ended (unreachable,
    /// timed out, 5xx): it is kept pending, and the text says how to settle it.
    #[error("{0}")]
    Unsettled(String),
    /// Anything else from the provider, including its refusal of a request the service made
    /// on its own (an owed refund, a cancel): never the caller's error, never its text.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl AppError {
    /// A provider error answering the caller's own request: a refusal is the caller's to
    /// fix ([`AppError::Declined`]), anything else stays the provider's.
    pub fn callers(err: ProviderError) -> Self {
        match err {
            ProviderError::Rejected { message, .. } => Self::Declined(message),
            other => Self::Provider(other),
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }
}
