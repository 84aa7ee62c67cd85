//! What every Lambda process sets up once: configuration, logging, TLS.

pub mod config;
pub mod telemetry;
pub mod tls;
