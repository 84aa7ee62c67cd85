//! The DynamoDB tables of `template.yaml`, created in the local emulator.

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
use aws_sdk_dynamodb::Client;
use shared::adapters::dynamo::PAYMENT_STATUS_INDEX;
use shared::adapters::dynamo::USER_INDEX;
use shared::runtime::config::Tables;

fn unavailable<E: std::error::Error + 'static>(err: SdkError<E>) -> String {
    DisplayErrorContext(&err).to_string()
}

fn build_error(err: BuildError) -> String {
    format!("could not build request: {err}")
}

/// Creates the tables if they are missing, with the keys, index and TTL of `template.yaml`.
/// The local stack's job: on AWS the template owns the tables.
pub async fn ensure_tables(client: &Client, tables: &Tables) -> Result<(), String> {
    let existing = client.list_tables().send().await.map_err(unavailable)?;
    let existing = existing.table_names();
    let key = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .map_err(build_error)
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    if !existing.contains(&tables.bookings) {
        let index = GlobalSecondaryIndex::builder()
            .index_name(USER_INDEX)
            .key_schema(key("user_id")?)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("created_at")
                    .key_type(KeyType::Range)
                    .build()
                    .map_err(build_error)?,
            )
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        client
            .create_table()
            .table_name(&tables.bookings)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("id")?)
            .attribute_definitions(attr("id")?)
            .attribute_definitions(attr("user_id")?)
            .attribute_definitions(attr("created_at")?)
            .global_secondary_indexes(index)
            .send()
            .await
            .map_err(unavailable)?;
    }
    for table in [
        &tables.slots,
        &tables.idempotency,
        &tables.events,
        &tables.tariffs,
    ] {
        if !existing.contains(table) {
            client
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key("pk")?)
                .attribute_definitions(attr("pk")?)
                .send()
                .await
                .map_err(unavailable)?;
        }
    }
    for table in [&tables.idempotency, &tables.events] {
        if existing.contains(table) {
            continue;
        }
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
    }
    ensure_payment_status_index(client, &tables.bookings).await?;
    Ok(())
}

/// The reconciliation's index on the bookings table (`PAYMENT_STATUS_INDEX`), also added to a
/// bookings table created before it existed (a kept `.local-data`).
async fn ensure_payment_status_index(client: &Client, table: &str) -> Result<(), String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(unavailable)?;
    let has_index = described
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .any(|i| i.index_name() == Some(PAYMENT_STATUS_INDEX));
    if has_index {
        return Ok(());
    }
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(build_error)
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let index = CreateGlobalSecondaryIndexAction::builder()
        .index_name(PAYMENT_STATUS_INDEX)
        .key_schema(key("payment_status", KeyType::Hash)?)
        .key_schema(key("updated_at", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes("payment_intent_id")
                .non_key_attributes("refunds_owed")
                .build(),
        )
        .build()
        .map_err(build_error)?;
    client
        .update_table()
        .table_name(table)
        .attribute_definitions(attr("payment_status")?)
        .attribute_definitions(attr("updated_at")?)
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(index).build())
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}
