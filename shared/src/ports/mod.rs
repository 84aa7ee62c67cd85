//! Ports: the traits the use cases are written against. Adapters implement them for DynamoDB
//! and Stripe (`adapters`), and in memory for tests (`adapters::memory`).

pub mod payments;
pub mod store;
pub mod tariffs;

pub use payments::{
    Intent, IntentEventIn, MoneyEventIn, NewIntent, PaymentProvider, ProviderError, Refund,
    WebhookSecrets,
};
pub use store::{
    BookingStore, EventWrite, Expected, Held, Page, PaymentWrite, ProcessedEvent, StoreError,
};

pub use tariffs::TariffStore;

// Reconciliation (issue 12, section 4).
pub use payments::{EventPage, EventQuery, ListedEvent};
pub use store::{Booked, Checkpoint, InFlight, Order, RefundRefusal};
