//! Tracing setup: JSON lines on Lambda (CloudWatch), readable text locally.
//!
//! Whatever `RUST_LOG` says, the Lambda runtime's and the AWS SDK's targets log at `info` at
//! most: at `trace` `lambda_runtime` logs every raw invocation event (the `X-API-Key` header,
//! `requestContext.identity.apiKey`, request bodies), and the SDK's lower levels are where
//! requests and responses (a `GetSecretValue` answer holds the Stripe keys) would be logged.
//! An operator turning `RUST_LOG` up sees all of our own code, never a key.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Crates (and every module under them) that log events or bodies below `info`.
const CAPPED_AT_INFO: [&str; 7] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_",
    "aws_sdk_",
    "aws_config",
    "aws_runtime",
];

/// Whether a span or event of `target` at `level` may be logged at all, whatever `RUST_LOG`.
pub fn allowed(target: &str, level: &Level) -> bool {
    *level <= Level::INFO || !CAPPED_AT_INFO.iter().any(|c| in_crate(target, c))
}

/// `target` is crate `c` or a module of it (`c` ending in `_` is a family of crates).
fn in_crate(target: &str, c: &str) -> bool {
    match target.strip_prefix(c) {
        None => false,
        Some(rest) => c.ends_with('_') || rest.is_empty() || rest.starts_with("::"),
    }
}

/// Installs the global subscriber once; later calls are no-ops so tests can call it freely.
pub fn init() {
    // Colours only for a person at a terminal, not in files or CI logs.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    init_with_writer(std::io::stderr, ansi);
}

/// [`init`] writing to `writer`: what a test captures is exactly what a function logs.
pub fn init_with_writer<W>(writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let env = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = env.and(filter_fn(|meta: &Metadata<'_>| {
        allowed(meta.target(), meta.level())
    }));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(writer);
    let _ = if on_lambda {
        let layer = layer.json().without_time().with_ansi(false);
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(layer.with_ansi(ansi).with_filter(filter))
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_and_the_sdk_log_at_info_at_most_our_code_at_any_level() {
        for target in [
            "lambda_runtime",
            "lambda_runtime::layers::api_response",
            "lambda_runtime_api_client",
            "lambda_http::request",
            "aws_smithy_runtime::client::orchestrator",
            "aws_smithy_http_client",
            "aws_sdk_secretsmanager::operation",
            "aws_sdk_dynamodb",
            "aws_config::imds",
            "aws_runtime::user_agent",
        ] {
            for level in [Level::ERROR, Level::WARN, Level::INFO] {
                assert!(allowed(target, &level), "{target} {level}");
            }
            for level in [Level::DEBUG, Level::TRACE] {
                assert!(!allowed(target, &level), "{target} {level}");
            }
        }
        for target in ["shared::app::events", "webhook", "hyper", "lambda_runtimes"] {
            for level in [Level::ERROR, Level::INFO, Level::DEBUG, Level::TRACE] {
                assert!(allowed(target, &level), "{target} {level}");
            }
        }
    }
}
