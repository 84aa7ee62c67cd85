//! The domain's own error: a value the rules refuse. Its text is written for the client (it
//! names the field at fault); which HTTP status it becomes is decided in `http`, not here.

use super::money::MoneyError;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl DomainError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(detail.into())
    }
}
