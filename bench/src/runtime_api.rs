//! A local Lambda Runtime API (the subset `lambda_runtime` uses), timing what Lambda times.
//!
//! One instance serves one function process. The function polls
//! `GET /2018-06-01/runtime/invocation/next`; the harness queues events with [`RuntimeApi::send`]
//! and collects what the function posts back (`.../invocation/{id}/response`,
//! `.../invocation/{id}/error`, `/runtime/init/error`) with [`RuntimeApi::outcome`]. Times are
//! taken here, in the harness: when a `next` call arrives (the end of init), when the event is
//! handed out, and when the whole response body has been received.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime/";
/// What Lambda gives a function per invocation before it times out.
const DEADLINE: Duration = Duration::from_secs(30);

/// One event to hand to the function.
pub struct Invocation {
    pub id: String,
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Response,
    Error,
    InitError,
}

/// Something the function posted back.
#[derive(Debug)]
pub struct Outcome {
    pub kind: Kind,
    /// The invocation id from the path (`None` for an init error).
    pub id: Option<String>,
    pub body: Bytes,
    /// When the event was handed out (`None` for an init error or an unknown id).
    pub handed: Option<Instant>,
    /// When the whole body had been received.
    pub received: Instant,
}

impl Outcome {
    /// From handing out the event to receiving the whole response.
    pub fn duration(&self) -> Option<Duration> {
        self.handed
            .map(|h| self.received.saturating_duration_since(h))
    }
}

/// What the function did, in order.
enum Report {
    /// A `next` call arrived.
    Next(Instant),
    Posted(Outcome),
}

struct Shared {
    function_arn: String,
    queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    reports: mpsc::UnboundedSender<Report>,
    handed: std::sync::Mutex<HashMap<String, Instant>>,
}

/// A Runtime API server on 127.0.0.1 (any free port); dropped, it stops serving.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<Invocation>,
    reports: mpsc::UnboundedReceiver<Report>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(function_arn: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (events, queue) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn,
            queue: Mutex::new(queue),
            reports: reports_tx,
            handed: std::sync::Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(serve(listener, shared));
        Ok(Self {
            addr,
            events,
            reports,
            task,
        })
    }

    /// Queues an event; the function gets it on its next (or current) `next` call.
    pub fn send(&self, invocation: Invocation) {
        // The receiver lives as long as the server task, which lives as long as `self`.
        let _ = self.events.send(invocation);
    }

    async fn report(&mut self, timeout: Duration) -> Result<Report, String> {
        match tokio::time::timeout(timeout, self.reports.recv()).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err("runtime API stopped".into()),
            Err(_) => Err(format!("nothing from the function within {timeout:?}")),
        }
    }

    /// When the function's next `GET .../invocation/next` arrived. An init error or a
    /// response posted first is an error.
    pub async fn next_call(&mut self, timeout: Duration) -> Result<Instant, String> {
        match self.report(timeout).await? {
            Report::Next(at) => Ok(at),
            Report::Posted(o) => Err(format!(
                "{:?} instead of a `next` call: {}",
                o.kind,
                String::from_utf8_lossy(&o.body)
            )),
        }
    }

    /// The next thing the function posted back (skipping its `next` calls).
    pub async fn outcome(&mut self, timeout: Duration) -> Result<Outcome, String> {
        loop {
            if let Report::Posted(o) = self.report(timeout).await? {
                return Ok(o);
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn status(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = code;
    resp
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let path = req.uri().path().to_string();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return status(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#);
    };
    match (req.method(), route) {
        (&Method::GET, "invocation/next") => {
            let _ = shared.reports.send(Report::Next(arrived));
            let invocation = shared.queue.lock().await.recv().await;
            let Some(inv) = invocation else {
                return status(StatusCode::GONE, r#"{"errorMessage":"harness stopped"}"#);
            };
            let deadline = SystemTime::now()
                .checked_add(DEADLINE)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis());
            // X-Ray's format: Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0
            let hex: String = inv
                .id
                .chars()
                .filter(char::is_ascii_hexdigit)
                .chain(std::iter::repeat('0'))
                .take(24)
                .collect();
            let trace = format!(
                "Root=1-{:08x}-{hex};Parent=53995c3f42cd8ad8;Sampled=0",
                deadline / 1000
            );
            let resp = Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", inv.id.as_str())
                .header("lambda-runtime-deadline-ms", deadline.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    shared.function_arn.as_str(),
                )
                .header("lambda-runtime-trace-id", trace)
                .body(Full::new(inv.body));
            let Ok(resp) = resp else {
                return status(StatusCode::INTERNAL_SERVER_ERROR, "{}");
            };
            let handed = Instant::now();
            if let Ok(mut map) = shared.handed.lock() {
                map.insert(inv.id, handed);
            }
            resp
        }
        (&Method::POST, "init/error") => {
            let body = read_body(req).await;
            let _ = shared.reports.send(Report::Posted(Outcome {
                kind: Kind::InitError,
                id: None,
                body,
                handed: None,
                received: Instant::now(),
            }));
            status(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        (&Method::POST, route) => {
            let Some(rest) = route.strip_prefix("invocation/") else {
                return status(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#);
            };
            let (id, kind) = if let Some(id) = rest.strip_suffix("/response") {
                (id.to_string(), Kind::Response)
            } else if let Some(id) = rest.strip_suffix("/error") {
                (id.to_string(), Kind::Error)
            } else {
                return status(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#);
            };
            let body = read_body(req).await;
            let received = Instant::now();
            let handed = shared.handed.lock().ok().and_then(|mut m| m.remove(&id));
            let _ = shared.reports.send(Report::Posted(Outcome {
                kind,
                id: Some(id),
                body,
                handed,
                received,
            }));
            status(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"errorMessage":"method not allowed"}"#,
        ),
    }
}

async fn read_body(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the function's side of the protocol with a plain HTTP client.
    #[tokio::test]
    async fn hands_out_events_and_times_responses() {
        let mut api = RuntimeApi::start("arn:aws:lambda:us-east-1:000000000000:function:t".into())
            .await
            .unwrap();
        let base = format!("http://{}/2018-06-01/runtime", api.addr);
        let client = reqwest::Client::new();
        let poll = tokio::spawn({
            let (client, base) = (client.clone(), base.clone());
            async move { client.get(format!("{base}/invocation/next")).send().await }
        });
        api.next_call(Duration::from_secs(5)).await.unwrap();
        api.send(Invocation {
            id: "req-1".into(),
            body: Bytes::from_static(b"{\"hello\":1}"),
        });
        let resp = poll.await.unwrap().unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h["lambda-runtime-aws-request-id"], "req-1");
        assert!(h["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .is_ok());
        assert!(h["lambda-runtime-invoked-function-arn"]
            .to_str()
            .unwrap()
            .ends_with(":function:t"));
        assert!(h["lambda-runtime-trace-id"]
            .to_str()
            .unwrap()
            .starts_with("Root=1-"));
        assert_eq!(resp.text().await.unwrap(), "{\"hello\":1}");

        let posted = client
            .post(format!("{base}/invocation/req-1/response"))
            .body("{\"statusCode\":200}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        let out = api.outcome(Duration::from_secs(5)).await.unwrap();
        assert_eq!(out.kind, Kind::Response);
        assert_eq!(out.id.as_deref(), Some("req-1"));
        assert_eq!(&out.body[..], b"{\"statusCode\":200}");
        assert!(out.duration().is_some());

        let posted = client
            .post(format!("{base}/init/error"))
            .body("{\"errorMessage\":\"boom\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        let out = api.outcome(Duration::from_secs(5)).await.unwrap();
        assert_eq!(out.kind, Kind::InitError);
        assert!(out.duration().is_none());
    }
}
