//! The fake's refunds: Stripe's rules for `POST /v1/refunds`
//! (<https://docs.stripe.com/api/refunds/create>): only a succeeded intent, at most what is
//! not refunded yet, `amount` omitted for everything left; `reason` kept with the refund.

use super::*;

impl FakeStripe {
    pub(super) async fn refund(
        &self,
        id: &IntentId,
        amount: Option<i64>,
        reason: Option<&str>,
        key: &str,
    ) -> Result<Refund, ProviderError> {
        let mut request = match amount {
            Some(amount) => format!("POST /v1/refunds payment_intent={id} amount={amount}"),
            None => format!("POST /v1/refunds payment_intent={id}"),
        };
        if let Some(reason) = reason {
            request.push_str(&format!(" reason={reason}"));
        }
        let reason = reason.map(str::to_string);
        let id = id.clone();
        let saved = self
            .request(Call::Refund, Some(key), request, move |state| {
                let intent = found(state, &id)?.clone();
                if intent.status != IntentStatus::Succeeded {
                    return Err(rejected(
                        400,
                        "payment_intent_unexpected_state",
                        "This PaymentIntent does not have a successful charge to refund.",
                    ));
                }
                let received = intent.amount_received.unwrap_or(intent.amount_minor);
                let before: i64 = state
                    .refunded
                    .get(&id)
                    .map(|refunds| refunds.iter().filter_map(|r| r.amount).sum())
                    .unwrap_or(0);
                let left = received - before;
                if left <= 0 {
                    return Err(rejected(
                        400,
                        "charge_already_refunded",
                        "Charge has already been refunded.",
                    ));
                }
                // Stripe: "Refund amount ($1.00) is greater than unrefunded amount on charge
                // ($0.90)", an invalid_request_error without a code.
                let amount = amount.unwrap_or(left);
                if amount <= 0 || amount > left {
                    return Err(ProviderError::Rejected {
                        status: 400,
                        message: format!(
                            "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                        ),
                        code: None,
                    });
                }
                let n = state.refunded.values().map(Vec::len).sum::<usize>();
                let refund = Refund {
                    id: format!("re_fake_{}", n + 1),
                    amount: Some(amount),
                    status: Some(
                        state
                            .refund_status
                            .take()
                            .unwrap_or(RefundStatus::Succeeded),
                    ),
                };
                state.refunded.entry(id).or_default().push(refund.clone());
                if let Some(reason) = reason {
                    state.refund_reasons.insert(refund.id.clone(), reason);
                }
                Ok(Saved::Refund(refund))
            })
            .await;
        match saved?.0 {
            Saved::Refund(r) => Ok(r),
            Saved::Intent(_) => Err(ProviderError::Protocol("an intent, not a refund".into())),
        }
    }

    /// The refunds Stripe made of `id`, oldest first, each with its `reason` if it had one.
    pub fn refunds(&self, id: &IntentId) -> Vec<(Refund, Option<String>)> {
        let state = self.lock();
        state
            .refunded
            .get(id)
            .map(|refunds| {
                refunds
                    .iter()
                    .map(|r| (r.clone(), state.refund_reasons.get(&r.id).cloned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
