//! `LOCAL_BRIDGE_ADDRESS` (`StackConfig::bridge`): the embedded DynamoDB and the Stripe layer
//! also listen on another address of this machine, on the same ports, with the same state
//! (`make sam-local` gives the docker bridge's, so functions in containers reach them). Here
//! 127.0.0.2, another loopback address.

use std::collections::HashMap;
use std::net::IpAddr;

use aws_sdk_dynamodb::config::{Credentials, Region};
use local_stack::{default_python, Dynamo, LocalStripe, StackConfig, Stripe};

use crate::support::product::Tables;
use crate::support::{Turn, API_KEY};

#[test]
fn the_bridge_address_is_read_from_the_environment() {
    let config = |value: &str| {
        let vars = HashMap::from([("LOCAL_BRIDGE_ADDRESS".to_string(), value.to_string())]);
        StackConfig::from_lookup(|name| vars.get(name).cloned())
    };
    assert_eq!(config("").unwrap().bridge, None);
    assert_eq!(
        config("172.17.0.1").unwrap().bridge,
        Some("172.17.0.1".parse::<IpAddr>().unwrap())
    );
    assert!(config("docker0").is_err());
    assert_eq!(StackConfig::from_lookup(|_| None).unwrap().bridge, None);
}

#[tokio::test]
async fn dynamodb_and_the_stripe_layer_also_answer_on_the_bridge_address() {
    let _turn = Turn::shared().await;
    let bridge: IpAddr = "127.0.0.2".parse().unwrap();
    let stack = local_stack::start(StackConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        api_keys: vec![API_KEY.to_string()],
        dynamo: Dynamo::Memory,
        tables: Tables::from_env(),
        stripe: Stripe::Local(LocalStripe {
            webhooks: false,
            ..LocalStripe::new(default_python(), 0)
        }),
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.into(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.into()],
        reconcile_interval: None,
        bridge: Some(bridge),
        holds: Default::default(),
    })
    .await
    .expect("local stack starts");

    // The same ports, on the bridge address.
    let dynamodb = stack
        .bridge_dynamodb_endpoint
        .clone()
        .expect("DynamoDB on the bridge");
    let stripe = stack
        .bridge_stripe_base
        .clone()
        .expect("Stripe on the bridge");
    assert_eq!(
        dynamodb,
        stack.dynamodb_endpoint.replace("127.0.0.1", "127.0.0.2")
    );
    assert_eq!(stripe, stack.stripe_base.replace("127.0.0.1", "127.0.0.2"));

    // The same database: the stack's tables are there.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&dynamodb)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        .load()
        .await;
    let tables = aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .send()
        .await
        .expect("DynamoDB answers on the bridge address");
    assert!(
        tables.table_names().iter().any(|t| t == "bookings"),
        "{tables:?}"
    );

    // The layer (it checks the key; localstripe behind it does not).
    let http = reqwest::Client::new();
    let balance = |key: &'static str| {
        http.get(format!("{stripe}/v1/balance"))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(
        balance(local_stack::LOCAL_SECRET_KEY)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        balance("sk_test_not_the_accounts").await.unwrap().status(),
        401
    );
}
