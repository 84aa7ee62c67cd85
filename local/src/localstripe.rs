//! localstripe, the Stripe emulator, as a child process: started on loopback with fresh state,
//! and told to deliver its events to this stack's webhook.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::process::{Child, Command};

/// The launcher that serves localstripe on loopback with in-memory state.
const LOCALSTRIPE_LAUNCHER: &str = include_str!("localstripe.py");

/// Starts localstripe on 127.0.0.1 and waits until it answers.
pub async fn start_localstripe(python: &PathBuf, port: u16) -> Result<(String, Child), String> {
    let port = if port == 0 {
        // Ask the OS for a free port; the moment between closing it and localstripe
        // binding it is the only window another process could take it.
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for localstripe: {e}"))?
            .port()
    } else {
        // A leftover localstripe on this port would answer our readiness probe with its old
        // state: refuse to start instead.
        std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!("localstripe port {port} is not free ({e}); is an old local stack still running? (LOCALSTRIPE_PORT to change)")
        })?;
        port
    };
    let mut child = Command::new(python)
        .arg("-c")
        .arg(LOCALSTRIPE_LAUNCHER)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {} for localstripe ({e}); run `make tools` first",
                python.display()
            )
        })?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "localstripe exited ({status}); is it installed for {}? run `make tools`",
                python.display()
            ));
        }
        let probe = http
            .get(format!("{base}/v1/balance"))
            .bearer_auth("sk_test_probe")
            .send()
            .await;
        if probe.is_ok() {
            return Ok((base, child));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("localstripe did not answer on {base} within 30 s"))
}

/// Tells localstripe to deliver every event to this stack's webhook, signed with our secret.
/// `api_key` is the stack's secret key: the layer registers endpoints only for a key it
/// accepts (localstripe itself ignores it).
pub async fn register_webhook(
    base: &str,
    api: SocketAddr,
    secrets: &[String],
    api_key: &str,
) -> Result<(), String> {
    let secret = secrets
        .first()
        .ok_or("at least one webhook secret is needed")?;
    let url = format!("http://{api}/v1/payments/webhook");
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/_config/webhooks/local-stack-{}",
            api.port()
        ))
        .bearer_auth(api_key)
        .form(&[("url", url.as_str()), ("secret", secret.as_str())])
        .send()
        .await
        .map_err(|e| format!("cannot register the webhook with localstripe: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "localstripe refused the webhook registration: {}",
            resp.status()
        ));
    }
    Ok(())
}
