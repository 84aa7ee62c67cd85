//! What one booking creation costs in DynamoDB capacity (issue 13), from the item sizes the
//! product really stores and DynamoDB's rounding
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>):
//! a strongly consistent read is 1 RCU per 4 KB of the item (at least 1, also for an item that
//! does not exist), a write 1 WCU per 1 KB of the larger of the item before and after, and a
//! transaction counts every item twice. A booking creation reads the slot item of each day it
//! touches, then writes the booking and those day items in one transaction. Measured here on a
//! booking of one day, against a day that already holds 0, 48 and 288 bookings.

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::RunningStack;

type Item = std::collections::HashMap<String, AttributeValue>;

/// DynamoDB's item size: attribute name bytes plus value bytes; a number takes one byte per
/// two significant digits plus one.
fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => {
                        let digits = n
                            .trim_start_matches('-')
                            .replace('.', "")
                            .trim_matches('0')
                            .len()
                            .max(1);
                        digits.div_ceil(2) + 1
                    }
                    AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                    _ => 0,
                }
        })
        .sum()
}

pub struct Cost {
    pub existing: usize,
    pub day_item_bytes: usize,
    pub rcu: usize,
    pub wcu: usize,
}

/// The booking item of `booking_id` and the slot item of its day, as stored; then the cost of
/// one more booking on a day holding 0, 48 and 288 (the most five-minute bookings a day holds).
pub async fn measure(stack: &RunningStack, booking_id: &str) -> Result<(usize, Vec<Cost>), String> {
    let client = stack.store.client();
    let tables = shared::runtime::config::Tables::from_env();
    let get = |table: String, key: &'static str, value: String| async move {
        client
            .get_item()
            .table_name(table)
            .key(key, AttributeValue::S(value))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "capacity: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?
            .item
            .ok_or_else(|| "capacity: item not found".to_string())
    };
    let booking = get(tables.bookings.clone(), "id", booking_id.to_string()).await?;
    let text = |name: &str| match booking.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(format!("capacity: booking without {name}")),
    };
    let day = text("start_time")?
        .get(..10)
        .unwrap_or_default()
        .to_string();
    let slot = get(
        tables.slots.clone(),
        "pk",
        format!("{}#{day}", text("asset_id")?),
    )
    .await?;
    let booking_bytes = item_size(&booking);
    // One interval on the day: what each booking adds, and what the item has without any.
    let one_interval = slot
        .iter()
        .find(|(name, _)| name.starts_with("b_"))
        .map(|(name, value)| item_size(&Item::from([(name.clone(), value.clone())])))
        .ok_or("capacity: slot item without an interval")?;
    let base = item_size(&slot) - one_interval;
    let rows = [0, 48, 288]
        .into_iter()
        .map(|existing| {
            let before = if existing == 0 {
                0
            } else {
                base + existing * one_interval
            };
            let after = base + (existing + 1) * one_interval;
            let rcu = before.div_ceil(4096).max(1);
            let wcu = 2 * booking_bytes.div_ceil(1024) + 2 * before.max(after).div_ceil(1024);
            Cost {
                existing,
                day_item_bytes: after,
                rcu,
                wcu,
            }
        })
        .collect();
    Ok((booking_bytes, rows))
}

pub fn print(booking_bytes: usize, rows: &[Cost]) {
    println!();
    println!(
        "DynamoDB capacity of one booking creation (one day; booking item {booking_bytes} bytes; transactions count double)"
    );
    println!("bookings already on the day  day item after  read units  write units");
    for r in rows {
        println!(
            "{:>28}  {:>14}  {:>10}  {:>11}",
            r.existing, r.day_item_bytes, r.rcu, r.wcu
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_dynamodb_counts_them() {
        let item = Item::from([
            ("pk".to_string(), AttributeValue::S("abc".into())),
            ("version".to_string(), AttributeValue::N("12".into())),
            ("n".to_string(), AttributeValue::N("1000".into())),
        ]);
        // 2+3, 7+(1+1), 1+(1+1)
        assert_eq!(item_size(&item), 5 + 9 + 3);
    }
}
