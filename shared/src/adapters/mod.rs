//! Adapters: the ports implemented for DynamoDB and Stripe, and in memory for tests.

pub mod dynamo;
#[cfg(any(test, feature = "fakes"))]
pub mod memory;
pub mod stripe;
