//! Use cases: create, read, list and cancel a booking; create a PaymentIntent for one; apply a
//! Stripe event. Generic over the ports, so they run against DynamoDB and Stripe on Lambda and
//! against the in-memory fakes (`adapters::memory`) in tests.
//!
//! Every write is conditional on what was read (optimistic concurrency): when the booking
//! moved in between, the use case reads it again and decides again, a bounded number of times.

mod authorizations;
pub mod bookings;
pub mod bounded;
pub mod capture;
pub mod error;
pub mod event_list;
pub mod events;
pub mod holds;
pub mod intents;
mod keys;
mod no_shows;
pub mod operator_refunds;
pub mod reconcile;
pub mod refunds;
pub mod tariffs;
pub mod terms;
mod versioned;

pub use error::AppError;

#[cfg(test)]
mod tests;
