//! A booking's refunds, one by one: ours (a cancellation's, an operator's) and those Stripe
//! tells of (a Dashboard refund, in `refund.*` and `charge.refund.updated` events). Pure, so
//! every rule is unit-tested.
//!
//! - An operator refund is first *reserved*: an entry with its amount and no Stripe id, written
//!   conditionally before Stripe is asked, so that concurrent requests can never together set
//!   aside more than was received. Stripe's answer fills it in ([`settle`]); a definitive
//!   refusal removes it ([`release`]); an unknown outcome leaves it reserved until the same
//!   request is sent again.
//! - An entry is known by its Stripe refund id once it has one: an event and our own record of
//!   the same refund make one entry, whichever comes first.
//! - A refund's status only moves forward: `failed` and `canceled` are final, `succeeded` can
//!   still fail (Stripe: a refund can fail days later), `pending` and `requires_action` can
//!   become anything.
//! - What is still refundable is what was received minus every entry that is not failed or
//!   cancelled (reserved ones included) and minus what Stripe reports refunded beyond the
//!   entries (a Dashboard refund known only from `charge.refunded`, whose charge no longer
//!   lists its refunds: <https://docs.stripe.com/changelog/2022-11-15>).

use chrono::{DateTime, Utc};

use super::refunds::RefundStatus;

/// The most refunds one booking lists (a DynamoDB item holds 400 KB; a booking has far fewer).
pub const MAX_REFUNDS: usize = 100;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Set aside by an operator refund; Stripe has not answered it (yet).
    Reserved,
    /// As Stripe reports the refund.
    Stripe(RefundStatus),
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Stripe(status) => status.as_str(),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reserved" => Some(Self::Reserved),
            other => RefundStatus::parse(other).map(Self::Stripe),
        }
    }

    /// Does the money of this entry count as gone (or going) back?
    pub fn counts(self) -> bool {
        !matches!(
            self,
            Self::Stripe(RefundStatus::Failed | RefundStatus::Canceled)
        )
    }

    /// Can an entry in this status move to `next`?
    fn may_become(self, next: RefundStatus) -> bool {
        use RefundStatus as R;
        match self {
            Self::Reserved => true,
            Self::Stripe(R::Failed | R::Canceled) => false,
            Self::Stripe(R::Succeeded) => matches!(next, R::Failed | R::Canceled | R::Succeeded),
            Self::Stripe(R::Pending | R::RequiresAction) => true,
        }
    }
}

/// An operator refund's request: its scoped Idempotency-Key (as a digest) and the hash of what
/// it asked, so that a retry finds its entry and a different request with the same key is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMark {
    pub key: String,
    pub hash: String,
}

/// One refund of the booking's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEntry {
    /// Stripe's refund id; `None` while reserved.
    pub refund_id: Option<String>,
    pub amount_minor: i64,
    pub status: EntryStatus,
    /// An operator's reason (Stripe's `reason` values), or Stripe's for a refund it told of.
    pub reason: Option<String>,
    /// When it was made (Stripe's `created`, or when we recorded it); `None` until the write
    /// that records it stamps it ([`stamp`]).
    pub created_at: Option<DateTime<Utc>>,
    /// The operator request that made it, if one did.
    pub request: Option<RequestMark>,
}

impl RefundEntry {
    /// A refund Stripe made or told of.
    pub fn of_stripe(
        refund_id: String,
        amount_minor: i64,
        status: RefundStatus,
        reason: Option<String>,
        created_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            refund_id: Some(refund_id),
            amount_minor,
            status: EntryStatus::Stripe(status),
            reason,
            created_at,
            request: None,
        }
    }
}

/// Everything the entries set aside (not failed, not cancelled; reserved included).
pub fn committed_minor(entries: &[RefundEntry]) -> i64 {
    entries
        .iter()
        .filter(|e| e.status.counts())
        .map(|e| e.amount_minor)
        .sum()
}

/// What Stripe reports refunded (`amount_refunded`) beyond the entries it could be: a refund
/// known only as a total.
pub fn unitemised_minor(entries: &[RefundEntry], amount_refunded: i64) -> i64 {
    let itemised: i64 = entries
        .iter()
        .filter(|e| e.refund_id.is_some() && e.status.counts())
        .map(|e| e.amount_minor)
        .sum();
    (amount_refunded - itemised).max(0)
}

/// What may still be refunded of `received`.
pub fn refundable_minor(entries: &[RefundEntry], received: i64, amount_refunded: i64) -> i64 {
    (received - committed_minor(entries) - unitemised_minor(entries, amount_refunded)).max(0)
}

/// Records a refund Stripe made or told of (`incoming` has a refund id): the entry of that id
/// moves forward to its status (and gains the reason and time it lacked), or a new entry is
/// added. Returns whether anything changed.
pub fn upsert(entries: &mut Vec<RefundEntry>, incoming: RefundEntry) -> bool {
    let EntryStatus::Stripe(next) = incoming.status else {
        return false;
    };
    let Some(found) = entries
        .iter_mut()
        .find(|e| e.refund_id.is_some() && e.refund_id == incoming.refund_id)
    else {
        if entries.len() >= MAX_REFUNDS {
            return false;
        }
        entries.push(incoming);
        return true;
    };
    let before = found.clone();
    if found.status != EntryStatus::Stripe(next) && found.status.may_become(next) {
        found.status = EntryStatus::Stripe(next);
    }
    if found.reason.is_none() {
        found.reason = incoming.reason;
    }
    if found.created_at.is_none() {
        found.created_at = incoming.created_at;
    }
    if found.request.is_none() {
        found.request = incoming.request;
    }
    *found != before
}

/// Why a reservation was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// More than is left: what is.
    TooMuch { refundable_minor: i64 },
    /// The booking lists [`MAX_REFUNDS`] already.
    TooMany,
}

/// What a request with this mark finds on the booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// Nothing: a new request.
    New,
    /// Its entry (a retry), reserved or settled.
    Mine(&'a RefundEntry),
    /// Its key, with another request's hash.
    OtherRequest,
}

pub fn find<'a>(entries: &'a [RefundEntry], mark: &RequestMark) -> Found<'a> {
    match entries
        .iter()
        .find(|e| e.request.as_ref().is_some_and(|m| m.key == mark.key))
    {
        None => Found::New,
        Some(e) if e.request.as_ref().is_some_and(|m| m.hash == mark.hash) => Found::Mine(e),
        Some(_) => Found::OtherRequest,
    }
}

/// Sets aside `amount_minor` for the request `mark` if that much is left of `received`.
pub fn reserve(
    entries: &mut Vec<RefundEntry>,
    mark: RequestMark,
    amount_minor: i64,
    reason: Option<String>,
    (received, amount_refunded): (i64, i64),
) -> Result<(), Refused> {
    let refundable = refundable_minor(entries, received, amount_refunded);
    if amount_minor > refundable {
        return Err(Refused::TooMuch {
            refundable_minor: refundable,
        });
    }
    if entries.len() >= MAX_REFUNDS {
        return Err(Refused::TooMany);
    }
    entries.push(RefundEntry {
        refund_id: None,
        amount_minor,
        status: EntryStatus::Reserved,
        reason,
        created_at: None,
        request: Some(mark),
    });
    Ok(())
}

/// Stripe made the refund of request `mark`: its entry gets the refund's id and status (if an
/// event recorded that refund first, the two become one entry, with the request's reason).
/// Without a reserved entry for `mark` the refund is recorded as [`upsert`] does.
pub fn settle(entries: &mut Vec<RefundEntry>, mark: &RequestMark, refund: RefundEntry) {
    let Some(at) = entries
        .iter()
        .position(|e| e.request.as_ref().is_some_and(|m| m.key == mark.key))
    else {
        upsert(entries, refund);
        return;
    };
    let mine = entries.remove(at);
    let merged = RefundEntry {
        reason: mine.reason.or(refund.reason),
        created_at: mine.created_at.or(refund.created_at),
        request: mine.request,
        ..refund
    };
    match entries
        .iter()
        .position(|e| e.refund_id.is_some() && e.refund_id == merged.refund_id)
    {
        // Told by an event first: one entry, where the reservation was.
        Some(other) => {
            let told = entries.remove(other);
            let at = at.min(entries.len());
            entries.insert(at, merged);
            // The event's status, if it is further along than Stripe's answer.
            upsert(entries, told);
        }
        None => entries.insert(at.min(entries.len()), merged),
    }
}

/// Stripe definitively refused request `mark`: its reservation is given back. An entry that
/// has a refund id already is never removed.
pub fn release(entries: &mut Vec<RefundEntry>, mark: &RequestMark) -> bool {
    let before = entries.len();
    entries.retain(|e| {
        !(e.status == EntryStatus::Reserved
            && e.request.as_ref().is_some_and(|m| m.key == mark.key))
    });
    entries.len() != before
}

/// Gives every entry without a time the time of the write that records it.
pub fn stamp(entries: &mut [RefundEntry], at: DateTime<Utc>) {
    for e in entries.iter_mut().filter(|e| e.created_at.is_none()) {
        e.created_at = Some(at);
    }
}

/// The id of the latest refund Stripe made (the booking's `refund_id` once there are several).
pub fn latest_refund_id(entries: &[RefundEntry]) -> Option<&str> {
    entries.iter().rev().find_map(|e| e.refund_id.as_deref())
}

#[cfg(test)]
mod tests;
