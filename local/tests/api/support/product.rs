//! The product's own code the tests call directly, from the `shared` crate. Its paths are
//! named here only: when `shared` moves an item, this file is the one to change.

pub use shared::adapters::stripe::signature as webhook_signature;
pub use shared::adapters::stripe::{StripeClient, StripeKeys};
/// The scheduled function's use case (`run(store, stripe)`).
pub use shared::app::reconcile;
pub use shared::domain::capture::{ExpiringHoldPolicy, HoldSettings};
pub use shared::domain::{Booking, BookingId, Secret};
/// A `POST /v1/bookings` body read as the bookings function reads it.
pub use shared::http::dto::new_booking;
/// A booking as the API shows it.
pub use shared::http::views::booking_json;
/// The three HTTP functions' handlers (each a `handle(store, stripe, request)`).
pub use shared::http::{bookings, create_intent, webhook};
pub use shared::ports::{BookingStore, Checkpoint, RefundRefusal};
pub use shared::runtime::config::Tables;
