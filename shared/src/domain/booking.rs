//! Bookings: what a driver reserves, and the rules for a new one.

use chrono::{DateTime, Utc};

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
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confirmed" => Some(Self::Confirmed),
            "cancelled" => Some(Self::Cancelled),
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
        }
    }

    /// The booking's current PaymentIntent, if it has one.
    pub fn intent_id(&self) -> Option<&super::ids::IntentId> {
        self.payment.as_ref().map(|p| &p.intent_id)
    }
}
