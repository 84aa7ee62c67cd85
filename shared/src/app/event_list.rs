//! Reconciliation's first step: Stripe's event list, applied oldest first with the webhook's
//! own code, a page at a time, resumable (issue 20, item 2).
//!
//! - **Only what the webhook handles.** The list asks for `types[]` =
//!   [`HANDLED_EVENT_TYPES`], so other events are neither fetched nor paged through.
//! - **Creation order.** Stripe lists newest first. Without a place to resume from, the run
//!   pages down (`starting_after`) to the oldest page of events created at or after the
//!   checkpoint's time, keeping only that page; from there it moves up one page at a time
//!   with `ending_before` (the newer events right before the last one applied), each page
//!   applied oldest first. Only one page is held at a time.
//! - **Checkpoint after each page.** After each page (and where the run stops) the checkpoint
//!   names the last event applied (`after`), conditionally on the value this run read or last
//!   wrote. A run that dies between applying and recording leaves the checkpoint behind: the
//!   next run lists those events again and finds them duplicates by their event records.
//! - **The deadline.** Before each event (but the run's first, so every run moves forward)
//!   the run asks its [`Budget`]; when it is spent, it records where it is and stops (the
//!   later steps still run), and the next run resumes there.
//! - **The overlap.** Once a walk reaches the newest event, the checkpoint becomes a time
//!   again, a minute before the run's start (Stripe's `created` has second resolution and an
//!   event can show in the list a moment late, behind events already listed), so the next run
//!   lists the last minute again; and when the walk had resumed where an earlier run stopped,
//!   from a minute before that place (the checkpoint's time moves with the walk, a minute
//!   behind the last event applied). What is listed again is found duplicate by its record.
//! - **Gaps.** A checkpoint older than the processed-events TTL (7 days) means events from then
//!   may be applied again with no record to find them by (the state machine's guards keep that
//!   harmless); older than Stripe's 30-day retention means events were lost. Either is an ERROR
//!   naming the gap; the run then goes on from what Stripe still lists.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::events::{apply_intent_event, EventOutcome, EVENT_RETENTION};
use super::reconcile::Summary;
use super::refunds::apply_money_event;
use super::AppError;
use crate::domain::event_types::HANDLED_EVENT_TYPES;
use crate::ports::{
    BookingStore, Checkpoint, EventQuery, ListedEvent, PaymentProvider, ProviderError,
};

/// A first run (no checkpoint) looks back as far as Stripe retries a webhook.
pub const FIRST_LOOKBACK: Duration = Duration::days(3);
/// The checkpoint trails the run by this much: Stripe's `created` has second resolution and
/// an event can show in the list a moment after its time, so the last minute is listed again
/// by the next run (and found duplicate).
pub const OVERLAP: Duration = Duration::seconds(60);
/// How long Stripe lists events (<https://docs.stripe.com/api/events>: "the last 30 days").
pub const STRIPE_EVENT_RETENTION: Duration = Duration::days(30);

/// When a run must stop: the Lambda context's deadline, less what the steps after the event
/// list need. Read through `clock`, so tests can run on a clock of their own.
#[derive(Clone)]
pub struct Budget {
    deadline: Option<DateTime<Utc>>,
    clock: std::sync::Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

/// What the steps after the event list keep of the time (sweep, owed refunds, holds, expiry:
/// each bounded by `SWEEP_LIMIT` bookings).
pub const LATER_STEPS: Duration = Duration::seconds(45);
/// The last margin: no step starts a booking with less than this left.
pub const FINAL_MARGIN: Duration = Duration::seconds(5);

impl Default for Budget {
    fn default() -> Self {
        Self::unbounded()
    }
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Budget {
    /// No deadline (the local stack's timer, tests).
    pub fn unbounded() -> Self {
        Self {
            deadline: None,
            clock: std::sync::Arc::new(Utc::now),
        }
    }

    /// Until `deadline`, on the real clock.
    pub fn until(deadline: DateTime<Utc>) -> Self {
        Self::with_clock(deadline, Utc::now)
    }

    /// The Lambda context's deadline (milliseconds since the epoch).
    pub fn from_lambda_deadline(deadline_ms: u64) -> Self {
        match i64::try_from(deadline_ms)
            .ok()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        {
            Some(deadline) => Self::until(deadline),
            None => Self::unbounded(),
        }
    }

    /// Until `deadline`, on `clock`.
    pub fn with_clock(
        deadline: DateTime<Utc>,
        clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static,
    ) -> Self {
        Self {
            deadline: Some(deadline),
            clock: std::sync::Arc::new(clock),
        }
    }

    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.deadline
    }

    fn left(&self) -> Option<Duration> {
        self.deadline.map(|d| d - (self.clock)())
    }

    /// May the event list go on (one more event)?
    pub fn events_may_go_on(&self) -> bool {
        self.left().is_none_or(|left| left > LATER_STEPS)
    }

    /// May a later step start one more booking?
    pub fn may_go_on(&self) -> bool {
        self.left().is_none_or(|left| left > FINAL_MARGIN)
    }
}

/// Step 1 of a run; see the module documentation.
pub(super) async fn apply_listed_events<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    now: DateTime<Utc>,
    budget: &Budget,
    summary: &mut Summary,
) -> Result<(), AppError> {
    let read = store.reconcile_checkpoint().await?;
    let mut written = read.clone();
    let mut at = match &read {
        Some(checkpoint) => within_retention(checkpoint, now),
        None => Checkpoint {
            created_from: (now - FIRST_LOOKBACK).timestamp(),
            after: None,
        },
    };
    loop {
        let (page, newer) = match &at.after {
            Some(after) => {
                let page = match provider
                    .list_events(&query(at.created_from, None, Some(after.clone())))
                    .await
                {
                    Ok(page) => page,
                    // The event it stopped after is no longer listed (past Stripe's 30 days):
                    // from the checkpoint's time instead (a minute behind that event).
                    Err(ProviderError::Rejected { status, code, .. }) => {
                        tracing::error!(after = %after, status, code = code.as_deref().unwrap_or(""),
                            created_from = at.created_from, attention = "payment",
                            "reconcile: Stripe no longer lists the event the checkpoint names; listing from its time");
                        at.after = None;
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                };
                let newer = page.has_more;
                (page.events, newer)
            }
            None => oldest_page(provider, at.created_from).await?,
        };
        summary.events_pages += 1;
        let mut last: Option<&ListedEvent> = None;
        let mut stopped = false;
        // Newest first in the page: applied from its end.
        for listed in page.iter().rev() {
            // At least one event a run, however little time the listing left: every run moves
            // the checkpoint forward (the later steps' share covers one event).
            if summary.events_seen > 0 && !budget.events_may_go_on() {
                stopped = true;
                break;
            }
            apply_one(store, listed, now, summary).await?;
            last = Some(listed);
        }
        let caught_up = !stopped && !newer;
        let next = match last {
            // Relisted by the next run: the last minute before this run, and the minute before
            // where an earlier run stopped (a late event may have appeared behind its place).
            _ if caught_up => Checkpoint {
                created_from: match &read {
                    Some(Checkpoint {
                        after: Some(_),
                        created_from,
                    }) => (*created_from).min((now - OVERLAP).timestamp()),
                    _ => at.created_from.max((now - OVERLAP).timestamp()),
                },
                after: None,
            },
            Some(last) => Checkpoint {
                created_from: at.created_from.max(last.created - OVERLAP.num_seconds()),
                after: Some(last.id.clone()),
            },
            None => at.clone(),
        };
        if Some(&next) != written.as_ref() {
            if !store
                .move_reconcile_checkpoint(written.as_ref(), &next)
                .await?
            {
                tracing::warn!(
                    created_from = next.created_from,
                    "another reconcile run moved the checkpoint; leaving it"
                );
                summary.checkpoint = None;
                return Ok(());
            }
            written = Some(next.clone());
        }
        summary.checkpoint = Some(next.created_from);
        summary.events_caught_up = caught_up;
        if caught_up || stopped || next.after.is_none() || page.is_empty() {
            if stopped {
                tracing::info!(
                    events_seen = summary.events_seen,
                    "reconcile stopped the event list before its deadline; the next run resumes"
                );
            }
            return Ok(());
        }
        at = next;
    }
}

fn query(created_gte: i64, after: Option<String>, before: Option<String>) -> EventQuery {
    EventQuery {
        created_gte,
        types: &HANDLED_EVENT_TYPES,
        starting_after: after,
        ending_before: before,
    }
}

/// The oldest page of events created at or after `created_gte`, and whether newer events
/// follow it. Pages down the whole list (newest first), keeping only the last page.
async fn oldest_page<P: PaymentProvider>(
    provider: &P,
    created_gte: i64,
) -> Result<(Vec<ListedEvent>, bool), AppError> {
    let mut page = provider
        .list_events(&query(created_gte, None, None))
        .await?;
    let mut newer = false;
    while page.has_more {
        let Some(last) = page.events.last() else {
            break;
        };
        let next = provider
            .list_events(&query(created_gte, Some(last.id.clone()), None))
            .await?;
        if next.events.is_empty() {
            break;
        }
        newer = true;
        page = next;
    }
    Ok((page.events, newer))
}

/// The checkpoint, or where Stripe's list still reaches; an ERROR names any gap.
fn within_retention(checkpoint: &Checkpoint, now: DateTime<Utc>) -> Checkpoint {
    let listed_from = (now - STRIPE_EVENT_RETENTION + Duration::hours(1)).timestamp();
    let recorded_from = (now - EVENT_RETENTION).timestamp();
    let from = checkpoint.created_from;
    if from < listed_from {
        tracing::error!(checkpoint = from, listed_from, attention = "payment",
            gap_from = %stamp(from), gap_to = %stamp(listed_from),
            "reconcile: the checkpoint is older than Stripe's 30-day event list; events created in the gap are lost to it, going on from what Stripe still lists");
        return Checkpoint {
            created_from: listed_from,
            after: None,
        };
    }
    if from < recorded_from {
        tracing::error!(checkpoint = from, recorded_from, attention = "payment",
            gap_from = %stamp(from), gap_to = %stamp(recorded_from),
            "reconcile: the checkpoint is older than the 7-day processed-event records; events in the gap are listed again with no record, left to the state guards");
    }
    checkpoint.clone()
}

fn stamp(unix: i64) -> String {
    Utc.timestamp_opt(unix, 0)
        .single()
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

async fn apply_one<S: BookingStore>(
    store: &S,
    listed: &ListedEvent,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<(), AppError> {
    summary.events_seen += 1;
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
    Ok(())
}
