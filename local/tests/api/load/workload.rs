//! The load's workload: a plan of booking requests drawn from a seed, the clients that send
//! them (each accepted booking then paid or declined), what they record, and the reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{booking, new_id, rfc3339, TestApp, CARD_DECLINED, CARD_OK};
use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};

const BOOKINGS_ROUTE: &str = "POST /v1/bookings";
const INTENT_ROUTE: &str = "POST /v1/payments/create-intent";
/// Support's `pay`: create a payment method, attach it, confirm (three emulator calls).
pub(super) const PAY_ROUTE: &str = "Stripe pay (pm + attach + confirm)";

pub(super) fn env_usize(name: &str, default: usize) -> usize {
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
pub(super) struct Planned {
    body: Value,
    card: &'static str,
    amount: &'static str,
}

/// What one accepted booking went through.
pub(super) struct Accepted {
    pub(super) answered: Value,
    pub(super) amount_minor: i64,
    pub(super) intent_id: String,
    /// `true` if the card was CARD_OK (expect `completed`), `false` if declined (`failed`).
    pub(super) paid: bool,
}

#[derive(Default)]
pub(super) struct Record {
    pub(super) statuses: BTreeMap<(&'static str, u16), usize>,
    pub(super) latencies: BTreeMap<&'static str, Vec<Duration>>,
    pub(super) accepted: Vec<Accepted>,
    pub(super) conflicts: usize,
    /// Anything that is not what the API promises, with the evidence.
    pub(super) problems: Vec<String>,
}

impl Record {
    fn note(&mut self, route: &'static str, status: u16, took: Duration) {
        *self.statuses.entry((route, status)).or_default() += 1;
        self.latencies.entry(route).or_default().push(took);
    }

    pub(super) fn merge(&mut self, other: Record) {
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
pub(super) fn plan(n: usize, assets: usize, seed: u64) -> Vec<Planned> {
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
pub(super) async fn client(
    app: Arc<TestApp>,
    plan: Arc<Vec<Planned>>,
    next: Arc<AtomicUsize>,
) -> Record {
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
pub(super) async fn all_intents(app: &TestApp) -> Vec<Value> {
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

pub(super) fn print_latencies(rec: &Record) {
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
