//! The command line: the options of one run and their defaults (`--smoke` or full).

use std::path::{Path, PathBuf};

/// What can be benchmarked (`--only` picks among them): the functions, and booking creation
/// (`POST /v1/bookings`, the bookings binary) on an asset no tariff applies to and on one its
/// asset type's tariff prices.
pub const FUNCTIONS: [&str; 5] = [
    "bookings",
    "create-intent",
    "webhook",
    "bookings-create",
    "bookings-create-tariff",
];

/// The binary a benchmarked name runs.
pub fn binary_of(name: &str) -> &str {
    match name {
        "bookings-create" | "bookings-create-tariff" => "bookings",
        other => other,
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[derive(Debug, Clone)]
pub struct Options {
    pub smoke: bool,
    pub bin_dir: PathBuf,
    pub out: PathBuf,
    pub cold: usize,
    pub warm: usize,
    pub warmup: usize,
    pub only: Option<Vec<String>>,
    pub dynamo_tls: bool,
    /// Extra environment for every binary (the floor too), after the Lambda-like one.
    pub extra_env: Vec<(String, String)>,
    /// Several builds compared in one run (`--variant LABEL=DIR`), instead of `bin_dir`.
    pub variants: Vec<(String, PathBuf)>,
    pub label: Option<String>,
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
  --only        a subset of bookings,create-intent,webhook,bookings-create,
                bookings-create-tariff
  --plain-dynamo  talk plain HTTP to the local DynamoDB (by default a TLS front is put
                before it, so the first call does a TLS handshake as on Lambda)
  --env         an extra environment variable for every binary (repeatable), e.g.
                RUST_LOG=debug
  --label       free text stored in the JSON (e.g. the build variant)
  --variant     compare builds in one run: the binaries in DIR, labelled LABEL (repeatable);
                cold starts and warm blocks are interleaved across all of them, and each
                variant's results go to <out without .json>-LABEL.json";

/// The defaults: a cheap run on the debug binaries with `--smoke`, the full one on the release
/// binaries without.
fn defaults(smoke: bool) -> Options {
    let root = workspace_root();
    Options {
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
    }
}

pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut o = defaults(smoke);
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
            "--env" => o.extra_env.push(env_var(&value("--env")?)?),
            "--variant" => {
                let (l, d) = variant(&value("--variant")?)?;
                if o.variants.iter().any(|(x, _)| *x == l) {
                    return Err(format!("--variant {l} given twice"));
                }
                o.variants.push((l, d));
            }
            "--only" => o.only = Some(only(&value("--only")?)?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// `--env KEY=VALUE` (the value may hold `=`).
fn env_var(kv: &str) -> Result<(String, String), String> {
    let (k, v) = kv
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("--env needs KEY=VALUE, not {kv:?}"))?;
    Ok((k.to_string(), v.to_string()))
}

/// `--variant LABEL=DIR`; the label names a file, so no `/` in it.
fn variant(lv: &str) -> Result<(String, PathBuf), String> {
    let (l, d) = lv
        .split_once('=')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty() && !l.contains('/'))
        .ok_or_else(|| format!("--variant needs LABEL=DIR, not {lv:?}"))?;
    Ok((l.to_string(), PathBuf::from(d)))
}

/// `--only NAME,...`: known function names only.
fn only(list: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = names.iter().find(|n| !FUNCTIONS.contains(&n.as_str())) {
        return Err(format!("unknown function {bad:?}"));
    }
    Ok(names)
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
        let o = parse_args(&args("--only bookings-create,bookings-create-tariff")).unwrap();
        assert_eq!(o.only.map(|v| v.len()), Some(2));
        assert_eq!(binary_of("bookings-create-tariff"), "bookings");
        assert_eq!(binary_of("webhook"), "webhook");
        assert!(parse_args(&args("--cold")).is_err());
        assert!(parse_args(&args("--frobnicate")).is_err());
    }
}
