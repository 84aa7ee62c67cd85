//! The product's own code the tests call directly, from the `shared` crate. Its paths are
//! named here only: when `shared` moves an item, this file is the one to change.

pub use shared::config::Tables;
pub use shared::domain::{Booking, NewBooking};
pub use shared::store::BookingStore;
pub use shared::stripe::{Secret, StripeClient, StripeKeys};
pub use shared::webhook_signature;
/// The three functions' handlers (each a `handle(store, stripe, request)`).
pub use shared::{bookings, create_intent, webhook};
