//! Reconciliation (issue 12, section 4): the backstop for webhooks that never arrive. One run:
//!
//! 1. **Events.** Lists Stripe's events of the handled types from the stored checkpoint on,
//!    oldest first a page at a time, and applies each with the webhook's own code, so an
//!    event the webhook already applied is a duplicate by its event record, never applied
//!    twice; the checkpoint moves after each page, and the list stops before the deadline:
//!    see `app::event_list`.
//! 2. **Sweep.** Bookings whose payment has been in flight (`pending` with an intent,
//!    `requires_action`, `processing`) for over five minutes, found through an index, are
//!    checked against the intent Stripe has, and what Stripe says is applied through the same
//!    state machine (a synthetic event, `created` = now).
//! 3. **Owed.** The refunds the webhook recorded as owed are carried out: see [`settle_owed`].
//! 4. **No-shows.** See `app::no_shows`: an authorized booking under terms not checked in by
//!    its no-show instant has its `no_show_fee` captured (before the holds' step, so a fee is
//!    taken before its hold could be captured whole at the safety margin).
//! 5. **Holds.** See `settle_holds`: authorizations get their charge's `capture_before`, and
//!    those within the safety margin of it are captured in full or released, by policy.
//! 6. **Passed holds of unpaid bookings** end only when Stripe agrees: see
//!    [`expire_due_holds`].
//!
//! Every step runs even when one before it failed (a Stripe outage listing events must not
//! keep authorizations from being settled); the run's error is the first step's that failed.
//! Within a step, what Stripe refuses for one booking is that booking's, logged at ERROR with
//! its id (and an owed refund's refusal recorded on it): the step goes on with the others.
//! Runs take a lease (an item with an expiry) so two never work at once; see [`run`].

use chrono::{DateTime, Duration, Utc};

use super::event_list::apply_listed_events;
use super::events::{apply_observed, EventOutcome};
use super::holds::{settle_passed_hold, Settled};
use super::refunds::{refund_owed_or_record, Owed};
use super::AppError;
use crate::domain::capture::HoldSettings;
use crate::domain::{HoldRules, HoldState, PaymentStatus};
use crate::ports::{BookingStore, Order, PaymentProvider, ProviderError};

pub use super::event_list::{Budget, FIRST_LOOKBACK, OVERLAP};
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
    /// Events listed (the handled types).
    pub events_seen: usize,
    /// Pages of the event list read.
    pub events_pages: usize,
    /// The list reached its newest event (`false`: stopped for the deadline, resumed next run).
    pub events_caught_up: bool,
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
    /// Bookings whose owed refund Stripe refused, or that could not be settled (each logged
    /// at ERROR; a refusal is recorded on the booking).
    pub refunds_refused: usize,
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
    /// No-show fees captured from the hold (`app::no_shows`).
    pub no_shows_charged: usize,
    /// No-show fees waived (below Stripe's minimum charge): the hold released.
    pub no_shows_waived: usize,
    /// No-show fees decided that Stripe or the store kept from being taken (tried again).
    pub no_shows_failed: usize,
}

impl Summary {
    /// The run's one log line.
    pub fn log(&self) {
        tracing::info!(
            events_seen = self.events_seen,
            events_pages = self.events_pages,
            events_caught_up = self.events_caught_up,
            events_applied = self.events_applied,
            events_duplicate = self.events_duplicate,
            events_ignored = self.events_ignored,
            checkpoint = self.checkpoint,
            swept = self.swept,
            swept_changed = self.swept_changed,
            refunds_settled = self.refunds_settled,
            refunds_refused = self.refunds_refused,
            holds_expired = self.holds_expired,
            holds_kept = self.holds_kept,
            authorizations_read = self.authorizations_read,
            authorizations_captured = self.authorizations_captured,
            authorizations_released = self.authorizations_released,
            no_shows_charged = self.no_shows_charged,
            no_shows_waived = self.no_shows_waived,
            no_shows_failed = self.no_shows_failed,
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

/// How long a run's lease lasts past its deadline: a run that dies holding it keeps others
/// out for no longer than this.
pub const LEASE_SLACK: Duration = Duration::seconds(30);
/// The lease of a run without a deadline (the local stack's timer).
pub const UNBOUNDED_LEASE: Duration = Duration::minutes(15);

/// One run now, logged: what the `reconcile` function (and the local stack's timer) calls.
/// `Ok(None)`: another run holds the lease, and this one did nothing (an INFO line).
pub async fn run<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    holds: &HoldSettings,
    rules: &HoldRules,
    budget: &Budget,
) -> Result<Option<Summary>, RunError> {
    let now = Utc::now();
    let owner = uuid::Uuid::new_v4().to_string();
    let until = budget.deadline().unwrap_or(now + UNBOUNDED_LEASE) + LEASE_SLACK;
    let leased = store
        .take_reconcile_lease(&owner, now, until)
        .await
        .map_err(|e| RunError {
            summary: Summary::default(),
            error: e.into(),
        });
    match leased {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("reconcile: another run holds the lease; this one does nothing");
            return Ok(None);
        }
        Err(failed) => {
            tracing::error!(error = %failed.error, "reconcile run failed: no lease");
            return Err(failed);
        }
    }
    let result = reconcile_within(store, provider, holds, rules, now, budget).await;
    match &result {
        Ok(summary) => summary.log(),
        Err(failed) => {
            failed.summary.log();
            tracing::error!(error = %failed.error, "reconcile run failed");
        }
    }
    if let Err(err) = store.release_reconcile_lease(&owner).await {
        // It expires by itself.
        tracing::warn!(error = %err, "reconcile: could not give the lease back");
    }
    result.map(Some)
}

/// One run, as of `now`, without a deadline.
pub async fn reconcile<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    holds: &HoldSettings,
    rules: &HoldRules,
    now: DateTime<Utc>,
) -> Result<Summary, RunError> {
    reconcile_within(store, provider, holds, rules, now, &Budget::unbounded()).await
}

/// One run, as of `now`, within `budget`. Without the lease (see [`run`]) two runs are still
/// safe: both apply only what is new (event records) and only one moves the checkpoint.
pub async fn reconcile_within<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    holds: &HoldSettings,
    rules: &HoldRules,
    now: DateTime<Utc>,
    budget: &Budget,
) -> Result<Summary, RunError> {
    let mut summary = Summary::default();
    let mut first: Option<AppError> = None;
    let mut keep = |step: &str, done: Result<(), AppError>| {
        if let Err(error) = done {
            tracing::error!(step, %error, "reconcile: a step failed; the others still run");
            first.get_or_insert(error);
        }
    };
    keep(
        "events",
        apply_listed_events(store, provider, now, budget, &mut summary).await,
    );
    keep(
        "sweep",
        sweep(store, provider, now, budget, &mut summary).await,
    );
    keep(
        "owed refunds",
        settle_owed(store, provider, now, budget, &mut summary).await,
    );
    keep(
        "no-shows",
        super::no_shows::settle_no_shows(store, provider, now, budget, &mut summary).await,
    );
    // Counted into the summary also when the step stops halfway (the run's error log).
    let mut settled = Default::default();
    let done =
        super::authorizations::settle_holds(store, provider, holds, now, SWEEP_LIMIT, &mut settled)
            .await;
    summary.authorizations_read = settled.read;
    summary.authorizations_captured = settled.captured;
    summary.authorizations_released = settled.released;
    keep("holds", done);
    keep(
        "expiry",
        expire_due_holds(store, provider, rules, now, budget, &mut summary).await,
    );
    match first {
        None => Ok(summary),
        Some(error) => Err(RunError { summary, error }),
    }
}

async fn sweep<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    budget: &Budget,
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
            if !budget.may_go_on() {
                return Ok(());
            }
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
/// One booking's refusal is that booking's (logged, recorded): the others are still settled.
async fn settle_owed<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    budget: &Budget,
    summary: &mut Summary,
) -> Result<(), AppError> {
    let owing = store
        // Up to a little after now: other instances' clocks may run ahead of this one's.
        .bookings_owing_refunds(now - OWED_WINDOW, now + Duration::minutes(5), SWEEP_LIMIT)
        .await?;
    for booking_id in owing {
        if !budget.may_go_on() {
            return Ok(());
        }
        let booking = match store.get_booking(booking_id).await {
            Ok(Some(booking)) => booking,
            Ok(None) => continue,
            Err(err) => {
                tracing::error!(booking_id = %booking_id, error = %err, attention = "payment",
                    "reconcile: could not read a booking that owes a refund; the next run tries again");
                summary.refunds_refused += 1;
                continue;
            }
        };
        match refund_owed_or_record(store, provider, &booking, now).await {
            Owed::Settled => summary.refunds_settled += 1,
            Owed::Refused | Owed::Failed => summary.refunds_refused += 1,
        }
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
    budget: &Budget,
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
            if settled == SWEEP_LIMIT || !budget.may_go_on() {
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
            match settle_passed_hold(store, provider, booking, rules, || now).await {
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
