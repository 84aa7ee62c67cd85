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
//! Optionally the proxy also plays the one part of real Stripe that localstripe lacks: a POST
//! whose `Idempotency-Key` was already answered gets that first answer again instead of
//! reaching upstream (Stripe keeps keys for 24 h; localstripe ignores them).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
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

struct Cached {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<Seen>,
    emulate_stripe_idempotency: bool,
    idempotency_cache: HashMap<String, Arc<Cached>>,
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
        let task = tokio::spawn(accept_loop(listener, upstream, state.clone()));
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

    /// Answer a POST whose `Idempotency-Key` upstream already answered with that answer, as
    /// real Stripe does, instead of forwarding it.
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

/// A connection that sends a TCP RST instead of a FIN when it is dropped after `reset` was
/// set: a reset connection, as a crashed or overloaded server gives.
struct ConnIo {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn accept_loop(listener: TcpListener, upstream: Upstream, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let reset = Arc::new(AtomicBool::new(false));
        let io = ConnIo {
            stream,
            reset: reset.clone(),
        };
        let upstream = upstream.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                handle(req, upstream.clone(), state.clone(), reset.clone())
            });
            // A fault ends the connection with an error: that is the point.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(io), service)
                .await;
        });
    }
}

type Answer = hyper::Response<Full<Bytes>>;

/// Handles one request. An `Err` makes hyper drop the connection without answering, and the
/// `reset` flag turns that drop into a TCP RST.
async fn handle(
    req: hyper::Request<Incoming>,
    upstream: Upstream,
    state: Arc<Mutex<State>>,
    reset: Arc<AtomicBool>,
) -> Result<Answer, io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
        .to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut seen = Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        operation: header("x-amz-target")
            .and_then(|t| t.rsplit_once('.').map(|(_, op)| op.to_string())),
        idempotency_key: header("idempotency-key"),
        body: String::from_utf8_lossy(&body).into_owned(),
        fault: None,
        upstream_status: None,
        upstream_body: None,
        replayed: false,
        answered: false,
        at: Instant::now(),
    };
    let (fault, emulate) = {
        let mut st = state.lock().unwrap();
        let fault = st.rules.iter_mut().find_map(|rule| {
            if !(rule.matcher)(&seen) {
                return None;
            }
            rule.next.pop_front().or_else(|| rule.always.clone())
        });
        (fault, st.emulate_stripe_idempotency)
    };
    seen.fault = fault.clone();
    // Logged now: hyper drops this future if the caller hangs up (a stalled request).
    let index = {
        let mut st = state.lock().unwrap();
        st.log.push(seen.clone());
        st.log.len() - 1
    };
    let update = |f: &dyn Fn(&mut Seen)| f(&mut state.lock().unwrap().log[index]);

    let result = match fault {
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => {
            let mut resp = hyper::Response::builder().status(status);
            for (name, value) in headers {
                resp = resp.header(name, value);
            }
            Ok(resp.body(Full::new(Bytes::from(body))).unwrap())
        }
        Some(Fault::Reset) => Err(io::ErrorKind::ConnectionReset.into()),
        Some(Fault::Stall(hold)) => {
            tokio::time::sleep(hold).await;
            Err(io::ErrorKind::TimedOut.into())
        }
        Some(Fault::LoseResponse) | Some(Fault::StallResponse(_)) | None => {
            let idem = (emulate && seen.method == "POST")
                .then(|| seen.idempotency_key.clone())
                .flatten();
            // In a task of its own, so the request completes upstream (and is logged) even if
            // the caller hangs up meanwhile.
            let forwarded = {
                let (upstream, state) = (upstream.clone(), state.clone());
                tokio::spawn(async move {
                    let result = forward(&upstream, &state, &parts, body, idem.as_deref()).await;
                    if let Ok((cached, replayed)) = &result {
                        let seen = &mut state.lock().unwrap().log[index];
                        seen.upstream_status = Some(cached.status);
                        seen.upstream_body =
                            Some(String::from_utf8_lossy(&cached.body).into_owned());
                        seen.replayed = *replayed;
                    }
                    result
                })
            };
            match forwarded.await.map_err(io::Error::other)? {
                Ok((cached, _)) => match &seen.fault {
                    Some(Fault::LoseResponse) => Err(io::ErrorKind::ConnectionReset.into()),
                    Some(Fault::StallResponse(hold)) => {
                        tokio::time::sleep(*hold).await;
                        Err(io::ErrorKind::TimedOut.into())
                    }
                    _ => {
                        let mut resp = hyper::Response::builder().status(cached.status);
                        for (name, value) in &cached.headers {
                            resp = resp.header(name, value);
                        }
                        Ok(resp.body(Full::new(cached.body.clone())).unwrap())
                    }
                },
                // Upstream unreachable: as a gateway would, answer 502.
                Err(err) => Ok(hyper::Response::builder()
                    .status(502)
                    .body(Full::new(Bytes::from(format!("fault proxy: {err}"))))
                    .unwrap()),
            }
        }
    };
    let answered = result.is_ok();
    update(&|seen| seen.answered = answered);
    if !answered {
        reset.store(true, Ordering::SeqCst);
    }
    result
}

/// Sends the request upstream (or, emulating Stripe, answers a known key from the cache).
/// Returns the answer and whether it came from the cache.
async fn forward(
    upstream: &Upstream,
    state: &Mutex<State>,
    parts: &hyper::http::request::Parts,
    body: Bytes,
    idempotency_key: Option<&str>,
) -> Result<(Arc<Cached>, bool), reqwest::Error> {
    if let Some(key) = idempotency_key {
        if let Some(hit) = state.lock().unwrap().idempotency_cache.get(key) {
            return Ok((hit.clone(), true));
        }
    }
    let url = format!(
        "{}{}",
        upstream.base,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
    let mut req = upstream.http.request(method, url).body(body);
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name.as_str()) && name != "host" && name != "content-length" {
            req = req.header(name.as_str(), value.as_bytes());
        }
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()) && *name != "content-length")
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let body = resp.bytes().await?;
    let cached = Arc::new(Cached {
        status,
        headers,
        body,
    });
    // Stripe stores the result of a request that ran (not one that failed on its side).
    if let Some(key) = idempotency_key {
        if status < 500 {
            state
                .lock()
                .unwrap()
                .idempotency_cache
                .entry(key.to_string())
                .or_insert_with(|| cached.clone());
        }
    }
    Ok((cached, false))
}

fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}
