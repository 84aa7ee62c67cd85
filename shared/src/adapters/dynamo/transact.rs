//! Transactions: one helper that runs a TransactWriteItems and reads why it was cancelled.

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use uuid::Uuid;

use super::items::unavailable;
use super::DynamoStore;
use crate::ports::StoreError;

impl DynamoStore {
    /// Runs one transaction. `Ok(None)`: committed. `Ok(Some(reasons))`: cancelled, with one
    /// cancellation code per write, in the order of `writes` (a conflicting in-flight
    /// transaction counts as cancelled: safe to decide again). `Err`: DynamoDB failed; or it
    /// refused the transaction as invalid (a `ValidationException`, or a cancellation for a
    /// `ValidationError` such as an item over 400 KB): `StoreError::Rejected`, never retried,
    /// since the same writes would be refused again.
    pub(super) async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(err) => {
                let reasons = cancellation_codes(&err);
                if err.code() == Some("ValidationException")
                    || reasons.iter().any(|r| r == "ValidationError")
                {
                    return Err(StoreError::Rejected(
                        aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
                    ));
                }
                if reasons.is_empty() {
                    Err(unavailable(err))
                } else {
                    Ok(Some(reasons))
                }
            }
        }
    }
}

pub(super) async fn backoff(attempt: u32) {
    let base = 5u64 << attempt.min(5);
    let jitter = (Uuid::new_v4().as_u128() % u128::from(base)) as u64;
    tokio::time::sleep(StdDuration::from_millis(base + jitter)).await;
}

fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_string())
            .collect(),
        // A conflicting in-flight transaction: safe to retry like a failed condition.
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
            vec!["TransactionConflict".into()]
        }
        _ => Vec::new(),
    }
}
