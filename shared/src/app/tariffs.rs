//! Tariff use cases: put and get a tariff (versioned), assign one to an asset or an asset
//! type, find the tariff that applies to an asset, and quote a window.

use chrono::{DateTime, Utc};

use super::bookings::{create_priced_booking, Created};
use super::AppError;
use crate::domain::slot::Slot;
use crate::domain::tariff::{Quote, StoredTariff, Tariff, TariffId, TariffTarget};
use crate::domain::{AssetId, AssetType, Booking, HoldRules, IdempotencyKey, NewBooking};
use crate::ports::{BookingStore, PaymentProvider, TariffStore};

/// Rounds of read-compare-write of a tariff before answering "busy, retry". Every round that
/// loses lost to a write that landed, so with N concurrent writers none loses more than N - 1
/// times: this many writers of one tariff at once always all land.
const MAX_PUT_ROUNDS: u32 = 32;

pub const NO_TARIFF: &str = "No tariff applies to this asset";
pub const TARIFF_NOT_FOUND: &str = "Tariff not found";

/// What a put did: created the tariff (version 1), or replaced it (a new version if anything
/// changed, the same one if the content is identical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    Created(StoredTariff),
    Replaced(StoredTariff),
}

/// Creates or replaces the tariff `id`. Each write is conditional on the version read, so two
/// concurrent replaces make two versions, never one lost under the other's number.
pub async fn put_tariff<S: TariffStore>(
    store: &S,
    id: TariffId,
    tariff: Tariff,
) -> Result<Put, AppError> {
    for _ in 0..MAX_PUT_ROUNDS {
        let current = store.get_tariff(&id).await?;
        let (version, expected) = match &current {
            Some(current) if current.tariff == tariff => {
                return Ok(Put::Replaced(current.clone()));
            }
            Some(current) => (current.version + 1, Some(current.version)),
            None => (1, None),
        };
        let next = StoredTariff {
            id: id.clone(),
            version,
            tariff: tariff.clone(),
        };
        if store.put_tariff(&next, expected).await? {
            tracing::info!(tariff_id = %id, version, "tariff written");
            return Ok(if current.is_some() {
                Put::Replaced(next)
            } else {
                Put::Created(next)
            });
        }
    }
    Err(AppError::Busy(
        "The tariff is busy with concurrent changes; please retry".into(),
    ))
}

pub async fn get_tariff<S: TariffStore>(
    store: &S,
    id: &TariffId,
) -> Result<StoredTariff, AppError> {
    store
        .get_tariff(id)
        .await?
        .ok_or_else(|| AppError::NotFound(TARIFF_NOT_FOUND.into()))
}

/// Assigns the tariff `id` to `target`; 404 when there is no such tariff (nothing written).
pub async fn assign_tariff<S: TariffStore>(
    store: &S,
    target: TariffTarget,
    id: &TariffId,
) -> Result<(), AppError> {
    if store.put_assignment(target, id).await? {
        tracing::info!(tariff_id = %id, ?target, "tariff assigned");
        Ok(())
    } else {
        Err(AppError::NotFound(TARIFF_NOT_FOUND.into()))
    }
}

/// The tariff that applies to `asset_id`: its own, else its type's (when the type is known).
/// At most three point reads in two requests: the asset's and the type's assignments at once
/// (one BatchGetItem on DynamoDB; with no tariff, the default, that is all), then the tariff.
pub async fn tariff_for<S: TariffStore>(
    store: &S,
    asset_id: AssetId,
    asset_type: Option<AssetType>,
) -> Result<Option<StoredTariff>, AppError> {
    let assigned = match asset_type {
        None => store.get_assignment(TariffTarget::Asset(asset_id)).await?,
        Some(t) => {
            let (own, typed) = store.get_assignments(asset_id, t).await?;
            own.or(typed)
        }
    };
    let Some(id) = assigned else {
        return Ok(None);
    };
    match store.get_tariff(&id).await? {
        Some(tariff) => Ok(Some(tariff)),
        // Assignments are written only to a tariff that exists, and tariffs are never deleted.
        None => Err(crate::ports::StoreError::Corrupt(format!(
            "assignment to tariff {id}, which is not stored"
        ))
        .into()),
    }
}

/// The price a booking of `slot` on `asset_id` would get now; 404 when no tariff applies.
pub async fn quote<S: TariffStore>(
    store: &S,
    asset_id: AssetId,
    asset_type: Option<AssetType>,
    slot: &Slot,
) -> Result<Quote, AppError> {
    let tariff = tariff_for(store, asset_id, asset_type)
        .await?
        .ok_or_else(|| AppError::NotFound(NO_TARIFF.into()))?;
    Ok(Quote::of(tariff, slot))
}

/// Creates a booking (`bookings::create_booking`, every rule of it) with the price the tariff
/// that applies now gives its slot, frozen on the booking: editing the tariff later changes no
/// existing booking. No tariff: the booking has no price, as before tariffs. The tariff is
/// found in at most three GetItems before the booking's own reads and transaction.
pub async fn create_booking_at_tariff<S: BookingStore + TariffStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    new: NewBooking,
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
    holds: (Option<chrono::Duration>, &HoldRules),
    render: impl FnOnce(&Booking) -> String,
) -> Result<Created, AppError> {
    let price = tariff_for(store, new.asset_id, Some(new.asset_type))
        .await?
        .map(|tariff| Quote::of(tariff, &new.slot));
    create_priced_booking(store, provider, (new, price), key, now, holds, render).await
}
