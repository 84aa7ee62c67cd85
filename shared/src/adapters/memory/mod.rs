//! In-memory fakes of both ports, for use-case tests that run in milliseconds. They behave as
//! the real services document, not as leniently as an emulator: see each module.

mod payments;
mod store;
mod tariffs;

pub use payments::{Call, FakeStripe, Hook, When};
pub use store::{InMemoryStore, ReadStats};

#[cfg(test)]
mod tests;
