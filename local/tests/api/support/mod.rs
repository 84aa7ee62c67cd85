//! What every test shares: the test app (the real local stack on a random port, with its own
//! in-memory DynamoDB emulator and localstripe, and an HTTP client that talks to it), and the
//! helpers around it, one copy each:
//!
//! - `app`: spawning the app, requests to the API and their answers, booking bodies.
//! - `turn`: which tests run at once (a heavy test runs alone).
//! - `stripe`: the Stripe emulator as Stripe.js and the dashboard use it, and webhooks.
//! - `events`: Stripe event bodies, as Stripe sends them.
//! - `dynamo`: DynamoDB items read directly (`attr`, `scan`).
//! - `time`: RFC 3339 text and Unix times.
//! - `product`: the `shared` crate's items the tests call directly, named there only.
//!
//! Also compiled into the separate test binaries (`#[path]`), which each use a part of it.

#![allow(dead_code, unused_imports)]

mod app;
mod dynamo;
mod events;
pub mod product;
pub mod samples;
mod stripe;
mod time;
mod turn;

pub use app::{
    booking, example_booking, free_port, new_id, spawn_app, spawn_app_alone, spawn_app_with,
    spawn_app_with_holds, spawn_app_with_stripe, Answer, TestApp, API_KEY,
};
pub use dynamo::{attr, get_item, num_attr, scan, Item};
pub use events::{event, succeeded};
pub use stripe::{StripeApi, CARD_3DS, CARD_DECLINED, CARD_DISPUTED, CARD_OK, CARD_REFUND_FAILS};
pub use time::{ms, now, rfc3339};
pub use turn::Turn;
