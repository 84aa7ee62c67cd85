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
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl AppError {
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }
}
