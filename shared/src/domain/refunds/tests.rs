use super::*;
use crate::domain::money::currency;
use crate::domain::{IntentId, Money};
use PaymentStatus::*;

fn paid(received: i64) -> Payment {
    let mut p = Payment::new(
        IntentId::parse("pi_1").unwrap(),
        Money::parse_minor(received, "usd").unwrap(),
    );
    p.amount_received_minor = Some(received);
    p
}

fn refunded(amount: i64) -> MoneyEvent {
    MoneyEvent::ChargeRefunded {
        amount_refunded: amount,
    }
}

fn refund(id: &str, amount: i64, status: RefundStatus) -> MoneyEvent {
    MoneyEvent::RefundUpdated {
        refund_id: id.into(),
        amount,
        status,
        reason: None,
        created: None,
    }
}

#[test]
fn status_follows_the_money_refunded() {
    for current in [Completed, PartiallyRefunded, Refunded] {
        assert_eq!(status_after_refunds(current, 350, 0), Completed);
        assert_eq!(status_after_refunds(current, 350, 1), PartiallyRefunded);
        assert_eq!(status_after_refunds(current, 350, 349), PartiallyRefunded);
        assert_eq!(status_after_refunds(current, 350, 350), Refunded);
    }
    for current in [Pending, RequiresAction, Processing, Failed, Canceled] {
        assert_eq!(status_after_refunds(current, 350, 350), current);
    }
    let _ = currency("usd");
}

#[test]
fn a_full_then_partial_refund_story() {
    let p = paid(350);
    let (s, p) = apply(Completed, &p, &refunded(100), 10).unwrap();
    assert_eq!((s, p.after.amount_refunded_minor), (PartiallyRefunded, 100));
    let (s, p) = apply(s, &p, &refunded(350), 20).unwrap();
    assert_eq!((s, p.after.amount_refunded_minor), (Refunded, 350));
    // An older report arriving late changes nothing.
    assert_eq!(apply(s, &p, &refunded(100), 15), None);
}

#[test]
fn a_refund_that_fails_later_moves_refunded_back_once() {
    let p = paid(350);
    let (s, p) = apply(Completed, &p, &refunded(350), 10).unwrap();
    let (s, p) = apply(s, &p, &refund("re_1", 350, RefundStatus::Succeeded), 11).unwrap();
    assert_eq!(s, Refunded);
    let (s, p) = apply(s, &p, &refund("re_1", 350, RefundStatus::Failed), 50).unwrap();
    assert_eq!((s, p.after.amount_refunded_minor), (Completed, 0));
    assert_eq!(p.after.refund_status, Some(RefundStatus::Failed));
    // Redelivered or reordered, the failure lowers the amount once.
    assert_eq!(
        apply(s, &p, &refund("re_1", 350, RefundStatus::Failed), 50),
        None
    );
    // Partial: one of two refunds fails.
    let p = paid(350);
    let (s, p) = apply(Completed, &p, &refunded(300), 10).unwrap();
    let (s, p) = apply(s, &p, &refund("re_2", 100, RefundStatus::Failed), 20).unwrap();
    assert_eq!((s, p.after.amount_refunded_minor), (PartiallyRefunded, 200));
}

#[test]
fn disputes_are_shown_and_never_move_the_status() {
    let p = paid(350);
    let dispute = MoneyEvent::Dispute {
        status: "needs_response".into(),
        reason: Some("fraudulent".into()),
    };
    let (s, p) = apply(Completed, &p, &dispute, 10).unwrap();
    assert_eq!(s, Completed);
    assert_eq!(p.after.dispute_status.as_deref(), Some("needs_response"));
    let lost = MoneyEvent::Dispute {
        status: "lost".into(),
        reason: None,
    };
    let (s, p) = apply(s, &p, &lost, 20).unwrap();
    assert_eq!(s, Completed);
    assert_eq!(p.after.dispute_status.as_deref(), Some("lost"));
    assert_eq!(p.after.dispute_reason.as_deref(), Some("fraudulent"));
}

#[test]
fn refund_statuses_round_trip() {
    for r in RefundStatus::ALL {
        assert_eq!(RefundStatus::parse(r.as_str()), Some(r));
    }
    assert_eq!(RefundStatus::parse("done"), None);
}

#[test]
fn a_refund_we_made_counts_once_and_never_beyond_what_was_received() {
    use RefundStatus::*;
    // Everything left: the whole received amount, whatever was known before.
    for before in [0, 100, 350] {
        let mut p = paid(350);
        p.after.amount_refunded_minor = before;
        assert_eq!(
            record_refund(&mut p, "re_1".into(), None, Some(Succeeded)),
            Succeeded
        );
        assert_eq!(p.after.amount_refunded_minor, 350);
    }
    // A partial one adds its amount, once per refund id, capped at what was received.
    let mut p = paid(350);
    record_refund(&mut p, "re_1".into(), Some(100), Some(Succeeded));
    assert_eq!(p.after.amount_refunded_minor, 100);
    record_refund(&mut p, "re_1".into(), Some(100), Some(Succeeded));
    assert_eq!(p.after.amount_refunded_minor, 100, "recorded twice");
    record_refund(&mut p, "re_2".into(), Some(300), Some(Succeeded));
    assert_eq!(p.after.amount_refunded_minor, 350, "capped");
    assert_eq!(p.refund_id.as_deref(), Some("re_2"));
    // Not succeeded (yet): shown, not counted; counted when it succeeds.
    for status in [
        None,
        Some(Pending),
        Some(RequiresAction),
        Some(Failed),
        Some(Canceled),
    ] {
        let mut p = paid(350);
        let shown = record_refund(&mut p, "re_1".into(), Some(100), status);
        assert_eq!(shown, status.unwrap_or(Pending));
        assert_eq!(p.after.refund_status, Some(shown));
        assert_eq!(p.after.amount_refunded_minor, 0, "{status:?}");
        record_refund(&mut p, "re_1".into(), Some(100), Some(Succeeded));
        assert_eq!(
            p.after.amount_refunded_minor, 100,
            "{status:?} then succeeded"
        );
    }
}

fn told(id: &str, amount: i64, status: RefundStatus, reason: Option<&str>) -> MoneyEvent {
    MoneyEvent::RefundUpdated {
        refund_id: id.into(),
        amount,
        status,
        reason: reason.map(str::to_string),
        created: Some(1_770_000_000),
    }
}

/// Every refund we record is listed: a cancellation's (everything left), a partial one, and
/// the same one recorded again is listed once; `refund_id` is the latest.
#[test]
fn every_refund_we_record_is_listed_once() {
    use crate::domain::refund_log::EntryStatus;
    let mut p = paid(1000);
    record_refund(
        &mut p,
        "re_1".into(),
        Some(300),
        Some(RefundStatus::Succeeded),
    );
    record_refund(
        &mut p,
        "re_1".into(),
        Some(300),
        Some(RefundStatus::Succeeded),
    );
    record_refund(&mut p, "re_2".into(), None, Some(RefundStatus::Pending));
    let listed: Vec<_> = p
        .refunds
        .iter()
        .map(|e| (e.refund_id.as_deref(), e.amount_minor, e.status))
        .collect();
    assert_eq!(
        listed,
        [
            (
                Some("re_1"),
                300,
                EntryStatus::Stripe(RefundStatus::Succeeded)
            ),
            (
                Some("re_2"),
                700,
                EntryStatus::Stripe(RefundStatus::Pending)
            ),
        ]
    );
    assert_eq!(p.refund_id.as_deref(), Some("re_2"));
    assert_eq!(p.after.amount_refunded_minor, 300);
    // The pending one succeeds: counted, listed once.
    record_refund(&mut p, "re_2".into(), None, Some(RefundStatus::Succeeded));
    assert_eq!(p.after.amount_refunded_minor, 1000);
    assert_eq!(p.refunds.len(), 2);
    assert_eq!(
        p.refunds[1].status,
        EntryStatus::Stripe(RefundStatus::Succeeded)
    );
}

/// A Dashboard refund is listed from its refund event (with Stripe's reason and time); the
/// same refund told again, or by `charge.refund.updated` and `refund.updated` both, is listed
/// once; a refund we recorded and its event make one entry.
#[test]
fn refunds_stripe_tells_of_are_listed_once() {
    let p = paid(1000);
    let (s, p) = apply(Completed, &p, &refunded(250), 10).unwrap();
    let (s, p) = apply(
        s,
        &p,
        &told("re_d", 250, RefundStatus::Succeeded, Some("duplicate")),
        10,
    )
    .unwrap();
    assert_eq!(p.refunds.len(), 1);
    assert_eq!(p.refunds[0].reason.as_deref(), Some("duplicate"));
    assert_eq!(
        p.refunds[0].created_at,
        chrono::DateTime::from_timestamp(1_770_000_000, 0)
    );
    assert_eq!(p.refund_id.as_deref(), Some("re_d"));
    assert_eq!(
        apply(
            s,
            &p,
            &told("re_d", 250, RefundStatus::Succeeded, Some("duplicate")),
            11
        )
        .map(|(_, p)| p.refunds.len()),
        Some(1),
        "told again: at most its time moves"
    );
    // Ours, then its event.
    let mut p = paid(1000);
    record_refund(
        &mut p,
        "re_1".into(),
        Some(400),
        Some(RefundStatus::Pending),
    );
    let (_, p) = apply(
        Completed,
        &p,
        &told("re_1", 400, RefundStatus::Succeeded, None),
        10,
    )
    .unwrap();
    assert_eq!(p.refunds.len(), 1);
    assert_eq!(
        p.refunds[0].status,
        crate::domain::refund_log::EntryStatus::Stripe(RefundStatus::Succeeded)
    );
    // It fails later: listed failed, its money no longer refunded.
    let (s, p) = apply(PartiallyRefunded, &p, &refunded(400), 11).unwrap();
    let (s, p) = apply(s, &p, &told("re_1", 400, RefundStatus::Failed, None), 12).unwrap();
    assert_eq!(s, Completed);
    assert_eq!(p.refunds.len(), 1);
    assert!(!p.refunds[0].status.counts());
}
