//! The tariff port: tariffs by id, versioned, and which tariff applies to an asset or an asset
//! type. Point reads and conditional writes only (no Scan).

use std::future::Future;

use super::store::StoreError;
use crate::domain::tariff::{StoredTariff, TariffId, TariffTarget};
use crate::domain::{AssetId, AssetType};

pub trait TariffStore: Send + Sync {
    /// The tariff, read strongly consistently.
    fn get_tariff(
        &self,
        id: &TariffId,
    ) -> impl Future<Output = Result<Option<StoredTariff>, StoreError>> + Send;

    /// Writes `tariff` if the stored one still has version `expected` (`None`: there is none
    /// yet). `Ok(false)`: another write came first; nothing was written.
    fn put_tariff(
        &self,
        tariff: &StoredTariff,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The tariff assigned to exactly this asset or asset type (no fallback: the use case
    /// decides), read strongly consistently.
    fn get_assignment(
        &self,
        target: TariffTarget,
    ) -> impl Future<Output = Result<Option<TariffId>, StoreError>> + Send;

    /// The assignments of the asset and of its type at once, `(asset's, type's)`, both read
    /// strongly consistently. By default two concurrent point reads; DynamoDB makes it one
    /// request (BatchGetItem).
    fn get_assignments(
        &self,
        asset: AssetId,
        asset_type: AssetType,
    ) -> impl Future<Output = Result<(Option<TariffId>, Option<TariffId>), StoreError>> + Send {
        async move {
            futures::try_join!(
                self.get_assignment(TariffTarget::Asset(asset)),
                self.get_assignment(TariffTarget::AssetType(asset_type))
            )
        }
    }

    /// Assigns `tariff` to `target`, replacing any earlier assignment, if the tariff exists
    /// (checked in the same write). `Ok(false)`: it does not; nothing was written.
    fn put_assignment(
        &self,
        target: TariffTarget,
        tariff: &TariffId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
