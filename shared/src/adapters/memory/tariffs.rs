//! `TariffStore` in memory, with the DynamoDB adapter's conditions: a tariff is written only
//! over the version expected, an assignment only to a tariff that exists.

use std::collections::HashMap;

use crate::domain::tariff::{StoredTariff, TariffId, TariffTarget};
use crate::ports::{StoreError, TariffStore};

use super::InMemoryStore;

#[derive(Default)]
pub(super) struct Tariffs {
    tariffs: HashMap<TariffId, StoredTariff>,
    assignments: HashMap<String, TariffId>,
}

fn target_key(target: TariffTarget) -> String {
    match target {
        TariffTarget::Asset(id) => format!("asset#{id}"),
        TariffTarget::AssetType(t) => format!("asset-type#{}", t.as_str()),
    }
}

impl InMemoryStore {
    fn tariffs(&self) -> std::sync::MutexGuard<'_, Tariffs> {
        self.tariffs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many tariff reads (tariffs and assignments) the store has answered: a use-case
    /// test's bound on a booking creation's reads.
    pub fn tariff_reads(&self) -> usize {
        self.tariff_reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count_read(&self) {
        self.tariff_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl TariffStore for InMemoryStore {
    async fn get_tariff(&self, id: &TariffId) -> Result<Option<StoredTariff>, StoreError> {
        self.count_read();
        Ok(self.tariffs().tariffs.get(id).cloned())
    }

    async fn put_tariff(
        &self,
        tariff: &StoredTariff,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut state = self.tariffs();
        let current = state.tariffs.get(&tariff.id).map(|t| t.version);
        if current != expected {
            return Ok(false);
        }
        state.tariffs.insert(tariff.id.clone(), tariff.clone());
        Ok(true)
    }

    async fn get_assignment(&self, target: TariffTarget) -> Result<Option<TariffId>, StoreError> {
        self.count_read();
        Ok(self.tariffs().assignments.get(&target_key(target)).cloned())
    }

    async fn put_assignment(
        &self,
        target: TariffTarget,
        tariff: &TariffId,
    ) -> Result<bool, StoreError> {
        let mut state = self.tariffs();
        if !state.tariffs.contains_key(tariff) {
            return Ok(false);
        }
        state.assignments.insert(target_key(target), tariff.clone());
        Ok(true)
    }
}
