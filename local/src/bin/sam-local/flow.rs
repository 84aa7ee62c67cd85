//! `sam local start-api` and the API document's flow with curl (README, "The API, with curl":
//! Steps 1 to 4), against a fresh local stack: SAM's API Gateway stand-in routes each request
//! to the function template.yaml names for it, in a container.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::adapters::stripe::signature;
use tokio::process::Command;

use crate::sam::{self, Sam, Template};
use crate::{env_values, free_port, start_stack, tail, wait_for_port, Args, API_KEY};

/// The document's Step 1 booking (README, "Create a booking").
const STEP_1: &str = r#"{"asset_id": "550e8400-e29b-41d4-a716-446655440000", "asset_type": "charging_station", "user_id": "650e8400-e29b-41d4-a716-446655440001", "start_time": "2026-02-05T23:00:00Z", "end_time": "2026-02-05T23:30:00Z"}"#;

pub async fn run(args: &Args, template: &Template, run_template: &Path) -> Result<bool, String> {
    let work = args.work.join("start-api");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let stack = start_stack(args.bridge).await?;
    let sam = Sam {
        exe: args.sam.clone(),
        image: args.image.clone(),
        template: run_template.to_path_buf(),
        env_vars: work.join("env.json"),
    };
    sam::env_vars_file(template, &env_values(&stack)?, &sam.env_vars)?;
    let port = free_port()?;
    let log = work.join("sam.log");
    println!();
    println!("sam local start-api, and the document's flow with curl:");
    println!(
        "  {}",
        sam::shell_line(&sam.exe.to_string_lossy(), &sam.start_api_args(port))
    );
    let mut child = sam.start_api(port, &log)?;
    let result = if wait_for_port(port, Duration::from_secs(90)).await {
        steps(&format!("http://127.0.0.1:{port}"), &stack, &work).await
    } else {
        Err("sam local start-api did not listen within 90 s".into())
    };
    sam::stop(&mut child).await;
    let passed = result.as_ref().is_ok_and(|ok| *ok);
    if !passed {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        println!(
            "--- sam local start-api ({}), the end:\n{}",
            log.display(),
            tail(&text, 60)
        );
    }
    result
}

/// One step's outcome, for the table.
struct Step {
    ok: bool,
    body: Value,
}

async fn steps(api: &str, stack: &local_stack::RunningStack, work: &Path) -> Result<bool, String> {
    let key = format!("X-API-Key: {API_KEY}");
    let json_type = "Content-Type: application/json";
    let stripe = &stack.stripe_base;
    let sk = format!("{}:", stack.stripe_secret_key);
    println!();
    println!(
        "{:<58} {:>6} {:>8} {:>6}",
        "step", "status", "expected", "ms"
    );
    let mut all_ok = true;
    let any = |_: &Value| true;
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    // Step 1: the booking, and read it back.
    let created = step(
        "POST /v1/bookings (Step 1)",
        s(&[
            "-X",
            "POST",
            &format!("{api}/v1/bookings"),
            "-H",
            json_type,
            "-H",
            &key,
            "-d",
            STEP_1,
        ]),
        201,
        &any,
    )
    .await?;
    all_ok &= created.ok;
    let Some(id) = created.body["id"].as_str().map(str::to_string) else {
        return Ok(false);
    };
    let read = step(
        "GET /v1/bookings/{id}",
        s(&[&format!("{api}/v1/bookings/{id}"), "-H", &key]),
        200,
        &|b| b["payment_status"] == "pending",
    )
    .await?;
    all_ok &= read.ok;

    // Step 2: its PaymentIntent.
    let body = json!({"amount": 3.50, "currency": "usd", "booking_id": id}).to_string();
    let intent = step(
        "POST /v1/payments/create-intent (Step 2)",
        s(&[
            "-X",
            "POST",
            &format!("{api}/v1/payments/create-intent"),
            "-H",
            json_type,
            "-H",
            &key,
            "-d",
            &body,
        ]),
        200,
        &|b| b["payment_intent_id"].is_string(),
    )
    .await?;
    all_ok &= intent.ok;
    let Some(pi) = intent.body["payment_intent_id"]
        .as_str()
        .map(str::to_string)
    else {
        return Ok(false);
    };

    // Step 3, Stripe.js's part, at the Stripe emulator with the local key (README, Step 3).
    let pm = step(
        "  (Stripe) POST /v1/payment_methods, card 4242...",
        s(&[
            &format!("{stripe}/v1/payment_methods"),
            "-u",
            &sk,
            "-d",
            "type=card",
            "-d",
            "card[number]=4242424242424242",
            "-d",
            "card[exp_month]=12",
            "-d",
            "card[exp_year]=2030",
            "-d",
            "card[cvc]=123",
        ]),
        200,
        &any,
    )
    .await?;
    let pm_id = pm.body["id"].as_str().unwrap_or_default().to_string();
    let attach = step(
        "  (Stripe) POST /v1/payment_intents/{pi}",
        s(&[
            &format!("{stripe}/v1/payment_intents/{pi}"),
            "-u",
            &sk,
            "-d",
            &format!("payment_method={pm_id}"),
        ]),
        200,
        &any,
    )
    .await?;
    let confirm = step(
        "  (Stripe) POST /v1/payment_intents/{pi}/confirm",
        s(&[
            "-X",
            "POST",
            &format!("{stripe}/v1/payment_intents/{pi}/confirm"),
            "-u",
            &sk,
        ]),
        200,
        &|b| b["status"] == "succeeded",
    )
    .await?;
    all_ok &= pm.ok && attach.ok && confirm.ok;

    // Step 4: the `payment_intent.succeeded` Stripe made, signed as Stripe signs a delivery
    // with the local signing secret, to the webhook route.
    let events = step(
        "  (Stripe) GET /v1/events?type=payment_intent.succeeded",
        s(&[
            &format!("{stripe}/v1/events?type=payment_intent.succeeded"),
            "-u",
            &sk,
        ]),
        200,
        &any,
    )
    .await?;
    let Some(event) = events.body["data"].as_array().and_then(|list| {
        list.iter()
            .find(|e| e["data"]["object"]["id"] == pi.as_str())
    }) else {
        println!("  no payment_intent.succeeded for {pi} at the Stripe emulator");
        return Ok(false);
    };
    let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let file = work.join("payment_intent.succeeded.json");
    std::fs::write(&file, &payload).map_err(|e| e.to_string())?;
    let signed = signature::sign(
        &payload,
        local_stack::LOCAL_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    );
    let delivered = step(
        "POST /v1/payments/webhook, signed (Step 4)",
        s(&[
            "-X",
            "POST",
            &format!("{api}/v1/payments/webhook"),
            "-H",
            json_type,
            "-H",
            &format!("Stripe-Signature: {signed}"),
            "--data-binary",
            &format!("@{}", file.display()),
        ]),
        200,
        &|b| b["result"] == "applied",
    )
    .await?;
    all_ok &= delivered.ok;

    let paid = step(
        "GET /v1/bookings/{id}: payment_status completed",
        s(&[&format!("{api}/v1/bookings/{id}"), "-H", &key]),
        200,
        &|b| b["payment_status"] == "completed",
    )
    .await?;
    all_ok &= paid.ok;
    Ok(all_ok)
}

/// Runs one step with curl and prints its row.
async fn step(
    name: &str,
    args: Vec<String>,
    expected: u16,
    check: &dyn Fn(&Value) -> bool,
) -> Result<Step, String> {
    let (status, body, took) = curl(&args).await?;
    let ok = status == expected && check(&body);
    println!(
        "{name:<58} {status:>6} {expected:>8} {:>6}{}",
        took.as_millis(),
        if ok { "" } else { "  MISMATCH" }
    );
    if !ok {
        println!("  $ {}\n  -> {body}", sam::shell_line("curl", &args));
    }
    Ok(Step { ok, body })
}

/// Runs curl; returns the status, the body (JSON, or the text as a string) and the time taken.
async fn curl(args: &[String]) -> Result<(u16, Value, Duration), String> {
    let started = Instant::now();
    // The longest a function may take here (create-intent's 15 s, emulated), and SAM's start-up.
    let max_time = (sam::local_timeout(15) + 60).to_string();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", &max_time, "-w", "\n%{http_code}"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = code.trim().parse().unwrap_or(0);
    let body = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
    if !out.status.success() {
        return Ok((status, json!(String::from_utf8_lossy(&out.stderr)), took));
    }
    Ok((status, body, took))
}
