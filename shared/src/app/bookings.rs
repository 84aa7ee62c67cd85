//! Booking use cases: create (with client idempotency), read, list, cancel.

use chrono::{DateTime, Utc};

use super::holds::{settle_passed_hold, Settled};
use super::keys::{cancel_key, refund_key};
use super::refunds::settle_owed_once;
use super::terms::Settled as TermsSettled;
use super::AppError;
use crate::domain::idempotency::{hash_request, IdempotencyRecord, RETENTION};
use crate::domain::payment::decide;
use crate::domain::refunds::{record_refund, status_after_refunds};
use crate::domain::slot::Window;
use crate::domain::tariff::Quote;
use crate::domain::{
    AssetId, Booking, BookingId, BookingStatus, DomainError, HoldRules, HoldState, IdempotencyKey,
    IntentAction, NewBooking, Payment, PaymentStatus, RefundStatus, UserId, Want,
};
use crate::ports::{BookingStore, Page, PaymentProvider, ProviderError, StoreError};

const CREATE_ROUTE: &str = "POST /v1/bookings";
/// Rounds of read-decide-write for a cancellation before answering "busy, retry".
const MAX_CANCEL_ROUNDS: u32 = 6;
/// Rounds of expiring dead holds in a new booking's way and creating again.
const MAX_TAKEOVER_ROUNDS: u32 = 4;
/// Undecided bookings in a new booking's way that one request asks Stripe about (each is a
/// retrieve and perhaps a cancel); past that the slot is answered busy, and the scheduled run
/// settles the rest.
const MAX_SETTLED_PER_TAKEOVER: usize = 5;

/// The answer to a create: the new booking with the body `render` made of it, or the first
/// answer given for the same Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New { booking: Box<Booking>, body: String },
    Replayed { status: u16, body: String },
}

/// Creates a confirmed booking, holding its slot for `hold` unless paid (`None`: no hold), if
/// its slot is free; bookings in the way whose hold has passed are expired first (a takeover:
/// one with a live intent only once Stripe agrees, see `app::holds`; each expiry is its own
/// conditional write, so a payment racing it wins or loses whole). With a key, the answer
/// (`render`ed, with status 201) is stored in the same transaction as the booking, and a
/// repeat of the same request gets that answer back.
pub async fn create_booking<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    new: NewBooking,
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
    holds: (Option<chrono::Duration>, &HoldRules),
    render: impl FnOnce(&Booking) -> String,
) -> Result<Created, AppError> {
    create_priced_booking(store, provider, (new, None), key, now, holds, render).await
}

/// [`create_booking`] of a booking with the price its tariff gave it (`app::tariffs`).
pub async fn create_priced_booking<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    (new, price): (NewBooking, Option<Quote>),
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
    (hold, rules): (Option<chrono::Duration>, &HoldRules),
    render: impl FnOnce(&Booking) -> String,
) -> Result<Created, AppError> {
    let key = key.map(|k| k.scoped(CREATE_ROUTE));
    let request_hash = hash_request(&new.canonical());
    if let Some(key) = &key {
        if let Some(record) = store.get_idempotency(key).await? {
            return replay(record, &request_hash);
        }
    }
    let booking = Booking::new(new, BookingId::generate(), now)
        .with_hold(hold)
        .with_price(price);
    let body = render(&booking);
    let record = key.as_ref().map(|key| IdempotencyRecord {
        key: key.clone(),
        request_hash: request_hash.clone(),
        status: 201,
        body: body.clone(),
        expires_at: now + RETENTION,
    });
    let mut stored = store.create_booking(&booking, record.as_ref()).await;
    for _ in 0..MAX_TAKEOVER_ROUNDS {
        if stored != Err(StoreError::Overlap)
            || !expire_dead_holds(store, provider, &booking, rules, now).await?
        {
            break;
        }
        stored = store.create_booking(&booking, record.as_ref()).await;
    }
    match stored {
        Ok(()) => {
            tracing::info!(booking_id = %booking.id, asset_id = %booking.asset_id, "booking created");
            Ok(Created::New {
                booking: Box::new(booking),
                body,
            })
        }
        // A concurrent request with the same key may have won (its booking then overlaps
        // ours): answer as that first request did.
        Err(err @ (StoreError::IdempotencyKeyTaken | StoreError::Overlap)) => {
            let Some(key) = &key else {
                return Err(err.into());
            };
            match store.get_idempotency(key).await? {
                Some(record) => replay(record, &request_hash),
                None => Err(err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Expires the bookings overlapping `booking`'s slot if every one of them is dead at `now`:
/// expired by our clock (its hold passed with no intent, or a cancelled one), or undecided and
/// settled as ended once Stripe was asked. `true`: the slot may be free now, create again;
/// `false`: a live booking is in the way (409).
async fn expire_dead_holds<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    booking: &Booking,
    rules: &HoldRules,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let booked = store
        .booked_on_days(booking.asset_id, &booking.slot.days())
        .await?;
    // Reads bounded (app::bounded): a live hold in the way needs no read, and more dead ones
    // than one request reads are left to the scheduled expiry.
    let overlapping: Vec<&crate::ports::Booked> = booked
        .iter()
        .filter(|b| booking.slot.overlaps(b.start_ms, b.end_ms))
        .collect();
    if !super::bounded::may_take_over(&overlapping, now) {
        return Ok(false);
    }
    let mut in_the_way: Vec<BookingId> = overlapping.iter().map(|b| b.booking_id).collect();
    in_the_way.sort_by_key(|id| id.to_string());
    in_the_way.dedup();
    if in_the_way.is_empty() {
        // Freed meanwhile: create again.
        return Ok(true);
    }
    let mut dead = Vec::new();
    let mut undecided = Vec::new();
    for id in in_the_way {
        let Some(other) = store.get_booking(id).await? else {
            return Ok(false);
        };
        match other.hold_state(now, rules) {
            HoldState::Expired => dead.push(other),
            HoldState::Undecided => undecided.push(other),
            // Cancelled or expired since the slot items were read: the next round sees them
            // gone.
            HoldState::Ended => {}
            HoldState::Holding => return Ok(false),
        }
    }
    if undecided.len() > MAX_SETTLED_PER_TAKEOVER {
        return Ok(false);
    }
    for other in dead {
        if other.status == BookingStatus::Confirmed && store.expire_booking(&other, now).await? {
            tracing::info!(booking_id = %other.id, taken_by = %booking.id, "hold expired: slot taken over");
        }
        // Not written: it moved (the next round reads it again) or was expired already.
    }
    for other in undecided {
        let id = other.id;
        match settle_passed_hold(store, provider, other, rules, || now).await? {
            Settled::Ended => {
                tracing::info!(booking_id = %id, taken_by = %booking.id, "hold ended at Stripe: slot taken over");
            }
            Settled::Kept => return Ok(false),
        }
    }
    Ok(true)
}

fn replay(record: IdempotencyRecord, request_hash: &str) -> Result<Created, AppError> {
    if record.request_hash != request_hash {
        return Err(AppError::IdempotencyMismatch);
    }
    Ok(Created::Replayed {
        status: record.status,
        body: record.body,
    })
}

pub async fn get_booking<S: BookingStore>(store: &S, id: BookingId) -> Result<Booking, AppError> {
    store
        .get_booking(id)
        .await?
        .ok_or(AppError::BookingNotFound)
}

/// One page of a user's bookings, newest first. `cursor` comes from a previous page.
pub async fn list_bookings<S: BookingStore>(
    store: &S,
    user_id: UserId,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page, AppError> {
    store
        .list_user_bookings(user_id, limit, cursor)
        .await?
        .ok_or_else(|| DomainError::invalid("cursor is invalid for this user_id").into())
}

/// One confirmed booking's whole interval `[start, end)`, as busy time of its asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The confirmed bookings of `asset_id` overlapping `window`: each once (a booking is recorded
/// on every day it touches), whole (not clipped to the window), sorted by start. Read from the
/// asset's slot items for the window's own days: any booking overlapping the window touches
/// one of them.
pub async fn availability<S: BookingStore>(
    store: &S,
    asset_id: AssetId,
    window: Window,
    now: DateTime<Utc>,
) -> Result<Vec<Busy>, AppError> {
    let booked = store.booked_on_days(asset_id, &window.days()).await?;
    let mut by_id = std::collections::HashMap::new();
    for b in booked {
        if window.overlaps(b.start_ms, b.end_ms) {
            by_id.insert(b.booking_id, b);
        }
    }
    // A booking whose hold has passed may be expired (unless paid or paying): read it, the
    // earliest first, as many as one request reads (app::bounded); the rest stay busy.
    let mut maybe_dead: Vec<&crate::ports::Booked> = by_id
        .values()
        .filter(|b| super::bounded::hold_passed(b, now))
        .collect();
    maybe_dead.sort_by_key(|b| (b.start_ms, b.booking_id));
    let maybe_dead: Vec<BookingId> = maybe_dead.iter().map(|b| b.booking_id).collect();
    for id in super::bounded::dead_among(store, &maybe_dead, now).await? {
        by_id.remove(&id);
    }
    let mut busy = by_id
        .into_values()
        .map(|b| (b.start_ms, b.end_ms))
        .map(|(start, end)| {
            let at = |ms| {
                DateTime::from_timestamp_millis(ms).ok_or_else(|| {
                    StoreError::Corrupt(format!("slot interval time out of range: {ms}"))
                })
            };
            Ok(Busy {
                start: at(start)?,
                end: at(end)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    busy.sort_by_key(|b| (b.start, b.end));
    Ok(busy)
}

/// Cancels a booking and settles its payment first: an unpaid intent is cancelled at Stripe
/// (so it can no longer be paid), a paid one is refunded. Stripe is asked before the booking
/// changes, and the booking only changes if nothing moved meanwhile.
pub async fn cancel_booking<S: BookingStore, P: PaymentProvider>(
    store: &S,
    provider: &P,
    id: BookingId,
    rules: &HoldRules,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Booking, AppError> {
    let mut owed_tried = false;
    for _ in 0..MAX_CANCEL_ROUNDS {
        let booking = get_booking(store, id).await?;
        if settle_owed_once(store, provider, &booking, &mut owed_tried, now()).await? {
            continue;
        }
        if booking.status == BookingStatus::Cancelled {
            return Ok(booking);
        }
        // An expired booking holds nothing to cancel: answered unchanged.
        let at = now();
        if booking.is_expired(at) {
            return Ok(booking.as_of(at));
        }
        // Its hold passed with a live intent: whether it ended is Stripe's answer first (a
        // payment that came in is then the booking's, and cancelling refunds it).
        if booking.hold_state(at, rules) == HoldState::Undecided {
            settle_passed_hold(store, provider, booking, rules, &now).await?;
            continue;
        }
        let Some((payment_status, payment)) = settle_payment(provider, &booking, at).await? else {
            continue;
        };
        let at = now();
        let payment = payment.map(|p| super::versioned::stamped(&p, at));
        if store
            .cancel_booking(&booking, at, payment_status, payment.as_ref())
            .await?
        {
            tracing::info!(booking_id = %booking.id, payment_status = payment_status.as_str(), "booking cancelled");
            return get_booking(store, id).await;
        }
    }
    Err(StoreError::Contention.into())
}

/// What the booking's payment becomes when it is cancelled, after acting at Stripe; `None` if
/// the intent moved under us and the caller should look again.
async fn settle_payment<P: PaymentProvider>(
    provider: &P,
    booking: &Booking,
    at: DateTime<Utc>,
) -> Result<Option<(PaymentStatus, Option<Payment>)>, AppError> {
    let Some(payment) = &booking.payment else {
        return Ok(Some((booking.payment_status, None)));
    };
    let intent = provider.retrieve_intent(&payment.intent_id).await?;
    if let Some(terms) = booking.terms() {
        match super::terms::settle_cancel(provider, booking, &terms, &intent, at).await? {
            TermsSettled::AsWithout => {}
            TermsSettled::LookAgain => return Ok(None),
            TermsSettled::Done(status, payment) => return Ok(Some((status, Some(*payment)))),
        }
    }
    let mut payment = payment.clone();
    match decide(&intent.status, Want::Cancel) {
        IntentAction::Dead => Ok(Some((PaymentStatus::Canceled, Some(payment)))),
        IntentAction::Refund => {
            let refund = match provider
                .refund_intent(&intent.id, None, &refund_key(&intent.id))
                .await
            {
                Ok(refund) => Some(refund),
                // Refunded already, elsewhere (the Dashboard): the money is back with the
                // driver, which is all cancelling asks.
                Err(ProviderError::Rejected { code, .. })
                    if code.as_deref() == Some("charge_already_refunded") =>
                {
                    tracing::info!(booking_id = %booking.id, "payment was refunded already");
                    None
                }
                Err(err) => return Err(err.into()),
            };
            if payment.amount_received_minor.is_none() {
                payment.amount_received_minor = intent.amount_received;
            }
            let received = payment.received_minor();
            let status = match refund {
                Some(refund) => {
                    tracing::info!(booking_id = %booking.id, refund_id = %refund.id, "payment refunded");
                    let refund_status = record_refund(&mut payment, refund.id, None, refund.status);
                    if refund_status != RefundStatus::Succeeded {
                        tracing::warn!(booking_id = %booking.id, refund_status = refund_status.as_str(),
                            "refund not finished; its event will tell");
                    }
                    status_after_refunds(
                        PaymentStatus::Completed,
                        received,
                        payment.after.amount_refunded_minor,
                    )
                }
                None => {
                    payment.after.amount_refunded_minor = received;
                    PaymentStatus::Refunded
                }
            };
            Ok(Some((status, Some(payment))))
        }
        IntentAction::Processing => Err(AppError::conflict(
            "A payment for this booking is processing; try again shortly",
        )),
        IntentAction::CancelIt => {
            match provider
                .cancel_intent(&intent.id, &cancel_key(&intent.id))
                .await
            {
                Ok(_) => Ok(Some((PaymentStatus::Canceled, Some(payment)))),
                // Paid or cancelled in the meantime: look again.
                Err(ProviderError::Rejected { .. }) => Ok(None),
                Err(ProviderError::KeyInUse) => {
                    super::keys::pause_for_key_in_use().await;
                    Ok(None)
                }
                Err(err) => Err(err.into()),
            }
        }
        IntentAction::Reuse
        | IntentAction::AlreadyPaid
        | IntentAction::Authorized
        | IntentAction::Stuck => Err(AppError::conflict(format!(
            "The booking's payment is in state {} and cannot be cancelled",
            intent.status.as_str()
        ))),
    }
}
