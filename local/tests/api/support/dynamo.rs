//! DynamoDB items, read directly (never through the API) to check what is really stored.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

pub type Item = HashMap<String, AttributeValue>;

/// A string attribute of an item.
pub fn attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// A number attribute of an item, as an integer.
pub fn num_attr(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Every item of the table, page by page, read consistently.
pub async fn scan(client: &Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

/// The item whose (string) partition key `key` is `value`, read consistently.
pub async fn get_item(client: &Client, table: &str, key: &str, value: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key(key, AttributeValue::S(value.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}
