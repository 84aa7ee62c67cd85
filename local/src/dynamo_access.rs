//! Which DynamoDB tables (and indexes) each function touches, with which actions, recorded
//! from the requests its handlers send (issue 20, item 3): the local stack gives each function
//! its own client, and an interceptor on it reads every request's operation and tables.
//!
//! `tests/deploy/dynamo_access.json` holds the record; `tests/deploy` compares it with the
//! template's IAM grants, so a grant the code needs and the template lacks fails offline, not
//! on AWS. While the integration tests run ([`enable`]), a request whose access is not in the
//! file fails (the test that made it says which, and how to record again);
//! `RECORD_DYNAMO_ACCESS=1` writes the file from what the run saw instead
//! (`make dynamo-access`).
//!
//! The actions are IAM's: a `TransactWriteItems` is each item's `PutItem`, `UpdateItem`,
//! `DeleteItem` or `ConditionCheckItem` on its table
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>);
//! a `Query` with an index is on `<table>/index/<name>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::Value;
use shared::runtime::config::Tables;

/// `function -> resource -> actions`, resources named by the tables' default names
/// (`bookings`, `booking-slots`, `idempotency`, `stripe-events`, `tariffs`).
pub type Access = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// What the integration tests do with what they see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every access must be in the file.
    Check,
    /// The file is written from what the run saw.
    Record,
}

struct State {
    mode: Mode,
    recorded: Access,
    seen: Access,
}

static STATE: OnceLock<Mutex<State>> = OnceLock::new();

/// The file, in the repository.
pub fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/deploy/dynamo_access.json")
}

/// Reads the file.
pub fn read() -> Result<Access, String> {
    let text = std::fs::read_to_string(file()).map_err(|e| format!("{}: {e}", file().display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file().display()))
}

/// Turns checking (or, with `RECORD_DYNAMO_ACCESS=1`, recording) on for this process: the
/// integration tests call it before starting stacks. Without it, nothing is checked.
pub fn enable() {
    STATE.get_or_init(|| {
        let mode = match std::env::var("RECORD_DYNAMO_ACCESS").as_deref() {
            Ok("1") => Mode::Record,
            _ => Mode::Check,
        };
        let recorded = match mode {
            Mode::Check => read().unwrap_or_else(|e| panic!("{e}")),
            Mode::Record => Access::new(),
        };
        Mutex::new(State {
            mode,
            recorded,
            seen: Access::new(),
        })
    });
}

/// `client`, with the interceptor that records `function`'s accesses.
pub fn client_for(
    client: &aws_sdk_dynamodb::Client,
    function: &'static str,
    tables: &Tables,
) -> aws_sdk_dynamodb::Client {
    let names = BTreeMap::from([
        (tables.bookings.clone(), "bookings"),
        (tables.slots.clone(), "booking-slots"),
        (tables.idempotency.clone(), "idempotency"),
        (tables.events.clone(), "stripe-events"),
        (tables.tariffs.clone(), "tariffs"),
    ]);
    let conf = client
        .config()
        .to_builder()
        .interceptor(Recorder { function, names })
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

#[derive(Debug)]
struct Recorder {
    function: &'static str,
    /// Table name in this stack -> its default name.
    names: BTreeMap<String, &'static str>,
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "DynamoAccessRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(state) = STATE.get() else {
            return Ok(());
        };
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
            .unwrap_or_default()
            .to_string();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        for (table, action) in accesses(&operation, &body) {
            let resource = match table.split_once("/index/") {
                Some((name, index)) => format!("{}/index/{index}", self.resource(name)),
                None => self.resource(&table),
            };
            let new = state
                .seen
                .entry(self.function.to_string())
                .or_default()
                .entry(resource.clone())
                .or_default()
                .insert(action.clone());
            match state.mode {
                Mode::Record if new => {
                    let text = serde_json::to_string_pretty(&state.seen)? + "\n";
                    std::fs::write(file(), text)?;
                }
                Mode::Record => {}
                Mode::Check => {
                    let known = state
                        .recorded
                        .get(self.function)
                        .and_then(|r| r.get(&resource))
                        .is_some_and(|a| a.contains(&action));
                    if !known {
                        let message = format!(
                            "{} does {action} on {resource}, which tests/deploy/dynamo_access.json \
                             does not record: `make dynamo-access`, then grant it in template.yaml",
                            self.function
                        );
                        eprintln!("{message}");
                        return Err(message.into());
                    }
                }
            }
        }
        Ok(())
    }
}

impl Recorder {
    fn resource(&self, table: &str) -> String {
        self.names
            .get(table)
            .map_or_else(|| table.to_string(), |n| n.to_string())
    }
}

/// The (table, IAM action) pairs of one request.
fn accesses(operation: &str, body: &Value) -> Vec<(String, String)> {
    let table = |v: &Value| v["TableName"].as_str().map(str::to_string);
    match operation {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ]
                .into_iter()
                .find_map(|(kind, action)| Some((table(item.get(kind)?)?, action.to_string())))
            })
            .collect(),
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| Some((table(item.get("Get")?)?, "GetItem".to_string())))
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| (name.clone(), operation.to_string()))
            .collect(),
        "Query" | "Scan" => table(body)
            .map(|name| match body["IndexName"].as_str() {
                Some(index) => (format!("{name}/index/{index}"), operation.to_string()),
                None => (name, operation.to_string()),
            })
            .into_iter()
            .collect(),
        _ => table(body)
            .map(|name| (name, operation.to_string()))
            .into_iter()
            .collect(),
    }
}
