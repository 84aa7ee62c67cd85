//! The local stack's integration tests, as one test binary (zero2prod's `tests/api/` layout):
//! one module per area, and one `support` module that every one of them uses. One binary links
//! the AWS SDK and the rest once, where one per file linked them eleven times.
//!
//! Only tests that need a process of their own are other binaries, each saying why at its top:
//! `tests/no_secrets_in_logs.rs` (installs the process-wide log subscriber) and
//! `tests/kill_restart.rs` (SIGKILLs the stack it starts). They use this `support` too.
//!
//! Run one area with a filter on its module path, e.g.
//! `cargo test -p local-stack --test api faults::`.

mod bookings_api;
mod bridge;
mod capture;
mod fault_proxy;
mod faults;
mod hostile_input;
mod load;
mod money_after_payment;
mod openapi_contract;
mod operator_refunds;
mod payments_flow;
mod persistence;
mod receipt_email;
mod reconcile;
mod reconcile_backlog;
mod sample_events;
mod stripe_layer;
mod support;
mod tariffs;
mod terms;
mod webhook_security;
