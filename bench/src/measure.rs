//! The measuring: each binary spawned under its own local Runtime API, its cold starts (init,
//! first invocation) and its warm invocations, with the process's CPU time and memory read
//! from /proc around them.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::{Child, Command};

use crate::events::Workload;
use crate::procfs::{self, Memory};
use crate::runtime_api::{Invocation, Kind, RuntimeApi};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Timed warm invocations go round-robin across the binaries in blocks of this many, so that
/// slow drifts in the machine's speed (other tenants, other builds) hit every binary alike.
pub const WARM_BLOCK: usize = 50;

/// A binary under test and what it is fed.
pub struct Target {
    /// The binary's name (also the function name it is given).
    pub name: String,
    /// `name`, or `variant/name` when several builds are compared.
    pub display: String,
    pub binary: PathBuf,
    pub workload: Workload,
}

impl Target {
    fn label(&self) -> &str {
        &self.display
    }
}

/// Everything measured for one binary.
#[derive(Default)]
pub struct Measured {
    pub init: Vec<Duration>,
    pub init_cpu: Vec<Duration>,
    pub init_memory: Vec<Memory>,
    pub first: Vec<Duration>,
    pub warm: Vec<Duration>,
    pub warm_cpu_ticks: procfs::Ticks,
    pub warm_cpu_precise: Duration,
    /// CPU time per warm request, one sample each (robust to bursts of noise: use the median).
    pub warm_cpu: Vec<Duration>,
    pub peak: Memory,
    pub invocations: usize,
    pub statuses: BTreeMap<u16, usize>,
    /// DynamoDB requests of each timed warm invocation (with the TLS front only).
    pub dynamo_requests: Vec<u64>,
    /// The timed warm invocations' DynamoDB requests, by operation, in total.
    pub dynamo_ops: BTreeMap<String, u64>,
}

impl Measured {
    /// Counts one answered invocation and its status.
    fn answered(&mut self, status: u16) {
        self.invocations += 1;
        *self.statuses.entry(status).or_default() += 1;
    }
}

/// The environment Lambda gives a function, pointed at the local stack.
pub struct Environment {
    pub vars: Vec<(String, String)>,
    pub logs: PathBuf,
    /// The TLS front's count of DynamoDB requests, when there is one.
    pub dynamo_requests: Option<std::sync::Arc<crate::tls::Requests>>,
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

/// The file the binary's stdout and stderr are appended to, one per target.
fn open_log(target: &Target, env: &Environment) -> Result<(PathBuf, File), String> {
    std::fs::create_dir_all(&env.logs).map_err(|e| format!("{}: {e}", env.logs.display()))?;
    let log = env
        .logs
        .join(format!("{}.log", target.display.replace('/', "-")));
    let out = File::options()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    Ok((log, out))
}

/// The binary with the Lambda environment, its Runtime API at `api`, its output to `out`.
fn command(
    target: &Target,
    env: &Environment,
    api: SocketAddr,
    out: File,
) -> Result<Command, String> {
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&target.binary);
    cmd.env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
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
    Ok(cmd)
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
    let (log, out) = open_log(target, env)?;
    let mut cmd = command(target, env, api.addr, out)?;
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

/// `rounds` cold starts of every target.
pub async fn cold_phase(
    targets: &mut [Target],
    measured: &mut [Measured],
    env: &Environment,
    rounds: usize,
) -> Result<(), String> {
    // Cold starts, interleaved across binaries so that noise on the machine (other
    // processes, frequency changes) hits each of them alike.
    for round in 0..rounds {
        eprintln!("bench: cold start round {}/{}", round + 1, rounds);
        for (target, m) in targets.iter_mut().zip(measured.iter_mut()) {
            cold_start(target, env, m).await?;
        }
    }
    Ok(())
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
    m.answered(status);
    Ok(())
}

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
pub async fn warm_phase(
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
        warm_up(t, m, w, warmup).await?;
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
            timed_block(t, m, w, env, block).await?;
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

/// A warm process's first invocation and `warmup` more, untimed.
async fn warm_up(
    t: &mut Target,
    m: &mut Measured,
    w: &mut Warm,
    warmup: usize,
) -> Result<(), String> {
    for _ in 0..=warmup {
        let (_, status) = invoke(&mut w.run, &mut t.workload)
            .await
            .map_err(|e| format!("{}: warm-up: {e}", t.label()))?;
        m.answered(status);
    }
    Ok(())
}

/// `block` timed invocations of one warm process.
async fn timed_block(
    t: &mut Target,
    m: &mut Measured,
    w: &mut Warm,
    env: &Environment,
    block: usize,
) -> Result<(), String> {
    for _ in 0..block {
        let before = env.dynamo_requests.as_ref().map(|r| r.snapshot());
        let (took, status) = invoke(&mut w.run, &mut t.workload)
            .await
            .map_err(|e| format!("{}: warm invocations: {e}", t.label()))?;
        if let (Some(requests), Some(before)) = (&env.dynamo_requests, before) {
            let mut made = 0;
            for (op, n) in requests.snapshot() {
                let new = n - before.get(&op).copied().unwrap_or(0);
                if new > 0 {
                    made += new;
                    *m.dynamo_ops.entry(op).or_default() += new;
                }
            }
            m.dynamo_requests.push(made);
        }
        // The process's CPU time from one response to the next: everything it did
        // for one request, read between requests so it never lands inside a timed one.
        let now = procfs::cpu_time_precise(w.run.pid)?;
        m.warm_cpu.push(now.saturating_sub(w.cpu_last));
        w.cpu_last = now;
        m.warm.push(took);
        m.answered(status);
    }
    Ok(())
}
