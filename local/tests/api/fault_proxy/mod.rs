//! A small fault-injecting HTTP/1 reverse proxy, put between the functions and Stripe or
//! DynamoDB in tests.
//!
//! Every request is logged (method, path, DynamoDB operation, Idempotency-Key, body, what the
//! proxy did, what upstream answered). Rules pick requests with a predicate and give them
//! faults: an answer the proxy makes up (a Stripe 500, a DynamoDB throttle), a reset
//! connection, a stall past the caller's timeout, or, the nasty ones, forwarding the request
//! (so upstream applies it) and then losing the response. Requests no rule claims are
//! forwarded untouched.
//!
//! Optionally the proxy also plays Stripe's idempotent requests, which localstripe lacks, with
//! the Stripe layer's own implementation (`local_stack::stripe_layer::IdempotencyStore`): a
//! POST whose `Idempotency-Key` was already answered gets that first answer again (with
//! `Idempotent-Replayed: true`) instead of reaching upstream, a key still in use is a 409, a
//! key reused with other parameters a 400. For a proxy put straight before localstripe; the
//! Stripe layer already does this.

#![allow(dead_code)]

mod server;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use local_stack::stripe_layer::IdempotencyStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this instead of upstream; the request never reaches it.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Reset the connection (TCP RST) without answering; never forwarded.
    Reset,
    /// Hold the request this long without forwarding, then reset: a timeout for any caller
    /// whose timeout is shorter. hyper drops the held request as soon as the caller hangs up,
    /// so a stall never outlasts the caller's own timeout; pick a hold just past it.
    Stall(Duration),
    /// Forward the request (upstream applies it), then reset without answering: the write
    /// happened and the caller never learns it.
    LoseResponse,
    /// Forward, keep upstream's answer this long (past the caller's timeout), then reset.
    StallResponse(Duration),
}

impl Fault {
    /// Stripe's answer to an internal error.
    pub fn stripe_500() -> Self {
        Self::Respond {
            status: 500,
            headers: vec![("content-type", "application/json".into())],
            body: r#"{"error":{"type":"api_error","message":"An unknown error occurred"}}"#.into(),
        }
    }

    /// DynamoDB's answer when a table or partition is over its throughput.
    pub fn dynamo_throttle() -> Self {
        Self::dynamo_error(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        )
    }

    /// DynamoDB's answer to an internal error.
    pub fn dynamo_500() -> Self {
        Self::dynamo_error(
            500,
            "InternalServerError",
            "Internal server error (Service: DynamoDb)",
        )
    }

    /// DynamoDB refusing a request as invalid (an item over 400 KB, say).
    pub fn dynamo_validation() -> Self {
        Self::dynamo_error(
            400,
            "ValidationException",
            "Item size has exceeded the maximum allowed size",
        )
    }

    /// DynamoDB cancelling a transaction because one of its writes is invalid: the second
    /// write would make an item larger than 400 KB.
    pub fn dynamo_transaction_invalid() -> Self {
        Self::Respond {
            status: 400,
            headers: vec![
                ("content-type", "application/x-amz-json-1.0".into()),
                ("x-amzn-errortype", "TransactionCanceledException".into()),
                ("x-amzn-requestid", "fault-proxy".into()),
            ],
            body: serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ValidationError]",
                "CancellationReasons": [
                    {"Code": "None"},
                    {"Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size"},
                ],
            })
            .to_string(),
        }
    }

    fn dynamo_error(status: u16, code: &str, message: &str) -> Self {
        Self::Respond {
            status,
            headers: vec![
                ("content-type", "application/x-amz-json-1.0".into()),
                ("x-amzn-errortype", code.into()),
                ("x-amzn-requestid", "fault-proxy".into()),
            ],
            body: serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
                "message": message,
            })
            .to_string(),
        }
    }

    /// Does upstream see the request?
    pub fn forwards(&self) -> bool {
        matches!(self, Self::LoseResponse | Self::StallResponse(_))
    }
}

/// One request as the proxy saw it, and what became of it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The DynamoDB operation (`X-Amz-Target` after the dot), e.g. `TransactWriteItems`.
    pub operation: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: String,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// Upstream's status, if the request reached upstream (or was answered from the
    /// idempotency cache).
    pub upstream_status: Option<u16>,
    /// Upstream's body, whether or not the caller got it.
    pub upstream_body: Option<String>,
    /// Answered from the emulated Stripe idempotency cache, without reaching upstream.
    pub replayed: bool,
    /// Did the caller get an answer (upstream's or a made-up one)?
    pub answered: bool,
    pub at: Instant,
}

impl Seen {
    /// The `id` in upstream's JSON answer (a Stripe object's id).
    pub fn upstream_id(&self) -> Option<String> {
        let body: serde_json::Value = serde_json::from_str(self.upstream_body.as_ref()?).ok()?;
        body["id"].as_str().map(str::to_string)
    }

    /// A field of the JSON request body (DynamoDB requests), e.g. `ClientRequestToken`.
    pub fn body_field(&self, name: &str) -> Option<String> {
        let body: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        body[name].as_str().map(str::to_string)
    }
}

type Matcher = Arc<dyn Fn(&Seen) -> bool + Send + Sync>;

struct Rule {
    matcher: Matcher,
    /// Faults for the next matching requests, in order.
    next: VecDeque<Fault>,
    /// Then this one for every further match, if set.
    always: Option<Fault>,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<Seen>,
    emulate_stripe_idempotency: bool,
    idempotency: IdempotencyStore,
}

pub struct FaultProxy {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Matches Stripe-style requests: this method and exactly this path.
pub fn request(
    method: &'static str,
    path: impl Into<String>,
) -> impl Fn(&Seen) -> bool + Clone + Send + Sync + 'static {
    let path = path.into();
    move |s: &Seen| s.method == method && s.path == path
}

/// Matches DynamoDB requests of this operation.
pub fn dynamo(operation: &'static str) -> impl Fn(&Seen) -> bool + Clone + Send + Sync + 'static {
    move |s: &Seen| s.operation.as_deref() == Some(operation)
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let upstream = Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(server::accept_loop(listener, upstream, state.clone()));
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next matching requests get these faults, one each, in order; later ones pass.
    pub fn fail_next(
        &self,
        matcher: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        faults: impl IntoIterator<Item = Fault>,
    ) {
        self.state.lock().unwrap().rules.push(Rule {
            matcher: Arc::new(matcher),
            next: faults.into_iter().collect(),
            always: None,
        });
    }

    /// Every matching request gets this fault until [`FaultProxy::clear`].
    pub fn fail_always(
        &self,
        matcher: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        fault: Fault,
    ) {
        self.state.lock().unwrap().rules.push(Rule {
            matcher: Arc::new(matcher),
            next: VecDeque::new(),
            always: Some(fault),
        });
    }

    /// Removes every rule: from now on everything passes.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Play Stripe's idempotent requests (see the module doc) instead of forwarding every
    /// POST.
    pub fn emulate_stripe_idempotency(&self) {
        self.state.lock().unwrap().emulate_stripe_idempotency = true;
    }

    /// Every request seen so far, in arrival order.
    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    /// The logged requests `matcher` picks.
    pub fn seen(&self, matcher: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        self.log().into_iter().filter(|s| matcher(s)).collect()
    }

    /// How many requests were logged so far (to look only at later ones).
    pub fn mark(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }

    /// The requests logged since `mark`.
    pub fn since(&self, mark: usize) -> Vec<Seen> {
        self.log().into_iter().skip(mark).collect()
    }
}
