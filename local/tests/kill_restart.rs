//! The real `local-stack` binary, SIGKILLed while concurrent clients book, then restarted on
//! the same data directory: every booking answered 201 is still there exactly as answered,
//! every request in flight at the kill either committed whole (booking and slot) or left no
//! trace, and the restarted stack takes new bookings.
//!
//! `KILL_AFTER` (default 300) is the number of 201s to wait for before the kill.
//!
//! A test binary of its own (not a module of `tests/api`): it kills processes (`kill -KILL` to
//! a whole process group), so a wrong group id would take down only this binary, not every test
//! beside it; and its 16 clients and time limits (120 s to the kill, 60 s for the clients to
//! notice it) assume the machine to itself, as cargo runs test binaries one after another.

#[path = "api/support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use support::{booking, free_port, ms, new_id, rfc3339, API_KEY};

const CLIENTS: usize = 16;
const ASSETS: usize = 100;

/// The `local-stack` binary running in its own process group (so its localstripe child can
/// be killed with it); killed, group and all, when dropped.
struct Stack {
    child: Child,
    api: String,
    stripe_port: u16,
    log: PathBuf,
    dead: bool,
}

impl Stack {
    async fn start(data_dir: &Path, log_name: &str) -> Stack {
        let port = free_port();
        let stripe_port = free_port();
        // Next to the data directory, kept when the test fails.
        let log = data_dir.parent().unwrap().join(format!("{log_name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        // Absolute, but not canonicalised: the venv's python is a symlink that must stay one.
        let python = std::path::absolute(local_stack::default_python()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_local-stack"))
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("LOCALSTRIPE_PORT", stripe_port.to_string())
            .env("LOCALSTRIPE_PYTHON", python)
            .env("LOCAL_DATA_DIR", data_dir)
            .env("LOCAL_API_KEYS", API_KEY)
            .env("RUST_LOG", "warn")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("STRIPE_API_BASE")
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("STRIPE_WEBHOOK_SECRETS")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("local-stack binary starts");
        let mut stack = Stack {
            child,
            api: format!("http://127.0.0.1:{port}"),
            stripe_port,
            log,
            dead: false,
        };
        stack.wait_ready().await;
        stack
    }

    /// Until the API answers (a GET of an unknown booking is a 404 once it serves).
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.dead = true;
                panic!(
                    "local-stack exited early ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let probe = http
                .get(format!("{}/v1/bookings/{}", self.api, new_id()))
                .header("x-api-key", API_KEY)
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == 404) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "local-stack did not serve within 60 s:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL to the whole process group: the stack and its localstripe, with no chance to
    /// clean up.
    fn kill(&mut self) {
        if self.dead {
            return;
        }
        let pgid = self.child.id();
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -KILL -- -{pgid}: {status}");
        let _ = self.child.wait();
        self.dead = true;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.dead {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
    }
}

/// What became of one booking request.
#[derive(Debug)]
enum Outcome {
    Created(Value),
    Conflict,
    /// Never reached the stack (connection refused): it must have left no trace.
    Refused,
    /// Sent, no answer: the stack died with it in flight.
    InFlight(String),
    Unexpected(u16, String),
}

struct Shared {
    api: String,
    created: AtomicUsize,
    killed: AtomicBool,
    outcomes: Mutex<Vec<(Value, Outcome)>>,
    /// Errors seen before the kill, which should never happen.
    early_errors: Mutex<Vec<String>>,
    assets: Vec<String>,
}

/// A 30 or 60 minute slot starting on a quarter hour between 22:00 and 01:45 UTC, chosen by
/// `h`: a crowded window across midnight, so there are conflicts and two-day slots.
fn slot(h: u128) -> (DateTime<Utc>, DateTime<Utc>) {
    let base = Utc.with_ymd_and_hms(2026, 7, 1, 22, 0, 0).unwrap();
    let start = base + chrono::Duration::minutes(15 * (h % 16) as i64);
    let end = start + chrono::Duration::minutes(if (h >> 4).is_multiple_of(2) { 30 } else { 60 });
    (start, end)
}

async fn client(shared: Arc<Shared>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    loop {
        let h = uuid::Uuid::new_v4().as_u128();
        let asset = &shared.assets[((h >> 8) % shared.assets.len() as u128) as usize];
        let (start, end) = slot(h);
        // Every request has its own user, so listing that user's bookings afterwards finds
        // exactly what this request stored.
        let body = booking(asset, &new_id(), &rfc3339(start), &rfc3339(end));
        let sent = http
            .post(format!("{}/v1/bookings", shared.api))
            .header("x-api-key", API_KEY)
            .json(&body)
            .send()
            .await;
        let answer = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.text().await.map(|text| (status, text))
            }
            Err(e) => Err(e),
        };
        let outcome = match answer {
            Ok((201, text)) => {
                shared.created.fetch_add(1, Ordering::Relaxed);
                Outcome::Created(serde_json::from_str(&text).unwrap())
            }
            Ok((409, _)) => Outcome::Conflict,
            Ok((status, text)) => Outcome::Unexpected(status, text),
            Err(e) if e.is_connect() => Outcome::Refused,
            Err(e) => Outcome::InFlight(format!("{e:?}")),
        };
        let failed = matches!(outcome, Outcome::Refused | Outcome::InFlight(_));
        if failed && !shared.killed.load(Ordering::SeqCst) {
            shared
                .early_errors
                .lock()
                .unwrap()
                .push(format!("{body}: {outcome:?}"));
        }
        shared.outcomes.lock().unwrap().push((body, outcome));
        if failed {
            return;
        }
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .expect("the restarted stack answers");
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn book(&self, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/v1/bookings", self.base))
            .header("x-api-key", API_KEY)
            .json(body)
            .send()
            .await
            .expect("the restarted stack answers");
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// The bookings of `user` (each request had its own user: 0 or 1 of them).
    async fn of_user(&self, user: &str) -> Vec<Value> {
        let (status, page) = self
            .get(&format!("/v1/bookings?user_id={user}&limit=10"))
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

fn port_closed(port: u16) -> bool {
    TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(200),
    )
    .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_answered_booking_and_leaves_no_half_booking() {
    let kill_after: usize = std::env::var("KILL_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = std::env::temp_dir().join(format!("kill-restart-{}", new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data_dir = dir.join("data");
    println!("data and logs in {}", dir.display());

    let started = Instant::now();
    let mut first = Stack::start(&data_dir, "first").await;
    let shared = Arc::new(Shared {
        api: first.api.clone(),
        created: AtomicUsize::new(0),
        killed: AtomicBool::new(false),
        outcomes: Mutex::new(Vec::new()),
        early_errors: Mutex::new(Vec::new()),
        assets: (0..ASSETS).map(|_| new_id()).collect(),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(shared.clone())))
        .collect();
    let load_started = Instant::now();
    while shared.created.load(Ordering::Relaxed) < kill_after {
        assert!(
            load_started.elapsed() < Duration::from_secs(120),
            "only {} bookings in 120 s; early errors: {:?}",
            shared.created.load(Ordering::Relaxed),
            shared.early_errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shared.killed.store(true, Ordering::SeqCst);
    first.kill();
    let load_secs = load_started.elapsed().as_secs_f64();
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("clients notice the kill")
            .expect("a client panicked");
    }
    // Nothing of the first stack is left: its localstripe died with it.
    let gone = Instant::now();
    while !port_closed(first.stripe_port) {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "localstripe on port {} outlived the SIGKILLed stack",
            first.stripe_port
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let early = shared.early_errors.lock().unwrap().clone();
    assert!(
        early.is_empty(),
        "requests failed before the kill: {early:#?}"
    );
    let outcomes = std::mem::take(&mut *shared.outcomes.lock().unwrap());
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    let created = count(|o| matches!(o, Outcome::Created(_)));
    let conflicts = count(|o| matches!(o, Outcome::Conflict));
    let in_flight = count(|o| matches!(o, Outcome::InFlight(_)));
    let refused = count(|o| matches!(o, Outcome::Refused));
    println!(
        "before the kill ({load_secs:.1} s of load): {created} created, {conflicts} conflicts; \
         at the kill: {in_flight} in flight, {refused} refused"
    );
    if let Some((_, Outcome::InFlight(err))) = outcomes
        .iter()
        .find(|(_, o)| matches!(o, Outcome::InFlight(_)))
    {
        println!("an in-flight request saw: {err}");
    }
    let unexpected: Vec<String> = outcomes
        .iter()
        .filter_map(|(req, o)| match o {
            Outcome::Unexpected(status, text) => Some(format!("{req} -> {status} {text}")),
            _ => None,
        })
        .collect();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");
    assert!(created >= kill_after);
    assert!(in_flight > 0, "no request was in flight at the kill");

    // Restart on the same data directory.
    let second = Stack::start(&data_dir, "second").await;
    let api = Api {
        base: second.api.clone(),
        http: reqwest::Client::new(),
    };

    // Every request's user: what it stored must be exactly what it was answered.
    let mut stored: Vec<Value> = Vec::new();
    let mut committed_in_flight = 0;
    let mut not_stored: Vec<&Value> = Vec::new();
    for (request, outcome) in &outcomes {
        let found = api.of_user(request["user_id"].as_str().unwrap()).await;
        match outcome {
            Outcome::Created(answered) => {
                assert_eq!(
                    found,
                    vec![answered.clone()],
                    "answered 201 before the kill"
                );
                let id = answered["id"].as_str().unwrap();
                let (status, got) = api.get(&format!("/v1/bookings/{id}")).await;
                assert_eq!((status, &got), (200, answered));
                stored.push(answered.clone());
            }
            Outcome::Conflict | Outcome::Refused => {
                assert_eq!(found, Vec::<Value>::new(), "{outcome:?} left a booking");
                not_stored.push(request);
            }
            Outcome::InFlight(_) => {
                assert!(found.len() <= 1, "{found:?}");
                if let Some(b) = found.first() {
                    for field in [
                        "asset_id",
                        "asset_type",
                        "user_id",
                        "start_time",
                        "end_time",
                    ] {
                        assert_eq!(b[field], request[field], "{b} for {request}");
                    }
                    assert_eq!(b["status"], "confirmed");
                    stored.push(b.clone());
                    committed_in_flight += 1;
                } else {
                    not_stored.push(request);
                }
            }
            Outcome::Unexpected(..) => unreachable!(),
        }
    }
    println!(
        "after the restart: {committed_in_flight} of {in_flight} in-flight requests committed"
    );

    // No booking without its slot: an overlapping booking of each stored one is refused.
    for b in &stored {
        let start = ms(b["start_time"].as_str().unwrap());
        let inner_start = DateTime::from_timestamp_millis(start + 5 * 60_000).unwrap();
        let inner_end = DateTime::from_timestamp_millis(start + 25 * 60_000).unwrap();
        let probe = booking(
            b["asset_id"].as_str().unwrap(),
            &new_id(),
            &rfc3339(inner_start),
            &rfc3339(inner_end),
        );
        let (status, body) = api.book(&probe).await;
        assert_eq!(status, 409, "slot of stored booking {b} is free: {body}");
    }
    // No slot without its booking: a request that stored nothing holds nothing, so its slot
    // is free unless a stored booking overlaps it.
    let mut freed = 0;
    for request in not_stored {
        let (start, end) = (
            ms(request["start_time"].as_str().unwrap()),
            ms(request["end_time"].as_str().unwrap()),
        );
        let taken = stored.iter().any(|b| {
            b["asset_id"] == request["asset_id"]
                && ms(b["start_time"].as_str().unwrap()) < end
                && start < ms(b["end_time"].as_str().unwrap())
        });
        let mut again = request.clone();
        again["user_id"] = Value::String(new_id());
        let (status, body) = api.book(&again).await;
        if taken {
            assert_eq!(status, 409, "{again}: {body}");
        } else {
            assert_eq!(
                status, 201,
                "slot held by no stored booking: {again}: {body}"
            );
            stored.push(body);
            freed += 1;
        }
    }

    // And the restarted stack takes new bookings.
    let fresh = booking(
        &new_id(),
        &new_id(),
        "2026-07-02T09:00:00Z",
        "2026-07-02T10:00:00Z",
    );
    let (status, body) = api.book(&fresh).await;
    assert_eq!(status, 201, "{body}");
    let (status, got) = api
        .get(&format!("/v1/bookings/{}", body["id"].as_str().unwrap()))
        .await;
    assert_eq!((status, &got), (200, &body));
    println!(
        "{} bookings verified after the restart, {freed} free slots rebooked; total {:.1} s",
        stored.len(),
        started.elapsed().as_secs_f64()
    );

    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
