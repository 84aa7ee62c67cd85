//! The whole API on one machine: the same handlers as on Lambda, behind a small HTTP server
//! that does what API Gateway does in production (routing by path, the `X-API-Key` check on
//! every route but the webhook), with DynamoDB embedded (dynoxide) unless
//! `AWS_ENDPOINT_URL_DYNAMODB` names another server, and Stripe emulated by localstripe (a
//! child process) unless `STRIPE_API_BASE` names a real Stripe or another emulator.

mod gateway;
mod localstripe;
mod reconcile;
mod tables;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use gateway::{serve, App};
pub use localstripe::{register_webhook, start_localstripe};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::{split_secrets, StripeClient, StripeKeys};
use shared::domain::Secret;
use shared::runtime::config::Tables;
use tables::ensure_tables;
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::task::JoinHandle;

pub const LOCAL_SECRET_KEY: &str = "sk_test_local_stack";
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_stack_signing_secret";

pub(crate) const WEBHOOK_PATH: &str = "/v1/payments/webhook";

#[derive(Debug, Clone)]
pub enum Dynamo {
    /// Embedded dynoxide persisting to this SQLite file (survives restarts).
    File(PathBuf),
    /// Embedded dynoxide in memory (tests).
    Memory,
    /// Another DynamoDB-compatible server.
    Endpoint(String),
}

#[derive(Debug, Clone)]
pub enum Stripe {
    /// Start localstripe with this Python (which must have it installed) on this port
    /// (0: any free port).
    Emulator { python: PathBuf, port: u16 },
    /// Use the Stripe API at this base URL (a real test account, or an emulator already
    /// running). Webhooks must then be routed to this stack by whoever owns that Stripe.
    External { base: String },
}

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub addr: SocketAddr,
    pub api_keys: Vec<String>,
    pub dynamo: Dynamo,
    pub tables: Tables,
    pub stripe: Stripe,
    pub stripe_secret_key: String,
    pub webhook_secrets: Vec<String>,
    /// How often the reconcile function runs (`RECONCILE_INTERVAL_SECONDS`); `None`: never
    /// on its own (tests call `RunningStack::reconcile_now`).
    pub reconcile_interval: Option<std::time::Duration>,
}

impl StackConfig {
    /// Reads `HOST`, `PORT`, `LOCAL_API_KEYS`, `LOCAL_DATA_DIR`, `AWS_ENDPOINT_URL_DYNAMODB`
    /// and the table names (see the README).
    pub fn from_env() -> Result<Self, String> {
        let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
        let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
        let addr = format!("{host}:{port}")
            .parse()
            .map_err(|e| format!("HOST/PORT do not form a socket address: {e}"))?;
        let api_keys: Vec<String> = std::env::var("LOCAL_API_KEYS")
            .unwrap_or_else(|_| "test-api-key-123".into())
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        if api_keys.is_empty() {
            return Err("LOCAL_API_KEYS must name at least one key".into());
        }
        let dynamo = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            Ok(ep) if !ep.is_empty() => Dynamo::Endpoint(ep),
            _ => {
                let dir = std::env::var("LOCAL_DATA_DIR").unwrap_or_else(|_| ".local-data".into());
                Dynamo::File(PathBuf::from(dir).join("dynamodb.sqlite"))
            }
        };
        let stripe = match std::env::var("STRIPE_API_BASE") {
            Ok(base) if !base.is_empty() => Stripe::External { base },
            _ => Stripe::Emulator {
                python: std::env::var_os("LOCALSTRIPE_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(default_python),
                port: std::env::var("LOCALSTRIPE_PORT")
                    .unwrap_or_else(|_| "8420".into())
                    .parse()
                    .map_err(|e| format!("LOCALSTRIPE_PORT: {e}"))?,
            },
        };
        let stripe_secret_key =
            std::env::var("STRIPE_SECRET_KEY").unwrap_or_else(|_| LOCAL_SECRET_KEY.into());
        let webhook_secrets = std::env::var("STRIPE_WEBHOOK_SECRETS")
            .unwrap_or_else(|_| LOCAL_WEBHOOK_SECRET.into())
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        Ok(Self {
            addr,
            api_keys,
            dynamo,
            tables: Tables::from_env(),
            stripe,
            stripe_secret_key,
            webhook_secrets,
            reconcile_interval: reconcile::interval(
                std::env::var("RECONCILE_INTERVAL_SECONDS").ok(),
            )?,
        })
    }
}

/// The project venv's Python (made by `make tools`) if there is one, else `python3`.
pub fn default_python() -> PathBuf {
    let candidates = [
        PathBuf::from(".venv/bin/python"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    ];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// A running stack; dropping it stops the server and the embedded database.
pub struct RunningStack {
    pub addr: SocketAddr,
    pub dynamodb_endpoint: String,
    pub store: DynamoStore,
    /// The Stripe API the functions talk to.
    pub stripe_base: String,
    pub stripe_secret_key: String,
    pub webhook_secrets: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
    reconciler: reconcile::Reconciler,
    /// localstripe, killed when the stack is dropped.
    _emulator: Option<Child>,
}

impl RunningStack {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub async fn start(config: StackConfig) -> Result<RunningStack, String> {
    let mut tasks = Vec::new();
    let endpoint = match &config.dynamo {
        Dynamo::Endpoint(ep) => ep.clone(),
        Dynamo::File(_) | Dynamo::Memory => {
            let db = match &config.dynamo {
                Dynamo::File(path) => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                    }
                    dynoxide::Database::new(&path.to_string_lossy())
                        .map_err(|e| format!("cannot open {}: {e}", path.display()))?
                }
                _ => {
                    dynoxide::Database::memory().map_err(|e| format!("in-memory database: {e}"))?
                }
            };
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot bind the DynamoDB emulator: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tasks.push(tokio::spawn(dynoxide::server::serve_on(listener, db)));
            format!("http://{addr}")
        }
    };

    let mut sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(shared::runtime::config::sdk_timeouts())
        .endpoint_url(&endpoint)
        .region(Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ));
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        sdk = sdk.credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-stack",
        ));
    }
    let client = aws_sdk_dynamodb::Client::new(&sdk.load().await);
    ensure_tables(&client, &config.tables)
        .await
        .map_err(|e| format!("cannot create tables at {endpoint}: {e}"))?;
    let store = DynamoStore::new(client, config.tables.clone());

    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let (stripe_base, emulator) = match &config.stripe {
        Stripe::External { base } => (base.clone(), None),
        Stripe::Emulator { python, port } => {
            let (base, child) = start_localstripe(python, *port).await?;
            register_webhook(&base, addr, &config.webhook_secrets).await?;
            (base, Some(child))
        }
    };
    let stripe = StripeClient::new(
        stripe_base.clone(),
        StripeKeys {
            secret_key: Secret::new(config.stripe_secret_key.clone()),
            webhook_secrets: split_secrets(&config.webhook_secrets.join(",")),
        },
    );
    let reconciler = reconcile::Reconciler::new(store.clone(), stripe.clone());
    if let Some(every) = config.reconcile_interval {
        tasks.push(reconciler.spawn(every));
    }
    let app = Arc::new(App {
        api_keys: config.api_keys,
        store: store.clone(),
        stripe,
    });
    tasks.push(tokio::spawn(serve(listener, app)));
    Ok(RunningStack {
        addr,
        dynamodb_endpoint: endpoint,
        store,
        stripe_base,
        stripe_secret_key: config.stripe_secret_key,
        webhook_secrets: config.webhook_secrets,
        tasks,
        reconciler,
        _emulator: emulator,
    })
}
