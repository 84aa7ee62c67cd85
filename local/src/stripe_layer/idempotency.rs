//! Stripe's idempotent requests, over HTTP: one implementation for the Stripe layer and the
//! tests' fault proxy (`emulate_stripe_idempotency`). The same rules as the product's in-memory
//! fake (`shared::adapters::memory::payments`), from Stripe's docs
//! (<https://docs.stripe.com/api/idempotent_requests>,
//! <https://docs.stripe.com/error-low-level#idempotency>):
//!
//! - Only POST requests take a key ("All POST requests accept idempotency keys. Don't send
//!   idempotency keys in GET and DELETE requests because it has no effect"); the callers ask
//!   only for those.
//! - Keys are scoped to an account; here to the API key the request used.
//! - The first result for a key, a success or an error returned once the request began
//!   executing, is saved and replayed for at least 24 hours, as it was then, even if the object
//!   changed since; a replay carries `Idempotent-Replayed: true` (stripe-go reads it into
//!   `APIResponse.IdempotentReplayed`).
//! - 5xx answers are not saved (the request may be retried with the same key), nor are 409s
//!   (a conflict with another request: no endpoint began executing) or 429s (rate limited
//!   before executing).
//! - The same key with other parameters, or on another endpoint, is a 400 whose error type is
//!   `idempotency_error`.
//! - A key whose first request is still executing is a 409 `idempotency_key_in_use`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

/// "Keys are eligible to be removed from the system automatically after they're at least 24
/// hours old."
pub const KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// An HTTP answer as the layer (or the proxy) hands it back, and as a key saves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    /// A JSON answer, pretty-printed as Stripe (and localstripe) print theirs.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(pretty(body)),
        }
    }

    /// Stripe's error envelope: `{"error": {"type": ..., "code": ..., "message": ...}}`.
    pub fn stripe_error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Self {
        let mut error = json!({"type": kind, "message": message});
        if let Some(code) = code {
            error["code"] = json!(code);
        }
        Self::json(status, &json!({ "error": error }))
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The same answer, marked as Stripe marks a replay.
    pub fn replayed(&self) -> Self {
        let mut again = self.clone();
        again
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("idempotent-replayed"));
        again
            .headers
            .push(("idempotent-replayed".into(), "true".into()));
        again
    }

    /// The body as JSON, if it is.
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// JSON with two-space indents and a final newline.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

/// Whether Stripe saves this answer under its key (see the module doc).
pub fn is_saved(status: u16) -> bool {
    !(status >= 500 || status == 409 || status == 429)
}

/// What a request is, for comparing a key's later uses with its first: the endpoint (method
/// and path) and the parameters (query and body, decoded, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    endpoint: String,
    params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Params {
    Form(Vec<(String, String)>),
    Json(Vec<(String, String)>, Value),
}

impl Fingerprint {
    /// `path_and_query` as in the request line; `content_type` and `body` as sent.
    pub fn new(
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let json = content_type.is_some_and(|t| t.contains("json"));
        let params = match serde_json::from_slice::<Value>(body) {
            Ok(value) if json => Params::Json(pairs, value),
            _ => {
                pairs.extend(form_urlencoded::parse(body).into_owned());
                Params::Form(pairs)
            }
        };
        Self {
            endpoint: format!("{} {}", method.to_ascii_uppercase(), path),
            params,
        }
    }
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Begin {
    /// The key is new: execute the request, then hand its answer to the ticket.
    Execute(Ticket),
    /// The key's saved answer, already marked replayed.
    Replay(Answer),
    /// Stripe refuses the request (400 `idempotency_error`, 409 `idempotency_key_in_use`).
    Refuse(Answer),
}

#[derive(Debug)]
enum State {
    InFlight(u64),
    Done(Answer),
}

#[derive(Debug)]
struct Entry {
    request: Fingerprint,
    state: State,
    at: Instant,
}

type Slot = (String, String);

#[derive(Debug, Default)]
struct Keys {
    entries: HashMap<Slot, Entry>,
}

/// The keys seen so far, in memory. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct IdempotencyStore {
    keys: Arc<Mutex<Keys>>,
    retention: Duration,
    next_ticket: Arc<AtomicU64>,
}

impl Default for IdempotencyStore {
    fn default() -> Self {
        Self::with_retention(KEY_RETENTION)
    }
}

impl IdempotencyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys kept this long instead of 24 hours (tests).
    pub fn with_retention(retention: Duration) -> Self {
        Self {
            keys: Arc::default(),
            retention,
            next_ticket: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request with `key`, made with the API key `account`.
    pub fn begin(&self, account: &str, key: &str, request: Fingerprint) -> Begin {
        let mut keys = self.lock();
        let now = Instant::now();
        let retention = self.retention;
        keys.entries.retain(|_, e| {
            matches!(e.state, State::InFlight(_)) || now.duration_since(e.at) < retention
        });
        let slot = (account.to_string(), key.to_string());
        match keys.entries.get(&slot) {
            Some(entry) if entry.request.endpoint != request.endpoint => {
                Begin::Refuse(Answer::stripe_error(
                    400,
                    "idempotency_error",
                    None,
                    &format!(
                        "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{}' vs '{}'). Try using a key other than '{key}' if you meant to execute a different request.",
                        entry.request.endpoint, request.endpoint
                    ),
                ))
            }
            Some(entry) if entry.request.params != request.params => {
                Begin::Refuse(Answer::stripe_error(
                    400,
                    "idempotency_error",
                    None,
                    &format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                    ),
                ))
            }
            Some(Entry {
                state: State::InFlight(_),
                ..
            }) => Begin::Refuse(Answer::stripe_error(
                409,
                "invalid_request_error",
                Some("idempotency_key_in_use"),
                &format!(
                    "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): {key}. Please try again later."
                ),
            )),
            Some(Entry {
                state: State::Done(saved),
                ..
            }) => Begin::Replay(saved.replayed()),
            None => {
                let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
                keys.entries.insert(
                    slot.clone(),
                    Entry {
                        request,
                        state: State::InFlight(ticket),
                        at: now,
                    },
                );
                Begin::Execute(Ticket {
                    store: self.clone(),
                    slot,
                    ticket,
                    finished: false,
                })
            }
        }
    }

    /// How many keys are held (in flight or saved).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A key held while its first request executes. Dropped without [`Ticket::finish`] (the
/// request never produced an answer), the key is released as if the answer were a 5xx.
#[derive(Debug)]
pub struct Ticket {
    store: IdempotencyStore,
    slot: Slot,
    ticket: u64,
    finished: bool,
}

impl Ticket {
    /// The request's answer: saved under the key, or the key released (see [`is_saved`]).
    pub fn finish(mut self, answer: &Answer) {
        self.finished = true;
        self.settle(is_saved(answer.status).then(|| answer.clone()));
    }

    fn settle(&self, saved: Option<Answer>) {
        let mut keys = self.store.lock();
        let ours = matches!(
            keys.entries.get(&self.slot),
            Some(Entry { state: State::InFlight(t), .. }) if *t == self.ticket
        );
        if !ours {
            return;
        }
        match saved {
            Some(answer) => {
                if let Some(entry) = keys.entries.get_mut(&self.slot) {
                    entry.state = State::Done(answer);
                    entry.at = Instant::now();
                }
            }
            None => {
                keys.entries.remove(&self.slot);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished {
            self.settle(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(amount: &str) -> Fingerprint {
        Fingerprint::new(
            "POST",
            "/v1/payment_intents",
            Some("application/x-www-form-urlencoded"),
            format!("amount={amount}&currency=usd").as_bytes(),
        )
    }

    fn executes(begin: Begin) -> Ticket {
        match begin {
            Begin::Execute(ticket) => ticket,
            other => panic!("expected to execute, got {other:?}"),
        }
    }

    #[test]
    fn a_key_is_held_then_replayed_and_refused_for_other_requests() {
        let store = IdempotencyStore::new();
        let ticket = executes(store.begin("sk_a", "k", create("350")));
        match store.begin("sk_a", "k", create("350")) {
            Begin::Refuse(a) => assert_eq!(a.status, 409),
            other => panic!("{other:?}"),
        }
        let answer = Answer::json(200, &json!({"id": "pi_1"}));
        ticket.finish(&answer);
        match store.begin("sk_a", "k", create("350")) {
            Begin::Replay(a) => {
                assert_eq!(a.body, answer.body);
                assert!(a
                    .headers
                    .contains(&("idempotent-replayed".into(), "true".into())));
            }
            other => panic!("{other:?}"),
        }
        match store.begin("sk_a", "k", create("450")) {
            Begin::Refuse(a) => {
                assert_eq!(a.status, 400);
                assert_eq!(a.json_body().unwrap()["error"]["type"], "idempotency_error");
            }
            other => panic!("{other:?}"),
        }
        let refund = Fingerprint::new("POST", "/v1/refunds", None, b"amount=350&currency=usd");
        match store.begin("sk_a", "k", refund) {
            Begin::Refuse(a) => assert!(String::from_utf8_lossy(&a.body).contains("same endpoint")),
            other => panic!("{other:?}"),
        }
        // Another account's key of the same name is another key.
        executes(store.begin("sk_b", "k", create("450")));
    }

    #[test]
    fn server_errors_conflicts_and_dropped_requests_release_the_key() {
        let store = IdempotencyStore::new();
        for status in [500, 502, 409, 429] {
            executes(store.begin("sk", "k", create("350"))).finish(&Answer::stripe_error(
                status,
                "api_error",
                None,
                "x",
            ));
        }
        drop(executes(store.begin("sk", "k", create("350"))));
        // A 4xx from an executed request is saved, as a success is.
        executes(store.begin("sk", "k", create("350"))).finish(&Answer::stripe_error(
            402,
            "card_error",
            None,
            "declined",
        ));
        assert!(matches!(
            store.begin("sk", "k", create("350")),
            Begin::Replay(Answer { status: 402, .. })
        ));
    }

    #[test]
    fn keys_expire_after_the_retention() {
        let store = IdempotencyStore::with_retention(Duration::from_millis(20));
        executes(store.begin("sk", "k", create("350"))).finish(&Answer::json(200, &json!({})));
        std::thread::sleep(Duration::from_millis(30));
        executes(store.begin("sk", "k", create("450")));
    }

    #[test]
    fn parameters_compare_decoded_and_json_apart_from_forms() {
        let a = Fingerprint::new("POST", "/v1/x?y=1", None, b"a=%41");
        let b = Fingerprint::new("post", "/v1/x?y=1", None, b"a=A");
        assert_eq!(a, b);
        assert_ne!(a, Fingerprint::new("POST", "/v1/x?y=2", None, b"a=A"));
        let j = Fingerprint::new("POST", "/v1/x", Some("application/json"), br#"{"a": 1}"#);
        let k = Fingerprint::new("POST", "/v1/x", Some("application/json"), br#"{ "a":1 }"#);
        assert_eq!(j, k);
    }
}
