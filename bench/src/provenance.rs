//! Where the figures come from, stored with them: the machine, its load, and the build.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn machine() -> Value {
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

pub fn loadavg() -> Option<String> {
    read_trimmed("/proc/loadavg")
}

/// The build the binaries came from: commit, release profile, cargo [env].
pub fn build_info(root: &Path) -> Value {
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
