//! The DynamoDB tables of `template.yaml`, created in the local emulator.

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
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
    for table in [&tables.slots, &tables.idempotency, &tables.events] {
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
    Ok(())
}
