//! The Payments API library: domain, ports and adapters shared by every Lambda function.
//!
//! Each function's `main.rs` only builds configuration and clients once and hands requests to
//! a handler module here (`bookings`, `create_intent`, `webhook`), so the local stack and Lambda run the same code.

pub mod bookings;
pub mod config;
pub mod create_intent;
pub mod domain;
pub mod dynamo;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod money;
pub mod payment;
pub mod store;
pub mod stripe;
pub mod telemetry;
pub mod tls;
pub mod webhook;
pub mod webhook_signature;
