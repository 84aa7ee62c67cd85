//! Reconciliation (issue 12, section 4): the backstop for webhooks that never arrive. One run:
//!
//! 1. **Events.** Lists Stripe's events from the stored checkpoint on and applies each
//!    PaymentIntent event with the webhook's own code (`events::apply_intent_event`), so an
//!    event the webhook already applied is a duplicate by its event record, never applied
//!    twice. The checkpoint moves only after every listed event was applied, and only over the
//!    value this run read: a run that dies in between leaves the checkpoint where it was, and
//!    the next run lists the same events again and finds them duplicates.
//! 2. **Sweep.** Bookings whose payment has been in flight (`pending` with an intent,
//!    `requires_action`, `processing`) for over five minutes, found through an index, are
//!    checked against the intent Stripe has, and what Stripe says is applied through the same
//!    state machine (a synthetic event, `created` = now).
//! 3. **Owed.** The refunds the webhook recorded as owed are carried out: see [`settle_owed`].
//! 4. **Holds.** See [`settle_holds`]: authorizations get their charge's `capture_before`, and
//!    those within the safety margin of it are captured in full or released, by policy.
//! 5. **Passed holds of unpaid bookings** end only when Stripe agrees: see
//!    [`expire_due_holds`].

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::events::{apply_intent_event, apply_observed, EventOutcome};
use super::holds::{settle_passed_hold, Settled};
use super::refunds::{apply_money_event, refund_owed};
use super::AppError;
use crate::domain::capture::HoldSettings;
use crate::domain::{HoldRules, HoldState, PaymentStatus};
use crate::ports::{BookingStore, ListedEvent, Order, PaymentProvider, ProviderError};

/// A first run (no checkpoint) looks back as far as Stripe retries a webhook.
pub const FIRST_LOOKBACK: Duration = Duration::days(3);
/// The checkpoint trails the run by this much: Stripe's `created` has second resolution and
/// an event can show in the list a moment after its time, so the last minute is listed again
/// by the next run (and found duplicate).
pub const OVERLAP: Duration = Duration::seconds(60);
/// A payment in flight for longer than this is asked about at Stripe.
pub const SWEEP_AFTER: Duration = Duration::minutes(5);
/// ... unless it has been in flight for longer than this: an intent abandoned days ago is
/// not asked about every run forever (anything that happens to it later is an event, which
/// the event list catches).
pub const SWEEP_WINDOW: Duration = Duration::days(3);
/// The same for `pending` with an intent, most often a driver who never paid: asked about for
/// an hour (six runs on AWS).
pub const PENDING_SWEEP_WINDOW: Duration = Duration::hours(1);
/// Bookings asked about per status and run (each is a Stripe call); the most recently
/// updated first, the rest in later runs.
pub const SWEEP_LIMIT: usize = 50;
/// The statuses of a payment in flight.
const IN_FLIGHT: [PaymentStatus; 3] = [
    PaymentStatus::Processing,
    PaymentStatus::RequiresAction,
    PaymentStatus::Pending,
];

/// What one run did, for its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Events listed (every type).
    pub events_seen: usize,
    /// PaymentIntent events that changed a booking.
    pub events_applied: usize,
    /// Events already applied (by the webhook or an earlier run).
    pub events_duplicate: usize,
    /// Events of other types, for unknown bookings or other intents, or out of order.
    pub events_ignored: usize,
    /// Where the checkpoint was moved to; `None` if it was not (a failed run, or another run
    /// moved it first).
    pub checkpoint: Option<i64>,
    /// Bookings whose intent was retrieved from Stripe.
    pub swept: usize,
    /// ... of which Stripe's answer changed the booking.
    pub swept_changed: usize,
    /// Bookings whose owed refunds were carried out.
    pub refunds_settled: usize,
    /// Bookings whose hold passed unpaid, written `expired` (their intents cancelled first).
    pub holds_expired: usize,
    /// Bookings whose hold passed but whose intent Stripe shows paid, authorized or paying:
    /// recorded and kept.
    pub holds_kept: usize,
    /// Card authorizations whose `capture_before` was read from their charge.
    pub authorizations_read: usize,
    /// Card authorizations captured in full at their safety margin.
    pub authorizations_captured: usize,
    /// Card authorizations released at their safety margin.
    pub authorizations_released: usize,
}

impl Summary {
    /// The run's one log line.
    pub fn log(&self) {
        tracing::info!(
            events_seen = self.events_seen,
            events_applied = self.events_applied,
            events_duplicate = self.events_duplicate,
            events_ignored = self.events_ignored,
            checkpoint = self.checkpoint,
            swept = self.swept,
            swept_changed = self.swept_changed,
            refunds_settled = self.refunds_settled,
            holds_expired = self.holds_expired,
            holds_kept = self.holds_kept,
            authorizations_read = self.authorizations_read,
            authorizations_captured = self.authorizations_captured,
            authorizations_released = self.authorizations_released,
            "reconcile run"
        );
    }
}

/// A run that stopped: what it did before, and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reconciliation failed: {error}")]
pub struct RunError {
    pub summary: Summary,
    pub error: AppError,
}

/// One run now, logged: what the `reconcile` function (and the local stack's timer) calls.
pub async fn run<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    holds: &HoldSettings,
    rules: &HoldRules,
) -> Result<Summary, RunError> {
    let result = reconcile(store, provider, holds, rules, Utc::now()).await;
    match &result {
        Ok(summary) => summary.log(),
        Err(failed) => {
            failed.summary.log();
            tracing::error!(error = %failed.error, "reconcile run failed");
        }
    }
    result
}

/// One run, as of `now`. Runs must not overlap (the function's reserved concurrency is 1);
/// if two do, both apply only what is new (event records) and only one moves the checkpoint.
pub async fn reconcile<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    holds: &HoldSettings,
    rules: &HoldRules,
    now: DateTime<Utc>,
) -> Result<Summary, RunError> {
    let mut summary = Summary::default();
    let result = async {
        apply_listed_events(store, provider, now, &mut summary).await?;
        sweep(store, provider, now, &mut summary).await?;
        settle_owed(store, provider, now, &mut summary).await?;
        // Counted into the summary also when the step stops halfway (the run's error log).
        let mut settled = Default::default();
        let done = super::authorizations::settle_holds(
            store,
            provider,
            holds,
            now,
            SWEEP_LIMIT,
            &mut settled,
        )
        .await;
        summary.authorizations_read = settled.read;
        summary.authorizations_captured = settled.captured;
        summary.authorizations_released = settled.released;
        done?;
        expire_due_holds(store, provider, rules, now, &mut summary).await
    }
    .await;
    match result {
        Ok(()) => Ok(summary),
        Err(error) => Err(RunError { summary, error }),
    }
}

async fn apply_listed_events<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), AppError> {
    let checkpoint = store.reconcile_checkpoint().await?;
    let from = checkpoint.unwrap_or_else(|| (now - FIRST_LOOKBACK).timestamp());
    // Every page first: the checkpoint may move only past events all applied, and a list
    // that fails halfway applies nothing (the next run starts from the same place anyway).
    let mut events: Vec<ListedEvent> = Vec::new();
    let mut seen = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = provider.list_events(from, after.as_deref()).await?;
        let last = page.events.last().map(|e| e.id.clone());
        for event in page.events {
            // A page boundary shifting under new events can show one twice.
            if seen.insert(event.id.clone()) {
                events.push(event);
            }
        }
        match last {
            Some(last) if page.has_more => after = Some(last),
            _ => break,
        }
    }
    // Oldest first, as Stripe would have delivered them (the outcome does not depend on the
    // order: see `domain::payment`).
    events.sort_by_key(|e| e.created);
    summary.events_seen = events.len();
    for listed in &events {
        // The webhook's record says it was applied: one read, rather than a refused write.
        let outcome = if store.event_processed(&listed.id).await? {
            EventOutcome::Duplicate
        } else if let Some(event) = &listed.intent {
            apply_intent_event(store, event, now).await?
        } else if let Some(event) = &listed.money {
            apply_money_event(store, event, now).await?
        } else {
            EventOutcome::Ignored("event type not handled")
        };
        match outcome {
            EventOutcome::Applied(_) | EventOutcome::RefundOwed => {
                summary.events_applied += 1;
                tracing::warn!(event_id = %listed.id, attention = "payment",
                    "reconcile applied an event the webhook had not");
            }
            EventOutcome::Duplicate => summary.events_duplicate += 1,
            EventOutcome::Ignored(_) => summary.events_ignored += 1,
        }
    }
    let to = from.max((now - OVERLAP).timestamp());
    if store.move_reconcile_checkpoint(checkpoint, to).await? {
        summary.checkpoint = Some(to);
    } else {
        tracing::warn!(
            from,
            to,
            "another reconcile run moved the checkpoint; leaving it"
        );
    }
    Ok(())
}

async fn sweep<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), AppError> {
    let stale_before = now - SWEEP_AFTER;
    for status in IN_FLIGHT {
        let window = match status {
            PaymentStatus::Pending => PENDING_SWEEP_WINDOW,
            _ => SWEEP_WINDOW,
        };
        let found = store
            .in_flight_payments(status, now - window, stale_before, SWEEP_LIMIT)
            .await?;
        for candidate in found {
            // The index is eventually consistent: read the booking as it is now.
            let Some(booking) = store.get_booking(candidate.booking_id).await? else {
                continue;
            };
            let Some(payment) = booking.payment.as_ref() else {
                continue;
            };
            if booking.payment_status != status || booking.updated_at > stale_before {
                continue; // moved since the index saw it
            }
            let intent = match provider.retrieve_intent(&payment.intent_id).await {
                Ok(intent) => intent,
                // Stripe refuses this one (an intent it does not have): a person must look,
                // and the other bookings are still swept. Anything else (Stripe down, our key
                // refused) stops the run.
                Err(ProviderError::Rejected {
                    status, message, ..
                }) => {
                    tracing::error!(booking_id = %booking.id, payment_intent_id = %payment.intent_id,
                        status, %message, "reconcile: Stripe refused to show the booking's intent");
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            summary.swept += 1;
            let applied = apply_observed(store, &intent, &booking, "reconcile", now).await?;
            if let Some(EventOutcome::Applied(to)) = applied {
                summary.swept_changed += 1;
                tracing::warn!(booking_id = %booking.id, payment_intent_id = %intent.id,
                    from = status.as_str(), to = to.as_str(), attention = "payment",
                    "reconcile applied the intent's status at Stripe");
            }
        }
    }
    Ok(())
}

/// How far back owed refunds are looked for: a refund is recorded as owed when its booking is
/// written, so its `updated_at` is at most this old unless the booking sat untouched longer.
const OWED_WINDOW: Duration = Duration::days(7);

/// Carries out what the webhook recorded as owed (automatic refunds), booking by booking, with
/// the refund keys of `app::refunds::refund_owed` (a refund already made is not made again).
async fn settle_owed<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), AppError> {
    let owing = store
        // Up to a little after now: other instances' clocks may run ahead of this one's.
        .bookings_owing_refunds(now - OWED_WINDOW, now + Duration::minutes(5), SWEEP_LIMIT)
        .await?;
    for booking_id in owing {
        let Some(booking) = store.get_booking(booking_id).await? else {
            continue;
        };
        refund_owed(store, provider, &booking, now).await?;
        summary.refunds_settled += 1;
    }
    Ok(())
}

/// How far back (by last update) bookings whose hold may have ended are looked for: a booking
/// is updated at least when it is created or its intent attached, so one older than this has
/// sat untouched for a month (longer than a booking is held for).
const SETTLE_WINDOW: Duration = Duration::days(31);
/// Index entries read per status and run, oldest first (each costs a read of its booking);
/// bookings that need nothing (holding, or written expired already) count against it, so a
/// run is bounded whatever the backlog.
const SETTLE_EXAMINED: usize = 500;

/// Bookings whose hold passed: those expired by our clock (no intent, or a cancelled one) are
/// written `expired`, freeing their slot items; those with a live intent are settled with
/// Stripe's answer (`app::holds`): money that came in is recorded and kept, a payable intent
/// is cancelled and only then the booking expired. Oldest update first: a booking settled
/// here is written, which moves it to the newest end, so every run reaches the next ones.
async fn expire_due_holds<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    rules: &HoldRules,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), AppError> {
    for status in [
        PaymentStatus::Pending,
        PaymentStatus::RequiresAction,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
    ] {
        let candidates = store
            .bookings_in_payment_status(
                status,
                now - SETTLE_WINDOW,
                now,
                SETTLE_EXAMINED,
                Order::OldestFirst,
            )
            .await?;
        let mut settled = 0;
        for id in candidates {
            if settled == SWEEP_LIMIT {
                break;
            }
            let Some(booking) = store.get_booking(id).await? else {
                continue;
            };
            if !matches!(
                booking.hold_state(now, rules),
                HoldState::Expired | HoldState::Undecided
            ) {
                continue;
            }
            settled += 1;
            let asked = booking.intent_id().is_some();
            match settle_passed_hold(store, provider, id, rules, || now).await {
                Ok(Settled::Ended) => {
                    summary.holds_expired += 1;
                    tracing::info!(booking_id = %id, asked_stripe = asked, "reconcile: hold ended, booking expired");
                }
                Ok(Settled::Kept) => {
                    summary.holds_kept += 1;
                    tracing::warn!(booking_id = %id, attention = "payment",
                        "reconcile: a hold passed, but Stripe has the payment: booking kept");
                }
                // One booking's trouble (Stripe refusing to show its intent, a write that
                // keeps conflicting) does not stop the others.
                Err(
                    err @ (AppError::Busy(_) | AppError::Provider(ProviderError::Rejected { .. })),
                ) => {
                    tracing::error!(booking_id = %id, error = %err, "reconcile: could not settle a passed hold");
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}
