//! The whole API on one machine: the same handlers as on Lambda, behind a small HTTP server
//! that does what API Gateway does in production (routing by path, the `X-API-Key` check on
//! every route but the webhook), with DynamoDB embedded (dynoxide) unless
//! `AWS_ENDPOINT_URL_DYNAMODB` names another server, and Stripe emulated by localstripe (a
//! child process) unless `STRIPE_API_BASE` names a real Stripe or another emulator.

mod tables;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::{split_secrets, StripeClient, StripeKeys};
use shared::domain::Secret;
use shared::http::response::error_response;
use shared::http::ApiError;
use shared::runtime::config::Tables;
use tables::ensure_tables;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The launcher that serves localstripe on loopback with in-memory state.
const LOCALSTRIPE_LAUNCHER: &str = include_str!("localstripe.py");
pub const LOCAL_SECRET_KEY: &str = "sk_test_local_stack";
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_stack_signing_secret";

const WEBHOOK_PATH: &str = "/v1/payments/webhook";

/// API Gateway refuses payloads over 10 MB; we stop reading well before.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

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

struct App {
    api_keys: Vec<String>,
    store: DynamoStore,
    stripe: StripeClient,
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
        _emulator: emulator,
    })
}

/// Starts localstripe on 127.0.0.1 and waits until it answers.
pub async fn start_localstripe(python: &PathBuf, port: u16) -> Result<(String, Child), String> {
    let port = if port == 0 {
        // Ask the OS for a free port; the moment between closing it and localstripe
        // binding it is the only window another process could take it.
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for localstripe: {e}"))?
            .port()
    } else {
        // A leftover localstripe on this port would answer our readiness probe with its old
        // state: refuse to start instead.
        std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!("localstripe port {port} is not free ({e}); is an old local stack still running? (LOCALSTRIPE_PORT to change)")
        })?;
        port
    };
    let mut child = Command::new(python)
        .arg("-c")
        .arg(LOCALSTRIPE_LAUNCHER)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {} for localstripe ({e}); run `make tools` first",
                python.display()
            )
        })?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "localstripe exited ({status}); is it installed for {}? run `make tools`",
                python.display()
            ));
        }
        let probe = http
            .get(format!("{base}/v1/balance"))
            .bearer_auth("sk_test_probe")
            .send()
            .await;
        if probe.is_ok() {
            return Ok((base, child));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("localstripe did not answer on {base} within 30 s"))
}

/// Tells localstripe to deliver every event to this stack's webhook, signed with our secret.
pub async fn register_webhook(
    base: &str,
    api: SocketAddr,
    secrets: &[String],
) -> Result<(), String> {
    let secret = secrets
        .first()
        .ok_or("at least one webhook secret is needed")?;
    let url = format!("http://{api}/v1/payments/webhook");
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/_config/webhooks/local-stack-{}",
            api.port()
        ))
        .form(&[("url", url.as_str()), ("secret", secret.as_str())])
        .send()
        .await
        .map_err(|e| format!("cannot register the webhook with localstripe: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "localstripe refused the webhook registration: {}",
            resp.status()
        ));
    }
    Ok(())
}

async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(dispatch(&app, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn dispatch(app: &App, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = route(app, req).await;
    tracing::info!(%method, %path, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    resp
}

async fn route(app: &App, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    // What API Gateway does before Lambda sees anything: the API-key check on every route
    // but Stripe's webhook (which proves itself with its signature instead).
    let key_ok = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| app.api_keys.iter().any(|valid| valid == k));
    if !key_ok && path != WEBHOOK_PATH {
        return to_hyper(error_response(&ApiError::Unauthorized));
    }
    let event = match to_event(req).await {
        Ok(event) => event,
        Err(resp) => return resp,
    };
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(err) => {
            tracing::warn!(%err, "request could not be turned into an API Gateway event");
            return to_hyper(error_response(&ApiError::bad_request("Malformed request")));
        }
    };
    if path == "/v1/bookings" || path.starts_with("/v1/bookings/") {
        to_hyper(shared::http::bookings::handle(&app.store, &app.stripe, request).await)
    } else if path == "/v1/payments/create-intent" {
        to_hyper(shared::http::create_intent::handle(&app.store, &app.stripe, request).await)
    } else if path == WEBHOOK_PATH {
        to_hyper(shared::http::webhook::handle(&app.store, &app.stripe, request).await)
    } else {
        to_hyper(error_response(&ApiError::NotFound("Not found".into())))
    }
}

/// Builds the API Gateway REST (v1) proxy event Lambda would receive for this request.
async fn to_event(req: hyper::Request<Incoming>) -> Result<Value, hyper::Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|_| to_hyper(error_response(&ApiError::PayloadTooLarge)))?
        .to_bytes();
    let mut headers = BTreeMap::<String, Vec<String>>::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers
                .entry(name.as_str().to_string())
                .or_default()
                .push(v.to_string());
        }
    }
    let mut query = BTreeMap::<String, Vec<String>>::new();
    if let Some(q) = parts.uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
    }
    let single = |m: &BTreeMap<String, Vec<String>>| -> Value {
        if m.is_empty() {
            Value::Null
        } else {
            m.iter()
                .map(|(k, v)| (k.clone(), json!(v.last())))
                .collect()
        }
    };
    let multi = |m: &BTreeMap<String, Vec<String>>| -> Value {
        if m.is_empty() {
            Value::Null
        } else {
            json!(m)
        }
    };
    let method = parts.method.as_str();
    let path = parts.uri.path();
    Ok(json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": single(&headers),
        "multiValueHeaders": multi(&headers),
        "queryStringParameters": single(&query),
        "multiValueQueryStringParameters": multi(&query),
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/local{path}"),
            "stage": "local",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTimeEpoch": chrono_millis(),
            "identity": { "sourceIp": "127.0.0.1" }
        },
        "body": if body.is_empty() { Value::Null } else { json!(STANDARD.encode(&body)) },
        "isBase64Encoded": !body.is_empty()
    }))
}

fn chrono_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn to_hyper(resp: lambda_http::Response<lambda_http::Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = Bytes::copy_from_slice(body.as_ref());
    hyper::Response::from_parts(parts, Full::new(bytes))
}
