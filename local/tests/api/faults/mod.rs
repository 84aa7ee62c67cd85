//! Faults between the functions and their dependencies (issue #6): the real local stack over
//! HTTP, with a fault-injecting proxy (`fault_proxy`) between the functions and Stripe
//! (localstripe) and another between the functions and DynamoDB (a dynoxide server). Each test
//! breaks the network in one way, then reads Stripe and DynamoDB directly (never through a
//! proxy) and checks what must hold when money is involved:
//!
//! - Stripe timeouts, resets and 500s: create-intent retries with ONE Idempotency-Key (read
//!   from the proxy's log) and either succeeds or answers 502 `{"detail": ...}`; a booking
//!   never points at an intent Stripe lacks, and has one live intent.
//! - Stripe applied a write but its answer was lost: localstripe ignores Idempotency-Key, so
//!   such a retry leaves a second intent there that real Stripe would not create; the tests
//!   count those orphans and check they are never attached, and show with the proxy playing
//!   Stripe's idempotency that the product's keys leave exactly one intent (and one refund).
//! - DynamoDB throttling and 500s: a burst is absorbed by the SDK's retries; a lasting fault is
//!   a 503 (bookings, create-intent) or a non-2xx (webhook, so Stripe delivers again), and
//!   nothing is half-applied.
//! - DynamoDB committed but its answer was lost: the retry (with the Idempotency-Key) or the
//!   redelivered webhook applies it exactly once.
//!
//! The Stripe client's per-attempt timeout is 4 s (3 attempts): a timeout is played by holding
//! a request just past it ([`STALL`]); the proxy lets go as soon as the caller hangs up. The
//! `#[ignore]`d tests at the end are weaknesses found here, failing until fixed.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::fault_proxy::{dynamo, request, Fault, FaultProxy, Seen};
use crate::support::{
    attr, event, example_booking, get_item, new_id, now, scan, spawn_app_with_stripe, succeeded,
    Answer, Item, StripeApi, TestApp, CARD_OK,
};
use aws_sdk_dynamodb::config::{Credentials, Region};
use local_stack::{default_python, register_webhook, start_localstripe, Dynamo, Stripe};
use serde_json::{json, Value};

/// Just past the Stripe client's 4 s per-attempt timeout.
const STALL: Duration = Duration::from_millis(4_250);
const PROVIDER_UNAVAILABLE: &str = "Payment provider is unavailable; please retry";
const STORE_UNAVAILABLE: &str = "Booking store is temporarily unavailable; please retry";

// ---------------------------------------------------------------------------------------------
// The rig

/// The real local stack with a fault proxy in front of each dependency: its own localstripe
/// and its own dynoxide server. Webhooks go from localstripe straight to the stack (only the
/// functions' calls are faulted), and the tests read both dependencies directly.
struct Rig {
    app: TestApp,
    /// Between the functions and localstripe.
    stripe: FaultProxy,
    /// Between the functions and dynoxide.
    dynamo: FaultProxy,
    /// localstripe itself: what Stripe really holds, asked without the proxy.
    localstripe: StripeApi,
    /// DynamoDB as it really is, read without the proxy.
    direct: aws_sdk_dynamodb::Client,
    dynoxide: tokio::task::JoinHandle<()>,
    _localstripe: tokio::process::Child,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.dynoxide.abort();
    }
}

async fn rig() -> Rig {
    let (localstripe, child) = start_localstripe(&default_python(), 0)
        .await
        .expect("localstripe starts (run `make tools` first)");
    let stripe = FaultProxy::start(&localstripe).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dynoxide = tokio::spawn(dynoxide::server::serve_on(
        listener,
        dynoxide::Database::memory().unwrap(),
    ));
    let dynamo = FaultProxy::start(&endpoint).await;
    let app = spawn_app_with_stripe(
        Dynamo::Endpoint(dynamo.url()),
        Stripe::External { base: stripe.url() },
    )
    .await;
    register_webhook(&localstripe, app.stack.addr, &app.stack.webhook_secrets)
        .await
        .expect("webhook registered");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    Rig {
        localstripe: StripeApi::new(
            app.client.clone(),
            &localstripe,
            &app.stack.stripe_secret_key,
        ),
        app,
        stripe,
        dynamo,
        direct: aws_sdk_dynamodb::Client::new(&config),
        dynoxide,
        _localstripe: child,
    }
}

/// What Stripe holds for one booking, next to the booking.
#[derive(Debug)]
struct AtStripe {
    booking: Value,
    /// Every intent localstripe has for the booking (by its metadata).
    intents: Vec<Value>,
    /// Ids of those not cancelled.
    live: BTreeSet<String>,
    /// Live intents the booking does not point at.
    live_orphans: BTreeSet<String>,
}

impl Rig {
    async fn create_intent(&self, booking_id: &str, amount: Value) -> Answer {
        self.app
            .create_intent(&json!({"amount": amount, "currency": "usd", "booking_id": booking_id}))
            .await
    }

    async fn intent(&self, id: &str) -> Value {
        self.localstripe.intent(id).await
    }

    /// Reads localstripe directly and checks the invariants that hold whatever the network
    /// did: the booking points at an intent Stripe has, and that intent is live unless the
    /// booking is settled.
    async fn at_stripe(&self, booking_id: &str) -> AtStripe {
        let booking = self.app.booking(booking_id).await;
        let intents = self.localstripe.intents_for(booking_id).await;
        let live: BTreeSet<String> = intents
            .iter()
            .filter(|pi| pi["status"] != "canceled")
            .map(|pi| pi["id"].as_str().unwrap().to_string())
            .collect();
        let attached = booking["payment_intent_id"].as_str();
        if let Some(id) = attached {
            assert!(
                intents.iter().any(|pi| pi["id"] == id),
                "the booking points at an intent Stripe does not have: {booking}\n{intents:#?}"
            );
            if booking["status"] == "confirmed" && booking["payment_status"] == "pending" {
                assert!(live.contains(id), "the booking's intent is dead: {booking}");
            }
        }
        let live_orphans = live
            .iter()
            .filter(|id| Some(id.as_str()) != attached)
            .cloned()
            .collect();
        AtStripe {
            booking,
            intents,
            live,
            live_orphans,
        }
    }

    /// Pays an intent at localstripe, as Stripe.js would (support's `pay`, past the proxy).
    async fn pay(&self, intent_id: &str) {
        let paid = self.localstripe.pay(intent_id, CARD_OK).await;
        assert_eq!(paid.body["status"], "succeeded", "{:?}", paid.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Stripe faults

/// The functions' POSTs creating an intent for this booking (their key names the booking).
fn creates_for(booking_id: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    let prefix = format!("booking-{booking_id}-");
    move |s: &Seen| {
        s.method == "POST"
            && s.path == "/v1/payment_intents"
            && s.idempotency_key
                .as_deref()
                .is_some_and(|k| k.starts_with(&prefix))
    }
}

fn cancel_of(intent_id: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    request("POST", format!("/v1/payment_intents/{intent_id}/cancel"))
}

/// The one Idempotency-Key every one of these requests carried.
fn one_key(requests: &[Seen]) -> String {
    let keys: BTreeSet<Option<&str>> = requests
        .iter()
        .map(|s| s.idempotency_key.as_deref())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "retries changed the Idempotency-Key: {keys:?}"
    );
    keys.into_iter()
        .next()
        .flatten()
        .expect("a POST without an Idempotency-Key")
        .to_string()
}

fn pi_of(answer: &Answer) -> String {
    answer.body["payment_intent_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no intent in {:?}", answer.body))
        .to_string()
}

#[tokio::test]
async fn stripe_timeouts_resets_and_500s_are_retried_with_one_idempotency_key() {
    let rig = rig().await;
    // A request held past the client's timeout, then a reset connection, then Stripe answers.
    let first = rig.app.new_booking().await;
    rig.stripe
        .fail_next(creates_for(&first), [Fault::Stall(STALL), Fault::Reset]);
    // Two Stripe 500s, then Stripe answers.
    let second = rig.app.new_booking().await;
    rig.stripe.fail_next(
        creates_for(&second),
        [Fault::stripe_500(), Fault::stripe_500()],
    );

    let (a, b) = tokio::join!(
        rig.create_intent(&first, json!(3.50)),
        rig.create_intent(&second, json!(3.50))
    );
    for (booking_id, answer) in [(&first, a), (&second, b)] {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let posts = rig.stripe.seen(creates_for(booking_id));
        assert_eq!(posts.len(), 3, "two faults, then the attempt that worked");
        assert_eq!(
            one_key(&posts),
            format!("booking-{booking_id}-after-none-350usd")
        );
        assert!(posts[..2]
            .iter()
            .all(|p| p.fault.is_some() && p.upstream_status.is_none()));
        assert_eq!(
            (posts[2].fault.clone(), posts[2].upstream_status),
            (None, Some(200))
        );

        // None of the faulted attempts reached Stripe: exactly one intent, the booking's.
        let at = rig.at_stripe(booking_id).await;
        assert_eq!(at.intents.len(), 1, "{:#?}", at.intents);
        assert_eq!(at.booking["payment_intent_id"], pi_of(&answer).as_str());
        assert_eq!(at.live, BTreeSet::from([pi_of(&answer)]));
    }
    // The stalled attempt was given up by the client at its timeout, not earlier.
    let posts = rig.stripe.seen(creates_for(&first));
    assert_eq!(posts[0].fault, Some(Fault::Stall(STALL)));
    assert!(posts[1].at.duration_since(posts[0].at) >= Duration::from_secs(4));
}

#[tokio::test]
async fn stripe_down_is_a_502_that_changes_nothing_and_a_later_call_recovers() {
    let rig = rig().await;
    let booking_id = rig.app.new_booking().await;
    let before = rig.app.booking(&booking_id).await;
    rig.stripe.fail_next(
        creates_for(&booking_id),
        [Fault::Reset, Fault::stripe_500(), Fault::Reset],
    );
    let down = rig.create_intent(&booking_id, json!(3.50)).await;
    assert_eq!(
        (down.status, down.body),
        (502, json!({"detail": PROVIDER_UNAVAILABLE}))
    );
    let posts = rig.stripe.seen(creates_for(&booking_id));
    assert_eq!(posts.len(), 3, "the client makes three attempts");
    let key = one_key(&posts);
    assert_eq!(rig.app.booking(&booking_id).await, before);
    assert!(rig.at_stripe(&booking_id).await.intents.is_empty());

    // Stripe is back: the next call goes through, with the same key as the failed one.
    let up = rig.create_intent(&booking_id, json!(3.50)).await;
    assert_eq!(up.status, 200, "{:?}", up.body);
    let posts = rig.stripe.seen(creates_for(&booking_id));
    assert_eq!((posts.len(), one_key(&posts)), (4, key));
    let pi = pi_of(&up);
    let at = rig.at_stripe(&booking_id).await;
    assert_eq!(at.intents.len(), 1);
    assert_eq!(at.live, BTreeSet::from([pi.clone()]));
    let attached = at.booking;

    // A new amount while Stripe fails to read the current intent...
    let read = request("GET", format!("/v1/payment_intents/{pi}"));
    rig.stripe.fail_always(read, Fault::stripe_500());
    let down = rig.create_intent(&booking_id, json!(4.50)).await;
    assert_eq!(
        (down.status, down.body),
        (502, json!({"detail": PROVIDER_UNAVAILABLE}))
    );
    rig.stripe.clear();
    // ... or to cancel it before a new one is made.
    rig.stripe.fail_always(cancel_of(&pi), Fault::Reset);
    let down = rig.create_intent(&booking_id, json!(4.50)).await;
    assert_eq!(
        (down.status, down.body),
        (502, json!({"detail": PROVIDER_UNAVAILABLE}))
    );
    rig.stripe.clear();
    let cancels = rig.stripe.seen(cancel_of(&pi));
    assert_eq!(
        (cancels.len(), one_key(&cancels)),
        (3, format!("cancel-{pi}"))
    );
    // Neither left a trace: the booking still points at its live intent, the only one.
    let at = rig.at_stripe(&booking_id).await;
    assert_eq!(at.booking, attached);
    assert_eq!(at.intents.len(), 1);
    assert_eq!(at.live, BTreeSet::from([pi.clone()]));

    // Stripe back: the replacement goes through and the old intent is dead.
    let replaced = rig.create_intent(&booking_id, json!(4.50)).await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    let new_pi = pi_of(&replaced);
    assert_ne!(new_pi, pi);
    assert_eq!(rig.intent(&pi).await["status"], "canceled");
    let at = rig.at_stripe(&booking_id).await;
    assert_eq!(at.live, BTreeSet::from([new_pi]));
    assert_eq!(at.booking["amount_minor"], 450);
}

/// The nasty case: Stripe creates the intent but its answer never reaches the function.
///
/// On real Stripe the retry, carrying the same Idempotency-Key, gets that same intent back
/// (for 24 h), so no second intent exists: the next test shows exactly that by letting the
/// proxy play Stripe's idempotency. localstripe IGNORES the key, so here every POST that
/// reached it made an intent, and the intents whose answer was lost stay live at the emulator
/// ("orphans"). What the product must still guarantee, and this test checks, is that an orphan
/// is never attached to the booking and never handed out (its client_secret never left the
/// proxy, so nobody can pay it): the booking points at exactly one live intent, the one the
/// caller got, and the only other live intents are the ones whose answer the proxy lost.
#[tokio::test]
async fn lost_create_responses_leave_orphans_at_localstripe_that_are_never_attached() {
    let rig = rig().await;
    // The answer is held past the client's timeout; the retry (same key) gets through.
    let one = rig.app.new_booking().await;
    rig.stripe
        .fail_next(creates_for(&one), [Fault::StallResponse(STALL)]);
    // Every attempt's answer is lost: 502; a later call gets through.
    let two = rig.app.new_booking().await;
    rig.stripe.fail_next(
        creates_for(&two),
        [
            Fault::LoseResponse,
            Fault::LoseResponse,
            Fault::LoseResponse,
        ],
    );
    let (a, b) = tokio::join!(
        rig.create_intent(&one, json!(3.50)),
        rig.create_intent(&two, json!(3.50))
    );
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        (b.status, b.body),
        (502, json!({"detail": PROVIDER_UNAVAILABLE}))
    );
    let untouched = rig.app.booking(&two).await;
    assert_eq!(untouched["payment_status"], "pending");
    assert!(untouched.get("payment_intent_id").is_none(), "{untouched}");
    let b = rig.create_intent(&two, json!(3.50)).await;
    assert_eq!(b.status, 200, "{:?}", b.body);

    for (booking_id, answer, lost) in [(&one, &a, 1), (&two, &b, 3)] {
        let posts = rig.stripe.seen(creates_for(booking_id));
        assert_eq!(posts.len(), lost + 1);
        // Real Stripe would have answered every one of these with the first intent.
        one_key(&posts);
        let handed_out = pi_of(answer);
        let at = rig.at_stripe(booking_id).await;
        // Every intent at Stripe for the booking came from one of these POSTs, one each.
        let created: BTreeSet<String> = posts.iter().filter_map(Seen::upstream_id).collect();
        let at_stripe: BTreeSet<String> = at
            .intents
            .iter()
            .map(|pi| pi["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(created, at_stripe);
        assert_eq!(created.len(), lost + 1);
        // The caller got the last one, and only that one is attached.
        let last = posts.last().unwrap();
        assert!(last.answered);
        assert_eq!(last.upstream_id().as_deref(), Some(handed_out.as_str()));
        assert_eq!(at.booking["payment_intent_id"], handed_out.as_str());
        // The live orphans are exactly the intents whose answer was lost.
        let lost_ids: BTreeSet<String> = posts
            .iter()
            .filter(|p| !p.answered)
            .filter_map(Seen::upstream_id)
            .collect();
        assert_eq!(lost_ids.len(), lost);
        assert!(!lost_ids.contains(&handed_out));
        assert_eq!(at.live_orphans, lost_ids, "{:#?}", at.intents);
        println!("booking {booking_id}: {lost} lost answer(s), {lost} orphan intent(s) at localstripe: {lost_ids:?}");
    }

    // The attached intent pays and completes the booking.
    rig.pay(&pi_of(&a)).await;
    let done = rig.app.wait_for_payment_status(&one, "completed").await;
    assert_eq!(done["payment_intent_id"], pi_of(&a).as_str());
}

/// The same faults as above, with the proxy playing real Stripe's idempotency (a POST whose
/// key was answered before gets that answer again): the product's keys make every retry, and
/// the later call after a 502, land on the first intent. Exactly one intent exists.
#[tokio::test]
async fn with_stripes_idempotency_lost_responses_leave_exactly_one_intent() {
    let rig = rig().await;
    rig.stripe.emulate_stripe_idempotency();
    let one = rig.app.new_booking().await;
    rig.stripe
        .fail_next(creates_for(&one), [Fault::LoseResponse]);
    let two = rig.app.new_booking().await;
    rig.stripe.fail_next(
        creates_for(&two),
        [
            Fault::LoseResponse,
            Fault::LoseResponse,
            Fault::LoseResponse,
        ],
    );
    let (a, b) = tokio::join!(
        rig.create_intent(&one, json!(3.50)),
        rig.create_intent(&two, json!(3.50))
    );
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        (b.status, b.body),
        (502, json!({"detail": PROVIDER_UNAVAILABLE}))
    );
    let b = rig.create_intent(&two, json!(3.50)).await;
    assert_eq!(b.status, 200, "{:?}", b.body);

    for (booking_id, answer, attempts) in [(&one, &a, 2), (&two, &b, 4)] {
        // What Stripe holds: one intent, attached, the one handed out.
        let at = rig.at_stripe(booking_id).await;
        assert_eq!(at.intents.len(), 1, "{:#?}", at.intents);
        let handed_out = pi_of(answer);
        assert_eq!(at.live, BTreeSet::from([handed_out.clone()]));
        assert_eq!(at.booking["payment_intent_id"], handed_out.as_str());
        // Why: every retry carried the first request's key, so it got the first answer.
        let posts = rig.stripe.seen(creates_for(booking_id));
        assert_eq!(posts.len(), attempts);
        one_key(&posts);
        assert!(!posts[0].replayed && posts[1..].iter().all(|p| p.replayed));
        assert_eq!(posts[0].upstream_id(), Some(handed_out));
    }
}

#[tokio::test]
async fn a_lost_cancel_response_while_replacing_an_intent_still_leaves_one_live_intent() {
    let rig = rig().await;
    let booking_id = rig.app.new_booking().await;
    let first = rig.create_intent(&booking_id, json!(3.50)).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let old = pi_of(&first);

    // A new amount: the old intent is cancelled at Stripe, but that answer is lost.
    rig.stripe.fail_next(cancel_of(&old), [Fault::LoseResponse]);
    let replaced = rig.create_intent(&booking_id, json!(4.50)).await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    let new = pi_of(&replaced);
    assert_ne!(new, old);

    let cancels = rig.stripe.seen(cancel_of(&old));
    assert_eq!(one_key(&cancels), format!("cancel-{old}"));
    // The lost one did cancel it; the retry was refused by localstripe as already cancelled
    // (real Stripe would replay the first answer for the key), so the function looked again.
    assert_eq!(cancels[0].upstream_status, Some(200));
    assert!(!cancels[0].answered);
    assert_eq!(rig.intent(&old).await["status"], "canceled");
    let at = rig.at_stripe(&booking_id).await;
    assert_eq!(at.live, BTreeSet::from([new.clone()]), "{:#?}", at.intents);
    assert_eq!(at.intents.len(), 2);
    assert_eq!(at.booking["amount_minor"], 450);
    let creates = rig.stripe.seen(creates_for(&booking_id));
    assert_eq!(creates.len(), 2, "one create per amount");
}

// ---------------------------------------------------------------------------------------------
// DynamoDB faults

impl Rig {
    async fn item(&self, table: &str, key: &str, value: &str) -> Option<Item> {
        get_item(&self.direct, table, key, value).await
    }

    async fn scan(&self, table: &str) -> Vec<Item> {
        scan(&self.direct, table).await
    }

    async fn booking_item(&self, id: &str) -> Option<Item> {
        self.item("bookings", "id", id).await
    }

    /// The booking ids holding intervals on the asset's slot item for that day.
    async fn slot_holders(&self, asset: &str, day: &str) -> BTreeSet<String> {
        self.item("booking-slots", "pk", &format!("{asset}#{day}"))
            .await
            .map(|item| {
                item.keys()
                    .filter_map(|k| k.strip_prefix("b_").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn event_recorded(&self, event_id: &str) -> bool {
        self.item("stripe-events", "pk", event_id).await.is_some()
    }

    /// A booking with an intent at localstripe, and that intent.
    async fn booking_with_intent(&self) -> (String, Value) {
        self.app.booking_with_intent_at(&self.localstripe).await
    }

    async fn deliver(&self, payload: &str) -> Answer {
        self.app
            .deliver(payload, Some(self.app.sign_now(payload)))
            .await
    }
}

/// A `payment_intent.succeeded` for this intent, and the event's id.
fn succeeded_event(intent: &Value) -> (String, String) {
    let payload = event("payment_intent.succeeded", now(), &succeeded(intent));
    let id = serde_json::from_str::<Value>(&payload).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    (payload, id)
}

fn assert_unavailable(answer: &Answer) {
    assert_eq!(
        (answer.status, &answer.body),
        (503, &json!({"detail": STORE_UNAVAILABLE}))
    );
}

/// The day of `example_booking`'s slot.
const DAY: &str = "2026-02-05";

#[tokio::test]
async fn a_burst_of_dynamodb_throttles_and_500s_is_absorbed_by_the_sdk_retries() {
    let rig = rig().await;
    let asset = new_id();
    rig.dynamo.fail_next(
        dynamo("TransactWriteItems"),
        [Fault::dynamo_throttle(), Fault::dynamo_500()],
    );
    let created = rig
        .app
        .create_booking_with_key(&example_booking(&asset, &new_id()), Some("burst-1"))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let writes = rig.dynamo.seen(dynamo("TransactWriteItems"));
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[0].fault, Some(Fault::dynamo_throttle()));
    assert_eq!(writes[1].fault, Some(Fault::dynamo_500()));
    assert_eq!(
        (writes[2].fault.clone(), writes[2].upstream_status),
        (None, Some(200))
    );
    let id = created.body["id"].as_str().unwrap();
    let stored = rig.booking_item(id).await.expect("booking stored");
    assert_eq!(attr(&stored, "status"), Some("confirmed"));
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.to_string()])
    );

    // Reads too.
    rig.dynamo.fail_next(
        dynamo("GetItem"),
        [Fault::dynamo_500(), Fault::dynamo_throttle()],
    );
    let got = rig.app.get(&format!("/v1/bookings/{id}")).await;
    assert_eq!((got.status, got.body), (200, created.body));
}

#[tokio::test]
async fn lasting_dynamodb_faults_are_503s_with_a_detail_and_nothing_is_half_applied() {
    let rig = rig().await;
    let (asset, user) = (new_id(), new_id());
    let body = example_booking(&asset, &user);

    // Every transaction throttled: the booking is refused whole.
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_throttle());
    let refused = rig
        .app
        .create_booking_with_key(&body, Some("lasting-1"))
        .await;
    assert_unavailable(&refused);
    assert_eq!(
        rig.dynamo.seen(dynamo("TransactWriteItems")).len(),
        3,
        "the SDK's three attempts"
    );
    rig.dynamo.clear();
    assert!(rig.scan("bookings").await.is_empty());
    assert!(rig.slot_holders(&asset, DAY).await.is_empty());
    assert!(rig.scan("idempotency").await.is_empty());

    // Every read failing: 503 as well, before anything is written.
    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    assert_unavailable(
        &rig.app
            .create_booking_with_key(&body, Some("lasting-1"))
            .await,
    );
    rig.dynamo.clear();
    assert!(rig.scan("bookings").await.is_empty());

    // Back: the same request and key is a first success (nothing was recorded), not a 409.
    let created = rig
        .app
        .create_booking_with_key(&body, Some("lasting-1"))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(created.headers.get("idempotent-replayed").is_none());
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(rig.scan("bookings").await.len(), 1);
    assert_eq!(rig.scan("idempotency").await.len(), 1);
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.clone()])
    );

    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    assert_unavailable(&rig.app.get(&format!("/v1/bookings/{id}")).await);
    rig.dynamo.clear();

    // Cancelling while transactions fail: the booking stays confirmed and keeps its slot.
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_500());
    let cancel = format!("/v1/bookings/{id}/cancel");
    assert_unavailable(&rig.app.post_json(&cancel, &json!({})).await);
    rig.dynamo.clear();
    let stored = rig.booking_item(&id).await.unwrap();
    assert_eq!(attr(&stored, "status"), Some("confirmed"));
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.clone()])
    );
    let cancelled = rig.app.post_json(&cancel, &json!({})).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(
        attr(&rig.booking_item(&id).await.unwrap(), "status"),
        Some("cancelled")
    );
    assert!(rig.slot_holders(&asset, DAY).await.is_empty());
}

#[tokio::test]
async fn a_webhook_that_cannot_be_stored_is_a_5xx_so_stripe_retries_and_applies_it_later() {
    let rig = rig().await;
    let (booking_id, intent) = rig.booking_with_intent().await;
    let (payload, event_id) = succeeded_event(&intent);

    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_throttle());
    let failed = rig.deliver(&payload).await;
    assert_unavailable(&failed);
    rig.dynamo.clear();
    // Neither the effect nor the "processed" mark: the redelivery will do it.
    let stored = rig.booking_item(&booking_id).await.unwrap();
    assert_eq!(attr(&stored, "payment_status"), Some("pending"));
    assert!(
        !rig.event_recorded(&event_id).await,
        "the event is marked processed but its effect was never written"
    );

    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    assert_unavailable(&rig.deliver(&payload).await);
    rig.dynamo.clear();

    let applied = rig.deliver(&payload).await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(applied.body["result"], "applied");
    let stored = rig.booking_item(&booking_id).await.unwrap();
    assert_eq!(attr(&stored, "payment_status"), Some("completed"));
    assert!(rig.event_recorded(&event_id).await);
}

/// A crash between the commit and its answer: the webhook's transaction (booking update +
/// "event processed" mark) reaches DynamoDB and commits, but the answer is lost.
#[tokio::test]
async fn a_webhook_redelivered_after_its_commit_answer_was_lost_is_applied_exactly_once() {
    let rig = rig().await;
    let writes = dynamo("TransactWriteItems");

    // One answer lost: the SDK retries with the same ClientRequestToken, DynamoDB answers
    // with the committed result instead of running it again.
    let (first, intent) = rig.booking_with_intent().await;
    let (payload, _) = succeeded_event(&intent);
    let mark = rig.dynamo.mark();
    rig.dynamo
        .fail_next(dynamo("TransactWriteItems"), [Fault::LoseResponse]);
    let applied = rig.deliver(&payload).await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(applied.body["result"], "applied");
    let sent: Vec<Seen> = rig.dynamo.since(mark).into_iter().filter(&writes).collect();
    assert_eq!(sent.len(), 2);
    let tokens: BTreeSet<_> = sent
        .iter()
        .map(|s| s.body_field("ClientRequestToken"))
        .collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(tokens.iter().all(Option::is_some));

    // Every answer lost, as if the function crashed after the commit: it answers 5xx and
    // Stripe delivers the event again.
    let (second, intent) = rig.booking_with_intent().await;
    let (payload2, event_id) = succeeded_event(&intent);
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    let crashed = rig.deliver(&payload2).await;
    assert_unavailable(&crashed);
    rig.dynamo.clear();
    // The write did commit, once.
    let committed = rig.booking_item(&second).await.unwrap();
    assert_eq!(attr(&committed, "payment_status"), Some("completed"));
    assert!(rig.event_recorded(&event_id).await);

    let mark = rig.dynamo.mark();
    for payload in [&payload2, &payload2, &payload] {
        let again = rig.deliver(payload).await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(again.body["result"], "duplicate", "{:?}", again.body);
    }
    // Nothing was written for the redeliveries, and the booking is as first committed.
    assert!(
        !rig.dynamo.since(mark).iter().any(&writes),
        "a redelivery wrote"
    );
    assert_eq!(rig.booking_item(&second).await.unwrap(), committed);
    let shown = rig.app.booking(&second).await;
    assert_eq!(
        (
            shown["payment_status"].clone(),
            shown["amount_received_minor"].clone()
        ),
        (json!("completed"), json!(350))
    );
    assert_eq!(rig.app.booking(&first).await["payment_status"], "completed");
}

/// A booking whose transaction committed but whose every answer was lost is a 503; the
/// client's retry with the same Idempotency-Key gets that booking, not a second one or a 409.
#[tokio::test]
async fn a_booking_whose_commit_answer_was_lost_is_created_once_when_retried_with_its_key() {
    let rig = rig().await;
    let (asset, user) = (new_id(), new_id());
    let body = example_booking(&asset, &user);
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    assert_unavailable(&rig.app.create_booking_with_key(&body, Some("lost-1")).await);
    rig.dynamo.clear();
    let stored = rig.scan("bookings").await;
    assert_eq!(stored.len(), 1, "the transaction committed");
    let id = attr(&stored[0], "id").unwrap().to_string();
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.clone()])
    );

    let retried = rig.app.create_booking_with_key(&body, Some("lost-1")).await;
    assert_eq!(retried.status, 201, "{:?}", retried.body);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(retried.body["id"], id.as_str());
    assert_eq!(rig.scan("bookings").await.len(), 1);
}

/// create-intent between its two writes: Stripe created the intent, DynamoDB failed to attach
/// it (or attached it and the answer was lost).
#[tokio::test]
async fn create_intent_when_dynamodb_fails_after_stripe_made_the_intent() {
    let rig = rig().await;

    // Not attached: 503, the booking points at nothing; the retry attaches one intent. The
    // first stays live and unattached at localstripe, which ignores the Idempotency-Key;
    // real Stripe would hand the retry that same intent (same key).
    let one = rig.app.new_booking().await;
    let request = json!({"amount": 3.50, "booking_id": one});
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_500());
    assert_unavailable(&rig.app.create_intent(&request).await);
    rig.dynamo.clear();
    assert!(rig
        .app
        .booking(&one)
        .await
        .get("payment_intent_id")
        .is_none());
    let orphan = rig.at_stripe(&one).await.live_orphans;
    assert_eq!(orphan.len(), 1);
    let retried = rig.app.create_intent(&request).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    let attached = pi_of(&retried);
    let at = rig.at_stripe(&one).await;
    assert_eq!(at.booking["payment_intent_id"], attached.as_str());
    assert_eq!(at.live_orphans, orphan, "{:#?}", at.intents);

    // Attached, answer lost: 503, but the retry hands out the very intent attached; no other.
    let two = rig.app.new_booking().await;
    let request = json!({"amount": 3.50, "booking_id": two});
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    assert_unavailable(&rig.app.create_intent(&request).await);
    rig.dynamo.clear();
    let stored = rig.booking_item(&two).await.unwrap();
    let committed = attr(&stored, "payment_intent_id")
        .expect("attached")
        .to_string();
    let retried = rig.app.create_intent(&request).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(pi_of(&retried), committed);
    assert_eq!(rig.at_stripe(&two).await.intents.len(), 1);
}

/// Cancelling a paid booking refunds it at Stripe, then writes the booking. Interrupted in
/// between (the refund's answer lost, or the booking write failing after the refund), the
/// retry must not refund twice. That rests on Stripe's idempotency for the refund's key
/// (`refund-<intent>`), so the proxy plays it: localstripe ignores keys and DOES refund twice
/// (a 3.50 charge ends with amount_refunded 7.00 there), as does real Stripe once the key is
/// more than 24 h old.
#[tokio::test]
async fn an_interrupted_refund_is_made_once_when_the_cancel_is_retried() {
    let rig = rig().await;
    rig.stripe.emulate_stripe_idempotency();
    let refunds = request("POST", "/v1/refunds");
    let paid = || async {
        let (booking_id, intent) = rig.booking_with_intent().await;
        let pi = intent["id"].as_str().unwrap().to_string();
        rig.pay(&pi).await;
        rig.app
            .wait_for_payment_status(&booking_id, "completed")
            .await;
        (booking_id, pi)
    };

    // The refund's answer is lost: the client's retry (same key) gets the same refund.
    let (one, pi_one) = paid().await;
    rig.stripe.fail_next(refunds.clone(), [Fault::LoseResponse]);
    let cancelled = rig
        .app
        .post_json(&format!("/v1/bookings/{one}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["payment_status"], "refunded");

    // Refunded at Stripe, then the booking write fails for good: 503, the booking is still
    // confirmed and paid (its slot held); the retried cancel records that same refund.
    let (two, pi_two) = paid().await;
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_500());
    let cancel = format!("/v1/bookings/{two}/cancel");
    assert_unavailable(&rig.app.post_json(&cancel, &json!({})).await);
    rig.dynamo.clear();
    let stored = rig.booking_item(&two).await.unwrap();
    assert_eq!(
        (attr(&stored, "status"), attr(&stored, "payment_status")),
        (Some("confirmed"), Some("completed"))
    );
    let cancelled_two = rig.app.post_json(&cancel, &json!({})).await;
    assert_eq!(cancelled_two.status, 200, "{:?}", cancelled_two.body);
    assert_eq!(cancelled_two.body["payment_status"], "refunded");

    for (pi, answer) in [(&pi_one, &cancelled), (&pi_two, &cancelled_two)] {
        let posts: Vec<Seen> = rig
            .stripe
            .seen(&refunds)
            .into_iter()
            .filter(|s| s.idempotency_key.as_deref() == Some(&format!("refund-{pi}")))
            .collect();
        assert_eq!(posts.len(), 2, "the refund and its retry");
        let intent = rig.intent(pi).await;
        let charge = &intent["latest_charge"];
        assert_eq!(charge["amount_refunded"], 350, "refunded once: {charge}");
        let made = &charge["refunds"]["data"];
        assert_eq!(made.as_array().map(Vec::len), Some(1), "{made}");
        assert_eq!(answer.body["refund_id"], made[0]["id"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Weaknesses found here, kept as failing tests (run with `-- --ignored`).

/// README: a 503 is "safe to retry". Not for `POST /v1/bookings` without an Idempotency-Key
/// whose transaction committed but whose answer was lost (all three SDK attempts): the
/// client's retry is a 409 against its own booking, whose id it never learned, and that
/// booking holds the slot. (With a key it is fine: see
/// `a_booking_whose_commit_answer_was_lost_is_created_once_when_retried_with_its_key`.)
#[tokio::test]
#[ignore = "bug: a POST /v1/bookings 503 is not safe to retry without Idempotency-Key (409 on the caller's own committed booking)"]
async fn retrying_a_booking_503_without_a_key_does_not_conflict_with_itself() {
    let rig = rig().await;
    let body = example_booking(&new_id(), &new_id());
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    assert_unavailable(&rig.app.create_booking_with_key(&body, None).await);
    rig.dynamo.clear();
    assert_eq!(rig.scan("bookings").await.len(), 1, "it committed");
    let retried = rig.app.create_booking_with_key(&body, None).await;
    assert_eq!(
        retried.status, 201,
        "the retry of a 503 conflicts with the caller's own booking: {:?}",
        retried.body
    );
}

/// template.yaml gives create-intent a 15 s Lambda timeout "so one slow Stripe call ends in
/// the code's own clean 502 rather than a Lambda timeout". But replacing an intent makes three
/// Stripe calls in a row (retrieve, cancel, create), each allowed 3 x 4 s plus backoff, with
/// no deadline across them. A Stripe that times out once on each of the first two and twice
/// on the create keeps the function busy ~19 s: on Lambda it is killed at 15 s (API Gateway
/// answers 502 `{"message": "Internal server error"}`, not `{"detail": ...}`), mid-way between
/// cancelling the old intent and attaching the new one.
#[tokio::test]
async fn create_intent_under_a_slow_stripe_answers_within_its_lambda_timeout() {
    let rig = rig().await;
    let booking_id = rig.app.new_booking().await;
    let first = rig.create_intent(&booking_id, json!(3.50)).await;
    let pi = pi_of(&first);
    rig.stripe.fail_next(
        request("GET", format!("/v1/payment_intents/{pi}")),
        [Fault::Stall(STALL)],
    );
    rig.stripe.fail_next(cancel_of(&pi), [Fault::Stall(STALL)]);
    rig.stripe.fail_next(
        creates_for(&booking_id),
        [Fault::Stall(STALL), Fault::Stall(STALL)],
    );
    let started = std::time::Instant::now();
    let answer = rig.create_intent(&booking_id, json!(4.50)).await;
    let took = started.elapsed();
    assert!(
        answer.status == 200 || answer.body["detail"].is_string(),
        "{:?}",
        answer.body
    );
    assert!(
        took < Duration::from_secs(15),
        "answered {} after {took:?}; the Lambda would have been killed at 15 s",
        answer.status
    );
}

/// The DynamoDB client has no operation or read timeout (the SDK's defaults: only a 3.1 s
/// connect timeout), so a DynamoDB connection that stops answering holds the function until
/// Lambda kills it (API Gateway then answers without a `{"detail": ...}`), instead of the
/// documented 503.
#[tokio::test]
async fn a_stalled_dynamodb_is_a_503_before_the_lambda_timeout() {
    let rig = rig().await;
    let id = rig.app.new_booking().await;
    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::Stall(Duration::from_secs(60)));
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        rig.app.get(&format!("/v1/bookings/{id}")),
    )
    .await
    .expect("no answer within 10 s (the webhook's Lambda timeout; bookings has 15 s)");
    assert_unavailable(&answer);
}
