//! HTTP: one handler per Lambda function (routing, request bodies in, views out), and the one
//! place an error becomes a `{"detail": ...}` response.

pub mod bookings;
pub mod create_intent;
pub mod dto;
pub mod error;
pub mod refunds;
pub mod request;
pub mod response;
pub mod tariffs;
pub mod views;
pub mod webhook;

pub use error::ApiError;

#[cfg(test)]
mod idempotency_tests;
