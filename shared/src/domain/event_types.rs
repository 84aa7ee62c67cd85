//! The Stripe event types the product acts on: the one list the webhook's endpoint must be
//! registered for (README, Deploy step 4), and the `types[]` reconciliation lists.

/// Every event type the webhook applies; any other is answered 200 and ignored.
pub const HANDLED_EVENT_TYPES: [&str; 14] = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.processing",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
];

#[cfg(test)]
mod tests {
    use super::HANDLED_EVENT_TYPES;
    use crate::domain::{IntentEvent, StripeAmounts};

    /// Every `payment_intent.*` type the state machine reads is in the list, and nothing it
    /// does not read.
    #[test]
    fn the_list_is_the_intent_events_the_state_machine_reads_and_the_charge_events() {
        for kind in HANDLED_EVENT_TYPES {
            let read = IntentEvent::from_stripe(kind, StripeAmounts::default(), None).is_some();
            assert_eq!(read, kind.starts_with("payment_intent."), "{kind}");
            assert!(
                kind.starts_with("payment_intent.")
                    || kind.starts_with("charge.")
                    || kind.starts_with("refund."),
                "{kind}"
            );
        }
        for other in ["payment_intent.created", "payment_intent.partially_funded"] {
            assert!(IntentEvent::from_stripe(other, StripeAmounts::default(), None).is_none());
        }
    }

    /// The README's webhook set-up step (Deploy to AWS, step 4) and its Stripe CLI example:
    /// a deployment set up from either learns of every event the code handles, and of no
    /// other (text compare with the one list).
    #[test]
    fn the_readme_registers_the_webhook_for_exactly_the_handled_types() {
        let readme = include_str!("../../../README.md");
        let step = readme
            .split("\n4. In the Stripe Dashboard")
            .nth(1)
            .and_then(|rest| rest.split("\n5. ").next())
            .expect("README, Deploy to AWS, step 4");
        let handled: std::collections::BTreeSet<&str> = HANDLED_EVENT_TYPES.into_iter().collect();
        // The step's prose names each type in backquotes.
        let named: std::collections::BTreeSet<&str> = step
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| {
                word.starts_with("payment_intent.")
                    || word.starts_with("charge.")
                    || word.starts_with("refund.")
            })
            .collect();
        assert_eq!(named, handled, "the step's list");
        // Its Stripe CLI example: one `enabled_events[]` per type.
        let example: std::collections::BTreeSet<&str> = step
            .split("enabled_events[]=")
            .skip(1)
            .map(|rest| {
                rest.split(['"', ' ', '\\', '\n'])
                    .next()
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(example, handled, "the Stripe CLI example");
        assert!(step.contains("stripe webhook_endpoints create"), "{step}");
    }
}
