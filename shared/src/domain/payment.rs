//! The payment state machine: how a Stripe PaymentIntent event moves a booking's
//! `payment_status`, and what to do with an intent in each of Stripe's states. Pure, so every
//! transition is unit-tested.
//!
//! Stripe delivers events at least once and in any order, so:
//! - `completed` and `refunded` are final for events: nothing Stripe sends later moves a paid
//!   booking backwards (a late `payment_failed` from an earlier attempt must not undo a payment);
//! - `succeeded` wins over everything else that is not final, whatever its timestamp: money was
//!   taken, that is the truth;
//! - any other event applies only if it is not older than the last one applied.

use chrono::{DateTime, Utc};

use super::capture::{Authorization, CaptureMethod};
use super::ids::IntentId;
use super::money::Money;
use super::other_intents::{OtherIntentIssue, RefundRefusal};
use super::refund_log::RefundEntry;
use super::refunds::AfterPayment;
use super::terms::Fee;

/// Where the booking's payment stands, as the webhook and cancellation move it.
/// `completed` and `refunded` are never left by a Stripe event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    RequiresAction,
    Processing,
    /// A manual-capture intent's hold is on the card (Stripe: `requires_capture`): nothing
    /// taken yet, and the booking does not expire.
    Authorized,
    Completed,
    Failed,
    Canceled,
    /// Paid, and part of it refunded.
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::RequiresAction,
        Self::Processing,
        Self::Authorized,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
        Self::PartiallyRefunded,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::Authorized => "authorized",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Money was taken (some of it may have been given back since): no new intent, no
    /// PaymentIntent event moves it back (refunds move it, see `refunds`).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::PartiallyRefunded | Self::Refunded
        )
    }
}

/// The booking's PaymentIntent and what Stripe told us about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub intent_id: IntentId,
    pub amount: Money,
    pub amount_received_minor: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    /// The latest refund Stripe made of it (ours or one it told of): the last of `refunds` with
    /// an id.
    pub refund_id: Option<String>,
    /// `created` (Unix seconds) of the last Stripe event applied, to ignore older ones.
    pub last_event_at: Option<i64>,
    /// The succeeded intent's charge (`latest_charge`), which refund and dispute events name.
    pub charge_id: Option<String>,
    /// Refunds and disputes, once paid.
    pub after: AfterPayment,
    /// Intents of this booking whose money must go back to the driver (paid or authorized
    /// after the booking was cancelled or expired, or after the intent was replaced): the
    /// webhook records them, the next API call that touches the booking (or `reconcile`)
    /// refunds them if captured, releases them if only authorized.
    pub refunds_owed: Vec<IntentId>,
    pub capture_method: CaptureMethod,
    /// The hold, once a manual-capture intent was authorized.
    pub authorization: Option<Authorization>,
    /// Disputes and failed refunds of intents the booking no longer uses: the booking's to
    /// show, not its payment's (kept when an intent is replaced).
    pub other_intents: Vec<OtherIntentIssue>,
    /// The last owed refund Stripe refused, recorded on its own (no payment write sets or
    /// removes it): it waits for an operator.
    pub refund_refusal: Option<RefundRefusal>,
    /// Its refunds one by one, ours and Stripe's (`domain::refund_log`), oldest first.
    pub refunds: Vec<RefundEntry>,
    /// The fee a cancellation took under the booking's terms (`domain::terms`): kept out of
    /// the refund of a paid booking, or captured from the hold of an authorized one.
    pub cancellation_fee: Option<Fee>,
    /// The no-show fee the scheduled run decided (and captured from the hold).
    pub no_show_fee: Option<Fee>,
}

impl Payment {
    /// What Stripe received: its reported amount, else (not reported yet) the whole intent.
    pub fn received_minor(&self) -> i64 {
        self.amount_received_minor.unwrap_or(self.amount.minor)
    }

    pub fn new(intent_id: IntentId, amount: Money) -> Self {
        Self {
            intent_id,
            amount,
            amount_received_minor: None,
            paid_at: None,
            failure_reason: None,
            refund_id: None,
            last_event_at: None,
            charge_id: None,
            after: AfterPayment::default(),
            refunds_owed: Vec::new(),
            capture_method: CaptureMethod::Automatic,
            authorization: None,
            other_intents: Vec::new(),
            refund_refusal: None,
            refunds: Vec::new(),
            cancellation_fee: None,
            no_show_fee: None,
        }
    }

    pub fn with_capture_method(mut self, method: CaptureMethod) -> Self {
        self.capture_method = method;
        self
    }
}

/// A PaymentIntent's `status`, as Stripe documents it
/// (<https://docs.stripe.com/payments/paymentintents/lifecycle>). A status this code does not
/// know (Stripe adds them rarely) is kept as text, and nothing is done with such an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    Unknown(String),
}

impl IntentStatus {
    pub const KNOWN: [Self; 7] = [
        Self::RequiresPaymentMethod,
        Self::RequiresConfirmation,
        Self::RequiresAction,
        Self::Processing,
        Self::RequiresCapture,
        Self::Canceled,
        Self::Succeeded,
    ];

    pub fn parse(s: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|k| k.as_str() == s)
            .unwrap_or_else(|| Self::Unknown(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
            Self::Unknown(s) => s,
        }
    }

    /// Could the customer still pay this intent?
    pub fn is_payable(&self) -> bool {
        matches!(
            self,
            Self::RequiresPaymentMethod | Self::RequiresConfirmation | Self::RequiresAction
        )
    }
}

/// What a use case wants from the booking's current intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// An intent the driver can pay, for these terms (`same_terms`: the current intent has the
    /// requested amount and currency).
    Pay { same_terms: bool },
    /// The booking is being cancelled: no money may stay taken or takeable.
    Cancel,
}

/// What to do with the booking's current intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentAction {
    /// Hand out this intent as it is.
    Reuse,
    /// It is dead already: nothing to do at Stripe (create a new one, or just cancel).
    Dead,
    /// Cancel it at Stripe first (it must not stay payable).
    CancelIt,
    /// Money was taken: refund it (cancel) or refuse (pay).
    Refund,
    AlreadyPaid,
    /// A manual-capture hold is on the card: capture or release it (pay), or release it
    /// (cancel).
    Authorized,
    /// A payment is in flight: try later.
    Processing,
    /// A state we do not act on (unknown to this code).
    Stuck,
}

/// The one place that decides what to do with an intent in each of Stripe's states.
pub fn decide(status: &IntentStatus, want: Want) -> IntentAction {
    use IntentStatus as S;
    match (status, want) {
        (S::Canceled, _) => IntentAction::Dead,
        (S::Succeeded, Want::Pay { .. }) => IntentAction::AlreadyPaid,
        (S::Succeeded, Want::Cancel) => IntentAction::Refund,
        (S::Processing, _) => IntentAction::Processing,
        (S::RequiresCapture, Want::Pay { .. }) => IntentAction::Authorized,
        // Cancelling a booking releases its hold.
        (S::RequiresCapture, Want::Cancel) => IntentAction::CancelIt,
        (s, Want::Pay { same_terms: true }) if s.is_payable() => IntentAction::Reuse,
        // A new amount: the old intent must be dead before a new one is handed out, or the
        // customer could pay both.
        (s, _) if s.is_payable() => IntentAction::CancelIt,
        // A status we do not know.
        _ => IntentAction::Stuck,
    }
}

/// The amounts a PaymentIntent event carries (`None`: not in the payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StripeAmounts {
    pub amount_received: Option<i64>,
    pub amount_capturable: Option<i64>,
}

/// The PaymentIntent events the webhook acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentEvent {
    Succeeded {
        amount_received: Option<i64>,
    },
    PaymentFailed {
        reason: Option<String>,
    },
    RequiresAction,
    Processing,
    /// `payment_intent.amount_capturable_updated`: a manual-capture intent is authorized
    /// (`requires_capture`) for `amount_capturable`.
    Authorized {
        amount_capturable: Option<i64>,
    },
    Canceled,
}

impl IntentEvent {
    /// Reads a Stripe event type and its PaymentIntent; `None` for types we do not act on.
    pub fn from_stripe(
        event_type: &str,
        amounts: StripeAmounts,
        reason: Option<String>,
    ) -> Option<Self> {
        let StripeAmounts {
            amount_received,
            amount_capturable,
        } = amounts;
        Some(match event_type {
            "payment_intent.succeeded" => Self::Succeeded { amount_received },
            "payment_intent.payment_failed" => Self::PaymentFailed { reason },
            "payment_intent.requires_action" => Self::RequiresAction,
            "payment_intent.processing" => Self::Processing,
            "payment_intent.amount_capturable_updated" => Self::Authorized { amount_capturable },
            "payment_intent.canceled" => Self::Canceled,
            _ => return None,
        })
    }

    pub fn target(&self) -> PaymentStatus {
        match self {
            Self::Succeeded { .. } => PaymentStatus::Completed,
            Self::PaymentFailed { .. } => PaymentStatus::Failed,
            Self::RequiresAction => PaymentStatus::RequiresAction,
            Self::Processing => PaymentStatus::Processing,
            Self::Authorized { .. } => PaymentStatus::Authorized,
            Self::Canceled => PaymentStatus::Canceled,
        }
    }
}

/// Where an event may apply, as a condition a store can check atomically in the same write
/// that applies it (so events racing each other end as if delivered one by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// Statuses the event applies to whatever the time of the last event applied (a success).
    pub any_time: Vec<PaymentStatus>,
    /// Statuses it applies to when the last event applied is older (or there is none).
    pub if_newer: Vec<PaymentStatus>,
    /// Statuses it applies to when the last event applied has the same `created` second:
    /// those it takes precedence over.
    pub same_second: Vec<PaymentStatus>,
}

impl Guard {
    pub fn admits(
        &self,
        current: PaymentStatus,
        last_event_at: Option<i64>,
        event_at: i64,
    ) -> bool {
        self.any_time.contains(&current)
            || match last_event_at {
                None => self.if_newer.contains(&current),
                Some(last) if last < event_at => self.if_newer.contains(&current),
                Some(last) if last == event_at => self.same_second.contains(&current),
                Some(_) => false,
            }
    }
}

impl PaymentStatus {
    /// Within one second, which status wins: the later step of an intent's life. Stripe's
    /// `created` has second resolution, so events of one second carry no order of their own;
    /// an intent goes requires_action -> processing -> failed -> (another attempt)
    /// authorized -> canceled, never back in one second.
    fn precedence(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::RequiresAction => 1,
            Self::Processing => 2,
            Self::Failed => 3,
            Self::Authorized => 4,
            Self::Canceled => 5,
            Self::Completed | Self::PartiallyRefunded | Self::Refunded => 6,
        }
    }
}

impl IntentEvent {
    /// The rules below as one condition:
    /// - paid bookings never move (no status of the guard is paid);
    /// - `succeeded` applies to every unpaid status, whatever its time: money was taken;
    /// - a canceled intent is over: only a success could still change it, and its
    ///   `canceled` event applies whatever its time (every other event happened before it);
    /// - any other event applies only if not older than the last one applied, and within the
    ///   same second only over statuses it takes precedence over.
    pub fn guard(&self) -> Guard {
        let unpaid = PaymentStatus::ALL.into_iter().filter(|s| !s.is_paid());
        if let Self::Succeeded { .. } = self {
            return Guard {
                any_time: unpaid.collect(),
                if_newer: Vec::new(),
                same_second: Vec::new(),
            };
        }
        let open: Vec<PaymentStatus> = unpaid.filter(|s| *s != PaymentStatus::Canceled).collect();
        if let Self::Canceled = self {
            // Cancelled is the intent's last word at Stripe: every other event of it, whatever
            // its time, happened before.
            return Guard {
                any_time: open,
                if_newer: Vec::new(),
                same_second: Vec::new(),
            };
        }
        let target = self.target().precedence();
        Guard {
            any_time: Vec::new(),
            same_second: open
                .iter()
                .copied()
                .filter(|s| s.precedence() <= target)
                .collect(),
            if_newer: open,
        }
    }
}

/// The status an event moves the booking to, or `None` if the event must be ignored.
/// `last_event_at` and `event_at` are Stripe `created` times (Unix seconds).
pub fn transition(
    current: PaymentStatus,
    last_event_at: Option<i64>,
    event: &IntentEvent,
    event_at: i64,
) -> Option<PaymentStatus> {
    event
        .guard()
        .admits(current, last_event_at, event_at)
        .then(|| event.target())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    fn events() -> Vec<IntentEvent> {
        vec![
            IntentEvent::Succeeded {
                amount_received: Some(350),
            },
            IntentEvent::PaymentFailed {
                reason: Some("Your card was declined.".into()),
            },
            IntentEvent::RequiresAction,
            IntentEvent::Processing,
            IntentEvent::Authorized {
                amount_capturable: Some(800),
            },
            IntentEvent::Canceled,
        ]
    }

    #[test]
    fn paid_bookings_never_move() {
        for status in [Completed, Refunded] {
            for event in events() {
                for last in [None, Some(0), Some(100), Some(200)] {
                    assert_eq!(
                        transition(status, last, &event, 100),
                        None,
                        "{status:?} {event:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn success_wins_over_any_unpaid_state_even_when_late() {
        for status in [
            Pending,
            RequiresAction,
            Processing,
            Authorized,
            Failed,
            Canceled,
        ] {
            let ev = IntentEvent::Succeeded {
                amount_received: None,
            };
            assert_eq!(transition(status, Some(500), &ev, 10), Some(Completed));
            assert_eq!(transition(status, None, &ev, 10), Some(Completed));
        }
    }

    #[test]
    fn other_events_apply_in_order_only() {
        for status in [Pending, RequiresAction, Processing, Authorized, Failed] {
            for event in events().into_iter().skip(1) {
                let target = event.target();
                assert_eq!(transition(status, None, &event, 100), Some(target));
                assert_eq!(transition(status, Some(99), &event, 100), Some(target));
                let older = transition(status, Some(101), &event, 100);
                if event == IntentEvent::Canceled {
                    // Cancelled is the intent's last word: every other event came before it.
                    assert_eq!(older, Some(Canceled));
                } else {
                    assert_eq!(older, None);
                }
                // Within one second, the later step of an intent's life wins (issue 12).
                let same_second = transition(status, Some(100), &event, 100);
                if status.precedence() <= target.precedence() {
                    assert_eq!(same_second, Some(target), "{status:?} {event:?}");
                } else {
                    assert_eq!(same_second, None, "{status:?} {event:?}");
                }
            }
        }
    }

    #[test]
    fn canceled_only_yields_to_success() {
        for event in events().into_iter().skip(1) {
            assert_eq!(transition(Canceled, None, &event, 100), None);
        }
    }

    #[test]
    fn every_pair_is_decided() {
        // The full table, so a change to the rules shows up here.
        let mut applied = 0;
        for status in PaymentStatus::ALL {
            for event in events() {
                if transition(status, None, &event, 1).is_some() {
                    applied += 1;
                }
            }
        }
        // 5 open states x 6 events + Canceled x succeeded.
        assert_eq!(applied, 5 * 6 + 1);
    }

    #[test]
    fn every_intent_state_has_one_action() {
        use IntentAction as A;
        let same = Want::Pay { same_terms: true };
        let other = Want::Pay { same_terms: false };
        let table = [
            (
                "requires_payment_method",
                A::Reuse,
                A::CancelIt,
                A::CancelIt,
            ),
            ("requires_confirmation", A::Reuse, A::CancelIt, A::CancelIt),
            ("requires_action", A::Reuse, A::CancelIt, A::CancelIt),
            ("processing", A::Processing, A::Processing, A::Processing),
            (
                "requires_capture",
                A::Authorized,
                A::Authorized,
                A::CancelIt,
            ),
            ("canceled", A::Dead, A::Dead, A::Dead),
            ("succeeded", A::AlreadyPaid, A::AlreadyPaid, A::Refund),
            ("something_new", A::Stuck, A::Stuck, A::Stuck),
        ];
        for (status, pay_same, pay_other, cancel) in table.clone() {
            let s = IntentStatus::parse(status);
            assert_eq!(s.as_str(), status);
            assert_eq!(decide(&s, same), pay_same, "{status} same terms");
            assert_eq!(decide(&s, other), pay_other, "{status} other terms");
            assert_eq!(decide(&s, Want::Cancel), cancel, "{status} cancel");
        }
        assert_eq!(table.len(), IntentStatus::KNOWN.len() + 1);
    }

    /// Issue 12: events delivered in any order (as at the same moment) end where the same
    /// events delivered one by one end, also when several carry the same `created` second.
    #[test]
    fn any_order_of_events_ends_in_the_same_state() {
        fn run(start: PaymentStatus, seq: &[(IntentEvent, i64)]) -> (PaymentStatus, Option<i64>) {
            let (mut status, mut last) = (start, None::<i64>);
            for (event, at) in seq {
                if let Some(next) = transition(status, last, event, *at) {
                    status = next;
                    last = Some(last.map_or(*at, |l| l.max(*at)));
                }
            }
            // Once paid, nothing moves the booking: the time of the last event no longer matters.
            // Once paid or cancelled, only a success moves the booking, whatever its time: the
            // time of the last event no longer matters.
            let settled = status.is_paid() || status == Canceled;
            (status, last.filter(|_| !settled))
        }
        fn permutations(items: &[(IntentEvent, i64)]) -> Vec<Vec<(IntentEvent, i64)>> {
            if items.len() <= 1 {
                return vec![items.to_vec()];
            }
            let mut out = Vec::new();
            for i in 0..items.len() {
                let mut rest = items.to_vec();
                let first = rest.remove(i);
                for mut tail in permutations(&rest) {
                    tail.insert(0, first.clone());
                    out.push(tail);
                }
            }
            out
        }
        let kinds = events();
        let mut checked = 0;
        for start in [
            Pending,
            RequiresAction,
            Processing,
            Authorized,
            Failed,
            Canceled,
        ] {
            for a in 0..kinds.len() {
                for b in 0..kinds.len() {
                    for c in 0..kinds.len() {
                        for times in [[100, 100, 100], [100, 100, 101], [101, 100, 100]] {
                            let seq = vec![
                                (kinds[a].clone(), times[0]),
                                (kinds[b].clone(), times[1]),
                                (kinds[c].clone(), times[2]),
                            ];
                            let ends: Vec<_> =
                                permutations(&seq).iter().map(|p| run(start, p)).collect();
                            assert!(
                                ends.windows(2).all(|w| w[0] == w[1]),
                                "{start:?} {seq:?}: {ends:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 6 * 216 * 3);
    }

    #[test]
    fn stripe_event_types() {
        assert_eq!(
            IntentEvent::from_stripe(
                "payment_intent.succeeded",
                StripeAmounts {
                    amount_received: Some(450),
                    amount_capturable: Some(0)
                },
                None
            ),
            Some(IntentEvent::Succeeded {
                amount_received: Some(450)
            })
        );
        assert_eq!(
            IntentEvent::from_stripe("payment_intent.canceled", StripeAmounts::default(), None),
            Some(IntentEvent::Canceled)
        );
        assert_eq!(
            IntentEvent::from_stripe(
                "payment_intent.amount_capturable_updated",
                StripeAmounts {
                    amount_received: Some(0),
                    amount_capturable: Some(800)
                },
                None
            ),
            Some(IntentEvent::Authorized {
                amount_capturable: Some(800)
            })
        );
        for other in [
            "charge.succeeded",
            "payment_intent.created",
            "",
            "customer.created",
        ] {
            assert_eq!(
                IntentEvent::from_stripe(other, StripeAmounts::default(), None),
                None
            );
        }
    }
}
