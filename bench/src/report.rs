//! The report of a run: per variant, the table on stdout, the verdict on each of issue #5's
//! targets, and the JSON file with every figure and sample.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::Options;
use crate::events;
use crate::measure::{Measured, WARM_BLOCK};
use crate::procfs;
use crate::stats::{self, median, ms, percentile};

const MIB: f64 = 1024.0 * 1024.0;

// The targets of issue #5.
const INIT_RATIO_TARGET: f64 = 1.5;
const CPU_TARGET_US: f64 = 500.0;
const RSS_TARGET_KIB: u64 = 32 * 1024;
const ARM64_SIZE_TARGET: u64 = 8 * 1024 * 1024;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

pub struct Row {
    pub name: String,
    pub m: Measured,
    pub size: u64,
    pub zip: Option<u64>,
    pub arm64: Option<(u64, Option<u64>)>,
    /// When the binaries were last written (Unix seconds): stale arm64 builds show.
    pub built: Option<u64>,
    pub arm64_built: Option<u64>,
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

    /// The DynamoDB requests of one timed warm invocation: the median, the range, and the
    /// mean by operation (`None` without the TLS front, which counts them).
    fn dynamo_requests_json(&self) -> Value {
        let counts = &self.m.dynamo_requests;
        if counts.is_empty() {
            return Value::Null;
        }
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        let n = counts.len() as f64;
        json!({
            "median": sorted[(sorted.len() - 1) / 2],
            "min": sorted[0],
            "max": sorted[sorted.len() - 1],
            "by_operation": self.m.dynamo_ops.iter()
                .map(|(op, total)| (op.clone(), json!(round(*total as f64 / n, 2))))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    /// The median DynamoDB requests per timed warm invocation, for the table.
    fn dynamo_requests_median(&self) -> Option<u64> {
        let mut sorted = self.m.dynamo_requests.clone();
        sorted.sort_unstable();
        sorted.get(sorted.len().checked_sub(1)? / 2).copied()
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
            "dynamo_requests_per_warm_invocation": self.dynamo_requests_json(),
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
        "{:<22} {:>8} {:>6} {:>9} {:>8} {:>8} {:>9} {:>7} {:>6} {:>6} {:>8} {:>6} {:>8} {:>7} {:>9}",
        "binary",
        "init ms",
        "xfloor",
        "1st call",
        "warm p50",
        "warm p99",
        "CPU us/rq",
        "handler",
        "kernel",
        "DDB rq",
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
            "{:<22} {:>8} {:>6} {:>9} {:>8} {:>8} {:>9} {:>7} {:>6} {:>6} {:>8.1} {:>6} {:>8.2} {:>7} {:>9}",
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
            row.dynamo_requests_median()
                .map_or("-".into(), |n| n.to_string()),
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

/// The targets, each with its verdict and margin.
fn verdicts(rows: &[Row], floor: Option<&Row>) -> Vec<Value> {
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
        // Issue 5's CPU line is for create-intent and the webhook.
        if !row.name.starts_with("bookings") {
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

/// What every variant's JSON says about the run as a whole.
pub struct RunInfo<'a> {
    pub opts: &'a Options,
    pub root: &'a Path,
    /// Several builds compared in the run (`--variant`).
    pub several: bool,
    /// The labels of the builds in the run.
    pub labels: Vec<String>,
    pub machine: Value,
    pub build: Value,
    pub load_before: Option<String>,
    pub load_after: Option<String>,
}

/// One variant's report, from its rows (the floor's first): prints its table and verdicts and
/// writes its JSON. False if some binary missed an invocation.
pub fn variant(
    run: &RunInfo,
    label: &Option<String>,
    dir: &Path,
    mut rows: Vec<Row>,
) -> Result<bool, String> {
    let floor = rows.remove(0);
    if run.several {
        println!("\n== {}", label.as_deref().unwrap_or(""));
    }
    print_table(&rows, Some(&floor), run.opts);
    let verdicts = if run.opts.smoke {
        Vec::new()
    } else {
        verdicts(&rows, Some(&floor))
    };
    print_verdicts(&verdicts);
    let report = document(run, label, dir, &floor, &rows, verdicts);
    write_json(&out_path(run, label), &report)?;
    // Every response was checked as it came (2xx, webhook events applied); also insist
    // that every binary answered every invocation.
    let opts = run.opts;
    let expected = opts.cold + opts.warmup + 1 + opts.warm;
    Ok(rows
        .iter()
        .chain(std::iter::once(&floor))
        .all(|r| r.m.invocations == expected))
}

fn print_verdicts(verdicts: &[Value]) {
    for v in verdicts {
        println!(
            "{} {}: {} (limit {})",
            if v["met"] == true { "MET   " } else { "MISSED" },
            v["target"].as_str().unwrap_or(""),
            v["value"],
            v["limit"]
        );
    }
}

/// The JSON of one variant.
fn document(
    run: &RunInfo,
    label: &Option<String>,
    dir: &Path,
    floor: &Row,
    rows: &[Row],
    verdicts: Vec<Value>,
) -> Value {
    let opts = run.opts;
    json!({
        "schema": 1,
        "label": label,
        "mode": if opts.smoke { "smoke" } else { "full" },
        "unix_time": events::now_unix_ms() / 1000,
        "machine": run.machine,
        "loadavg_before": run.load_before,
        "loadavg_after": run.load_after,
        "build": run.build,
        "config": {
            "bin_dir": dir.display().to_string(),
            "arm64_dir": (!run.several).then(|| run.root.join("target/lambda/lambda").display().to_string()),
            "variants_in_run": run.labels,
            "cold_starts": opts.cold,
            "warm_invocations": opts.warm,
            "warmup_invocations": opts.warmup + 1,
            "warm_block": WARM_BLOCK,
            "dynamo_tls": opts.dynamo_tls,
            "extra_env": opts.extra_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "clock_ticks_per_second": procfs::ticks_per_second(),
        },
        "floor": floor.json(None),
        "functions": rows.iter().map(|r| r.json(Some(floor))).collect::<Vec<_>>(),
        "targets": verdicts,
    })
}

/// `--out`, or with several variants `<out without .json>-LABEL.json`.
fn out_path(run: &RunInfo, label: &Option<String>) -> PathBuf {
    match label {
        Some(l) if run.several => {
            let stem = run.opts.out.with_extension("");
            PathBuf::from(format!("{}-{l}.json", stem.display()))
        }
        _ => run.opts.out.clone(),
    }
}

fn write_json(out: &Path, report: &Value) -> Result<(), String> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())? + "\n";
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("\nwritten to {}", out.display());
    Ok(())
}
