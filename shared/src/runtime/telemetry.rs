//! Tracing setup: JSON lines on Lambda (CloudWatch), readable text locally.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

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
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    let _ = if on_lambda {
        builder.json().without_time().with_ansi(false).try_init()
    } else {
        builder.with_ansi(ansi).try_init()
    };
}
