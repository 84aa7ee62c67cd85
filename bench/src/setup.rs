//! What the binaries run against: the local stack (DynamoDB in memory, localstripe), the TLS
//! front before its DynamoDB, the seeded bookings each workload works on, and the environment
//! Lambda would give a function, pointed at all of it.

use std::path::{Path, PathBuf};

use local_stack::{Dynamo, RunningStack, StackConfig, Stripe};
use serde_json::{json, Value};
use shared::runtime::config::Tables;

use crate::events::{self, Workload, API_KEY};
use crate::measure::Environment;
use crate::tls::{self, TlsFront};

/// The running backends; dropping them stops them.
pub struct Backends {
    // Declared first so that it is dropped first: the front goes before the stack behind it.
    pub tls_front: Option<TlsFront>,
    pub stack: RunningStack,
}

/// Starts the local stack and, with `dynamo_tls`, a TLS front before its DynamoDB (its CA in
/// `work`).
pub async fn start_backends(
    python: &Path,
    dynamo_tls: bool,
    work: &Path,
) -> Result<Backends, String> {
    eprintln!("bench: starting the local stack (DynamoDB in memory, localstripe)");
    let stack = local_stack::start(StackConfig {
        addr: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        api_keys: vec![API_KEY.to_string()],
        dynamo: Dynamo::Memory,
        tables: Tables::from_env(),
        stripe: Stripe::Emulator {
            python: python.to_path_buf(),
            port: 0,
        },
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.to_string(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.to_string()],
        // No background runs beside the measurements.
        reconcile_interval: None,
        holds: Default::default(),
        bridge: None,
    })
    .await?;
    let tls_front = if dynamo_tls {
        let upstream = stack
            .dynamodb_endpoint
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| format!("{}: {e}", stack.dynamodb_endpoint))?;
        Some(tls::start(upstream, work).await?)
    } else {
        None
    };
    Ok(Backends { tls_front, stack })
}

/// The seeded data the workloads use.
pub struct Seeds {
    read_id: String,
    pay_id: String,
    /// Per variant, a booking and its payment intent for the webhook events.
    hooks: Vec<(String, String)>,
    secret: String,
}

impl Seeds {
    /// The booking the bookings function reads.
    pub fn read_id(&self) -> &str {
        &self.read_id
    }
}

/// Seed: a booking to read, one to pay for, and per variant one with an intent for the
/// webhook events (each variant's events must be later than its own last one).
pub async fn seed(stack: &RunningStack, variants: usize) -> Result<Seeds, String> {
    let http = reqwest::Client::new();
    let api = stack.url();
    seed_tariff(&http, &api).await?;
    let read_id = seed_booking(&http, &api).await?;
    let pay_id = seed_booking(&http, &api).await?;
    let mut hooks = Vec::new();
    for _ in 0..variants {
        let hook_id = seed_booking(&http, &api).await?;
        let intent = post_json(
            &http,
            &format!("{api}/v1/payments/create-intent"),
            json!({ "amount": 4.50, "currency": "usd", "booking_id": hook_id }),
            200,
        )
        .await?;
        let intent_id = intent["payment_intent_id"]
            .as_str()
            .ok_or_else(|| format!("no payment_intent_id in {intent}"))?
            .to_string();
        hooks.push((hook_id, intent_id));
    }
    let secret = stack
        .webhook_secrets
        .first()
        .cloned()
        .ok_or("no webhook secret")?;
    Ok(Seeds {
        read_id,
        pay_id,
        hooks,
        secret,
    })
}

impl Seeds {
    /// What the binary `name` of variant `variant` is fed.
    pub fn workload(&self, name: &str, variant: usize) -> Workload {
        match name {
            "bookings" => Workload::GetBooking {
                booking_id: self.read_id.clone(),
            },
            "bookings-create" => Workload::CreateBooking {
                asset_type: "charging_station",
            },
            "bookings-create-tariff" => Workload::CreateBooking {
                asset_type: events::TARIFFED_ASSET_TYPE,
            },
            "create-intent" => Workload::CreateIntent {
                booking_id: self.pay_id.clone(),
            },
            "webhook" => {
                let (hook_id, intent_id) = &self.hooks[variant];
                Workload::Webhook {
                    booking_id: hook_id.clone(),
                    intent_id: intent_id.clone(),
                    secret: self.secret.clone(),
                    created: (events::now_unix_ms() / 1000) as i64,
                    sent: 0,
                }
            }
            _ => Workload::Floor,
        }
    }
}

/// The environment of a 128 MB function on Lambda, pointed at the backends, then `extra_env`;
/// the binaries' output goes to a fresh `logs` folder.
pub fn lambda_environment(
    backends: &Backends,
    extra_env: &[(String, String)],
    logs: PathBuf,
) -> Environment {
    let stack = &backends.stack;
    let tables = Tables::from_env();
    let mut vars: Vec<(String, String)> = [
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("_HANDLER", "bootstrap"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHLOCAL000000"),
        ("AWS_SECRET_ACCESS_KEY", "bench-local-secret"),
        ("AWS_SESSION_TOKEN", "bench-local-session"),
        // A local run: the plain STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRETS below are allowed
        // (shared::runtime::config::on_lambda).
        ("LOCAL_STACK", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let dynamo_endpoint = backends
        .tls_front
        .as_ref()
        .map_or(stack.dynamodb_endpoint.clone(), |t| t.endpoint.clone());
    vars.extend([
        ("AWS_ENDPOINT_URL_DYNAMODB".to_string(), dynamo_endpoint),
        ("STRIPE_API_BASE".to_string(), stack.stripe_base.clone()),
        (
            "STRIPE_SECRET_KEY".to_string(),
            stack.stripe_secret_key.clone(),
        ),
        (
            "STRIPE_WEBHOOK_SECRETS".to_string(),
            stack.webhook_secrets.join(","),
        ),
        ("BOOKINGS_TABLE".to_string(), tables.bookings.clone()),
        ("SLOTS_TABLE".to_string(), tables.slots.clone()),
        ("IDEMPOTENCY_TABLE".to_string(), tables.idempotency.clone()),
        ("EVENTS_TABLE".to_string(), tables.events.clone()),
        ("TARIFFS_TABLE".to_string(), tables.tariffs.clone()),
    ]);
    if let Some(front) = &backends.tls_front {
        vars.push((
            "AWS_CA_BUNDLE".to_string(),
            front.ca_file.display().to_string(),
        ));
    }
    vars.extend(extra_env.iter().cloned());
    let _ = std::fs::remove_dir_all(&logs);
    Environment {
        vars,
        logs,
        dynamo_requests: backends.tls_front.as_ref().map(|f| f.requests.clone()),
    }
}

/// The README's EV tariff (time, energy, min and max), on every asset of the tariffed type.
async fn seed_tariff(http: &reqwest::Client, api: &str) -> Result<(), String> {
    let tariff = json!({
        "currency": "usd", "flat": 0.50, "per_hour": 3.00, "step_minutes": 15,
        "per_kwh": 0.35, "min_price": 2.00, "max_price": 40.00,
        "free_cancel_minutes": 60, "late_cancel_fee": 1.00,
        "no_show_fee": 2.00, "no_show_after_minutes": 15
    });
    send_json(
        http,
        reqwest::Method::PUT,
        &format!("{api}/v1/tariffs/bench"),
        tariff,
        201,
    )
    .await?;
    let type_url = format!(
        "{api}/v1/asset-types/{}/tariff",
        events::TARIFFED_ASSET_TYPE
    );
    send_json(
        http,
        reqwest::Method::PUT,
        &type_url,
        json!({ "tariff_id": "bench" }),
        200,
    )
    .await?;
    Ok(())
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: Value,
    want: u16,
) -> Result<Value, String> {
    send_json(http, reqwest::Method::POST, url, body, want).await
}

async fn send_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
    want: u16,
) -> Result<Value, String> {
    let resp = http
        .request(method, url)
        .header("X-API-Key", API_KEY)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let value: Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
    if status != want {
        return Err(format!("{url}: {status} {value}"));
    }
    Ok(value)
}

/// A fresh booking on its own asset, made through the local stack's API.
async fn seed_booking(http: &reqwest::Client, api: &str) -> Result<String, String> {
    let booking = post_json(
        http,
        &format!("{api}/v1/bookings"),
        json!({
            "asset_id": uuid::Uuid::new_v4().to_string(),
            "asset_type": "charging_station",
            "user_id": "650e8400-e29b-41d4-a716-446655440001",
            "start_time": "2026-02-05T23:00:00Z",
            "end_time": "2026-02-05T23:30:00Z",
        }),
        201,
    )
    .await?;
    booking["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no id in {booking}"))
}
