//! The Stripe layer: the project's own front for localstripe, so that the local stack and the
//! tests meet a Stripe that behaves like Stripe. localstripe stays the engine; the layer
//! listens where the stack's Stripe is expected (`LOCALSTRIPE_PORT`), forwards every request
//! to localstripe unchanged, and adds only what Stripe documents and localstripe lacks
//! (../shared/notes/local-emulators.md lists what it lacks):
//!
//! - API keys (`server`): only the account's secret keys are accepted; any other is Stripe's
//!   401 `Invalid API Key provided: sk_test_****1234` (<https://docs.stripe.com/keys>,
//!   <https://docs.stripe.com/error-codes>).
//! - Idempotent requests (`idempotency`): replays for 24 h with `Idempotent-Replayed: true`,
//!   `idempotency_error` for a key reused otherwise, 409 `idempotency_key_in_use`
//!   (<https://docs.stripe.com/api/idempotent_requests>).
//! - Events localstripe never sends (`triggers`, `disputes`): `payment_intent.canceled`,
//!   `.requires_action`, `.amount_capturable_updated`, `charge.refunded`,
//!   `charge.refund.updated`, `charge.dispute.created|updated|closed`
//!   (<https://docs.stripe.com/api/events/types>); listed by `GET /v1/events` with
//!   localstripe's own and delivered signed to the endpoints registered through
//!   `POST /_config/webhooks/<id>` (`events`).
//! - Manual capture (`capture`; <https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>):
//!   intents' `amount_capturable` and `amount_received`, charges' `amount_captured` and
//!   `payment_method_details.card.capture_before`, `charge.captured`.
//! - localstripe's own events are relayed (`relay`): it delivers them to the layer, which
//!   overlays them and delivers them to the endpoints with its own, so that a delivered event
//!   carries what the same event listed by `GET /v1/events` carries.
//! - Stripe's test-mode triggers (`triggers`, `disputes`; <https://docs.stripe.com/testing>):
//!   Dashboard refunds, card 4000000000005126 (refunds fail later), card 4000000000000259
//!   (disputed), dispute evidence `winning_evidence` / `losing_evidence`.
//!
//! - Stripe's test cards (`cards`, `confirm`; <https://docs.stripe.com/testing>): declines with
//!   Stripe's `code`, `decline_code` and message, 3-D Secure once (3155) or always (3184),
//!   confirming with a payment method in one call.
//! - The browser's side (`publishable`, `stripe_js`): publishable keys with the client secret
//!   on the endpoints Stripe allows them, CORS as Stripe answers it, and a Stripe.js stand-in
//!   at `/v3/`.
//!
//! - Parameters Stripe takes and localstripe refuses (`accepted`): an intent's
//!   `receipt_email`, a refund's `reason`, validated as Stripe does, shown on their objects.
//!
//! Event payloads take the shapes of Stripe's example objects
//! (../shared/stripe/fixtures3-subset.json).

mod accepted;
mod capture;
mod cards;
mod confirm;
mod disputes;
mod events;
mod idempotency;
mod publishable;
mod relay;
mod server;
mod stripe_js;
mod triggers;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

pub use idempotency::{is_saved, Answer, Begin, Fingerprint, IdempotencyStore, Ticket};
pub use publishable::LOCAL_PUBLISHABLE_KEY;
pub use wire::api_key_of;

/// How long after the request a test-mode trigger's later step happens ("a moment later": a
/// refund failing, a dispute opening or closing). Tests wait for the event, never this long.
const LATER: Duration = Duration::from_millis(300);

/// What the layer fronts, and which secret keys it accepts.
#[derive(Debug, Clone)]
pub struct LayerConfig {
    /// localstripe's base URL.
    pub upstream: String,
    /// The secret keys this "account" has; any other is refused as Stripe refuses a revoked
    /// key.
    pub api_keys: Vec<String>,
    /// The publishable keys this "account" has (`publishable`): what Stripe.js and the browser
    /// use.
    pub publishable_keys: Vec<String>,
}

/// What every request handler shares.
pub(crate) struct Layer {
    upstream: String,
    /// The layer's own base URL, where localstripe delivers its events (`relay`).
    relay_base: String,
    /// The secret localstripe signs those deliveries with; only the layer knows it.
    relay_secret: String,
    http: reqwest::Client,
    api_keys: RwLock<Vec<String>>,
    publishable_keys: Vec<String>,
    idempotency: IdempotencyStore,
    events: events::Events,
    test_mode: Mutex<triggers::TestMode>,
    background: Mutex<Vec<AbortHandle>>,
}

impl Layer {
    fn test_mode(&self) -> std::sync::MutexGuard<'_, triggers::TestMode> {
        self.test_mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accepts(&self, key: &str) -> bool {
        let keys = self.api_keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|k| k == key)
    }

    /// Runs `job` after [`LATER`], in a task the layer stops when it is dropped.
    fn later(self: &Arc<Self>, job: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = tokio::spawn(async move {
            tokio::time::sleep(LATER).await;
            job.await;
        });
        let mut background = self.background.lock().unwrap_or_else(|e| e.into_inner());
        background.retain(|t| !t.is_finished());
        background.push(task.abort_handle());
    }
}

/// A running layer; dropping it stops it (and its pending deliveries).
pub struct StripeLayer {
    addr: SocketAddr,
    layer: Arc<Layer>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for StripeLayer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let background = self
            .layer
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for task in background.iter() {
            task.abort();
        }
    }
}

impl StripeLayer {
    /// Starts the layer on `listen` (port 0: any free port).
    pub async fn start(listen: SocketAddr, config: LayerConfig) -> Result<Self, String> {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| format!("the Stripe layer cannot listen on {listen}: {e}"))?;
        Self::serve(listener, config)
    }

    /// Starts the layer on a socket already bound (inside a tokio runtime).
    pub fn serve(listener: std::net::TcpListener, config: LayerConfig) -> Result<Self, String> {
        listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
            .map_err(|e| format!("the Stripe layer cannot listen: {e}"))
            .and_then(|listener| Self::run(listener, config))
    }

    /// Serves the same layer (one state) on another socket already bound: another address of
    /// this machine (`StackConfig::bridge`).
    pub fn also_serve(&mut self, listener: std::net::TcpListener) -> Result<(), String> {
        let listener = listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
            .map_err(|e| format!("the Stripe layer cannot listen: {e}"))?;
        self.tasks.push(tokio::spawn(server::accept_loop(
            listener,
            self.layer.clone(),
        )));
        Ok(())
    }

    fn run(listener: TcpListener, config: LayerConfig) -> Result<Self, String> {
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // localstripe reaches the layer on loopback, whatever address it listens on.
        let mut reachable = addr;
        if addr.ip().is_unspecified() {
            reachable.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let (events, deliveries) = events::Events::new(http.clone());
        let layer = Arc::new(Layer {
            upstream: config.upstream.trim_end_matches('/').to_string(),
            relay_base: format!("http://{reachable}"),
            relay_secret: wire::new_id("whsec_relay_"),
            http,
            api_keys: RwLock::new(config.api_keys),
            publishable_keys: config.publishable_keys,
            idempotency: IdempotencyStore::new(),
            events,
            test_mode: Mutex::default(),
            background: Mutex::default(),
        });
        let tasks = vec![
            tokio::spawn(server::accept_loop(listener, layer.clone())),
            tokio::spawn(deliveries),
        ];
        Ok(Self { addr, layer, tasks })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// localstripe's base URL (behind the layer).
    pub fn upstream(&self) -> &str {
        &self.layer.upstream
    }

    /// The URLs registered for deliveries through `POST /_config/webhooks/<id>`.
    pub fn webhook_endpoints(&self) -> Vec<String> {
        self.layer.events.endpoint_urls()
    }

    /// Replaces the accepted secret keys (a rolled key: the old one is refused from now on).
    pub fn set_api_keys(&self, keys: Vec<String>) {
        *self
            .layer
            .api_keys
            .write()
            .unwrap_or_else(|e| e.into_inner()) = keys;
    }
}
