//! `TariffStore` on DynamoDB: one table (`TARIFFS_TABLE`, key `pk`) holding
//! - `tariff#<tariff_id>`: the tariff, its `version` and its prices in minor units;
//! - `asset#<asset_id>` and `asset-type#<asset_type>`: `tariff_id`, the assignment.
//!
//! Every read is strongly consistent: a GetItem, or one BatchGetItem for an asset's and its
//! type's assignments (a booking creation's lookup); a tariff is written with a condition on
//! the version read; an assignment in a transaction that checks the tariff exists.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem,
};

use super::items::{build_error, corrupt, n, num, s, str_attr, unavailable, Item};
use super::DynamoStore;
use crate::domain::money::currency;
use crate::domain::tariff::{Line, LineType, Quote, StoredTariff, Tariff, TariffId, TariffTarget};
use crate::ports::{StoreError, TariffStore};

fn tariff_key(id: &TariffId) -> String {
    format!("tariff#{id}")
}

fn target_key(target: TariffTarget) -> String {
    match target {
        TariffTarget::Asset(id) => format!("asset#{id}"),
        TariffTarget::AssetType(t) => format!("asset-type#{}", t.as_str()),
    }
}

/// Attempts at an assignment racing other transactions on its items.
const ASSIGN_ATTEMPTS: u32 = 4;

const PRICES: [&str; 7] = crate::domain::tariff::PRICE_FIELDS;

fn price_slots(t: &Tariff) -> [Option<i64>; 7] {
    [
        t.flat,
        t.per_hour,
        t.per_kwh,
        t.min_price,
        t.max_price,
        t.late_cancel_fee,
        t.no_show_fee,
    ]
}

fn tariff_to_item(t: &StoredTariff) -> Item {
    let tariff = &t.tariff;
    let mut item = Item::from([
        ("pk".into(), s(tariff_key(&t.id))),
        ("tariff_id".into(), s(t.id.as_str())),
        ("version".into(), num(t.version as i64)),
        ("currency".into(), s(tariff.currency.code)),
        ("step_minutes".into(), num(i64::from(tariff.step_minutes))),
    ]);
    for (name, value) in PRICES.iter().zip(price_slots(tariff)) {
        if let Some(minor) = value {
            item.insert((*name).into(), num(minor));
        }
    }
    let minutes = [
        ("free_cancel_minutes", tariff.free_cancel_minutes),
        ("no_show_after_minutes", tariff.no_show_after_minutes),
    ];
    for (name, value) in minutes {
        if let Some(m) = value {
            item.insert(name.into(), num(i64::from(m)));
        }
    }
    item
}

fn tariff_from_item(item: &Item) -> Result<StoredTariff, StoreError> {
    let id = TariffId::parse(str_attr(item, "tariff_id")?).map_err(|_| corrupt("tariff_id"))?;
    let version = n(item, "version")
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| corrupt("version"))?;
    let currency = currency(str_attr(item, "currency")?).map_err(|_| corrupt("currency"))?;
    let price = |name: &str| -> Result<Option<i64>, StoreError> {
        match item.get(name) {
            None => Ok(None),
            Some(_) => n(item, name)
                .filter(|v| *v >= 0)
                .map(Some)
                .ok_or_else(|| corrupt(name)),
        }
    };
    let minutes = |name: &str| -> Result<Option<u32>, StoreError> {
        match item.get(name) {
            None => Ok(None),
            Some(_) => n(item, name)
                .and_then(|v| u32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| corrupt(name)),
        }
    };
    Ok(StoredTariff {
        id,
        version,
        tariff: Tariff {
            currency,
            flat: price("flat")?,
            per_hour: price("per_hour")?,
            step_minutes: minutes("step_minutes")?
                .filter(|m| *m > 0)
                .ok_or_else(|| corrupt("step_minutes"))?,
            per_kwh: price("per_kwh")?,
            min_price: price("min_price")?,
            max_price: price("max_price")?,
            free_cancel_minutes: minutes("free_cancel_minutes")?,
            late_cancel_fee: price("late_cancel_fee")?,
            no_show_fee: price("no_show_fee")?,
            no_show_after_minutes: minutes("no_show_after_minutes")?,
        },
    })
}

/// A booking's frozen price as one map attribute: the tariff as stored (without its key) and
/// the lines, `{"tariff": {...}, "lines": [{"type": "flat", "minor": 50}, ...]}`.
pub(super) fn price_value(price: &Quote) -> AttributeValue {
    let mut tariff = tariff_to_item(&price.tariff);
    tariff.remove("pk");
    let lines = price
        .lines
        .iter()
        .map(|l| {
            AttributeValue::M(Item::from([
                ("type".into(), s(l.kind.as_str())),
                ("minor".into(), num(l.minor)),
            ]))
        })
        .collect();
    AttributeValue::M(Item::from([
        ("tariff".into(), AttributeValue::M(tariff)),
        ("lines".into(), AttributeValue::L(lines)),
    ]))
}

pub(super) fn price_from_value(value: &AttributeValue) -> Result<Quote, StoreError> {
    let bad = || corrupt("price");
    let map = value.as_m().map_err(|_| bad())?;
    let tariff = map
        .get("tariff")
        .and_then(|t| t.as_m().ok())
        .ok_or_else(bad)?;
    let tariff = tariff_from_item(tariff)?;
    let lines = map
        .get("lines")
        .and_then(|l| l.as_l().ok())
        .ok_or_else(bad)?
        .iter()
        .map(|line| {
            let line = line.as_m().map_err(|_| bad())?;
            let kind = line
                .get("type")
                .and_then(|t| t.as_s().ok())
                .and_then(|t| LineType::parse(t))
                .ok_or_else(bad)?;
            let minor = n(line, "minor").ok_or_else(bad)?;
            Ok(Line::new(kind, minor))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Quote { tariff, lines })
}

impl DynamoStore {
    async fn get_tariff_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.tariffs)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

/// How many times BatchGetItem's `UnprocessedKeys` are asked for again (DynamoDB returns them
/// when throttled; its guidance is to retry them with exponential backoff:
/// <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html>).
const BATCH_RETRIES: u32 = 4;

fn assignment_from(item: &Item) -> Result<TariffId, StoreError> {
    TariffId::parse(str_attr(item, "tariff_id")?).map_err(|_| corrupt("tariff_id"))
}

impl DynamoStore {
    /// The items of `keys` (`pk` values) of the tariffs table, by `pk`, in one BatchGetItem
    /// (and its unprocessed keys asked again, a bounded number of times).
    async fn batch_get_tariff_items(
        &self,
        keys: Vec<String>,
    ) -> Result<std::collections::HashMap<String, Item>, StoreError> {
        let table = &self.tables.tariffs;
        let mut found = std::collections::HashMap::new();
        let mut wanted = KeysAndAttributes::builder()
            .set_keys(Some(
                keys.into_iter()
                    .map(|k| std::collections::HashMap::from([("pk".to_string(), s(k))]))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        for attempt in 0..=BATCH_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(table, wanted.clone())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                let pk = str_attr(&item, "pk")?.to_string();
                found.insert(pk, item);
            }
            match out.unprocessed_keys.unwrap_or_default().remove(table) {
                Some(rest) if !rest.keys.is_empty() => wanted = rest,
                _ => return Ok(found),
            }
        }
        Err(StoreError::Unavailable(
            "DynamoDB left tariff assignments unprocessed after retries".into(),
        ))
    }
}

impl TariffStore for DynamoStore {
    async fn get_assignments(
        &self,
        asset: crate::domain::AssetId,
        asset_type: crate::domain::AssetType,
    ) -> Result<(Option<TariffId>, Option<TariffId>), StoreError> {
        let own_key = target_key(TariffTarget::Asset(asset));
        let type_key = target_key(TariffTarget::AssetType(asset_type));
        let found = self
            .batch_get_tariff_items(vec![own_key.clone(), type_key.clone()])
            .await?;
        let read = |key: &str| found.get(key).map(assignment_from).transpose();
        Ok((read(&own_key)?, read(&type_key)?))
    }

    async fn get_tariff(&self, id: &TariffId) -> Result<Option<StoredTariff>, StoreError> {
        self.get_tariff_item(tariff_key(id))
            .await?
            .as_ref()
            .map(tariff_from_item)
            .transpose()
    }

    async fn put_tariff(
        &self,
        tariff: &StoredTariff,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.tariffs)
            .set_item(Some(tariff_to_item(tariff)));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", num(version as i64)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn get_assignment(&self, target: TariffTarget) -> Result<Option<TariffId>, StoreError> {
        let Some(item) = self.get_tariff_item(target_key(target)).await? else {
            return Ok(None);
        };
        assignment_from(&item).map(Some)
    }

    async fn put_assignment(
        &self,
        target: TariffTarget,
        tariff: &TariffId,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.tariffs;
        let check = ConditionCheck::builder()
            .table_name(table)
            .key("pk", s(tariff_key(tariff)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        let put = Put::builder()
            .table_name(table)
            .item("pk", s(target_key(target)))
            .item("tariff_id", AttributeValue::S(tariff.as_str().into()))
            .build()
            .map_err(build_error)?;
        for attempt in 0..ASSIGN_ATTEMPTS {
            let writes = vec![
                TransactWriteItem::builder()
                    .condition_check(check.clone())
                    .build(),
                TransactWriteItem::builder().put(put.clone()).build(),
            ];
            match self.transact(writes).await? {
                None => return Ok(true),
                Some(reasons)
                    if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
                {
                    return Ok(false)
                }
                // A racing transaction on one of the two items: again.
                Some(_) => super::transact::backoff(attempt).await,
            }
        }
        Err(StoreError::Contention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tariff::TariffInput;

    #[test]
    fn a_tariff_item_reads_back_as_written() {
        let tariff = Tariff::parse(&TariffInput {
            currency: "kwd",
            prices: vec![("flat", "0"), ("per_kwh", "0.120"), ("max_price", "9.990")],
            minutes: vec![("step_minutes", 15), ("no_show_after_minutes", 0)],
        })
        .unwrap();
        let stored = StoredTariff {
            id: TariffId::parse("ev-kw").unwrap(),
            version: 7,
            tariff,
        };
        let item = tariff_to_item(&stored);
        assert_eq!(item.get("pk"), Some(&s("tariff#ev-kw")));
        assert!(!item.contains_key("per_hour"));
        assert_eq!(tariff_from_item(&item).unwrap(), stored.clone());
        let slot = crate::domain::Slot::new(
            "2026-03-01T18:00:00Z".parse().unwrap(),
            "2026-03-01T18:20:00Z".parse().unwrap(),
        )
        .unwrap();
        let mut quote = Quote::of(stored, &slot);
        quote.lines.push(Line::new(LineType::MaxPrice, -20));
        assert_eq!(price_from_value(&price_value(&quote)).unwrap(), quote);
        assert!(price_from_value(&s("x")).is_err());
    }
}
