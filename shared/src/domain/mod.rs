//! The domain: bookings and their slots, money, and the payment state machine.
//!
//! Pure: no HTTP, no AWS, no JSON values. Values come in through newtypes whose `parse` is the
//! only way to make one, and rules fail with [`DomainError`].

pub mod booking;
pub mod capture;
pub mod error;
pub mod event_types;
pub mod hold;
pub mod idempotency;
pub mod ids;
pub mod money;
pub mod operator_refund;
pub mod other_intents;
pub mod payment;
pub mod receipt;
pub mod receipt_email;
pub mod refund_log;
pub mod refunds;
pub mod secret;
pub mod slot;
pub mod tariff;
pub mod terms;

pub use booking::{AssetType, Booking, BookingStatus, NewBooking};
pub use capture::{Authorization, CaptureAmount, CaptureMethod, CaptureRefusal, CaptureStep};
pub use error::DomainError;
pub use hold::{HoldRules, HoldState, PassedHold};
pub use idempotency::{IdempotencyKey, IdempotencyRecord};
pub use ids::{AssetId, BookingId, IntentId, UserId};
pub use money::{Currency, Money, MoneyError};
pub use payment::{
    IntentAction, IntentEvent, IntentStatus, Payment, PaymentStatus, StripeAmounts, Want,
};
pub use refunds::{AfterPayment, MoneyEvent, RefundStatus};
pub use secret::Secret;
pub use slot::Slot;
