//! Parameters Stripe accepts and localstripe refuses with a 400 ("Unexpected ..."): the layer
//! takes them as Stripe does, sends localstripe the request without them, remembers them and
//! shows them on the objects they belong to, as Stripe would.
//!
//! - `receipt_email` on `POST /v1/payment_intents` and `POST /v1/payment_intents/{id}`
//!   (<https://docs.stripe.com/api/payment_intents/create#create_payment_intent-receipt_email>:
//!   "Email address to send the receipt to"; shown as the intent's `receipt_email`, `null` when
//!   none; Stripe sends no receipt in test mode, <https://docs.stripe.com/receipts>). An address
//!   that is not one is Stripe's 400 `email_invalid`
//!   (<https://docs.stripe.com/error-codes#email-invalid>).
//! - `reason` on `POST /v1/refunds`
//!   (<https://docs.stripe.com/api/refunds/create#create_refund-reason>: `duplicate`,
//!   `fraudulent` or `requested_by_customer`; shown as the refund's `reason`, `null` when
//!   none). Any other value is Stripe's 400 `invalid_request_error` naming the parameter
//!   (<https://docs.stripe.com/error-codes#parameter-invalid-string>).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::server::Call;
use super::wire::str_of;
use super::Answer;

const REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// What the layer remembers of those parameters, by object id.
#[derive(Default)]
pub(super) struct Accepted {
    receipt_emails: HashMap<String, String>,
    refund_reasons: HashMap<String, String>,
}

/// The parameters of `call` localstripe would refuse, taken off it.
#[derive(Debug, Default, Clone)]
pub(super) struct Taken {
    receipt_email: Option<String>,
    reason: Option<String>,
}

impl Taken {
    fn is_empty(&self) -> bool {
        self.receipt_email.is_none() && self.reason.is_none()
    }
}

/// `Err`: Stripe's refusal of the parameter. `Ok(None)`: nothing to take.
pub(super) fn take(call: &Call) -> Result<Option<(Call, Taken)>, Answer> {
    if call.method != "POST" {
        return Ok(None);
    }
    let segments = call.segments();
    let names: &[&str] = match segments.as_slice() {
        ["v1", "payment_intents"] | ["v1", "payment_intents", _] => &["receipt_email"],
        ["v1", "refunds"] => &["reason"],
        _ => return Ok(None),
    };
    let body = super::confirm::body_params(call);
    let mut taken = Taken::default();
    let mut kept = Vec::new();
    for (name, value) in body {
        match name.as_str() {
            "receipt_email" if names.contains(&"receipt_email") => {
                if !is_email(&value) {
                    return Err(invalid(
                        "email_invalid",
                        "receipt_email",
                        &format!("Invalid email address: {value}"),
                    ));
                }
                taken.receipt_email = Some(value);
            }
            "reason" if names.contains(&"reason") => {
                if !REFUND_REASONS.contains(&value.as_str()) {
                    return Err(invalid(
                        "parameter_invalid_string",
                        "reason",
                        "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                    ));
                }
                taken.reason = Some(value);
            }
            _ => kept.push((name, value)),
        }
    }
    if taken.is_empty() {
        return Ok(None);
    }
    let auth = call.header("authorization").unwrap_or_default().to_string();
    Ok(Some((
        call.with_body(&call.path_and_query, &auth, &kept),
        taken,
    )))
}

fn invalid(code: &str, param: &str, message: &str) -> Answer {
    let mut answer = Answer::stripe_error(400, "invalid_request_error", Some(code), message);
    if let Some(mut body) = answer.json_body() {
        body["error"]["param"] = json!(param);
        answer.body = bytes::Bytes::from(body.to_string());
    }
    answer
}

/// An address of the form Stripe takes: one `@`, something before it, a dotted domain after
/// it, no spaces, at most 512 characters.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 512
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Accepted {
    /// After localstripe made or updated `object` for a request whose parameters were taken.
    pub(super) fn record(&mut self, taken: &Taken, object: &Value) {
        let Some(id) = str_of(object, "id") else {
            return;
        };
        match str_of(object, "object") {
            Some("payment_intent") => {
                if let Some(email) = &taken.receipt_email {
                    self.receipt_emails.insert(id.to_string(), email.clone());
                }
            }
            Some("refund") => {
                if let Some(reason) = &taken.reason {
                    self.refund_reasons.insert(id.to_string(), reason.clone());
                }
            }
            _ => {}
        }
    }

    /// Shows what was taken on `map` (an object of localstripe's), and Stripe's `null` where
    /// nothing was. Returns whether anything changed.
    pub(super) fn overlay(
        &self,
        kind: &str,
        id: &str,
        map: &mut serde_json::Map<String, Value>,
    ) -> bool {
        let (field, remembered) = match kind {
            "payment_intent" => ("receipt_email", self.receipt_emails.get(id)),
            "refund" => ("reason", self.refund_reasons.get(id)),
            _ => return false,
        };
        let shown = remembered.map_or(Value::Null, |v| json!(v));
        if map.get(field) == Some(&shown) {
            return false;
        }
        map.insert(field.into(), shown);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses() {
        for ok in ["driver@example.com", "a.b+c@mail.example.co.uk"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "driver",
            "@example.com",
            "driver@",
            "driver@example",
            "a b@x.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
