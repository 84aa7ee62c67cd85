//! Load against the real local stack over HTTP: thousands of bookings from 32 concurrent
//! clients on a few hundred assets with heavy slot contention, each accepted booking paid
//! (or declined) against the Stripe emulator. Afterwards the test reads DynamoDB and the
//! emulator directly and checks the invariants that matter: no double booking, every 201 is
//! stored as answered, one live intent per booking, every payment settled by its webhook,
//! never a 5xx.
//!
//! `LOAD_BOOKINGS` (default 2000) sets the number of booking requests, `LOAD_ASSETS`
//! (default 250) the number of assets, `LOAD_CLIENTS` (default 32) the concurrency and
//! `LOAD_SEED` the random seed (printed, so a failing run can be replayed). Run it alone, with
//! its output:
//!
//! ```sh
//! cargo test -p local-stack --test api load:: -- --nocapture
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    attr, booking, ms, new_id, num_attr, rfc3339, scan, spawn_app_alone, Item, TestApp,
    CARD_DECLINED, CARD_OK,
};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};

const BOOKINGS_ROUTE: &str = "POST /v1/bookings";
const INTENT_ROUTE: &str = "POST /v1/payments/create-intent";
/// Support's `pay`: create a payment method, attach it, confirm (three emulator calls).
const PAY_ROUTE: &str = "Stripe pay (pm + attach + confirm)";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number: {v:?}"))
        })
        .unwrap_or(default)
}

/// splitmix64: a small deterministic generator, so a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One planned booking request, and what to do with it if it is accepted.
#[derive(Clone)]
struct Planned {
    body: Value,
    card: &'static str,
    amount: &'static str,
}

/// What one accepted booking went through.
struct Accepted {
    answered: Value,
    amount_minor: i64,
    intent_id: String,
    /// `true` if the card was CARD_OK (expect `completed`), `false` if declined (`failed`).
    paid: bool,
}

#[derive(Default)]
struct Record {
    statuses: BTreeMap<(&'static str, u16), usize>,
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    accepted: Vec<Accepted>,
    conflicts: usize,
    /// Anything that is not what the API promises, with the evidence.
    problems: Vec<String>,
}

impl Record {
    fn note(&mut self, route: &'static str, status: u16, took: Duration) {
        *self.statuses.entry((route, status)).or_default() += 1;
        self.latencies.entry(route).or_default().push(took);
    }

    fn merge(&mut self, other: Record) {
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.latencies {
            self.latencies.entry(k).or_default().extend(v);
        }
        self.accepted.extend(other.accepted);
        self.conflicts += other.conflicts;
        self.problems.extend(other.problems);
    }
}

/// Bookings of 30 or 60 minutes starting every quarter hour from 22:00 to 01:45 UTC: a
/// four-hour window across midnight (so some slots touch two days), on `assets` assets.
fn plan(n: usize, assets: usize, seed: u64) -> Vec<Planned> {
    let mut rng = Rng(seed);
    let asset_ids: Vec<String> = (0..assets).map(|_| new_id()).collect();
    let window_start = Utc.with_ymd_and_hms(2026, 6, 1, 22, 0, 0).unwrap();
    let amounts = ["0.50", "3.50", "4.50", "12.00", "25.75"];
    (0..n)
        .map(|_| {
            let asset = &asset_ids[rng.below(assets as u64) as usize];
            let start = window_start + chrono::Duration::minutes(15 * rng.below(16) as i64);
            let end = start + chrono::Duration::minutes(if rng.below(2) == 0 { 30 } else { 60 });
            let mut body = booking(asset, &new_id(), &rfc3339(start), &rfc3339(end));
            if rng.below(2) == 0 {
                body["asset_type"] = json!("parking_spot");
            }
            Planned {
                body,
                // Two in three payments succeed.
                card: if rng.below(3) == 0 {
                    CARD_DECLINED
                } else {
                    CARD_OK
                },
                amount: amounts[rng.below(amounts.len() as u64) as usize],
            }
        })
        .collect()
}

fn minor(amount: &str) -> i64 {
    let (units, cents) = amount.split_once('.').unwrap();
    units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

/// One client: takes the next planned request until there are none left.
async fn client(app: Arc<TestApp>, plan: Arc<Vec<Planned>>, next: Arc<AtomicUsize>) -> Record {
    let mut rec = Record::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(p) = plan.get(i) else {
            return rec;
        };
        let t = Instant::now();
        let created = app.create_booking(&p.body).await;
        rec.note(BOOKINGS_ROUTE, created.status, t.elapsed());
        match created.status {
            201 => {}
            409 => {
                rec.conflicts += 1;
                continue;
            }
            other => {
                rec.problems.push(format!(
                    "booking {} answered {other}: {}",
                    p.body, created.body
                ));
                continue;
            }
        }
        let id = created.body["id"].as_str().unwrap_or_default().to_string();
        let body = json!({
            "amount": serde_json::from_str::<Value>(p.amount).unwrap(),
            "currency": "usd",
            "booking_id": id,
        });
        let t = Instant::now();
        let intent = app.create_intent(&body).await;
        rec.note(INTENT_ROUTE, intent.status, t.elapsed());
        if intent.status != 200 {
            rec.problems.push(format!(
                "create-intent for fresh booking {id} answered {}: {}",
                intent.status, intent.body
            ));
            continue;
        }
        let intent_id = intent.body["payment_intent_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let t = Instant::now();
        let paid = app.pay(&intent_id, p.card).await;
        rec.note(PAY_ROUTE, paid.status, t.elapsed());
        let expected = if p.card == CARD_OK { 200 } else { 402 };
        if paid.status != expected {
            rec.problems.push(format!(
                "paying {intent_id} with {} answered {} (expected {expected}): {}",
                p.card, paid.status, paid.body
            ));
        }
        rec.accepted.push(Accepted {
            answered: created.body,
            amount_minor: minor(p.amount),
            intent_id,
            paid: p.card == CARD_OK,
        });
    }
}

/// Every PaymentIntent in the emulator, page by page as a Stripe client would (localstripe's
/// `List` has no maximum `limit`; real Stripe's is 100, which is what we ask for).
async fn all_intents(app: &TestApp) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let mut path = "/v1/payment_intents?limit=100".to_string();
        if let Some(last) = all.last() {
            path.push_str(&format!("&starting_after={}", last["id"].as_str().unwrap()));
        }
        let page = app.stripe(Method::GET, &path, &[]).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let data = page.body["data"].as_array().unwrap();
        all.extend(data.iter().cloned());
        if page.body["has_more"] != true || data.is_empty() {
            return all;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_latencies(rec: &Record) {
    println!(
        "{:<36} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "route", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (route, lat) in &rec.latencies {
        let mut lat = lat.clone();
        lat.sort();
        let f = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        println!(
            "{:<36} {:>6} {:>9} {:>9} {:>9} {:>9}",
            route,
            lat.len(),
            f(percentile(&lat, 50.0)),
            f(percentile(&lat, 95.0)),
            f(percentile(&lat, 99.0)),
            f(*lat.last().unwrap())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_contended_bookings_and_payments_keep_every_invariant() {
    let n = env_usize("LOAD_BOOKINGS", 2000);
    let assets = env_usize("LOAD_ASSETS", 250);
    let clients = env_usize("LOAD_CLIENTS", 32);
    let seed = std::env::var("LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("load: {n} booking requests, {assets} assets, {clients} clients, LOAD_SEED={seed}");
    // Alone: no other test runs beside this one (see support's `Turn`).
    let app = Arc::new(spawn_app_alone().await);
    let plan = Arc::new(plan(n, assets, seed));
    let next = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(app.clone(), plan.clone(), next.clone())))
        .collect();
    let mut rec = Record::default();
    for task in tasks {
        rec.merge(task.await.expect("a client panicked"));
    }
    let elapsed = started.elapsed();
    let requests: usize = rec.statuses.values().sum();
    let api_requests: usize = rec
        .statuses
        .iter()
        .filter(|((route, _), _)| *route != PAY_ROUTE)
        .map(|(_, c)| c)
        .sum();
    println!(
        "load phase: {:.1} s; {requests} timed operations ({api_requests} API requests, {} \
         three-call Stripe payments); {:.1} API requests/s, {:.1} booking requests/s, \
         {:.1} operations/s",
        elapsed.as_secs_f64(),
        requests - api_requests,
        api_requests as f64 / elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "bookings: {} created (201), {} refused as overlapping (409)",
        rec.accepted.len(),
        rec.conflicts
    );
    println!("statuses: {:?}", rec.statuses);
    print_latencies(&rec);

    // Never a 5xx, and nothing else the API does not promise here.
    let server_errors: Vec<_> = rec
        .statuses
        .iter()
        .filter(|((route, status), _)| *route != PAY_ROUTE && *status >= 500)
        .collect();
    assert!(server_errors.is_empty(), "5xx answered: {server_errors:?}");
    assert!(
        rec.problems.is_empty(),
        "{} unexpected answers, first ones: {:#?}",
        rec.problems.len(),
        &rec.problems[..rec.problems.len().min(10)]
    );
    assert_eq!(rec.accepted.len() + rec.conflicts, n);
    // With the default shape (8 requests per asset on 16 start times) about half clash: the
    // load has real contention. Smaller runs (LOAD_BOOKINGS) are not held to it.
    assert!(
        n < 4 * assets || rec.conflicts * 10 >= n,
        "only {} conflicts: the load is not contended",
        rec.conflicts
    );

    // Every payment settles through its webhook (~1 s after the payment): poll the table.
    let expected: HashMap<&str, &Accepted> = rec
        .accepted
        .iter()
        .map(|a| (a.answered["id"].as_str().unwrap(), a))
        .collect();
    let settle_started = Instant::now();
    let items = loop {
        let items = scan(app.dynamodb(), "bookings").await;
        let unsettled: Vec<String> = items
            .iter()
            .filter_map(|item| {
                let id = attr(item, "id")?;
                let want = match expected.get(id) {
                    Some(a) if a.paid => "completed",
                    Some(_) => "failed",
                    None => return None,
                };
                let got = attr(item, "payment_status").unwrap_or("?");
                (got != want).then(|| format!("{id}: {got}, expected {want}"))
            })
            .collect();
        if unsettled.is_empty() {
            break items;
        }
        assert!(
            settle_started.elapsed() < Duration::from_secs(90),
            "{} bookings never settled, e.g. {:#?}",
            unsettled.len(),
            &unsettled[..unsettled.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "every payment settled {:.1} s after the load phase",
        settle_started.elapsed().as_secs_f64()
    );

    // Every 201 is a stored booking with exactly the answered fields, and nothing else is
    // stored.
    let stored: HashMap<&str, &Item> = items
        .iter()
        .map(|item| (attr(item, "id").expect("a booking has an id"), item))
        .collect();
    assert_eq!(stored.len(), items.len(), "duplicate ids in the table");
    let answered_ids: BTreeSet<&str> = expected.keys().copied().collect();
    let stored_ids: BTreeSet<&str> = stored.keys().copied().collect();
    assert_eq!(
        answered_ids.difference(&stored_ids).count(),
        0,
        "answered 201 but not stored: {:?}",
        answered_ids.difference(&stored_ids).collect::<Vec<_>>()
    );
    assert_eq!(
        stored_ids.difference(&answered_ids).count(),
        0,
        "stored but never answered 201: {:?}",
        stored_ids.difference(&answered_ids).collect::<Vec<_>>()
    );
    for a in &rec.accepted {
        let item = stored[a.answered["id"].as_str().unwrap()];
        for field in [
            "id",
            "asset_id",
            "asset_type",
            "user_id",
            "start_time",
            "end_time",
            "status",
            "created_at",
        ] {
            assert_eq!(
                attr(item, field),
                a.answered[field].as_str(),
                "field {field} of {}: stored {item:?}",
                a.answered
            );
        }
        assert_eq!(a.answered["payment_status"], "pending");
        assert_eq!(attr(item, "status"), Some("confirmed"));
        assert_eq!(
            attr(item, "payment_intent_id"),
            Some(a.intent_id.as_str()),
            "{item:?}"
        );
        assert_eq!(num_attr(item, "amount_minor"), Some(a.amount_minor));
        if a.paid {
            assert_eq!(
                num_attr(item, "amount_received_minor"),
                Some(a.amount_minor)
            );
            assert!(attr(item, "paid_at").is_some(), "{item:?}");
        } else {
            assert!(
                attr(item, "payment_failure_reason").is_some_and(|r| !r.is_empty()),
                "{item:?}"
            );
        }
    }

    // No two confirmed bookings of one asset overlap ([start, end) half-open).
    let mut by_asset: BTreeMap<&str, Vec<(i64, i64, &str)>> = BTreeMap::new();
    for item in &items {
        if attr(item, "status") == Some("confirmed") {
            by_asset
                .entry(attr(item, "asset_id").unwrap())
                .or_default()
                .push((
                    ms(attr(item, "start_time").unwrap()),
                    ms(attr(item, "end_time").unwrap()),
                    attr(item, "id").unwrap(),
                ));
        }
    }
    for (asset, slots) in &mut by_asset {
        slots.sort();
        for pair in slots.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "asset {asset} is double booked: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
    println!(
        "{} confirmed bookings on {} assets, none overlapping",
        by_asset.values().map(Vec::len).sum::<usize>(),
        by_asset.len()
    );

    // The slot items hold exactly the intervals of the confirmed bookings, day by day.
    let mut want_intervals: BTreeSet<(String, String, String)> = BTreeSet::new();
    for item in &items {
        let (start, end) = (
            ms(attr(item, "start_time").unwrap()),
            ms(attr(item, "end_time").unwrap()),
        );
        let mut day = DateTime::from_timestamp_millis(start).unwrap().date_naive();
        let last = DateTime::from_timestamp_millis(end - 1)
            .unwrap()
            .date_naive();
        while day <= last {
            want_intervals.insert((
                format!("{}#{day}", attr(item, "asset_id").unwrap()),
                format!("b_{}", attr(item, "id").unwrap()),
                format!("{start}/{end}"),
            ));
            day = day.succ_opt().unwrap();
        }
    }
    let mut got_intervals: BTreeSet<(String, String, String)> = BTreeSet::new();
    for item in scan(app.dynamodb(), "booking-slots").await {
        let pk = attr(&item, "pk").unwrap().to_string();
        for (k, v) in &item {
            if k.starts_with("b_") {
                got_intervals.insert((pk.clone(), k.clone(), v.as_s().unwrap().clone()));
            }
        }
    }
    assert_eq!(
        got_intervals, want_intervals,
        "slot items and confirmed bookings disagree"
    );

    // Stripe: every intent belongs to a booking, at most one live (non-canceled) intent per
    // booking, and it is the booking's own intent, in the state its payment left it.
    let intents = all_intents(&app).await;
    let unique: BTreeSet<&str> = intents
        .iter()
        .map(|pi| pi["id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), intents.len(), "pagination repeated intents");
    let mut live: HashMap<&str, Vec<&Value>> = HashMap::new();
    for pi in &intents {
        let booking_id = pi["metadata"]["booking_id"].as_str().unwrap_or_default();
        assert!(
            stored.contains_key(booking_id),
            "intent for an unknown booking: {pi}"
        );
        if pi["status"] != "canceled" {
            live.entry(booking_id).or_default().push(pi);
        }
    }
    for a in &rec.accepted {
        let id = a.answered["id"].as_str().unwrap();
        let mine = live.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(mine.len(), 1, "booking {id} has live intents {mine:#?}");
        assert_eq!(mine[0]["id"], a.intent_id.as_str());
        assert_eq!(mine[0]["amount"], a.amount_minor);
        let want = if a.paid {
            "succeeded"
        } else {
            "requires_payment_method"
        };
        assert_eq!(mine[0]["status"], want, "{}", mine[0]);
    }
    println!(
        "Stripe: {} intents for {} bookings, one live intent each",
        intents.len(),
        rec.accepted.len()
    );
}
