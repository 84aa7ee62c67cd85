//! The Payments API library, shared by every Lambda function.
//!
//! - `domain`: bookings, slots, money, the payment state machine. Pure.
//! - `ports`: the traits the use cases need (`BookingStore`, `PaymentProvider`).
//! - `app`: the use cases, generic over the ports.
//! - `adapters`: the ports for DynamoDB and Stripe (and in memory, for tests).
//! - `http`: one handler per function, request bodies, views, the error mapping.
//! - `runtime`: configuration, logging and TLS, set up once per Lambda instance.
//!
//! Each function's `main.rs` builds the adapters once and hands every request to its handler
//! in `http`, so the local stack and Lambda run the same code.

pub mod adapters;
pub mod app;
pub mod domain;
pub mod http;
pub mod ports;
pub mod runtime;
