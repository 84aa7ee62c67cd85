//! Every sample event in `events/` through the Lambda runtime the functions run on
//! (`lambda_http::run`, `lambda_runtime::run`), at `RUST_LOG=trace`, with the functions' own
//! log set-up (`telemetry`): not one API key, Stripe key, signing secret or client secret in
//! anything logged. The runtime itself logs the raw invocation event at TRACE (headers with
//! `X-API-Key`, `requestContext.identity.apiKey`, bodies), so this goes through the runtime,
//! fed by a local Runtime API (the part of it `lambda_runtime` calls), not straight to a handler.
//!
//! A test binary of its own: it sets process-wide environment (`RUST_LOG`, the runtime's
//! `AWS_LAMBDA_*`) and installs the process-wide log subscriber.

#[path = "api/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use support::product::{bookings, create_intent, reconcile, webhook};
use support::samples::{prepare, Prepared, Sample, FUNCTIONS};
use support::{spawn_app, API_KEY};
use tokio::sync::{mpsc, oneshot};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One invocation handed out: its id, the event, and where its answer goes.
struct Invocation {
    id: String,
    event: Bytes,
    answer: oneshot::Sender<Answer>,
}

#[derive(Debug)]
enum Answer {
    Response(Bytes),
    Error(Bytes),
}

type Queues = Arc<HashMap<String, tokio::sync::Mutex<mpsc::Receiver<Invocation>>>>;
type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>;

/// `/{function}/2018-06-01/runtime/invocation/next` hands out that function's next event;
/// `.../invocation/{id}/response` and `.../error` answer it.
async fn runtime_api(
    queues: Queues,
    waiting: Waiting,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let function = parts.next().unwrap_or_default().to_string();
    let rest = parts.next().unwrap_or_default().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    if rest == "2018-06-01/runtime/invocation/next" {
        let Some(queue) = queues.get(&function) else {
            return Ok(Response::builder()
                .status(404)
                .body(Full::default())
                .unwrap());
        };
        let Some(inv) = queue.lock().await.recv().await else {
            // The test is over: this runtime waits for ever, as on Lambda between events.
            std::future::pending::<()>().await;
            unreachable!()
        };
        waiting.lock().unwrap().insert(inv.id.clone(), inv.answer);
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        return Ok(Response::builder()
            .header("lambda-runtime-aws-request-id", &inv.id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            )
            .body(Full::new(inv.event))
            .unwrap());
    }
    let answer = rest
        .strip_prefix("2018-06-01/runtime/invocation/")
        .and_then(|r| r.split_once('/'));
    if let Some((id, kind)) = answer {
        let answer = match kind {
            "response" => Answer::Response(body),
            _ => Answer::Error(body),
        };
        if let Some(to) = waiting.lock().unwrap().remove(id) {
            let _ = to.send(answer);
        }
    }
    Ok(Response::builder()
        .status(202)
        .body(Full::default())
        .unwrap())
}

/// Starts the Runtime API; returns its address and a sender of events per function.
async fn start_runtime_api() -> (String, HashMap<String, mpsc::Sender<Invocation>>) {
    let mut senders = HashMap::new();
    let mut queues = HashMap::new();
    for f in FUNCTIONS {
        let (tx, rx) = mpsc::channel(1);
        senders.insert(f.to_string(), tx);
        queues.insert(f.to_string(), tokio::sync::Mutex::new(rx));
    }
    let queues: Queues = Arc::new(queues);
    let waiting: Waiting = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (queues, waiting) = (queues.clone(), waiting.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    runtime_api(queues.clone(), waiting.clone(), req)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, senders)
}

/// Sets the variables a function's runtime reads at its start (before its first poll).
fn runtime_env(api: &str, function: &str) {
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", format!("http://{api}/{function}"));
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", function);
}

/// Texts no log line may hold: whole secrets, and where one starts (`sk_`, `whsec_`, a
/// client secret's `_secret_`) at a word's start, whatever its value.
fn leaks(logs: &str, secrets: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for line in logs.lines() {
        let whole = secrets.iter().any(|s| line.contains(s.as_str()));
        let prefix = ["sk_", "whsec_", "_secret_"].iter().any(|p| {
            line.match_indices(p).any(|(i, _)| {
                *p == "_secret_"
                    || !line[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        });
        if whole || prefix {
            found.push(line.chars().take(400).collect());
        }
    }
    found
}

#[tokio::test]
async fn every_sample_through_the_runtime_at_trace_logs_no_secret() {
    std::env::set_var("RUST_LOG", "trace");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    runtime_env("127.0.0.1:1", "samples");
    let capture = Capture::default();
    let writer = capture.clone();
    shared::runtime::telemetry::init_with_writer(move || writer.clone(), false);

    let app = spawn_app().await;
    let stack = &app.stack;
    let Prepared {
        stripe, samples, ..
    } = prepare(&app).await;
    let (api, senders) = start_runtime_api().await;
    let (store, stripe) = (&stack.store, &stripe);

    // The four functions as their mains run them, each started on its own Runtime API path.
    let runtimes = async {
        let b = async {
            runtime_env(&api, "bookings");
            lambda_http::run(lambda_http::service_fn(move |req| async move {
                Ok::<_, Infallible>(bookings::handle(store, stripe, req).await)
            }))
            .await
        };
        let c = async {
            runtime_env(&api, "create-intent");
            lambda_http::run(lambda_http::service_fn(move |req| async move {
                Ok::<_, Infallible>(create_intent::handle(store, stripe, req).await)
            }))
            .await
        };
        let w = async {
            runtime_env(&api, "webhook");
            lambda_http::run(lambda_http::service_fn(move |req| async move {
                Ok::<_, Infallible>(webhook::handle(store, stripe, req).await)
            }))
            .await
        };
        let r = async {
            runtime_env(&api, "reconcile");
            lambda_http::lambda_runtime::run(lambda_http::service_fn(
                move |_: lambda_http::LambdaEvent<Value>| async move {
                    let (holds, rules) = (Default::default(), Default::default());
                    let budget = reconcile::Budget::unbounded();
                    let summary = reconcile::run(store, stripe, &holds, &rules, &budget).await?;
                    Ok::<_, lambda_http::Error>(serde_json::to_value(summary)?)
                },
            ))
            .await
        };
        futures::join!(b, c, w, r)
    };

    let feed = async {
        let mut failures = Vec::new();
        for (n, Sample { name, want, event }) in samples.iter().enumerate() {
            let (answer, answered) = oneshot::channel();
            let id = format!("sample-{n}");
            senders[&want.function]
                .send(Invocation {
                    id: id.clone(),
                    event: Bytes::from(event.to_string()),
                    answer,
                })
                .await
                .unwrap();
            let status = match answered.await.unwrap() {
                Answer::Response(body) if want.function == "reconcile" => {
                    let _: Value = serde_json::from_slice(&body).unwrap();
                    200
                }
                Answer::Response(body) => {
                    let resp: Value = serde_json::from_slice(&body).unwrap();
                    resp["statusCode"].as_u64().unwrap_or_default()
                }
                Answer::Error(body) => {
                    failures.push(format!("{name}: {}", String::from_utf8_lossy(&body)));
                    500
                }
            };
            if status != u64::from(want.status) {
                failures.push(format!("{name}: status {status}, expected {}", want.status));
            }
        }
        failures
    };
    let failures = tokio::select! {
        stopped = runtimes => panic!("a runtime stopped: {stopped:?}"),
        failures = feed => failures,
    };
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The runtime's own span (its request id) around the handlers' lines: the capture holds
    // what the runtime logs, or this test proves nothing.
    assert!(
        logs.contains("sample-0") && logs.contains("payment updated"),
        "the capture must hold the runtime's and the handlers' logs"
    );
    let mut secrets = vec![
        API_KEY.to_string(),
        stack.stripe_secret_key.clone(),
        stack.webhook_secrets[0].clone(),
    ];
    secrets.retain(|s| !s.is_empty());
    let found = leaks(&logs, &secrets);
    assert!(
        found.is_empty(),
        "{} log lines hold a secret, e.g.:\n{}",
        found.len(),
        found.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}
