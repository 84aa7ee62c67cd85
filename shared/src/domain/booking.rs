//! Bookings: what a driver reserves, and the rules for a new one.

use chrono::{DateTime, Duration, Utc};

use super::error::DomainError;
use super::ids::{AssetId, BookingId, UserId};
use super::payment::{Payment, PaymentStatus};
use super::slot::{truncate_to_millis, Slot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetType {
    ChargingStation,
    ParkingSpot,
}

impl AssetType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChargingStation => "charging_station",
            Self::ParkingSpot => "parking_spot",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "charging_station" => Ok(Self::ChargingStation),
            "parking_spot" => Ok(Self::ParkingSpot),
            _ => Err(DomainError::invalid(
                "asset_type must be 'charging_station' or 'parking_spot'",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
    /// Its hold passed unpaid: the slot is free. Stored once the slot is taken over (or a
    /// payment event arrives); until then a confirmed booking past its hold shows as expired.
    Expired,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confirmed" => Some(Self::Confirmed),
            "cancelled" => Some(Self::Cancelled),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A validated new booking: what a `POST /v1/bookings` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBooking {
    pub asset_id: AssetId,
    pub asset_type: AssetType,
    pub user_id: UserId,
    pub slot: Slot,
}

impl NewBooking {
    /// A canonical form of the request, so equal requests hash equally whatever their
    /// whitespace, key order or time-zone offsets.
    pub fn canonical(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.asset_id,
            self.asset_type.as_str(),
            self.user_id,
            self.slot.start_ms(),
            self.slot.end_ms()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: BookingId,
    pub asset_id: AssetId,
    pub asset_type: AssetType,
    pub user_id: UserId,
    pub slot: Slot,
    pub status: BookingStatus,
    pub payment_status: PaymentStatus,
    pub payment: Option<Payment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When an unpaid booking stops holding its slot: `created_at` + the hold; `None` when
    /// holds are off, and for bookings stored before holds.
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// Its price, frozen at creation from the tariff that applied then (`None`: no tariff).
    pub price: Option<super::tariff::Quote>,
    /// When the driver was reported arrived (`POST /v1/bookings/{id}/check-in`); the first
    /// report is kept.
    pub checked_in_at: Option<DateTime<Utc>>,
}

impl Booking {
    pub fn new(req: NewBooking, id: BookingId, now: DateTime<Utc>) -> Self {
        // Stored timestamps carry milliseconds so `created_at` sorts lexicographically.
        let now = truncate_to_millis(now);
        Self {
            id,
            asset_id: req.asset_id,
            asset_type: req.asset_type,
            user_id: req.user_id,
            slot: req.slot,
            status: BookingStatus::Confirmed,
            payment_status: PaymentStatus::Pending,
            payment: None,
            created_at: now,
            updated_at: now,
            cancelled_at: None,
            hold_expires_at: None,
            price: None,
            checked_in_at: None,
        }
    }

    /// The booking with the price a tariff gave it at creation.
    pub fn with_price(mut self, price: Option<super::tariff::Quote>) -> Self {
        self.price = price;
        self
    }

    /// The booking with a hold of `hold` from its creation (`None`: no hold).
    pub fn with_hold(mut self, hold: Option<Duration>) -> Self {
        self.hold_expires_at = hold.map(|h| self.created_at + h);
        self
    }

    /// Paid at some point (a refund after does not undo it).
    pub fn is_paid(&self) -> bool {
        self.payment_status.is_paid() || self.payment.as_ref().is_some_and(|p| p.paid_at.is_some())
    }

    /// The hold as the API shows it: none once paid or authorized (it no longer expires).
    pub fn shown_hold_expires_at(&self) -> Option<DateTime<Utc>> {
        if self.is_paid() || self.payment_status == PaymentStatus::Authorized {
            None
        } else {
            self.hold_expires_at
        }
    }

    /// The terms its frozen tariff sells it under, if any (`domain::terms`).
    pub fn terms(&self) -> Option<super::terms::Terms> {
        super::terms::Terms::of(&self.price.as_ref()?.tariff.tariff)
    }

    /// The booking's current PaymentIntent, if it has one.
    pub fn intent_id(&self) -> Option<&super::ids::IntentId> {
        self.payment.as_ref().map(|p| &p.intent_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IntentId, Money};

    fn booking(hold: Option<Duration>) -> Booking {
        let new = NewBooking {
            asset_id: AssetId::parse("a", "550e8400-e29b-41d4-a716-446655440000").unwrap(),
            asset_type: AssetType::ChargingStation,
            user_id: UserId::parse("u", "650e8400-e29b-41d4-a716-446655440001").unwrap(),
            slot: Slot::new(
                "2026-02-05T23:00:00Z".parse().unwrap(),
                "2026-02-05T23:30:00Z".parse().unwrap(),
            )
            .unwrap(),
        };
        let created = "2026-02-01T10:00:00Z".parse().unwrap();
        Booking::new(new, BookingId::generate(), created).with_hold(hold)
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_unpaid_booking_expires_the_instant_its_hold_passes() {
        let b = booking(Some(Duration::seconds(900)));
        assert_eq!(b.hold_expires_at, Some(at("2026-02-01T10:15:00Z")));
        assert!(!b.is_expired(at("2026-02-01T10:14:59.999Z")));
        assert!(b.is_expired(at("2026-02-01T10:15:00Z")));
        assert_eq!(
            b.clone().as_of(at("2026-02-01T10:15:00Z")).status,
            BookingStatus::Expired
        );
        assert_eq!(
            b.as_of(at("2026-02-01T10:14:00Z")).status,
            BookingStatus::Confirmed
        );
    }

    #[test]
    fn without_a_hold_cancelled_in_flight_or_paid_a_booking_does_not_expire() {
        let later = at("2030-01-01T00:00:00Z");
        assert!(!booking(None).is_expired(later));
        let mut cancelled = booking(Some(Duration::seconds(1)));
        cancelled.status = BookingStatus::Cancelled;
        assert!(!cancelled.is_expired(later));
        // In flight, or with an intent whose end only Stripe can tell (`domain::hold`).
        for status in [
            PaymentStatus::RequiresAction,
            PaymentStatus::Processing,
            PaymentStatus::Pending,
            PaymentStatus::Failed,
        ] {
            let mut b = booking(Some(Duration::seconds(1)));
            b.payment_status = status;
            b.payment = Some(Payment::new(
                IntentId::parse("pi_1").unwrap(),
                Money::parse("3.50", crate::domain::money::currency("usd").unwrap()).unwrap(),
            ));
            assert!(!b.is_expired(later), "{status:?}");
            assert!(b.shown_hold_expires_at().is_some());
        }
        let mut authorized = booking(Some(Duration::seconds(1)));
        authorized.payment_status = PaymentStatus::Authorized;
        assert!(
            !authorized.is_expired(later),
            "an authorized booking never expires"
        );
        assert_eq!(authorized.shown_hold_expires_at(), None);
        for status in [PaymentStatus::Failed, PaymentStatus::Canceled] {
            let mut b = booking(Some(Duration::seconds(1)));
            b.payment_status = status;
            assert!(b.is_expired(later), "{status:?}: no intent");
        }
        let mut paid = booking(Some(Duration::seconds(1)));
        paid.payment_status = PaymentStatus::Refunded;
        let mut payment = Payment::new(
            IntentId::parse("pi_1").unwrap(),
            Money::parse("3.50", crate::domain::money::currency("usd").unwrap()).unwrap(),
        );
        payment.paid_at = Some(at("2026-02-01T10:01:00Z"));
        paid.payment = Some(payment);
        assert!(!paid.is_expired(later));
        assert_eq!(paid.shown_hold_expires_at(), None);
        let mut stored = booking(None);
        stored.status = BookingStatus::Expired;
        assert!(stored.is_expired(at("2000-01-01T00:00:00Z")));
    }
}
