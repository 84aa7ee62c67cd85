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

mod workload;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{attr, ms, num_attr, scan, spawn_app_alone, Item};
use chrono::DateTime;
use serde_json::Value;
use workload::{
    all_intents, client, env_usize, plan, print_latencies, Accepted, Record, PAY_ROUTE,
};

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
        // The interval, and the hold after it when the booking has one (issue 13).
        let value = match attr(item, "hold_expires_at") {
            Some(hold) => format!("{start}/{end}/{}", ms(hold)),
            None => format!("{start}/{end}"),
        };
        while day <= last {
            want_intervals.insert((
                format!("{}#{day}", attr(item, "asset_id").unwrap()),
                format!("b_{}", attr(item, "id").unwrap()),
                value.clone(),
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
