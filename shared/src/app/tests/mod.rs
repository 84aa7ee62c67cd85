//! Use-case tests on the in-memory fakes (`adapters::memory`): milliseconds each, and the fake
//! Stripe replays idempotency keys as real Stripe does, which localstripe does not.

mod availability;
mod bookings;
mod bounded_reads;
mod capture;
mod create_intent;
mod events;
mod holds;
mod holds_support;
mod no_shows;
mod operator_refunds;
mod passed_holds;
mod receipt_email;
mod reconcile;
mod reconcile_wedge;
mod refunds;
mod tariffs;
mod terms;
mod uc;
mod versioned_writes;

use std::sync::Arc;

use chrono::Utc;

use crate::adapters::memory::{FakeStripe, InMemoryStore};
use crate::app::AppError;
use crate::domain::money::currency;
use crate::domain::slot::parse_time;
use crate::domain::{
    AssetId, AssetType, Booking, BookingId, IntentEvent, IntentId, Money, NewBooking, Slot, UserId,
};
use crate::ports::IntentEventIn;
use crate::ports::{BookingStore, Intent};
use uc::create_intent;

/// A store and a Stripe, shared with hooks that play racers and webhook deliveries.
#[derive(Clone)]
struct World {
    store: Arc<InMemoryStore>,
    stripe: Arc<FakeStripe>,
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(InMemoryStore::new()),
            stripe: Arc::new(FakeStripe::new()),
        }
    }

    /// A confirmed, unpaid booking.
    fn booking(&self) -> BookingId {
        let new = NewBooking {
            asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
            asset_type: AssetType::ChargingStation,
            user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
            slot: Slot::new(
                parse_time("s", "2026-02-05T23:00:00Z").unwrap(),
                parse_time("e", "2026-02-05T23:30:00Z").unwrap(),
            )
            .unwrap(),
        };
        let booking = Booking::new(new, BookingId::generate(), Utc::now());
        let id = booking.id;
        self.store.insert(booking);
        id
    }

    async fn get(&self, id: BookingId) -> Booking {
        self.store.get_booking(id).await.unwrap().unwrap()
    }

    async fn pay(&self, id: BookingId, amount: &str) -> Result<Intent, AppError> {
        create_intent(&*self.store, &*self.stripe, id, usd(amount), Utc::now).await
    }

    /// Is this intent one the driver can pay right now, at Stripe?
    fn payable_now(&self, intent: &Intent) -> bool {
        self.stripe
            .intent(&intent.id)
            .is_some_and(|i| i.status.is_payable())
    }
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, currency("usd").unwrap()).unwrap()
}

/// A Stripe PaymentIntent event for the booking, as the webhook reads it.
fn event(
    booking: BookingId,
    intent: &IntentId,
    change: IntentEvent,
    created: i64,
) -> IntentEventIn {
    IntentEventIn {
        event_id: format!("evt_{}_{created}", intent),
        created,
        event_type: "payment_intent.test".into(),
        intent_id: intent.clone(),
        booking_id: booking,
        change,
        charge_id: None,
        capture_before: None,
    }
}
