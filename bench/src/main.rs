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

mod artifact;
mod capacity;
mod cli;
mod events;
mod measure;
mod procfs;
mod provenance;
mod report;
mod run;
mod runtime_api;
mod setup;
mod stats;
mod tls;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse_args(&args) {
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
    match runtime.block_on(run::run(opts)) {
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
