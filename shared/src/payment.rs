//! The payment state machine: how a Stripe PaymentIntent event moves a booking's
//! `payment_status`. Pure, so every transition is unit-tested.
//!
//! Stripe delivers events at least once and in any order, so:
//! - `completed` and `refunded` are final for events: nothing Stripe sends later moves a paid
//!   booking backwards (a late `payment_failed` from an earlier attempt must not undo a payment);
//! - `succeeded` wins over everything else that is not final, whatever its timestamp: money was
//!   taken, that is the truth;
//! - any other event applies only if it is not older than the last one applied.

use crate::domain::PaymentStatus;

/// The PaymentIntent events the webhook acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentEvent {
    Succeeded { amount_received: Option<i64> },
    PaymentFailed { reason: Option<String> },
    RequiresAction,
    Processing,
    Canceled,
}

impl IntentEvent {
    /// Reads a Stripe event type and its PaymentIntent; `None` for types we do not act on.
    pub fn from_stripe(
        event_type: &str,
        amount_received: Option<i64>,
        reason: Option<String>,
    ) -> Option<Self> {
        Some(match event_type {
            "payment_intent.succeeded" => Self::Succeeded { amount_received },
            "payment_intent.payment_failed" => Self::PaymentFailed { reason },
            "payment_intent.requires_action" => Self::RequiresAction,
            "payment_intent.processing" => Self::Processing,
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
            Self::Canceled => PaymentStatus::Canceled,
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
    if current.is_paid() {
        return None;
    }
    if let IntentEvent::Succeeded { .. } = event {
        return Some(PaymentStatus::Completed);
    }
    if last_event_at.is_some_and(|last| event_at < last) {
        return None;
    }
    // A canceled intent is over: only a (theoretical) success could still change it.
    if current == PaymentStatus::Canceled {
        return None;
    }
    Some(event.target())
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
        for status in [Pending, RequiresAction, Processing, Failed, Canceled] {
            let ev = IntentEvent::Succeeded {
                amount_received: None,
            };
            assert_eq!(transition(status, Some(500), &ev, 10), Some(Completed));
            assert_eq!(transition(status, None, &ev, 10), Some(Completed));
        }
    }

    #[test]
    fn other_events_apply_in_order_only() {
        for status in [Pending, RequiresAction, Processing, Failed] {
            for event in events().into_iter().skip(1) {
                let target = event.target();
                assert_eq!(transition(status, None, &event, 100), Some(target));
                assert_eq!(transition(status, Some(100), &event, 100), Some(target));
                assert_eq!(transition(status, Some(99), &event, 100), Some(target));
                assert_eq!(transition(status, Some(101), &event, 100), None);
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
        // 4 open states x 5 events + Canceled x succeeded.
        assert_eq!(applied, 4 * 5 + 1);
    }

    #[test]
    fn stripe_event_types() {
        assert_eq!(
            IntentEvent::from_stripe("payment_intent.succeeded", Some(450), None),
            Some(IntentEvent::Succeeded {
                amount_received: Some(450)
            })
        );
        assert_eq!(
            IntentEvent::from_stripe("payment_intent.canceled", None, None),
            Some(IntentEvent::Canceled)
        );
        for other in [
            "charge.succeeded",
            "payment_intent.created",
            "",
            "customer.created",
        ] {
            assert_eq!(IntentEvent::from_stripe(other, None, None), None);
        }
    }
}
