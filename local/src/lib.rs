//! The whole API on one machine: the same handlers as on Lambda, behind a small HTTP server
//! that does what API Gateway does in production (routing by path, the `X-API-Key` check on
//! every route but the webhook), with DynamoDB embedded (dynoxide) unless
//! `AWS_ENDPOINT_URL_DYNAMODB` names another server, and Stripe emulated by localstripe (a
//! child process) behind the project's Stripe layer (`stripe_layer`: what Stripe documents and
//! localstripe lacks) unless `STRIPE_API_BASE` names a real Stripe or another emulator.

mod addresses;
pub mod dynamo_access;
mod gateway;
mod localstripe;
mod reconcile;
pub mod stripe_layer;
mod tables;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use gateway::{serve, App};
pub use localstripe::{register_webhook, start_localstripe};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::{split_secrets, StripeClient, StripeKeys};
use shared::domain::Secret;
use shared::runtime::config::Tables;
use stripe_layer::{LayerConfig, StripeLayer};
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
    /// localstripe, started with this Python (which must have it installed), behind the Stripe
    /// layer listening on this port (0: any free port): [`LocalStripe::new`]'s defaults.
    Emulator { python: PathBuf, port: u16 },
    /// localstripe with these options.
    Local(LocalStripe),
    /// Use the Stripe API at this base URL (a real test account, or an emulator already
    /// running). Webhooks must then be routed to this stack by whoever owns that Stripe.
    External { base: String },
}

/// How the local stack runs its Stripe emulator.
#[derive(Debug, Clone)]
pub struct LocalStripe {
    /// A Python that has localstripe installed (`LOCALSTRIPE_PYTHON`).
    pub python: PathBuf,
    /// Where the functions, the README's curl and the tests reach Stripe (`LOCALSTRIPE_PORT`;
    /// 0: any free port): the layer, or localstripe itself without it.
    pub port: u16,
    /// The Stripe layer in front of localstripe (`LOCALSTRIPE_LAYER`, on unless `0`).
    pub layer: bool,
    /// The secret keys the layer accepts (`LOCALSTRIPE_API_KEYS`, comma-separated); empty:
    /// the stack's own `stripe_secret_key`.
    pub api_keys: Vec<String>,
    /// Register the stack's webhook for deliveries (`LOCALSTRIPE_WEBHOOKS`, on unless `0`).
    pub webhooks: bool,
}

impl LocalStripe {
    /// localstripe behind the layer, which accepts the stack's secret key, webhooks on.
    pub fn new(python: PathBuf, port: u16) -> Self {
        Self {
            python,
            port,
            layer: true,
            api_keys: Vec::new(),
            webhooks: true,
        }
    }
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
    /// What reconcile does with card authorizations near their end (`EXPIRING_HOLD_POLICY`,
    /// `CAPTURE_SAFETY_MARGIN_SECONDS`, as on AWS).
    pub holds: shared::domain::capture::HoldSettings,
    /// Another address of this machine on which the embedded DynamoDB and the Stripe layer also
    /// listen, on the same ports (`LOCAL_BRIDGE_ADDRESS`): the docker bridge's, so functions in
    /// `sam local` containers reach them. `None`: loopback only.
    pub bridge: Option<IpAddr>,
}

impl StackConfig {
    /// Reads `HOST`, `PORT`, `LOCAL_API_KEYS`, `LOCAL_DATA_DIR`, `LOCAL_BRIDGE_ADDRESS`,
    /// `AWS_ENDPOINT_URL_DYNAMODB`, the `STRIPE_*` and `LOCALSTRIPE_*` variables and the table
    /// names (see the README).
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`StackConfig::from_env`] with the variables read through `var` (tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let host = var("HOST").unwrap_or_else(|| "127.0.0.1".into());
        let port = var("PORT").unwrap_or_else(|| "3000".into());
        let host: IpAddr = host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|e| format!("HOST {host:?} is not an IP address: {e}"))?;
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|e| format!("PORT {port:?} is not a port number: {e}"))?;
        addresses::check_listen_address("HOST", host)?;
        let addr = SocketAddr::new(host, port);
        let api_keys = split_list(
            &var("LOCAL_API_KEYS").unwrap_or_else(|| addresses::PUBLISHED_API_KEY.into()),
        );
        if api_keys.is_empty() {
            return Err("LOCAL_API_KEYS must name at least one key".into());
        }
        addresses::check_api_keys(host, &api_keys)?;
        let dynamo = match var("AWS_ENDPOINT_URL_DYNAMODB") {
            Some(ep) if !ep.is_empty() => Dynamo::Endpoint(ep),
            _ => {
                let dir = var("LOCAL_DATA_DIR").unwrap_or_else(|| ".local-data".into());
                Dynamo::File(PathBuf::from(dir).join("dynamodb.sqlite"))
            }
        };
        let stripe = match var("STRIPE_API_BASE") {
            Some(base) if !base.is_empty() => Stripe::External { base },
            _ => Stripe::Local(LocalStripe {
                python: var("LOCALSTRIPE_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(default_python),
                port: var("LOCALSTRIPE_PORT")
                    .unwrap_or_else(|| "8420".into())
                    .parse()
                    .map_err(|e| format!("LOCALSTRIPE_PORT: {e}"))?,
                layer: switch(&var, "LOCALSTRIPE_LAYER")?,
                api_keys: split_list(&var("LOCALSTRIPE_API_KEYS").unwrap_or_default()),
                webhooks: switch(&var, "LOCALSTRIPE_WEBHOOKS")?,
            }),
        };
        let stripe_secret_key = var("STRIPE_SECRET_KEY").unwrap_or_else(|| LOCAL_SECRET_KEY.into());
        let webhook_secrets = split_list(
            &var("STRIPE_WEBHOOK_SECRETS").unwrap_or_else(|| LOCAL_WEBHOOK_SECRET.into()),
        );
        Ok(Self {
            addr,
            api_keys,
            dynamo,
            tables: Tables::from_env(),
            stripe,
            stripe_secret_key,
            webhook_secrets,
            reconcile_interval: reconcile::interval(var("RECONCILE_INTERVAL_SECONDS"))?,
            holds: shared::runtime::config::hold_settings(&var)?,
            bridge: match var("LOCAL_BRIDGE_ADDRESS").as_deref().map(str::trim) {
                None | Some("") => None,
                Some(ip) => {
                    let ip: IpAddr = ip
                        .parse()
                        .map_err(|e| format!("LOCAL_BRIDGE_ADDRESS {ip:?}: {e}"))?;
                    addresses::check_listen_address("LOCAL_BRIDGE_ADDRESS", ip)?;
                    Some(ip)
                }
            },
        })
    }
}

/// A comma-separated list, trimmed, without empty items.
fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// An on/off variable, on unless set to `0`, `false`, `no` or `off`.
fn switch(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match var(name)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("{name}: {other:?} is neither 0 nor 1")),
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
    /// The embedded DynamoDB and the Stripe layer on the bridge address, if the stack has one
    /// (`StackConfig::bridge`).
    pub bridge_dynamodb_endpoint: Option<String>,
    pub bridge_stripe_base: Option<String>,
    pub stripe_secret_key: String,
    pub webhook_secrets: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
    reconciler: reconcile::Reconciler,
    /// The Stripe layer, if it runs (before localstripe, which it fronts).
    stripe_layer: Option<StripeLayer>,
    /// localstripe, killed when the stack is dropped.
    _emulator: Option<Child>,
}

impl RunningStack {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Stripe layer in front of localstripe, if the stack runs one.
    pub fn stripe_layer(&self) -> Option<&StripeLayer> {
        self.stripe_layer.as_ref()
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
    let mut bridge_dynamodb = None;
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
            if let Some(ip) = config.bridge {
                let also = TcpListener::bind((ip, addr.port())).await.map_err(|e| {
                    format!(
                        "the DynamoDB emulator cannot also listen on {ip}:{}: {e}",
                        addr.port()
                    )
                })?;
                bridge_dynamodb = Some(format!("http://{}", SocketAddr::new(ip, addr.port())));
                tasks.push(tokio::spawn(dynoxide::server::serve_on(also, db.clone())));
            }
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
    let store = DynamoStore::new(client.clone(), config.tables.clone());
    // Each function's own client, so what each touches is recorded (`dynamo_access`).
    let store_of = |function| {
        DynamoStore::new(
            dynamo_access::client_for(&client, function, &config.tables),
            config.tables.clone(),
        )
    };
    let stores = gateway::Stores {
        bookings: store_of("bookings"),
        create_intent: store_of("create-intent"),
        webhook: store_of("webhook"),
    };
    let reconcile_store = store_of("reconcile");

    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let (stripe_base, emulator, stripe_layer) = match &config.stripe {
        Stripe::External { base } => (base.clone(), None, None),
        Stripe::Emulator { python, port } => {
            let local = LocalStripe::new(python.clone(), *port);
            start_local_stripe(&local, &config, addr).await?
        }
        Stripe::Local(local) => start_local_stripe(local, &config, addr).await?,
    };
    let bridge_stripe_base = match (&stripe_layer, config.bridge) {
        (Some(layer), Some(ip)) => Some(format!(
            "http://{}",
            SocketAddr::new(ip, layer.addr().port())
        )),
        _ => None,
    };
    let stripe = StripeClient::new(
        stripe_base.clone(),
        StripeKeys {
            secret_key: Secret::new(config.stripe_secret_key.clone()),
            webhook_secrets: split_secrets(&config.webhook_secrets.join(",")),
        },
    );
    let reconciler = reconcile::Reconciler::new(reconcile_store, stripe.clone(), config.holds);
    if let Some(every) = config.reconcile_interval {
        tasks.push(reconciler.spawn(every));
    }
    let app = Arc::new(App {
        api_keys: config.api_keys,
        stores,
        stripe,
    });
    tasks.push(tokio::spawn(serve(listener, app)));
    Ok(RunningStack {
        addr,
        dynamodb_endpoint: endpoint,
        store,
        stripe_base,
        bridge_dynamodb_endpoint: bridge_dynamodb,
        bridge_stripe_base,
        stripe_secret_key: config.stripe_secret_key,
        webhook_secrets: config.webhook_secrets,
        tasks,
        reconciler,
        stripe_layer,
        _emulator: emulator,
    })
}

/// localstripe, the layer in front of it on `local.port` unless it is off, and the stack's
/// webhook registered unless that is off. Returns the base URL the stack uses.
async fn start_local_stripe(
    local: &LocalStripe,
    config: &StackConfig,
    api: SocketAddr,
) -> Result<(String, Option<Child>, Option<StripeLayer>), String> {
    let (base, child, layer) = if local.layer {
        let (layer, child) = start_layer(local, &config.stripe_secret_key, config.bridge).await?;
        (layer.url(), child, Some(layer))
    } else if config.bridge.is_some() {
        return Err("LOCAL_BRIDGE_ADDRESS needs the Stripe layer (LOCALSTRIPE_LAYER=1)".into());
    } else {
        let (base, child) = start_localstripe(&local.python, local.port).await?;
        (base, child, None)
    };
    if local.webhooks {
        register_webhook(
            &base,
            api,
            &config.webhook_secrets,
            &config.stripe_secret_key,
        )
        .await?;
    }
    Ok((base, Some(child), layer))
}

/// localstripe on a free port, and the layer in front of it on `local.port` (and on the same
/// port of `bridge`).
async fn start_layer(
    local: &LocalStripe,
    secret_key: &str,
    bridge: Option<IpAddr>,
) -> Result<(StripeLayer, Child), String> {
    let listen = SocketAddr::from(([127, 0, 0, 1], local.port));
    // Bound before localstripe starts, so a busy port fails fast.
    let listener = std::net::TcpListener::bind(listen).map_err(|e| {
        format!("Stripe port {} is not free ({e}); is an old local stack still running? (LOCALSTRIPE_PORT to change)", local.port)
    })?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let also = bridge
        .map(|ip| {
            std::net::TcpListener::bind((ip, port))
                .map_err(|e| format!("the Stripe layer cannot also listen on {ip}:{port}: {e}"))
        })
        .transpose()?;
    let (upstream, child) = start_localstripe(&local.python, 0).await?;
    let api_keys = if local.api_keys.is_empty() {
        vec![secret_key.to_string()]
    } else {
        local.api_keys.clone()
    };
    let mut layer = StripeLayer::serve(listener, LayerConfig { upstream, api_keys })?;
    if let Some(also) = also {
        layer.also_serve(also)?;
    }
    Ok((layer, child))
}
