//! The use cases as the tests call them: with the default hold rules (a 600 s 3-D Secure
//! grace) unless a test passes its own.

use chrono::{DateTime, Utc};

use crate::app::intents::Terms;
use crate::app::reconcile::{RunError, Summary};
use crate::app::AppError;
use crate::domain::capture::HoldSettings;
use crate::domain::{Booking, BookingId, HoldRules};
use crate::ports::{BookingStore, Intent, PaymentProvider};

pub(super) async fn create_intent<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking_id: BookingId,
    terms: impl Into<Terms>,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Intent, AppError> {
    let rules = HoldRules::default();
    let terms: Terms = terms.into();
    crate::app::intents::create_intent(store, provider, booking_id, terms, &rules, now).await
}

pub(super) async fn cancel_booking<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    id: BookingId,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Booking, AppError> {
    let rules = HoldRules::default();
    crate::app::bookings::cancel_booking(store, provider, id, &rules, now).await
}

pub(super) async fn reconcile<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    holds: &HoldSettings,
    now: DateTime<Utc>,
) -> Result<Summary, RunError> {
    let rules = HoldRules::default();
    crate::app::reconcile::reconcile(store, provider, holds, &rules, now).await
}
