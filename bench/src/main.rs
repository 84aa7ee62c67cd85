//! `bench`: cold start, warm latency, CPU, memory and size of the release Lambda binaries, on
//! one machine without AWS (see bench/README.md).
//!
//! Each binary runs unchanged under a local Lambda Runtime API ([`runtime_api`]), against the
//! local stack's embedded DynamoDB and localstripe, next to a minimal `lambda_runtime`
//! hello-world (the floor).
//!
//! ```text
//! bench [--smoke] [--bin-dir DIR] [--out FILE] [--cold N] [--warm N] [--warmup N]
//!       [--only NAME,...] [--plain-dynamo] [--env KEY=VALUE]... [--label TEXT]
//!       [--variant LABEL=DIR]...
//! ```

mod events;
mod procfs;
mod runtime_api;
mod stats;
mod tls;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use local_stack::{Dynamo, StackConfig, Stripe};
use serde_json::{json, Value};
use shared::runtime::config::Tables;
use tokio::process::{Child, Command};

use events::{Workload, API_KEY};
use procfs::Memory;
use runtime_api::{Invocation, Kind, RuntimeApi};
use stats::{median, ms, percentile};

const FUNCTIONS: [&str; 3] = ["bookings", "create-intent", "webhook"];
const FLOOR: &str = "hello-floor";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: f64 = 1024.0 * 1024.0;

// The targets of issue #5.
const INIT_RATIO_TARGET: f64 = 1.5;
const CPU_TARGET_US: f64 = 500.0;
const RSS_TARGET_KIB: u64 = 32 * 1024;
const ARM64_SIZE_TARGET: u64 = 8 * 1024 * 1024;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[derive(Debug, Clone)]
struct Options {
    smoke: bool,
    bin_dir: PathBuf,
    out: PathBuf,
    cold: usize,
    warm: usize,
    warmup: usize,
    only: Option<Vec<String>>,
    dynamo_tls: bool,
    /// Extra environment for every binary (the floor too), after the Lambda-like one.
    extra_env: Vec<(String, String)>,
    /// Several builds compared in one run (`--variant LABEL=DIR`), instead of `bin_dir`.
    variants: Vec<(String, PathBuf)>,
    label: Option<String>,
}

const USAGE: &str = "usage: bench [--smoke] [--bin-dir DIR] [--out FILE] [--cold N] [--warm N] \
[--warmup N] [--only NAME,...] [--plain-dynamo] [--env KEY=VALUE]... [--label TEXT]
       [--variant LABEL=DIR]...
  --smoke       1 cold start and 20 warm invocations per function, debug binaries
                (target/debug), results to target/bench/smoke.json; fails unless every
                response is 2xx
  --bin-dir     where the function binaries are (default target/release)
  --out         JSON results (default target/bench/latest.json)
  --cold        cold starts per binary (default 10)
  --warm        timed warm invocations per function (default 2000)
  --warmup      untimed warm invocations before them (default 100)
  --only        a subset of bookings,create-intent,webhook
  --plain-dynamo  talk plain HTTP to the local DynamoDB (by default a TLS front is put
                before it, so the first call does a TLS handshake as on Lambda)
  --env         an extra environment variable for every binary (repeatable), e.g.
                RUST_LOG=debug
  --label       free text stored in the JSON (e.g. the build variant)
  --variant     compare builds in one run: the binaries in DIR, labelled LABEL (repeatable);
                cold starts and warm blocks are interleaved across all of them, and each
                variant's results go to <out without .json>-LABEL.json";

fn parse_args(args: &[String]) -> Result<Options, String> {
    let root = workspace_root();
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut o = Options {
        smoke,
        bin_dir: root.join(if smoke {
            "target/debug"
        } else {
            "target/release"
        }),
        out: if smoke {
            root.join("target/bench/smoke.json")
        } else {
            root.join("target/bench/latest.json")
        },
        cold: if smoke { 1 } else { 10 },
        warm: if smoke { 20 } else { 2000 },
        warmup: if smoke { 0 } else { 100 },
        only: None,
        dynamo_tls: true,
        extra_env: Vec::new(),
        variants: Vec::new(),
        label: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let count = |v: String, name: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{name} needs a number, not {v:?}"))
        };
        match arg.as_str() {
            "--smoke" => {}
            "--plain-dynamo" => o.dynamo_tls = false,
            "--bin-dir" => o.bin_dir = PathBuf::from(value("--bin-dir")?),
            "--out" => o.out = PathBuf::from(value("--out")?),
            "--cold" => o.cold = count(value("--cold")?, "--cold")?.max(1),
            "--warm" => o.warm = count(value("--warm")?, "--warm")?.max(1),
            "--warmup" => o.warmup = count(value("--warmup")?, "--warmup")?,
            "--label" => o.label = Some(value("--label")?),
            "--env" => {
                let kv = value("--env")?;
                let (k, v) = kv
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("--env needs KEY=VALUE, not {kv:?}"))?;
                o.extra_env.push((k.to_string(), v.to_string()));
            }
            "--variant" => {
                let lv = value("--variant")?;
                let (l, d) = lv
                    .split_once('=')
                    .filter(|(l, d)| !l.is_empty() && !d.is_empty() && !l.contains('/'))
                    .ok_or_else(|| format!("--variant needs LABEL=DIR, not {lv:?}"))?;
                if o.variants.iter().any(|(x, _)| x == l) {
                    return Err(format!("--variant {l} given twice"));
                }
                o.variants.push((l.to_string(), PathBuf::from(d)));
            }
            "--only" => {
                let names: Vec<String> = value("--only")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(bad) = names.iter().find(|n| !FUNCTIONS.contains(&n.as_str())) {
                    return Err(format!("unknown function {bad:?}"));
                }
                o.only = Some(names);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// A binary under test and what it is fed.
struct Target {
    /// The binary's name (also the function name it is given).
    name: String,
    /// `name`, or `variant/name` when several builds are compared.
    display: String,
    binary: PathBuf,
    workload: Workload,
}

impl Target {
    fn label(&self) -> &str {
        &self.display
    }
}

/// Everything measured for one binary.
#[derive(Default)]
struct Measured {
    init: Vec<Duration>,
    init_cpu: Vec<Duration>,
    init_memory: Vec<Memory>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    warm_cpu_ticks: procfs::Ticks,
    warm_cpu_precise: Duration,
    /// CPU time per warm request, one sample each (robust to bursts of noise: use the median).
    warm_cpu: Vec<Duration>,
    peak: Memory,
    invocations: usize,
    statuses: BTreeMap<u16, usize>,
}

/// The environment Lambda gives a function, pointed at the local stack.
struct Environment {
    vars: Vec<(String, String)>,
    logs: PathBuf,
}

/// A function process under the harness.
struct Running {
    child: Child,
    pid: u32,
    api: RuntimeApi,
    log: PathBuf,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    fn died(&self, status: std::io::Result<std::process::ExitStatus>) -> String {
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        format!(
            "the process exited ({status}); its output is in {}",
            self.log.display()
        )
    }
}

/// Spawns the binary and waits for its first `next` call: init is the time between the two.
async fn launch(target: &Target, env: &Environment) -> Result<(Running, Duration), String> {
    let arn = format!(
        "arn:aws:lambda:us-east-1:000000000000:function:{}",
        target.name
    );
    let api = RuntimeApi::start(arn)
        .await
        .map_err(|e| format!("cannot start the runtime API: {e}"))?;
    std::fs::create_dir_all(&env.logs).map_err(|e| format!("{}: {e}", env.logs.display()))?;
    let log = env
        .logs
        .join(format!("{}.log", target.display.replace('/', "-")));
    let out = File::options()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&target.binary);
    cmd.env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &target.name)
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", target.name),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("2026/01/01/[$LATEST]{}", uuid::Uuid::new_v4().simple()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", target.binary.display()))?;
    let pid = child.id().ok_or("the process vanished at once")?;
    let mut run = Running {
        child,
        pid,
        api,
        log,
    };
    let next = tokio::select! {
        next = run.api.next_call(STARTUP_TIMEOUT) => next,
        status = run.child.wait() => Err(run.died(status)),
    };
    match next {
        Ok(at) => Ok((run, at.saturating_duration_since(started))),
        Err(e) => {
            let e = format!("{} did not start: {e}", target.display);
            run.stop().await;
            Err(e)
        }
    }
}

/// One invocation: hands out the next event, waits for the response, checks it is 2xx.
async fn invoke(run: &mut Running, workload: &mut Workload) -> Result<(Duration, u16), String> {
    let id = uuid::Uuid::new_v4().to_string();
    let body = Bytes::from(workload.next_event().to_string());
    run.api.send(Invocation {
        id: id.clone(),
        body,
    });
    let outcome = tokio::select! {
        o = run.api.outcome(INVOKE_TIMEOUT) => o,
        status = run.child.wait() => Err(run.died(status)),
    }?;
    let text = || String::from_utf8_lossy(&outcome.body).into_owned();
    match outcome.kind {
        Kind::Response => {}
        Kind::Error => return Err(format!("the function reported an error: {}", text())),
        Kind::InitError => return Err(format!("init error after init: {}", text())),
    }
    if outcome.id.as_deref() != Some(id.as_str()) {
        return Err(format!(
            "response for {:?}, expected {id}",
            outcome.id.as_deref()
        ));
    }
    let status = workload.check(&outcome.body)?;
    let took = outcome
        .duration()
        .ok_or("response for an invocation never handed out")?;
    Ok((took, status))
}

/// One cold start: spawn, init, first invocation, kill.
async fn cold_start(
    target: &mut Target,
    env: &Environment,
    m: &mut Measured,
) -> Result<(), String> {
    let (mut run, init) = launch(target, env).await?;
    let at_init = (procfs::cpu_time_precise(run.pid), procfs::memory(run.pid));
    let first = invoke(&mut run, &mut target.workload).await;
    run.stop().await;
    let (first, status) =
        first.map_err(|e| format!("{}: first invocation: {e}", target.display))?;
    m.init.push(init);
    m.init_cpu.push(at_init.0?);
    m.init_memory.push(at_init.1?);
    m.first.push(first);
    m.invocations += 1;
    *m.statuses.entry(status).or_default() += 1;
    Ok(())
}

/// Timed warm invocations go round-robin across the binaries in blocks of this many, so that
/// slow drifts in the machine's speed (other tenants, other builds) hit every binary alike.
const WARM_BLOCK: usize = 50;

/// Where one warm process's measurement stands.
struct Warm {
    run: Running,
    ticks: procfs::Ticks,
    cpu_start: Duration,
    cpu_last: Duration,
}

/// The warm phase for every target at once: each gets one process, its first invocation and
/// `warmup` untimed ones; then `n` timed invocations each, in round-robin blocks, with the
/// process's CPU time read before, between and after them; then its peak RSS.
async fn warm_phase(
    targets: &mut [Target],
    measured: &mut [Measured],
    env: &Environment,
    warmup: usize,
    n: usize,
) -> Result<(), String> {
    let mut procs: Vec<Warm> = Vec::new();
    let result = warm_phase_in(&mut procs, targets, measured, env, warmup, n).await;
    for w in procs {
        w.run.stop().await;
    }
    result
}

async fn warm_phase_in(
    procs: &mut Vec<Warm>,
    targets: &mut [Target],
    measured: &mut [Measured],
    env: &Environment,
    warmup: usize,
    n: usize,
) -> Result<(), String> {
    for (t, m) in targets.iter_mut().zip(measured.iter_mut()) {
        let (run, _) = launch(t, env).await?;
        procs.push(Warm {
            run,
            ticks: procfs::Ticks::default(),
            cpu_start: Duration::ZERO,
            cpu_last: Duration::ZERO,
        });
        let Some(w) = procs.last_mut() else {
            unreachable!("just pushed")
        };
        for _ in 0..=warmup {
            let (_, status) = invoke(&mut w.run, &mut t.workload)
                .await
                .map_err(|e| format!("{}: warm-up: {e}", t.label()))?;
            m.invocations += 1;
            *m.statuses.entry(status).or_default() += 1;
        }
        m.warm.reserve(n);
        m.warm_cpu.reserve(n);
    }
    for w in procs.iter_mut() {
        w.ticks = procfs::cpu_ticks(w.run.pid)?;
        w.cpu_start = procfs::cpu_time_precise(w.run.pid)?;
        w.cpu_last = w.cpu_start;
    }
    let mut done = 0;
    while done < n {
        let block = WARM_BLOCK.min(n - done);
        for ((t, m), w) in targets
            .iter_mut()
            .zip(measured.iter_mut())
            .zip(procs.iter_mut())
        {
            for _ in 0..block {
                let (took, status) = invoke(&mut w.run, &mut t.workload)
                    .await
                    .map_err(|e| format!("{}: warm invocations: {e}", t.label()))?;
                // The process's CPU time from one response to the next: everything it did
                // for one request, read between requests so it never lands inside a timed one.
                let now = procfs::cpu_time_precise(w.run.pid)?;
                m.warm_cpu.push(now.saturating_sub(w.cpu_last));
                w.cpu_last = now;
                m.warm.push(took);
                m.invocations += 1;
                *m.statuses.entry(status).or_default() += 1;
            }
        }
        done += block;
    }
    for (m, w) in measured.iter_mut().zip(procs.iter()) {
        m.warm_cpu_ticks = procfs::cpu_ticks(w.run.pid)?.since(w.ticks);
        m.warm_cpu_precise = w.cpu_last.saturating_sub(w.cpu_start);
        m.peak = procfs::memory(w.run.pid)?;
    }
    Ok(())
}

/// Size of the file, and (unless `python` is `None`) of a deflated zip holding it as
/// `bootstrap`, which is what Lambda is given.
fn sizes(
    binary: &Path,
    zip_dir: &Path,
    python: Option<&Path>,
) -> Result<(u64, Option<u64>), String> {
    let size = std::fs::metadata(binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let Some(python) = python else {
        return Ok((size, None));
    };
    std::fs::create_dir_all(zip_dir).map_err(|e| format!("{}: {e}", zip_dir.display()))?;
    let zip = zip_dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    \
                 z.write(sys.argv[2], 'bootstrap')",
        ])
        .arg(&zip)
        .arg(binary)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!("zipping {} failed", binary.display()));
    }
    let zipped = std::fs::metadata(&zip)
        .map_err(|e| format!("{}: {e}", zip.display()))?
        .len();
    Ok((size, Some(zipped)))
}

fn modified(path: &Path) -> Option<u64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": field(&cpuinfo, "model name"),
        "cpu_mhz": field(&cpuinfo, "cpu MHz"),
        "mem_total": field(&meminfo, "MemTotal"),
        "kernel": read_trimmed("/proc/sys/kernel/osrelease"),
        "arch": std::env::consts::ARCH,
    })
}

fn loadavg() -> Option<String> {
    read_trimmed("/proc/loadavg")
}

/// The build the binaries came from: commit, release profile, cargo [env].
fn build_info(root: &Path) -> Value {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let cargo_toml = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let profile: Vec<&str> = cargo_toml
        .lines()
        .skip_while(|l| l.trim() != "[profile.release]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let overrides: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CARGO_PROFILE_RELEASE_"))
        .collect();
    json!({
        "commit": git(&["rev-parse", "--short", "HEAD"]),
        "profile_release": profile,
        "cargo_config": std::fs::read_to_string(root.join(".cargo/config.toml")).ok(),
        "profile_env_at_bench_time": overrides,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

struct Row {
    name: String,
    m: Measured,
    size: u64,
    zip: Option<u64>,
    arm64: Option<(u64, Option<u64>)>,
    /// When the binaries were last written (Unix seconds): stale arm64 builds show.
    built: Option<u64>,
    arm64_built: Option<u64>,
}

impl Row {
    fn init_median(&self) -> Option<Duration> {
        median(&self.m.init)
    }

    fn cpu_us_per_request(&self) -> Option<f64> {
        let n = self.m.warm.len();
        (n > 0).then(|| {
            procfs::ticks_to_duration(self.m.warm_cpu_ticks.total()).as_secs_f64() * 1e6 / n as f64
        })
    }

    fn cpu_precise_us_per_request(&self) -> Option<f64> {
        let n = self.m.warm.len();
        (n > 0).then(|| self.m.warm_cpu_precise.as_secs_f64() * 1e6 / n as f64)
    }

    /// The handler's own CPU per warm request: the process's, less the floor's (which is the
    /// Lambda runtime loop itself: polling `next`, posting the response, the JSON around them).
    fn handler_cpu_us(&self, floor: Option<&Row>) -> Option<f64> {
        Some(self.cpu_precise_us_per_request()? - floor?.cpu_precise_us_per_request()?)
    }

    /// The share of the warm CPU time spent in the kernel (system time): on loopback it
    /// includes delivering our packets to the emulators, which Lambda's network does not.
    fn kernel_share(&self) -> Option<f64> {
        let t = self.m.warm_cpu_ticks;
        (t.total() > 0).then(|| t.system as f64 / t.total() as f64)
    }

    fn init_memory_median_kib(&self) -> Option<u64> {
        let mut v: Vec<u64> = self.m.init_memory.iter().map(|m| m.peak_rss_kib).collect();
        v.sort_unstable();
        v.get(v.len().saturating_sub(1) / 2).copied()
    }

    fn json(&self, floor: Option<&Row>) -> Value {
        let ratio = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
            (Some(a), Some(b)) if b > 0.0 => Some(round(a / b, 2)),
            _ => None,
        };
        let init = self.init_median().map(|d| d.as_secs_f64());
        let floor_init = floor.and_then(|f| f.init_median()).map(|d| d.as_secs_f64());
        let peak = Some(self.m.peak.peak_rss_kib as f64);
        let floor_peak = floor.map(|f| f.m.peak.peak_rss_kib as f64);
        let first_median = median(&self.m.first);
        json!({
            "name": self.name,
            "init": stats::summary(&self.m.init),
            "init_cpu": stats::summary(&self.m.init_cpu),
            "init_peak_rss_kib_median": self.init_memory_median_kib(),
            "first_invocation": stats::summary(&self.m.first),
            "cold_start_median_ms": match (self.init_median(), first_median) {
                (Some(i), Some(f)) => Some(ms(i + f)),
                _ => None,
            },
            "warm": stats::distribution(&self.m.warm),
            "cpu_us_per_request": self.cpu_us_per_request().map(|x| round(x, 1)),
            "kernel_share_of_warm_cpu": self.kernel_share().map(|x| round(x, 3)),
            "cpu_ticks_over_warm_loop": {
                "user": self.m.warm_cpu_ticks.user,
                "system": self.m.warm_cpu_ticks.system,
            },
            "cpu_us_per_request_precise": self.cpu_precise_us_per_request().map(|x| round(x, 1)),
            "handler_cpu_us_per_request": self.handler_cpu_us(floor).map(|x| round(x, 1)),
            "cpu_us_per_request_p50": percentile(&self.m.warm_cpu, 0.5).map(|d| round(d.as_secs_f64() * 1e6, 1)),
            "cpu_us_per_request_p90": percentile(&self.m.warm_cpu, 0.9).map(|d| round(d.as_secs_f64() * 1e6, 1)),
            "peak_rss_kib": self.m.peak.peak_rss_kib,
            "rss_after_warm_kib": self.m.peak.rss_kib,
            "binary_bytes": self.size,
            "zip_bytes": self.zip,
            "arm64_bootstrap_bytes": self.arm64.map(|a| a.0),
            "arm64_zip_bytes": self.arm64.and_then(|a| a.1),
            "binary_modified_unix": self.built,
            "arm64_modified_unix": self.arm64_built,
            "vs_floor": {
                "init": ratio(init, floor_init),
                "peak_rss": ratio(peak, floor_peak),
            },
            "invocations": self.m.invocations,
            "statuses": self.m.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn print_table(rows: &[Row], floor: Option<&Row>, opts: &Options) {
    println!();
    println!(
        "{} cold starts per binary (median), {} warm invocations per function ({} untimed first){}",
        opts.cold,
        opts.warm,
        opts.warmup + 1,
        if opts.dynamo_tls {
            ", DynamoDB over TLS"
        } else {
            ""
        }
    );
    println!(
        "{:<14} {:>8} {:>6} {:>9} {:>8} {:>8} {:>9} {:>7} {:>6} {:>8} {:>6} {:>8} {:>7} {:>9}",
        "binary",
        "init ms",
        "xfloor",
        "1st call",
        "warm p50",
        "warm p99",
        "CPU us/rq",
        "handler",
        "kernel",
        "peak MiB",
        "xfloor",
        "bin MiB",
        "zip MiB",
        "arm64 MiB"
    );
    let floor_init = floor.and_then(|f| f.init_median());
    let floor_peak = floor.map(|f| f.m.peak.peak_rss_kib);
    for row in floor.into_iter().chain(rows.iter()) {
        let is_floor = floor.is_some_and(|f| std::ptr::eq(f, row));
        let init_ratio = match (row.init_median(), floor_init) {
            (Some(a), Some(b)) if !is_floor => {
                format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "".into(),
        };
        let rss_ratio = match floor_peak {
            Some(b) if !is_floor && b > 0 => {
                format!("{:.2}", row.m.peak.peak_rss_kib as f64 / b as f64)
            }
            _ => "".into(),
        };
        println!(
            "{:<14} {:>8} {:>6} {:>9} {:>8} {:>8} {:>9} {:>7} {:>6} {:>8.1} {:>6} {:>8.2} {:>7} {:>9}",
            row.name,
            fmt_ms(row.init_median()),
            init_ratio,
            fmt_ms(median(&row.m.first)),
            fmt_ms(percentile(&row.m.warm, 0.50)),
            fmt_ms(percentile(&row.m.warm, 0.99)),
            row.cpu_precise_us_per_request()
                .map_or("-".into(), |c| format!("{c:.0}")),
            match (is_floor, row.handler_cpu_us(floor)) {
                (false, Some(c)) => format!("{c:.0}"),
                _ => "".into(),
            },
            row.kernel_share()
                .map_or("-".into(), |k| format!("{:.0}%", k * 100.0)),
            mib(row.m.peak.peak_rss_kib),
            rss_ratio,
            row.size as f64 / MIB,
            row.zip
                .map_or("-".into(), |z| format!("{:.2}", z as f64 / MIB)),
            row.arm64
                .map_or("-".into(), |(b, _)| format!("{:.2}", b as f64 / MIB)),
        );
    }
}

/// The issue's targets, each with its verdict and margin.
fn targets(rows: &[Row], floor: Option<&Row>) -> Vec<Value> {
    let mut out = Vec::new();
    let floor_init = floor.and_then(|f| f.init_median());
    for row in rows {
        if let (Some(init), Some(base)) = (row.init_median(), floor_init) {
            let ratio = init.as_secs_f64() / base.as_secs_f64();
            out.push(json!({
                "target": format!("{} init within {INIT_RATIO_TARGET}x of the floor", row.name),
                "value": round(ratio, 2), "limit": INIT_RATIO_TARGET, "met": ratio <= INIT_RATIO_TARGET,
            }));
        }
        if row.name != "bookings" {
            if let Some(cpu) = row.handler_cpu_us(floor) {
                out.push(json!({
                    "target": format!("{} handler CPU under {CPU_TARGET_US} us per warm request", row.name),
                    "value": round(cpu, 1), "limit": CPU_TARGET_US, "met": cpu < CPU_TARGET_US,
                }));
            }
        }
        out.push(json!({
            "target": format!("{} peak RSS under 32 MiB", row.name),
            "value": row.m.peak.peak_rss_kib, "limit": RSS_TARGET_KIB,
            "met": row.m.peak.peak_rss_kib < RSS_TARGET_KIB,
        }));
        if let Some((arm64, _)) = row.arm64 {
            out.push(json!({
                "target": format!("{} stripped arm64 bootstrap under 8 MiB", row.name),
                "value": arm64, "limit": ARM64_SIZE_TARGET, "met": arm64 < ARM64_SIZE_TARGET,
            }));
        }
    }
    out
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: Value,
    want: u16,
) -> Result<Value, String> {
    let resp = http
        .post(url)
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

async fn run(opts: Options) -> Result<bool, String> {
    let root = workspace_root();
    let work = root.join("target/bench");
    let mut names: Vec<String> = vec![FLOOR.to_string()];
    names.extend(
        FUNCTIONS
            .iter()
            .filter(|f| opts.only.as_ref().is_none_or(|o| o.iter().any(|x| x == *f)))
            .map(|f| f.to_string()),
    );
    let several = !opts.variants.is_empty();
    let variants: Vec<(Option<String>, PathBuf)> = if several {
        opts.variants
            .iter()
            .map(|(l, d)| (Some(l.clone()), d.clone()))
            .collect()
    } else {
        vec![(opts.label.clone(), opts.bin_dir.clone())]
    };
    for bin in variants
        .iter()
        .flat_map(|(_, dir)| names.iter().map(move |n| dir.join(n)))
    {
        if !bin.is_file() {
            let how = if opts.smoke { "" } else { "--release " };
            return Err(format!(
                "{} is missing: run `cargo build {how}-p bookings -p create-intent -p webhook` and \
                 `cargo build {how}-p hello-floor` first (or `make bench`)",
                bin.display()
            ));
        }
    }
    let load_before = loadavg();

    eprintln!("bench: starting the local stack (DynamoDB in memory, localstripe)");
    let python = local_stack::default_python();
    let stack = local_stack::start(StackConfig {
        addr: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        api_keys: vec![API_KEY.to_string()],
        dynamo: Dynamo::Memory,
        tables: Tables::from_env(),
        stripe: Stripe::Emulator {
            python: python.clone(),
            port: 0,
        },
        stripe_secret_key: local_stack::LOCAL_SECRET_KEY.to_string(),
        webhook_secrets: vec![local_stack::LOCAL_WEBHOOK_SECRET.to_string()],
    })
    .await?;
    let tls_front = if opts.dynamo_tls {
        let upstream = stack
            .dynamodb_endpoint
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| format!("{}: {e}", stack.dynamodb_endpoint))?;
        Some(tls::start(upstream, &work).await?)
    } else {
        None
    };

    // Seed: a booking to read, one to pay for, and per variant one with an intent for the
    // webhook events (each variant's events must be later than its own last one).
    let http = reqwest::Client::new();
    let api = stack.url();
    let read_id = seed_booking(&http, &api).await?;
    let pay_id = seed_booking(&http, &api).await?;
    let mut hooks = Vec::new();
    for _ in &variants {
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
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let dynamo_endpoint = tls_front
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
    ]);
    if let Some(front) = &tls_front {
        vars.push((
            "AWS_CA_BUNDLE".to_string(),
            front.ca_file.display().to_string(),
        ));
    }
    vars.extend(opts.extra_env.iter().cloned());
    let logs = work.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    let env = Environment { vars, logs };

    let mut targets_: Vec<Target> = Vec::new();
    let mut variant_of: Vec<usize> = Vec::new();
    for (vi, ((label, dir), (hook_id, intent_id))) in variants.iter().zip(&hooks).enumerate() {
        for name in &names {
            targets_.push(Target {
                name: name.clone(),
                display: match label {
                    Some(l) if several => format!("{l}/{name}"),
                    _ => name.clone(),
                },
                binary: dir.join(name),
                workload: match name.as_str() {
                    "bookings" => Workload::GetBooking {
                        booking_id: read_id.clone(),
                    },
                    "create-intent" => Workload::CreateIntent {
                        booking_id: pay_id.clone(),
                    },
                    "webhook" => Workload::Webhook {
                        booking_id: hook_id.clone(),
                        intent_id: intent_id.clone(),
                        secret: secret.clone(),
                        created: (events::now_unix_ms() / 1000) as i64,
                        sent: 0,
                    },
                    _ => Workload::Floor,
                },
            });
            variant_of.push(vi);
        }
    }
    let mut measured: Vec<Measured> = targets_.iter().map(|_| Measured::default()).collect();

    // Cold starts, interleaved across binaries so that noise on the machine (other
    // processes, frequency changes) hits each of them alike.
    for round in 0..opts.cold {
        eprintln!("bench: cold start round {}/{}", round + 1, opts.cold);
        for (target, m) in targets_.iter_mut().zip(measured.iter_mut()) {
            cold_start(target, &env, m).await?;
        }
    }
    eprintln!(
        "bench: {} warm invocations per binary, {WARM_BLOCK} at a time round-robin",
        opts.warmup + 1 + opts.warm
    );
    warm_phase(&mut targets_, &mut measured, &env, opts.warmup, opts.warm).await?;
    let load_after = loadavg();
    drop(tls_front);
    drop(stack);

    // Zipping 200 MB debug binaries takes longer than the smoke run itself.
    let zip_with = (!opts.smoke).then_some(python.as_path());
    let zips = work.join("zips");
    let mut rows = Vec::new();
    for (target, m) in targets_.into_iter().zip(measured) {
        let zip_dir = zips.join(target.display.replace('/', "-"));
        let (size, zip) = sizes(&target.binary, &zip_dir, zip_with)?;
        let arm64_bin = root
            .join("target/lambda/lambda")
            .join(&target.name)
            .join("bootstrap");
        // The arm64 build is of the checkout, not of a variant.
        let arm64 = if !several && target.name != FLOOR && arm64_bin.is_file() {
            Some(sizes(
                &arm64_bin,
                &zips.join(format!("{}-arm64", target.name)),
                zip_with,
            )?)
        } else {
            None
        };
        rows.push(Row {
            built: modified(&target.binary),
            arm64_built: arm64.and(modified(&arm64_bin)),
            name: target.name,
            m,
            size,
            zip,
            arm64,
        });
    }
    let mut rows: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    let machine = machine();
    let build = build_info(&root);
    let mut all_answered = true;
    for (vi, (label, dir)) in variants.iter().enumerate() {
        let mut mine: Vec<Row> = rows
            .iter_mut()
            .zip(&variant_of)
            .filter(|(_, v)| **v == vi)
            .filter_map(|(r, _)| r.take())
            .collect();
        if mine.is_empty() {
            continue;
        }
        let floor = mine.remove(0);
        if several {
            println!("\n== {}", label.as_deref().unwrap_or(""));
        }
        print_table(&mine, Some(&floor), &opts);
        let verdicts = if opts.smoke {
            Vec::new()
        } else {
            targets(&mine, Some(&floor))
        };
        for v in &verdicts {
            println!(
                "{} {}: {} (limit {})",
                if v["met"] == true { "MET   " } else { "MISSED" },
                v["target"].as_str().unwrap_or(""),
                v["value"],
                v["limit"]
            );
        }
        let report = json!({
            "schema": 1,
            "label": label,
            "mode": if opts.smoke { "smoke" } else { "full" },
            "unix_time": events::now_unix_ms() / 1000,
            "machine": machine,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "build": build,
            "config": {
                "bin_dir": dir.display().to_string(),
                "arm64_dir": (!several).then(|| root.join("target/lambda/lambda").display().to_string()),
                "variants_in_run": variants.iter().filter_map(|(l, _)| l.clone()).collect::<Vec<_>>(),
                "cold_starts": opts.cold,
                "warm_invocations": opts.warm,
                "warmup_invocations": opts.warmup + 1,
                "warm_block": WARM_BLOCK,
                "dynamo_tls": opts.dynamo_tls,
                "extra_env": opts.extra_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "clock_ticks_per_second": procfs::ticks_per_second(),
            },
            "floor": floor.json(None),
            "functions": mine.iter().map(|r| r.json(Some(&floor))).collect::<Vec<_>>(),
            "targets": verdicts,
        });
        let out = match label {
            Some(l) if several => {
                let stem = opts.out.with_extension("");
                PathBuf::from(format!("{}-{l}.json", stem.display()))
            }
            _ => opts.out.clone(),
        };
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n";
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
        println!("\nwritten to {}", out.display());
        // Every response was checked as it came (2xx, webhook events applied); also insist
        // that every binary answered every invocation.
        let expected = opts.cold + opts.warmup + 1 + opts.warm;
        all_answered &= mine
            .iter()
            .chain(std::iter::once(&floor))
            .all(|r| r.m.invocations == expected);
    }
    Ok(all_answered)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: some invocations are missing");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn smoke_defaults_are_cheap_and_use_debug_binaries() {
        let o = parse_args(&args("--smoke")).unwrap();
        assert!(o.smoke);
        assert_eq!((o.cold, o.warm, o.warmup), (1, 20, 0));
        assert!(o.bin_dir.ends_with("target/debug"));
        assert!(o.out.ends_with("target/bench/smoke.json"));
    }

    #[test]
    fn full_defaults_and_overrides() {
        let o = parse_args(&[]).unwrap();
        assert_eq!((o.cold, o.warm), (10, 2000));
        assert!(o.bin_dir.ends_with("target/release"));
        assert!(o.out.ends_with("target/bench/latest.json"));
        let o = parse_args(&args(
            "--cold 3 --warm 50 --out /tmp/x.json --only webhook --plain-dynamo --env A=1 --env B=x=y",
        ))
        .unwrap();
        assert_eq!((o.cold, o.warm), (3, 50));
        assert_eq!(o.only, Some(vec!["webhook".to_string()]));
        assert!(!o.dynamo_tls);
        assert_eq!(
            o.extra_env,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert!(parse_args(&args("--env novalue")).is_err());
        let o = parse_args(&args("--variant z=/a --variant s=/b")).unwrap();
        assert_eq!(
            o.variants,
            vec![
                ("z".into(), PathBuf::from("/a")),
                ("s".into(), PathBuf::from("/b"))
            ]
        );
        assert!(parse_args(&args("--variant z=/a --variant z=/b")).is_err());
        assert!(parse_args(&args("--variant a/b=/x")).is_err());
        assert!(parse_args(&args("--only nope")).is_err());
        assert!(parse_args(&args("--cold")).is_err());
        assert!(parse_args(&args("--frobnicate")).is_err());
    }
}
