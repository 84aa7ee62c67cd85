//! `sam-local`: the functions `sam build` made, run by SAM CLI in real arm64 containers against
//! the local stack's emulators. scripts/sam-local.sh (`make sam-local`, run by `make test`)
//! readies Docker, qemu and the base image, then runs this from the workspace root:
//!
//! 1. `sam local invoke` for every sample event in events/ (with the function events/
//!    expected.json names for it), the fixed ids they expect seeded (events/seeds.json) and the
//!    webhook samples re-signed; each status checked against events/expected.json, in a table;
//! 2. `sam local start-api` and the API document's flow with curl: a booking, read it, its
//!    PaymentIntent, paid at the Stripe emulator, Stripe's `payment_intent.succeeded` signed to
//!    the webhook, and the booking read again: `completed`.
//!
//! Exit status 1 on any mismatch, 2 when a run could not happen at all.
//!
//! A Rust binary rather than more shell: it runs the local stack in-process and seeds it with
//! the product's own types and store (a booking under a fixed id can only be stored directly,
//! the API makes random ids), and signs webhooks with the product's signer, as the in-process
//! test of the samples (local/tests/api/sample_events.rs) does.
//!
//! The containers reach this machine at the docker bridge's address (`--bridge`), where the
//! stack's DynamoDB and Stripe layer also listen (`StackConfig::bridge`); those are the only
//! addresses the functions are given. Their variables come from the template SAM built, with
//! the local values of this run only (sam.rs says how).

mod flow;
mod sam;
mod samples;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use local_stack::{default_python, Dynamo, LocalStripe, RunningStack, StackConfig, Stripe};
use serde_json::{json, Map, Value};
use shared::runtime::config::Tables;

use sam::{Sam, Template, BUILT_TEMPLATE};

/// The local stack's API key (the samples carry it; `sam local` checks no key).
pub const API_KEY: &str = "test-api-key-123";

/// The order the samples run in, as in sample_events.rs: bookings first (they need only the
/// seeds), create-intent before the webhook marks the booking paid, the scheduled run last.
/// A function not listed runs after these.
const ORDER: [&str; 4] = ["bookings", "create-intent", "webhook", "reconcile"];

pub struct Args {
    pub sam: PathBuf,
    pub image: String,
    pub bridge: IpAddr,
    /// Where the files handed to SAM go (the run's template, env-vars, re-signed events).
    pub work: PathBuf,
}

fn args() -> Result<Args, String> {
    const USAGE: &str =
        "usage: sam-local --sam <sam CLI> --image <base image> --bridge <docker bridge address> --work <dir>";
    let mut found: [Option<String>; 4] = Default::default();
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let slot = match flag.as_str() {
            "--sam" => 0,
            "--image" => 1,
            "--bridge" => 2,
            "--work" => 3,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        };
        found[slot] = Some(argv.next().ok_or(USAGE)?);
    }
    let [Some(sam), Some(image), Some(bridge), Some(work)] = found else {
        return Err(USAGE.into());
    };
    Ok(Args {
        sam: PathBuf::from(sam),
        image,
        bridge: bridge
            .parse()
            .map_err(|e| format!("--bridge {bridge}: {e}"))?,
        work: PathBuf::from(work),
    })
}

#[tokio::main]
async fn main() {
    // The stack's own logs only when they matter (RUST_LOG to see more). The DynamoDB
    // emulator's 400s are conditional writes refused, which the code expects (a webhook event
    // already applied, for one).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,dynoxide=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let code = match run().await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(err) => {
            eprintln!("sam-local: {err}");
            2
        }
    };
    std::process::exit(code);
}

async fn run() -> Result<bool, String> {
    let args = args()?;
    std::fs::create_dir_all(args.work.join("events")).map_err(|e| e.to_string())?;
    let template = Template::read(Path::new(BUILT_TEMPLATE))?;
    let run_template = args.work.join("template.json");
    template.write_for_local_runs(Path::new(BUILT_TEMPLATE), &run_template)?;
    let invokes_ok = invoke_every_sample(&args, &template, &run_template).await?;
    let flow_ok = flow::run(&args, &template, &run_template).await?;
    if invokes_ok && flow_ok {
        println!("sam-local: every sample and every step as expected");
    } else {
        println!("sam-local: FAILED (above: what differed)");
    }
    Ok(invokes_ok && flow_ok)
}

/// A local stack for one part of the run: DynamoDB in memory, localstripe behind the Stripe
/// layer, both also on the bridge address. No webhook is registered with the emulator: what
/// changes a booking is only what the functions in the containers do.
pub async fn start_stack(bridge: IpAddr) -> Result<RunningStack, String> {
    local_stack::start(StackConfig {
        addr: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        api_keys: vec![API_KEY.to_string()],
        dynamo: Dynamo::Memory,
        tables: Tables::from_env(),
        stripe: Stripe::Local(LocalStripe {
            webhooks: false,
            ..LocalStripe::new(default_python(), 0)
        }),
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.to_string(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.to_string()],
        reconcile_interval: None,
        bridge: Some(bridge),
        holds: Default::default(),
    })
    .await
}

/// The values the containers get for this run (written by `sam::env_vars_file`): the
/// emulators at the bridge address, the stack's tables, the local keys, and no Secrets
/// Manager ARN (nothing but this machine is ever called).
pub fn env_values(stack: &RunningStack) -> Result<Map<String, Value>, String> {
    let (Some(dynamodb), Some(stripe)) =
        (&stack.bridge_dynamodb_endpoint, &stack.bridge_stripe_base)
    else {
        return Err("the local stack does not listen on the bridge address".into());
    };
    let tables = Tables::from_env();
    let holds = shared::domain::capture::HoldSettings::default();
    let values = json!({
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
        "BOOKINGS_TABLE": tables.bookings,
        "SLOTS_TABLE": tables.slots,
        "IDEMPOTENCY_TABLE": tables.idempotency,
        "EVENTS_TABLE": tables.events,
        "TARIFFS_TABLE": tables.tariffs,
        "STRIPE_API_BASE": stripe,
        "STRIPE_SECRET_ARN": "",
        "STRIPE_WEBHOOK_SECRET_ARN": "",
        "STRIPE_SECRET_KEY": stack.stripe_secret_key,
        "STRIPE_WEBHOOK_SECRETS": stack.webhook_secrets.join(","),
        // The dev stage's Stripe mode (the template sets it by stage): localstripe's events
        // are test mode.
        "STRIPE_LIVEMODE": "false",
        // The card-authorization policy as deployed by default (the template's parameter
        // defaults, which the deploy tests pin to these).
        "EXPIRING_HOLD_POLICY": holds.policy.as_str(),
        "CAPTURE_SAFETY_MARGIN_SECONDS": holds.safety_margin.num_seconds().to_string(),
    });
    Ok(values.as_object().cloned().unwrap_or_default())
}

async fn invoke_every_sample(
    args: &Args,
    template: &Template,
    run_template: &Path,
) -> Result<bool, String> {
    let expected = samples::expected()?;
    let seeds = samples::seeds()?;
    let stack = start_stack(args.bridge).await?;
    let sam = Sam {
        exe: args.sam.clone(),
        image: args.image.clone(),
        template: run_template.to_path_buf(),
        env_vars: args.work.join("env.json"),
    };
    sam::env_vars_file(template, &env_values(&stack)?, &sam.env_vars)?;
    let seeded = samples::seed(&stack, API_KEY, &seeds).await?;

    let mut order: Vec<(&String, &samples::Expected)> = expected.iter().collect();
    order.sort_by_key(|(name, e)| {
        let rank = ORDER.iter().position(|f| *f == e.function);
        (
            rank.unwrap_or(ORDER.len()),
            e.function.clone(),
            name.to_string(),
        )
    });
    let events_dir = args.work.join("events");
    println!();
    println!("sam local invoke, every sample event (events/), each as");
    println!(
        "  {}",
        sam::shell_line(
            &sam.exe.to_string_lossy(),
            &sam.invoke_args("<Function>", &events_dir.join("<event>.json"))
        )
    );
    println!(
        "(seeds: events/seeds.json; webhook samples re-signed into {})",
        events_dir.display()
    );
    println!();
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        println!("{a:<46} {b:<22} {c:>6} {d:>8} {e:>6}");
    };
    row("event", "function", "status", "expected", "ms");
    let mut failures = Vec::new();
    for (name, want) in order {
        let function = template.functions.get(&want.function).ok_or_else(|| {
            format!(
                "{name}: no function built from the binary {:?} in template.yaml",
                want.function
            )
        })?;
        let mut event: Value = samples::read_json(&Path::new(samples::EVENTS_DIR).join(name))?;
        if want.resign {
            samples::resign(name, &mut event, &seeded, local_stack::LOCAL_WEBHOOK_SECRET)?;
        }
        let file = events_dir.join(name);
        std::fs::write(&file, event.to_string()).map_err(|e| e.to_string())?;
        let invoked = match sam.invoke(function, &file).await {
            Ok(invoked) => invoked,
            Err(err) => {
                row(
                    name,
                    &function.logical_id,
                    "failed",
                    &want.status.to_string(),
                    "-",
                );
                failures.push(format!("{name}: {err}"));
                continue;
            }
        };
        let status = status_of(invoked.result.as_ref());
        row(
            name,
            &function.logical_id,
            &status.map_or("error".into(), |s| s.to_string()),
            &want.status.to_string(),
            &invoked.elapsed.as_millis().to_string(),
        );
        if status != Some(want.status) {
            failures.push(format!(
                "{name}: got {}, expected {}\n--- stdout\n{}\n--- stderr (end)\n{}",
                status.map_or("no status".into(), |s| s.to_string()),
                want.status,
                invoked.stdout.trim(),
                tail(&invoked.stderr, 40),
            ));
        }
    }

    // What the samples did, seen in the emulator: e.g. the re-signed webhooks made the seeded
    // booking paid (a 200 alone could be an event ignored).
    let http = reqwest::Client::new();
    for seed in seeds.iter().filter(|s| !s.after.is_empty()) {
        let booking: Value = http
            .get(format!("{}/v1/bookings/{}", stack.url(), seed.id))
            .header("X-API-Key", API_KEY)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        for (field, want) in &seed.after {
            let ok = &booking[field] == want;
            println!(
                "after the samples, booking {} {field} = {} (expected {want}){}",
                seed.id,
                booking[field],
                if ok { "" } else { "  MISMATCH" }
            );
            if !ok {
                failures.push(format!(
                    "booking {}: {field} is {}",
                    seed.id, booking[field]
                ));
            }
        }
    }
    for failure in &failures {
        println!("\nMISMATCH {failure}");
    }
    Ok(failures.is_empty())
}

/// The status the caller got: an API Gateway response's `statusCode`; for a function not
/// behind API Gateway (the scheduled run), 200 when it returned its result and none when Lambda
/// reports an error (`errorType`), as the Invoke API does.
fn status_of(result: Option<&Value>) -> Option<u16> {
    let result = result?;
    if let Some(code) = result.get("statusCode") {
        return code.as_u64().and_then(|c| u16::try_from(c).ok());
    }
    if result.get("errorType").is_some() || result.get("errorMessage").is_some() {
        return None;
    }
    Some(200)
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A free port on loopback (for `sam local start-api`).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Waits until something accepts connections on `port` of loopback.
pub async fn wait_for_port(port: u16, within: Duration) -> bool {
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}
