//! The payment-provider port: what the use cases ask of Stripe, in domain terms.
//!
//! Every call that changes something carries an idempotency key chosen by the caller, with
//! Stripe's documented semantics (<https://docs.stripe.com/api/idempotent_requests>): the first
//! result for a key (success, or an error returned once the request began executing) is
//! replayed for 24 hours, even if the object changed since.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::domain::operator_refund::RefundReason;
use crate::domain::receipt_email::ReceiptEmail;
use crate::domain::{
    BookingId, CaptureMethod, IntentEvent, IntentId, IntentStatus, Money, MoneyEvent, RefundStatus,
    Secret,
};

/// A PaymentIntent as the use cases see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: IntentId,
    pub status: IntentStatus,
    /// The intent's amount and currency, in minor units as Stripe reports them.
    pub amount_minor: i64,
    pub currency: String,
    pub client_secret: Option<Secret>,
    pub amount_received: Option<i64>,
    pub capture_method: CaptureMethod,
    /// Where Stripe sends the receipt (`receipt_email`), if anywhere.
    pub receipt_email: Option<ReceiptEmail>,
    /// While `requires_capture`: what may be captured.
    pub amount_capturable: Option<i64>,
    /// While `requires_capture`, when the charge was read: its
    /// `payment_method_details.card.capture_before`.
    pub capture_before: Option<DateTime<Utc>>,
    /// Stripe answered with the saved response for an idempotency key: the intent as it was
    /// when first created, which may have changed (been cancelled) since.
    pub replayed: bool,
}

impl Intent {
    /// Does this intent charge exactly `amount`, captured as `method`?
    pub fn has_terms(&self, amount: &Money, method: CaptureMethod) -> bool {
        self.amount_minor == amount.minor
            && self.currency == amount.currency.code
            && self.capture_method == method
    }

    /// Does this intent send its receipt to exactly `email` (or to nobody, for `None`)?
    pub fn has_receipt_email(&self, email: Option<&ReceiptEmail>) -> bool {
        self.receipt_email.as_ref().map(ReceiptEmail::expose) == email.map(ReceiptEmail::expose)
    }
}

/// A PaymentIntent event, as the provider delivers it (the webhook, or a listing of events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentEventIn {
    pub event_id: String,
    /// Stripe's `created` (Unix seconds).
    pub created: i64,
    pub event_type: String,
    pub intent_id: IntentId,
    pub booking_id: BookingId,
    pub change: IntentEvent,
    /// The intent's `latest_charge`, when the event carries it.
    pub charge_id: Option<String>,
    /// An authorization's end, when the event's intent carries its charge expanded (the
    /// product's own reads of an intent do; Stripe's webhooks do not).
    pub capture_before: Option<DateTime<Utc>>,
}

/// A charge, refund or dispute event, as the provider delivers it: it names the intent and/or
/// the charge, not the booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyEventIn {
    pub event_id: String,
    /// Stripe's `created` (Unix seconds).
    pub created: i64,
    pub event_type: String,
    pub intent_id: Option<IntentId>,
    pub charge_id: Option<String>,
    pub change: MoneyEvent,
}

/// What a new PaymentIntent is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    pub amount: Money,
    pub booking_id: BookingId,
    pub capture_method: CaptureMethod,
    /// Stripe's `receipt_email`: where it sends the receipt once paid (live mode only).
    pub receipt_email: Option<ReceiptEmail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub amount: Option<i64>,
    pub status: Option<RefundStatus>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider refused the request itself (amount below the account's minimum, an
    /// unsupported currency, an intent in the wrong state): its message is safe and useful to
    /// the client.
    #[error("{message}")]
    Rejected {
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// Our key was refused (401) or lacks a permission (403): revoked, rolled, or restricted.
    /// The provider's message is not kept: Stripe's can quote part of the key.
    #[error("Stripe refused our credentials ({status})")]
    Unauthorized { status: u16 },
    /// Still rate limited (429) after the client's retries.
    #[error("Stripe rate limit reached")]
    RateLimited,
    /// 409 `idempotency_key_in_use`: the first request with this key is still running. Nothing
    /// was saved; the same request can be sent again shortly.
    #[error("the idempotency key is in use by a concurrent request")]
    KeyInUse,
    /// 400 `idempotency_error`: the key was first used with other parameters or on another
    /// endpoint. Our keys are derived from the parameters, so this is our bug.
    #[error("idempotency key reused with other parameters")]
    KeyReused,
    /// Unreachable, timed out, or 5xx after retries.
    #[error("Stripe unavailable: {0}")]
    Unavailable(String),
    /// The provider answered 2xx with something we cannot read.
    #[error("unexpected Stripe response: {0}")]
    Protocol(String),
    #[error("Stripe is not configured: {0}")]
    NotConfigured(String),
}

pub trait PaymentProvider: Send + Sync {
    fn create_intent(
        &self,
        intent: &NewIntent,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Intent, ProviderError>> + Send;

    fn retrieve_intent(
        &self,
        id: &IntentId,
    ) -> impl Future<Output = Result<Intent, ProviderError>> + Send;

    fn cancel_intent(
        &self,
        id: &IntentId,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Intent, ProviderError>> + Send;

    /// Captures `amount_to_capture` of a `requires_capture` intent; Stripe releases the rest.
    fn capture_intent(
        &self,
        id: &IntentId,
        amount_to_capture: i64,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Intent, ProviderError>> + Send;

    /// Refunds `amount` minor units of what the intent captured, or with `None` everything
    /// not refunded yet (Stripe's `amount` parameter omitted:
    /// <https://docs.stripe.com/api/refunds/create#create_refund-amount>).
    fn refund_intent(
        &self,
        id: &IntentId,
        amount: Option<i64>,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Refund, ProviderError>> + Send;

    /// An operator's refund: `amount` minor units of what the intent captured, with Stripe's
    /// `reason` (<https://docs.stripe.com/api/refunds/create>).
    fn refund_with_reason(
        &self,
        id: &IntentId,
        amount: i64,
        reason: RefundReason,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Refund, ProviderError>> + Send;

    /// One page of the account's events (reconciliation): see [`EventQuery`].
    fn list_events(
        &self,
        query: &EventQuery,
    ) -> impl Future<Output = Result<EventPage, ProviderError>> + Send;
}

/// One request of Stripe's event list (<https://docs.stripe.com/api/events/list>): events of
/// `types` created at or after `created_gte` (Unix seconds), newest first; with
/// `starting_after`, the page of older events right after that one; with `ending_before`, the
/// page of newer events right before it (still newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub created_gte: i64,
    pub types: &'static [&'static str],
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

/// One page of the provider's event list (Stripe's `GET /v1/events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<ListedEvent>,
    /// More events follow the last one of this page.
    pub has_more: bool,
}

/// A listed event, read by the same parser as the webhook's deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEvent {
    pub id: String,
    /// Stripe's `created` (Unix seconds).
    pub created: i64,
    /// The PaymentIntent event, or `None` for an event that is not one we act on.
    pub intent: Option<IntentEventIn>,
    /// The charge, refund or dispute event, or `None`.
    pub money: Option<MoneyEventIn>,
}

/// Where the webhook finds the secrets Stripe signs events with (several while one is rolled).
pub trait WebhookSecrets: Send + Sync {
    fn webhook_secrets(&self) -> impl Future<Output = Result<Vec<Secret>, ProviderError>> + Send;

    /// Reads the secrets again where they are stored, if they were not read within the last
    /// minute (a rolled secret reaches warm instances). `Ok(true)` if they were read.
    fn reload(&self) -> impl Future<Output = Result<bool, ProviderError>> + Send;

    /// The Stripe mode these secrets' endpoint receives (`Some(true)` live, `Some(false)`
    /// test; `STRIPE_LIVEMODE`, set by stage), or `None` where any mode is accepted (local).
    fn livemode(&self) -> Option<bool> {
        None
    }
}
