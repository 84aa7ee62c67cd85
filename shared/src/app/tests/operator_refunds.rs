//! Operator refunds (`app::operator_refunds`) on the fakes: partial and full, never more than
//! was received (also with 20 racing requests), replays, refusals and unknown outcomes.

use chrono::Utc;

use super::refunds::paid;
use super::*;
use crate::adapters::memory::Call;
use crate::app::operator_refunds::{refund_booking, Refunded};
use crate::domain::operator_refund::{RefundAsk, RefundReason};
use crate::domain::refund_log::EntryStatus;
use crate::domain::{IdempotencyKey, PaymentStatus, RefundStatus};
use crate::ports::{PaymentProvider, ProviderError};

fn ask(amount: &str, reason: RefundReason) -> RefundAsk {
    RefundAsk {
        amount_raw: amount.into(),
        reason,
    }
}

async fn refund(w: &World, id: BookingId, amount: &str, key: &str) -> Result<Refunded, AppError> {
    let key = IdempotencyKey::parse(key).unwrap().for_caller("api-key-1");
    let ask = ask(amount, RefundReason::RequestedByCustomer);
    refund_booking(&*w.store, &*w.stripe, id, &ask, &key, Utc::now).await
}

/// What Stripe refunded of the intent, in all.
fn at_stripe(w: &World, pi: &IntentId) -> i64 {
    w.stripe
        .refunds(pi)
        .iter()
        .filter_map(|(r, _)| r.amount)
        .sum()
}

#[tokio::test]
async fn partial_refunds_then_the_rest_are_listed_and_counted() {
    let w = World::new();
    let (id, pi) = paid(&w).await;
    let first = refund(&w, id, "1.25", "k1").await.unwrap();
    assert!(!first.replayed);
    assert_eq!(first.refund.amount_minor, 125);
    assert_eq!(
        first.refund.status,
        EntryStatus::Stripe(RefundStatus::Succeeded)
    );
    assert_eq!(
        first.refund.reason.as_deref(),
        Some("requested_by_customer")
    );
    assert!(first.refund.created_at.is_some());
    assert_eq!(
        first.booking.payment_status,
        PaymentStatus::PartiallyRefunded
    );
    let second = refund(&w, id, "2.25", "k2").await.unwrap();
    assert_eq!(second.booking.payment_status, PaymentStatus::Refunded);
    let p = w.get(id).await.payment.unwrap();
    assert_eq!(p.after.amount_refunded_minor, 350);
    assert_eq!(p.refunds.len(), 2);
    assert_eq!(p.refund_id, second.refund.refund_id, "the latest");
    // At Stripe: the two, with the reason.
    let made = w.stripe.refunds(&pi);
    assert_eq!(made.len(), 2);
    assert_eq!(made[0].0.amount, Some(125));
    assert_eq!(made[0].1.as_deref(), Some("requested_by_customer"));
    // Nothing left.
    let err = refund(&w, id, "0.01", "k3").await.unwrap_err();
    assert_eq!(
        err,
        AppError::Invalid(crate::domain::DomainError::invalid(
            "amount is more than what is refundable: 0.00 usd"
        ))
    );
}

#[tokio::test]
async fn more_than_is_left_is_a_400_naming_what_is_and_changes_nothing() {
    let w = World::new();
    let (id, pi) = paid(&w).await;
    refund(&w, id, "1.00", "k1").await.unwrap();
    let before = w.get(id).await;
    let err = refund(&w, id, "2.51", "k2").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "amount is more than what is refundable: 2.50 usd"
    );
    assert_eq!(w.get(id).await, before);
    assert_eq!(at_stripe(&w, &pi), 100);
    // A bad amount: named, nothing asked.
    for bad in ["0", "-1", "1.001", "\"1\""] {
        let err = refund(&w, id, bad, "k3").await.unwrap_err();
        assert!(err.to_string().starts_with("amount"), "{bad}: {err}");
    }
    assert_eq!(w.stripe.calls(Call::Refund), 1);
}

#[tokio::test]
async fn no_captured_payment_is_a_409() {
    let w = World::new();
    let id = w.booking();
    assert!(
        matches!(refund(&w, id, "1.00", "k").await, Err(AppError::Conflict(d)) if d.contains("no captured payment"))
    );
    w.pay(id, "3.50").await.unwrap();
    assert!(
        matches!(refund(&w, id, "1.00", "k").await, Err(AppError::Conflict(d)) if d.contains("payment_status pending"))
    );
    assert_eq!(
        refund(&w, BookingId::generate(), "1.00", "k").await,
        Err(AppError::BookingNotFound)
    );
    assert_eq!(w.stripe.calls(Call::Refund), 0);
}

#[tokio::test]
async fn the_same_key_replays_and_another_request_with_it_is_refused() {
    let w = World::new();
    let (id, pi) = paid(&w).await;
    let first = refund(&w, id, "1.00", "k1").await.unwrap();
    let again = refund(&w, id, "1.00", "k1").await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.refund, first.refund);
    assert_eq!(at_stripe(&w, &pi), 100);
    assert_eq!(
        refund(&w, id, "2.00", "k1").await,
        Err(AppError::IdempotencyMismatch)
    );
    // Another caller's same key is another request.
    let key = IdempotencyKey::parse("k1").unwrap().for_caller("api-key-2");
    let other = ask("1.00", RefundReason::Duplicate);
    let theirs = refund_booking(&*w.store, &*w.stripe, id, &other, &key, Utc::now)
        .await
        .unwrap();
    assert!(!theirs.replayed);
    assert_eq!(at_stripe(&w, &pi), 200);
}

/// Stripe unreachable: the amount stays reserved (no more can be refunded past it), the
/// caller is told to send the same request again, and doing so makes the refund once.
#[tokio::test]
async fn an_unknown_outcome_stays_reserved_until_the_same_request_settles_it() {
    let w = World::new();
    let (id, pi) = paid(&w).await;
    w.stripe.fail_next(
        Call::Refund,
        ProviderError::Unavailable("connection reset".into()),
    );
    let err = refund(&w, id, "3.00", "k1").await.unwrap_err();
    assert!(
        matches!(&err, AppError::Unsettled(d) if d.contains("same Idempotency-Key")),
        "{err:?}"
    );
    let p = w.get(id).await.payment.unwrap();
    assert_eq!(p.refunds.len(), 1);
    assert_eq!(p.refunds[0].status, EntryStatus::Reserved);
    assert_eq!(p.refunds[0].refund_id, None);
    // Reserved: another request cannot take it.
    assert_eq!(
        refund(&w, id, "1.00", "k2").await.unwrap_err().to_string(),
        "amount is more than what is refundable: 0.50 usd"
    );
    let settled = refund(&w, id, "3.00", "k1").await.unwrap();
    assert!(!settled.replayed);
    assert_eq!(at_stripe(&w, &pi), 300);
    let p = w.get(id).await.payment.unwrap();
    assert_eq!(p.refunds.len(), 1);
    assert_eq!(
        p.refunds[0].status,
        EntryStatus::Stripe(RefundStatus::Succeeded)
    );
}

/// Stripe refuses (a Dashboard refund took the money first): the caller gets Stripe's 400,
/// the reservation is given back, nothing else changed.
#[tokio::test]
async fn a_refusal_releases_the_reservation() {
    let w = World::new();
    let (id, pi) = paid(&w).await;
    w.stripe
        .refund_intent(&pi, None, "dashboard")
        .await
        .unwrap();
    let before = w.get(id).await;
    let err = refund(&w, id, "1.00", "k1").await.unwrap_err();
    assert!(matches!(&err, AppError::Declined(_)), "{err:?}");
    let after = w.get(id).await;
    assert!(after.payment.as_ref().unwrap().refunds.is_empty());
    assert_eq!(after.payment_status, before.payment_status);
}

/// 20 requests with different keys racing for 1.00, 0.50 or 0.25 each of a 3.50 payment:
/// what Stripe refunded and what the booking lists are the same and never above 3.50; every
/// loser is told what is left (400), none is a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_refunds_never_refund_more_than_was_received() {
    let w = World::new();
    let (id, pi) = paid(&w).await;
    // Reads take a moment, so the racers read the same booking and decide at once.
    w.store
        .set_read_latency(std::time::Duration::from_millis(2));
    let amounts = ["1.00", "0.50", "0.25"];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let w = w.clone();
            let amount = amounts[i % 3];
            tokio::spawn(async move { refund(&w, id, amount, &format!("race-{i}")).await })
        })
        .collect();
    let mut made = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => made += r.refund.amount_minor,
            Err(AppError::Invalid(e)) => {
                assert!(e.to_string().contains("what is refundable"), "{e}");
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(refused > 0);
    let p = w.get(id).await.payment.unwrap();
    let listed: i64 = p.refunds.iter().map(|e| e.amount_minor).sum();
    assert!(made <= 350, "{made}");
    assert_eq!(at_stripe(&w, &pi), made);
    assert_eq!(listed, made);
    assert_eq!(p.after.amount_refunded_minor, made);
    assert!(p.refunds.iter().all(|e| e.refund_id.is_some()));
}
