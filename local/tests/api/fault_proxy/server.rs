//! The proxy's server: accepting connections, applying a request's fault, forwarding to
//! upstream (or answering as Stripe's idempotency rules say), and logging it all.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use local_stack::stripe_layer::{api_key_of, Answer as Upstreamed, Begin, Fingerprint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::{Fault, Seen, State, Upstream};

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

pub(super) async fn accept_loop(
    listener: TcpListener,
    upstream: Upstream,
    state: Arc<Mutex<State>>,
) {
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
                    if let Ok((answer, replayed)) = &result {
                        let seen = &mut state.lock().unwrap().log[index];
                        seen.upstream_status = Some(answer.status);
                        seen.upstream_body =
                            Some(String::from_utf8_lossy(&answer.body).into_owned());
                        seen.replayed = *replayed;
                    }
                    result
                })
            };
            match forwarded.await.map_err(io::Error::other)? {
                Ok((answer, _)) => match &seen.fault {
                    Some(Fault::LoseResponse) => Err(io::ErrorKind::ConnectionReset.into()),
                    Some(Fault::StallResponse(hold)) => {
                        tokio::time::sleep(*hold).await;
                        Err(io::ErrorKind::TimedOut.into())
                    }
                    _ => {
                        let mut resp = hyper::Response::builder().status(answer.status);
                        for (name, value) in &answer.headers {
                            resp = resp.header(name, value);
                        }
                        Ok(resp.body(Full::new(answer.body.clone())).unwrap())
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

/// Sends the request upstream or, emulating Stripe's idempotency for a request with a key,
/// answers as Stripe would (a replay, a refusal). Returns the answer and whether it is a
/// replay.
async fn forward(
    upstream: &Upstream,
    state: &Mutex<State>,
    parts: &hyper::http::request::Parts,
    body: Bytes,
    idempotency_key: Option<&str>,
) -> Result<(Arc<Upstreamed>, bool), reqwest::Error> {
    let ticket = match idempotency_key {
        None => None,
        Some(key) => {
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let account = api_key_of(header("authorization")).unwrap_or_default();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let request =
                Fingerprint::new(parts.method.as_str(), path, header("content-type"), &body);
            let keys = state.lock().unwrap().idempotency.clone();
            match keys.begin(&account, key, request) {
                Begin::Replay(answer) => return Ok((Arc::new(answer), true)),
                Begin::Refuse(answer) => return Ok((Arc::new(answer), false)),
                Begin::Execute(ticket) => Some(ticket),
            }
        }
    };
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
    let answer = Upstreamed {
        status,
        headers,
        body,
    };
    // Saved unless Stripe would not save it (a 5xx, a 409); an upstream that never answered
    // drops the ticket, which frees the key.
    if let Some(ticket) = ticket {
        ticket.finish(&answer);
    }
    Ok((Arc::new(answer), false))
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
