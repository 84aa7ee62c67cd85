//! `PaymentProvider` in memory, with Stripe's documented idempotency
//! (<https://docs.stripe.com/api/idempotent_requests>, <https://docs.stripe.com/error-low-level#idempotency>):
//! - the first result for a key, a success or an error returned once the request began
//!   executing, is saved and replayed for 24 hours, as it was then, even if the object changed
//!   since (a replayed create can return an intent that was cancelled in the meantime);
//! - 5xx answers and 409s are not saved (the request may be retried with the same key);
//! - the same key with other parameters, or on another endpoint, is 400 `idempotency_error`;
//! - a key whose first request is still executing is 409 `idempotency_key_in_use`.
//!
//! And Stripe's object rules the use cases depend on: only an intent in a cancelable state can
//! be cancelled (<https://docs.stripe.com/api/payment_intents/cancel>), only a succeeded one
//! refunded, once; only a `requires_capture` one captured, for at most its amount
//! (<https://docs.stripe.com/api/payment_intents/capture>).
//!
//! A test can run code at chosen points of a call ([`FakeStripe::on`]): before it reaches
//! Stripe, while Stripe executes it (its key in use), or after Stripe saved its result and
//! before the caller sees it. That is where a racer or a webhook delivery lands.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::domain::capture::DEFAULT_VALIDITY;
use crate::domain::{IntentId, IntentStatus, RefundStatus, Secret};
use crate::ports::{EventPage, EventQuery, ListedEvent};
use crate::ports::{Intent, NewIntent, PaymentProvider, ProviderError, Refund};

/// The account's event list (reconciliation).
mod events;

/// Stripe keeps idempotency keys for at least 24 hours.
const KEY_RETENTION: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Create,
    Retrieve,
    Cancel,
    Capture,
    Refund,
    /// `GET /v1/events` (one page).
    ListEvents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before the request reaches Stripe.
    Before,
    /// While Stripe executes it: its idempotency key is in use.
    During,
    /// Stripe has executed it and saved its result; the caller has not seen it yet.
    After,
}

pub type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

#[derive(Debug, Clone)]
enum Saved {
    Intent(Intent),
    Refund(Refund),
}

#[derive(Debug, Clone)]
enum KeyState {
    InFlight,
    Done(Result<Saved, ProviderError>),
}

#[derive(Debug, Clone)]
struct KeyEntry {
    request: String,
    state: KeyState,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    intents: BTreeMap<IntentId, Intent>,
    /// Every refund made, per intent, in order.
    refunded: HashMap<IntentId, Vec<Refund>>,
    keys: HashMap<String, KeyEntry>,
    hooks: Vec<(Call, When, Hook)>,
    failures: Vec<(Call, ProviderError)>,
    calls: Vec<Call>,
    next_id: u32,
    /// How far the fake's clock is ahead of the real one.
    skew: Duration,
    /// The status the next refund starts in (Stripe's refunds can start `pending`).
    refund_status: Option<RefundStatus>,
}

#[derive(Default)]
pub struct FakeStripe {
    state: Mutex<State>,
    /// The account's events (reconciliation), as Stripe's JSON, in the order emitted.
    events: Mutex<Vec<String>>,
    /// Every event list query made.
    queries: Mutex<Vec<EventQuery>>,
    /// Events per page; 0 is the default of two, so tests page through several.
    page_size: std::sync::atomic::AtomicUsize,
}

fn rejected(status: u16, code: &str, message: &str) -> ProviderError {
    ProviderError::Rejected {
        status,
        message: message.into(),
        code: Some(code.into()),
    }
}

impl FakeStripe {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `hook` once, at `when` of the next `call`.
    pub fn on(&self, call: Call, when: When, hook: Hook) {
        self.lock().hooks.push((call, when, hook));
    }

    /// The next `call` fails with `error` as it executes (saved under its key unless a 5xx or
    /// a 409, as Stripe does).
    pub fn fail_next(&self, call: Call, error: ProviderError) {
        self.lock().failures.push((call, error));
    }

    /// The intent as Stripe has it now.
    pub fn intent(&self, id: &IntentId) -> Option<Intent> {
        self.lock().intents.get(id).cloned()
    }

    /// Every intent ever created, oldest first.
    pub fn intents(&self) -> Vec<Intent> {
        let state = self.lock();
        let mut all: Vec<Intent> = state.intents.values().cloned().collect();
        all.sort_by_key(|i| {
            i.id.as_str()
                .trim_start_matches("pi_fake_")
                .parse::<u32>()
                .ok()
        });
        all
    }

    /// What the driver (or the Dashboard) does to an intent outside our calls.
    pub fn set_status(&self, id: &IntentId, status: IntentStatus) {
        if let Some(intent) = self.lock().intents.get_mut(id) {
            if status == IntentStatus::Succeeded {
                intent.amount_received = Some(intent.amount_minor);
            }
            // The driver confirmed a manual-capture intent: the hold is on the card, for 7
            // days from now unless a test says otherwise (`set_capture_before`).
            if status == IntentStatus::RequiresCapture {
                intent.amount_capturable = Some(intent.amount_minor);
                intent.capture_before = Some(Utc::now() + DEFAULT_VALIDITY);
            }
            intent.status = status;
        }
    }

    /// The authorization's charge says it must be captured before `at`.
    pub fn set_capture_before(&self, id: &IntentId, at: DateTime<Utc>) {
        if let Some(intent) = self.lock().intents.get_mut(id) {
            intent.capture_before = Some(at);
        }
    }

    /// The next refund starts in this status instead of `succeeded`.
    pub fn next_refund_status(&self, status: RefundStatus) {
        self.lock().refund_status = Some(status);
    }

    /// The refunds made of this intent, oldest first.
    pub fn refunds(&self, id: &IntentId) -> Vec<Refund> {
        self.lock().refunded.get(id).cloned().unwrap_or_default()
    }

    /// How many calls of this kind reached Stripe.
    pub fn calls(&self, call: Call) -> usize {
        self.lock().calls.iter().filter(|c| **c == call).count()
    }

    /// Moves the fake's clock (idempotency keys expire after 24 hours).
    pub fn advance(&self, by: Duration) {
        self.lock().skew += by;
    }

    async fn run_hooks(&self, call: Call, when: When) {
        let due: Vec<Hook> = {
            let mut state = self.lock();
            let (due, keep) = std::mem::take(&mut state.hooks)
                .into_iter()
                .partition(|(c, w, _)| *c == call && *w == when);
            state.hooks = keep;
            due.into_iter().map(|(_, _, h)| h).collect()
        };
        for hook in due {
            hook().await;
        }
    }

    /// One call the way Stripe runs it: the key checked, the endpoint executed, the result
    /// saved, with the hooks at their points.
    async fn request(
        &self,
        call: Call,
        key: Option<&str>,
        request: String,
        execute: impl FnOnce(&mut State) -> Result<Saved, ProviderError>,
    ) -> Result<(Saved, bool), ProviderError> {
        self.run_hooks(call, When::Before).await;
        {
            let mut state = self.lock();
            state.calls.push(call);
            let now = Utc::now() + state.skew;
            if let Some(key) = key {
                state.keys.retain(|_, e| {
                    now - e.at < KEY_RETENTION || matches!(e.state, KeyState::InFlight)
                });
                match state.keys.get(key) {
                    Some(entry) if entry.request != request => {
                        return Err(ProviderError::KeyReused);
                    }
                    Some(KeyEntry {
                        state: KeyState::InFlight,
                        ..
                    }) => {
                        return Err(ProviderError::KeyInUse);
                    }
                    Some(KeyEntry {
                        state: KeyState::Done(saved),
                        ..
                    }) => return saved.clone().map(|s| (s, true)),
                    None => {
                        let entry = KeyEntry {
                            request: request.clone(),
                            state: KeyState::InFlight,
                            at: now,
                        };
                        state.keys.insert(key.to_string(), entry);
                    }
                }
            }
        }
        self.run_hooks(call, When::During).await;
        let result = {
            let mut state = self.lock();
            let failure = state.failures.iter().position(|(c, _)| *c == call);
            let result = match failure {
                Some(i) => Err(state.failures.remove(i).1),
                None => execute(&mut state),
            };
            if let Some(key) = key {
                let saved = match &result {
                    Err(ProviderError::KeyInUse)
                    | Err(ProviderError::Rejected { status: 409, .. })
                    | Err(ProviderError::Unavailable(_))
                    | Err(ProviderError::RateLimited) => None,
                    _ => Some(KeyState::Done(result.clone())),
                };
                match saved {
                    Some(done) => {
                        if let Some(entry) = state.keys.get_mut(key) {
                            entry.state = done;
                        }
                    }
                    None => {
                        state.keys.remove(key);
                    }
                }
            }
            result
        };
        self.run_hooks(call, When::After).await;
        result.map(|s| (s, false))
    }
}

fn intent_of(saved: Result<(Saved, bool), ProviderError>) -> Result<Intent, ProviderError> {
    match saved? {
        (Saved::Intent(i), replayed) => Ok(Intent { replayed, ..i }),
        (Saved::Refund(_), _) => Err(ProviderError::Protocol("a refund, not an intent".into())),
    }
}

fn found<'a>(state: &'a mut State, id: &IntentId) -> Result<&'a mut Intent, ProviderError> {
    state.intents.get_mut(id).ok_or_else(|| {
        rejected(
            404,
            "resource_missing",
            &format!("No such payment_intent: '{id}'"),
        )
    })
}

impl PaymentProvider for FakeStripe {
    async fn create_intent(&self, new: &NewIntent, key: &str) -> Result<Intent, ProviderError> {
        let request = format!(
            "POST /v1/payment_intents amount={} currency={} booking={} capture_method={}",
            new.amount.minor,
            new.amount.currency.code,
            new.booking_id,
            new.capture_method.as_str()
        );
        let new = new.clone();
        let saved = self
            .request(Call::Create, Some(key), request, move |state| {
                state.next_id += 1;
                let id = IntentId::parse(&format!("pi_fake_{}", state.next_id))
                    .map_err(|e| ProviderError::Protocol(e.to_string()))?;
                let intent = Intent {
                    client_secret: Some(Secret::new(format!("{id}_secret_fake"))),
                    id: id.clone(),
                    status: IntentStatus::RequiresPaymentMethod,
                    amount_minor: new.amount.minor,
                    currency: new.amount.currency.code.to_string(),
                    amount_received: None,
                    capture_method: new.capture_method,
                    amount_capturable: None,
                    capture_before: None,
                    replayed: false,
                };
                state.intents.insert(id, intent.clone());
                Ok(Saved::Intent(intent))
            })
            .await;
        intent_of(saved)
    }

    async fn retrieve_intent(&self, id: &IntentId) -> Result<Intent, ProviderError> {
        let request = format!("GET /v1/payment_intents/{id}");
        let id = id.clone();
        let saved = self
            .request(Call::Retrieve, None, request, move |state| {
                found(state, &id).map(|i| Saved::Intent(i.clone()))
            })
            .await;
        intent_of(saved)
    }

    async fn cancel_intent(&self, id: &IntentId, key: &str) -> Result<Intent, ProviderError> {
        let request = format!("POST /v1/payment_intents/{id}/cancel");
        let id = id.clone();
        let saved = self
            .request(Call::Cancel, Some(key), request, move |state| {
                let intent = found(state, &id)?;
                // Cards: `processing` is cancelable only "in rare cases" (other payment methods).
                let cancelable =
                    intent.status.is_payable() || intent.status == IntentStatus::RequiresCapture;
                if !cancelable {
                    return Err(rejected(
                        400,
                        "payment_intent_unexpected_state",
                        &format!(
                            "You cannot cancel this PaymentIntent because it has a status of {}.",
                            intent.status.as_str()
                        ),
                    ));
                }
                intent.status = IntentStatus::Canceled;
                intent.amount_capturable = Some(0);
                Ok(Saved::Intent(intent.clone()))
            })
            .await;
        intent_of(saved)
    }

    async fn capture_intent(
        &self,
        id: &IntentId,
        amount_to_capture: i64,
        key: &str,
    ) -> Result<Intent, ProviderError> {
        let request =
            format!("POST /v1/payment_intents/{id}/capture amount_to_capture={amount_to_capture}");
        let id = id.clone();
        let saved = self
            .request(Call::Capture, Some(key), request, move |state| {
                let intent = found(state, &id)?;
                if intent.status != IntentStatus::RequiresCapture {
                    return Err(rejected(
                        400,
                        "payment_intent_unexpected_state",
                        &format!(
                            "This PaymentIntent could not be captured because it has a status of {}.",
                            intent.status.as_str()
                        ),
                    ));
                }
                if amount_to_capture > intent.amount_capturable.unwrap_or(0) {
                    return Err(rejected(
                        400,
                        "amount_too_large",
                        "The amount to capture exceeds the amount capturable.",
                    ));
                }
                intent.status = IntentStatus::Succeeded;
                intent.amount_received = Some(amount_to_capture);
                intent.amount_capturable = Some(0);
                Ok(Saved::Intent(intent.clone()))
            })
            .await;
        intent_of(saved)
    }

    async fn refund_intent(
        &self,
        id: &IntentId,
        amount: Option<i64>,
        key: &str,
    ) -> Result<Refund, ProviderError> {
        let request = match amount {
            Some(amount) => format!("POST /v1/refunds payment_intent={id} amount={amount}"),
            None => format!("POST /v1/refunds payment_intent={id}"),
        };
        let id = id.clone();
        let saved = self
            .request(Call::Refund, Some(key), request, move |state| {
                let intent = found(state, &id)?.clone();
                if intent.status != IntentStatus::Succeeded {
                    return Err(rejected(
                        400,
                        "payment_intent_unexpected_state",
                        "This PaymentIntent does not have a successful charge to refund.",
                    ));
                }
                let received = intent.amount_received.unwrap_or(intent.amount_minor);
                let before: i64 = state
                    .refunded
                    .get(&id)
                    .map(|refunds| refunds.iter().filter_map(|r| r.amount).sum())
                    .unwrap_or(0);
                let left = received - before;
                if left <= 0 {
                    return Err(rejected(
                        400,
                        "charge_already_refunded",
                        "Charge has already been refunded.",
                    ));
                }
                // Stripe: "Refund amount ($1.00) is greater than unrefunded amount on charge
                // ($0.90)", an invalid_request_error without a code.
                let amount = amount.unwrap_or(left);
                if amount <= 0 || amount > left {
                    return Err(ProviderError::Rejected {
                        status: 400,
                        message: format!(
                            "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                        ),
                        code: None,
                    });
                }
                let n = state.refunded.values().map(Vec::len).sum::<usize>();
                let refund = Refund {
                    id: format!("re_fake_{}", n + 1),
                    amount: Some(amount),
                    status: Some(
                        state
                            .refund_status
                            .take()
                            .unwrap_or(RefundStatus::Succeeded),
                    ),
                };
                state.refunded.entry(id).or_default().push(refund.clone());
                Ok(Saved::Refund(refund))
            })
            .await;
        match saved?.0 {
            Saved::Refund(r) => Ok(r),
            Saved::Intent(_) => Err(ProviderError::Protocol("an intent, not a refund".into())),
        }
    }

    async fn list_events(
        &self,
        query: &crate::ports::EventQuery,
    ) -> Result<EventPage, ProviderError> {
        self.event_page(query).await
    }
}
