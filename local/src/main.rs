//! `local-stack`: serves the whole API on http://127.0.0.1:3000 until Ctrl-C.

#[tokio::main]
async fn main() {
    shared::runtime::telemetry::init();
    let config = match local_stack::StackConfig::from_env() {
        Ok(c) => c,
        Err(err) => {
            eprintln!("local-stack: {err}");
            std::process::exit(2);
        }
    };
    let stack = match local_stack::start(config).await {
        Ok(s) => s,
        Err(err) => {
            eprintln!("local-stack: {err}");
            std::process::exit(1);
        }
    };
    tracing::info!(dynamodb = %stack.dynamodb_endpoint, "DynamoDB ready");
    tracing::info!(stripe = %stack.stripe_base, layer = stack.stripe_layer().is_some(), "Stripe ready");
    if let (Some(dynamodb), Some(stripe)) =
        (&stack.bridge_dynamodb_endpoint, &stack.bridge_stripe_base)
    {
        tracing::info!(%dynamodb, %stripe, "also on the bridge address (LOCAL_BRIDGE_ADDRESS)");
    }
    println!(
        "Payments API listening on {}  (Ctrl-C to stop)",
        stack.url()
    );
    // Ctrl-C at a terminal, SIGTERM from a supervisor: either way the stack is dropped, which
    // stops localstripe too (a child left running would hold its port).
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("local-stack: cannot listen for SIGTERM: {err}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("stopping");
    drop(stack);
}
