//! Money news about an intent the booking no longer uses (replaced, or owed back): a dispute
//! opened on its charge, or a refund of it that failed (issue 20, item 4). It is not the
//! booking's payment, so it moves no status; it is kept on the booking, so an operator sees it
//! there, rather than dropped. Pure.

use super::ids::IntentId;
use super::refunds::{MoneyEvent, RefundStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    Dispute,
    RefundFailed,
}

impl IssueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispute => "dispute",
            Self::RefundFailed => "refund_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Dispute, Self::RefundFailed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One thing that happened to another intent's money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherIntentIssue {
    pub intent_id: IntentId,
    pub kind: IssueKind,
    /// The dispute's status, or `failed`.
    pub status: String,
    /// A dispute's reason.
    pub reason: Option<String>,
    /// A failed refund's id.
    pub refund_id: Option<String>,
    /// `created` of the last event applied to this entry.
    pub last_event_at: i64,
}

/// A refund (or release) the booking owes that Stripe refused (a charge disputed since, say):
/// what an operator needs, kept on the booking beside its payment and shown with it. Never
/// Stripe's message (it is not the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRefusal {
    pub intent_id: IntentId,
    /// Stripe's HTTP status and error code (`charge_disputed`, ...).
    pub status: u16,
    pub code: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The issues after `event` (Stripe `created` = `at`) about `intent_id`; `None` if it tells
/// nothing new (a redelivery, an older dispute update, or news that needs nobody: a refund
/// that succeeded is the owed money going back).
pub fn note_other_intent(
    issues: &[OtherIntentIssue],
    intent_id: &IntentId,
    event: &MoneyEvent,
    at: i64,
) -> Option<Vec<OtherIntentIssue>> {
    let mut next = issues.to_vec();
    match event {
        MoneyEvent::Dispute { status, reason } => {
            let found = next
                .iter_mut()
                .find(|i| &i.intent_id == intent_id && i.kind == IssueKind::Dispute);
            match found {
                Some(entry) => {
                    if at < entry.last_event_at {
                        return None;
                    }
                    entry.status = status.clone();
                    if reason.is_some() {
                        entry.reason = reason.clone();
                    }
                    entry.last_event_at = at;
                }
                None => next.push(OtherIntentIssue {
                    intent_id: intent_id.clone(),
                    kind: IssueKind::Dispute,
                    status: status.clone(),
                    reason: reason.clone(),
                    refund_id: None,
                    last_event_at: at,
                }),
            }
        }
        MoneyEvent::RefundUpdated {
            refund_id,
            status: RefundStatus::Failed,
            ..
        } => {
            let known = next.iter().any(|i| {
                i.kind == IssueKind::RefundFailed && i.refund_id.as_deref() == Some(refund_id)
            });
            if known {
                return None;
            }
            next.push(OtherIntentIssue {
                intent_id: intent_id.clone(),
                kind: IssueKind::RefundFailed,
                status: RefundStatus::Failed.as_str().into(),
                reason: None,
                refund_id: Some(refund_id.clone()),
                last_event_at: at,
            });
        }
        MoneyEvent::RefundUpdated { .. } | MoneyEvent::ChargeRefunded { .. } => return None,
    }
    // Same status again (a redelivered update): nothing new.
    (next.as_slice() != issues).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi(n: u8) -> IntentId {
        IntentId::parse(&format!("pi_{n}")).unwrap()
    }

    fn dispute(status: &str, reason: Option<&str>) -> MoneyEvent {
        MoneyEvent::Dispute {
            status: status.into(),
            reason: reason.map(str::to_string),
        }
    }

    fn refund(id: &str, status: RefundStatus) -> MoneyEvent {
        MoneyEvent::RefundUpdated {
            refund_id: id.into(),
            amount: 350,
            status,
            reason: None,
            created: None,
        }
    }

    #[test]
    fn a_dispute_on_another_intent_is_kept_and_follows_its_updates_in_order() {
        let opened = note_other_intent(
            &[],
            &pi(1),
            &dispute("needs_response", Some("fraudulent")),
            10,
        )
        .unwrap();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].kind, IssueKind::Dispute);
        assert_eq!(opened[0].reason.as_deref(), Some("fraudulent"));
        // Redelivered: nothing new.
        assert_eq!(
            note_other_intent(
                &opened,
                &pi(1),
                &dispute("needs_response", Some("fraudulent")),
                10
            ),
            None
        );
        let lost = note_other_intent(&opened, &pi(1), &dispute("lost", None), 20).unwrap();
        assert_eq!(
            (lost[0].status.as_str(), lost[0].reason.as_deref()),
            ("lost", Some("fraudulent"))
        );
        // An older update arriving late changes nothing.
        assert_eq!(
            note_other_intent(&lost, &pi(1), &dispute("under_review", None), 15),
            None
        );
        // Another intent's dispute is its own entry.
        let two = note_other_intent(&lost, &pi(2), &dispute("needs_response", None), 16).unwrap();
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn a_failed_refund_of_another_intent_is_kept_once_and_other_news_is_not() {
        let failed =
            note_other_intent(&[], &pi(1), &refund("re_1", RefundStatus::Failed), 10).unwrap();
        assert_eq!(failed[0].kind, IssueKind::RefundFailed);
        assert_eq!(failed[0].refund_id.as_deref(), Some("re_1"));
        assert_eq!(
            note_other_intent(&failed, &pi(1), &refund("re_1", RefundStatus::Failed), 11),
            None
        );
        for status in [
            RefundStatus::Pending,
            RefundStatus::RequiresAction,
            RefundStatus::Succeeded,
            RefundStatus::Canceled,
        ] {
            assert_eq!(
                note_other_intent(&[], &pi(1), &refund("re_2", status), 10),
                None
            );
        }
        assert_eq!(
            note_other_intent(
                &[],
                &pi(1),
                &MoneyEvent::ChargeRefunded {
                    amount_refunded: 350
                },
                10
            ),
            None
        );
        for kind in [IssueKind::Dispute, IssueKind::RefundFailed] {
            assert_eq!(IssueKind::parse(kind.as_str()), Some(kind));
        }
    }
}
