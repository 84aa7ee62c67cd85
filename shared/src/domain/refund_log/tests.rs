use super::*;
use RefundStatus as R;

fn mark(key: &str) -> RequestMark {
    RequestMark {
        key: key.into(),
        hash: format!("h-{key}"),
    }
}

fn stripe(id: &str, amount: i64, status: RefundStatus) -> RefundEntry {
    RefundEntry::of_stripe(id.into(), amount, status, None, None)
}

const ALL: [RefundStatus; 5] = RefundStatus::ALL;

#[test]
fn statuses_round_trip_and_only_failed_or_canceled_stop_counting() {
    for s in ALL
        .map(EntryStatus::Stripe)
        .into_iter()
        .chain([EntryStatus::Reserved])
    {
        assert_eq!(EntryStatus::parse(s.as_str()), Some(s));
        let counts = !matches!(s, EntryStatus::Stripe(R::Failed | R::Canceled));
        assert_eq!(s.counts(), counts, "{s:?}");
    }
    assert_eq!(EntryStatus::parse("done"), None);
}

/// Every pair of statuses: the status after an update is the update's unless the entry's is
/// final (failed, canceled) or the update would move a succeeded refund back.
#[test]
fn a_refund_s_status_only_moves_forward() {
    for from in ALL {
        for to in ALL {
            let mut entries = vec![stripe("re_1", 100, from)];
            let changed = upsert(&mut entries, stripe("re_1", 100, to));
            let expected = match from {
                R::Failed | R::Canceled => from,
                R::Succeeded if matches!(to, R::Pending | R::RequiresAction) => from,
                _ => to,
            };
            assert_eq!(
                entries[0].status,
                EntryStatus::Stripe(expected),
                "{from:?} -> {to:?}"
            );
            assert_eq!(changed, expected != from, "{from:?} -> {to:?}");
            assert_eq!(entries.len(), 1);
        }
    }
}

#[test]
fn an_upsert_adds_a_new_refund_and_fills_what_an_entry_lacked() {
    let mut entries = Vec::new();
    assert!(upsert(&mut entries, stripe("re_1", 100, R::Succeeded)));
    assert!(upsert(&mut entries, stripe("re_2", 50, R::Pending)));
    assert_eq!(entries.len(), 2);
    let at = "2026-02-05T23:00:00Z".parse().unwrap();
    let told = RefundEntry::of_stripe(
        "re_1".into(),
        100,
        R::Succeeded,
        Some("duplicate".into()),
        Some(at),
    );
    assert!(upsert(&mut entries, told.clone()));
    assert_eq!(entries[0].reason.as_deref(), Some("duplicate"));
    assert_eq!(entries[0].created_at, Some(at));
    // Again: nothing changes.
    assert!(!upsert(&mut entries, told));
    assert_eq!(latest_refund_id(&entries), Some("re_2"));
}

#[test]
fn what_is_refundable() {
    // Nothing yet.
    assert_eq!(refundable_minor(&[], 1000, 0), 1000);
    // A Dashboard refund known only from charge.refunded.
    assert_eq!(refundable_minor(&[], 1000, 300), 700);
    // ... then its refund event: counted once.
    let told = [stripe("re_d", 300, R::Succeeded)];
    assert_eq!(refundable_minor(&told, 1000, 300), 700);
    // A pending refund not yet in amount_refunded.
    let pending = [stripe("re_p", 500, R::Pending)];
    assert_eq!(refundable_minor(&pending, 1000, 0), 500);
    // A failed one gives its money back.
    let failed = [stripe("re_f", 500, R::Failed)];
    assert_eq!(refundable_minor(&failed, 1000, 0), 1000);
    // A reservation counts; one not itemised at Stripe yet too.
    let mut entries = vec![stripe("re_d", 300, R::Succeeded)];
    reserve(&mut entries, mark("k"), 200, None, (1000, 300)).unwrap();
    assert_eq!(refundable_minor(&entries, 1000, 300), 500);
    // Never below zero, whatever Stripe reports.
    assert_eq!(refundable_minor(&entries, 1000, 5000), 0);
}

#[test]
fn a_reservation_never_exceeds_what_is_left() {
    let mut entries = Vec::new();
    assert_eq!(
        reserve(&mut entries, mark("a"), 1001, None, (1000, 0)),
        Err(Refused::TooMuch {
            refundable_minor: 1000
        })
    );
    reserve(&mut entries, mark("a"), 600, None, (1000, 0)).unwrap();
    assert_eq!(
        reserve(&mut entries, mark("b"), 401, None, (1000, 0)),
        Err(Refused::TooMuch {
            refundable_minor: 400
        })
    );
    reserve(&mut entries, mark("b"), 400, None, (1000, 0)).unwrap();
    assert_eq!(
        reserve(&mut entries, mark("c"), 1, None, (1000, 0)),
        Err(Refused::TooMuch {
            refundable_minor: 0
        })
    );
    // Released: its amount is refundable again.
    assert!(release(&mut entries, &mark("b")));
    assert!(!release(&mut entries, &mark("b")));
    assert_eq!(refundable_minor(&entries, 1000, 0), 400);
}

#[test]
fn a_request_finds_its_entry_and_a_reused_key_is_told_apart() {
    let mut entries = Vec::new();
    assert_eq!(find(&entries, &mark("a")), Found::New);
    reserve(&mut entries, mark("a"), 100, None, (1000, 0)).unwrap();
    assert!(matches!(find(&entries, &mark("a")), Found::Mine(e) if e.amount_minor == 100));
    let other = RequestMark {
        key: "a".into(),
        hash: "something else".into(),
    };
    assert_eq!(find(&entries, &other), Found::OtherRequest);
}

#[test]
fn settling_fills_the_reservation_and_merges_an_event_that_came_first() {
    // Stripe answered first.
    let mut entries = Vec::new();
    reserve(
        &mut entries,
        mark("a"),
        100,
        Some("duplicate".into()),
        (1000, 0),
    )
    .unwrap();
    settle(&mut entries, &mark("a"), stripe("re_1", 100, R::Pending));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].refund_id.as_deref(), Some("re_1"));
    assert_eq!(entries[0].reason.as_deref(), Some("duplicate"));
    assert_eq!(entries[0].request, Some(mark("a")));
    // Its event later: one entry, moved on.
    upsert(&mut entries, stripe("re_1", 100, R::Succeeded));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Stripe(R::Succeeded));

    // The event first (succeeded), then Stripe's answer (pending): one entry, succeeded, with
    // the request's reason, where the reservation was.
    let mut entries = vec![stripe("re_0", 50, R::Succeeded)];
    reserve(
        &mut entries,
        mark("b"),
        100,
        Some("fraudulent".into()),
        (1000, 0),
    )
    .unwrap();
    upsert(&mut entries, stripe("re_2", 100, R::Succeeded));
    assert_eq!(
        committed_minor(&entries),
        250,
        "counted twice for a moment: never too little"
    );
    settle(&mut entries, &mark("b"), stripe("re_2", 100, R::Pending));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].refund_id.as_deref(), Some("re_2"));
    assert_eq!(entries[1].status, EntryStatus::Stripe(R::Succeeded));
    assert_eq!(entries[1].reason.as_deref(), Some("fraudulent"));
    assert_eq!(committed_minor(&entries), 150);
    // A release after the refund was made removes nothing.
    assert!(!release(&mut entries, &mark("b")));
}

#[test]
fn stamping_gives_a_time_only_to_entries_without_one() {
    let t1 = "2026-02-05T23:00:00Z".parse().unwrap();
    let t2 = "2026-02-06T23:00:00Z".parse().unwrap();
    let mut entries = vec![
        RefundEntry::of_stripe("re_1".into(), 1, R::Succeeded, None, Some(t1)),
        stripe("re_2", 1, R::Succeeded),
    ];
    stamp(&mut entries, t2);
    assert_eq!(entries[0].created_at, Some(t1));
    assert_eq!(entries[1].created_at, Some(t2));
}

#[test]
fn a_booking_lists_at_most_max_refunds() {
    let mut entries: Vec<RefundEntry> = (0..MAX_REFUNDS)
        .map(|i| stripe(&format!("re_{i}"), 1, R::Succeeded))
        .collect();
    assert_eq!(
        reserve(&mut entries, mark("a"), 1, None, (1000, 0)),
        Err(Refused::TooMany)
    );
    assert!(!upsert(&mut entries, stripe("re_new", 1, R::Succeeded)));
}

/// Every order of up to five steps of two operator requests (reserve; Stripe makes the
/// refund; our record of Stripe's answer; Stripe's event, before or after that record; a
/// release after Stripe refused), for several amounts: the refunds set aside, each counted
/// once, never exceed what was received, and each refund Stripe made ends listed at most once
/// (exactly once once recorded or told).
#[test]
fn no_order_of_steps_sets_aside_more_than_was_received() {
    #[derive(Clone, Copy, Debug)]
    enum Step {
        Reserve(usize),
        Made(usize),
        Settle(usize),
        Event(usize),
        Release(usize),
    }
    let steps: Vec<Step> = (0..2)
        .flat_map(|r| {
            [
                Step::Reserve(r),
                Step::Made(r),
                Step::Settle(r),
                Step::Event(r),
                Step::Release(r),
            ]
        })
        .collect();
    let received = 1000;
    let amounts = [[600, 600], [400, 600], [1000, 1], [500, 500]];
    fn orders(n: usize, len: usize) -> Vec<Vec<usize>> {
        if len == 0 {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for rest in orders(n, len - 1) {
            for i in 0..n {
                let mut o = rest.clone();
                o.push(i);
                out.push(o);
            }
        }
        out
    }
    let mut runs = 0;
    for amount in amounts {
        for order in orders(steps.len(), 5) {
            let mut entries: Vec<RefundEntry> = Vec::new();
            let mut made = [false, false];
            let key = |r: usize| mark(&r.to_string());
            let id = |r: usize| format!("re_{r}");
            for &i in &order {
                match steps[i] {
                    Step::Reserve(r) if find(&entries, &key(r)) == Found::New => {
                        let _ = reserve(&mut entries, key(r), amount[r], None, (received, 0));
                    }
                    // Stripe is asked only for a reservation still there.
                    Step::Made(r) => {
                        made[r] |= matches!(find(&entries, &key(r)), Found::Mine(_));
                    }
                    Step::Settle(r) if made[r] => {
                        settle(
                            &mut entries,
                            &key(r),
                            stripe(&id(r), amount[r], R::Succeeded),
                        );
                    }
                    Step::Event(r) if made[r] => {
                        upsert(&mut entries, stripe(&id(r), amount[r], R::Succeeded));
                    }
                    // Released only when Stripe refused it, so never once made.
                    Step::Release(r) if !made[r] => {
                        release(&mut entries, &key(r));
                    }
                    _ => {}
                }
                let set_aside: i64 = (0..2)
                    .filter(|&r| {
                        entries.iter().any(|e| {
                            e.status.counts()
                                && (e.request.as_ref() == Some(&key(r))
                                    || e.refund_id.as_deref() == Some(id(r).as_str()))
                        })
                    })
                    .map(|r| amount[r])
                    .sum();
                assert!(set_aside <= received, "{amount:?} {order:?} {entries:?}");
            }
            for r in 0..2 {
                let listed = entries
                    .iter()
                    .filter(|e| e.refund_id.as_deref() == Some(id(r).as_str()))
                    .count();
                assert!(listed <= 1, "{order:?} {entries:?}");
            }
            runs += 1;
        }
    }
    assert_eq!(runs, 4 * 10usize.pow(5));
}
