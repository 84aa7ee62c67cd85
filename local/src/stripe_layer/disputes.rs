//! Disputes, which localstripe does not have (<https://docs.stripe.com/api/disputes>,
//! <https://docs.stripe.com/testing#disputes>):
//!
//! - opened on a charge paid with card 4000000000000259 ("disputed as fraudulent"): status
//!   `needs_response`, `charge.dispute.created`;
//! - `GET /v1/disputes/{id}`, `GET /v1/disputes` (newest first; `charge`, `payment_intent`,
//!   `limit`);
//! - `POST /v1/disputes/{id}` with `evidence[...]` and `metadata[...]`: submitted (unless
//!   `submit=false`) it is `under_review` (`charge.dispute.updated`); with
//!   `evidence[uncategorized_text]=winning_evidence` or `losing_evidence` it is then closed
//!   `won` or `lost` a moment later (`charge.dispute.closed`);
//! - `POST /v1/disputes/{id}/close`: accepted, so `lost` (`charge.dispute.updated` is not
//!   sent, `charge.dispute.closed` is).
//!
//! The object takes the shape of Stripe's example dispute, with `payment_intent` set (the
//! example's is null: this layer knows the charge's intent).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::server::{Call, Origin};
use super::wire::{new_id, now, param, str_of};
use super::{Answer, Layer};

/// The evidence fields of Stripe's example dispute.
const EVIDENCE_FIELDS: [&str; 27] = [
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
];

/// Evidence due a week after the dispute opens.
const RESPONSE_WINDOW_SECS: i64 = 7 * 24 * 60 * 60;

/// Every dispute, oldest first.
#[derive(Default)]
pub(super) struct Disputes {
    all: Vec<Value>,
}

impl Disputes {
    pub(super) fn of_charge(&self, charge: &str) -> Option<&Value> {
        self.all.iter().find(|d| d["charge"] == charge)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.all.iter_mut().find(|d| d["id"] == id)
    }
}

/// Opens the dispute of a charge paid with the disputed card (once per charge).
pub(super) async fn open(layer: &Layer, charge: &Value, authorization: Option<&str>) {
    let Some(charge_id) = str_of(charge, "id") else {
        return;
    };
    let created = now();
    let mut evidence: Map<String, Value> = EVIDENCE_FIELDS
        .iter()
        .map(|f| (f.to_string(), Value::Null))
        .collect();
    evidence.insert("enhanced_evidence".into(), json!({}));
    let dispute = json!({
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge_id,
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": created + RESPONSE_WINDOW_SECS,
            "enhanced_eligibility": {},
            "has_evidence": false,
            "past_due": false,
            "submission_count": 0,
        },
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network": "visa", "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": "fraudulent",
        "status": "needs_response",
    });
    {
        let mut test_mode = layer.test_mode();
        if test_mode.disputes.of_charge(charge_id).is_some() {
            return;
        }
        test_mode.disputes.all.push(dispute.clone());
    }
    layer
        .emit(
            "charge.dispute.created",
            dispute,
            None,
            &Origin::default(),
            authorization,
        )
        .await;
}

/// The `/v1/disputes` endpoints.
pub(super) async fn route(layer: &Arc<Layer>, call: &Call) -> Answer {
    let segments = call.segments();
    match (call.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "disputes"]) => {
            let limit = param(&call.params, "limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(10)
                .clamp(1, 100);
            let wanted = |d: &&Value| {
                ["charge", "payment_intent"]
                    .iter()
                    .all(|field| param(&call.params, field).is_none_or(|want| d[*field] == want))
            };
            let all: Vec<Value> = {
                let test_mode = layer.test_mode();
                test_mode
                    .disputes
                    .all
                    .iter()
                    .rev()
                    .filter(wanted)
                    .cloned()
                    .collect()
            };
            let page: Vec<&Value> = all.iter().take(limit).collect();
            Answer::json(
                200,
                &json!({"object": "list", "data": page, "has_more": all.len() > limit, "url": "/v1/disputes"}),
            )
        }
        ("GET", ["v1", "disputes", id]) => match layer.test_mode().disputes.get_mut(id) {
            Some(dispute) => Answer::json(200, dispute),
            None => missing(id),
        },
        ("POST", ["v1", "disputes", id]) => update(layer, call, id).await,
        ("POST", ["v1", "disputes", id, "close"]) => close(layer, call, id).await,
        _ => Answer::stripe_error(
            404,
            "invalid_request_error",
            None,
            &format!("Unrecognized request URL ({} {}).", call.method, call.path),
        ),
    }
}

fn missing(id: &str) -> Answer {
    Answer::stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such dispute: '{id}'"),
    )
}

fn closed(dispute: &Value) -> bool {
    matches!(
        str_of(dispute, "status"),
        Some("won" | "lost" | "warning_closed")
    )
}

async fn update(layer: &Arc<Layer>, call: &Call, id: &str) -> Answer {
    let mut outcome = None;
    let (dispute, previous) = {
        let mut test_mode = layer.test_mode();
        let Some(dispute) = test_mode.disputes.get_mut(id) else {
            return missing(id);
        };
        if closed(dispute) {
            return Answer::stripe_error(
                400,
                "invalid_request_error",
                None,
                "This dispute is already closed.",
            );
        }
        let mut evidence = Map::new();
        let mut metadata = Map::new();
        let mut submit = true;
        for (name, value) in &call.params {
            let field = |prefix: &str| name.strip_prefix(prefix).and_then(|n| n.strip_suffix(']'));
            if let Some(f) = field("evidence[").filter(|f| EVIDENCE_FIELDS.contains(f)) {
                evidence.insert(f.to_string(), json!(value));
            } else if let Some(k) = field("metadata[") {
                metadata.insert(k.to_string(), json!(value));
            } else if name == "submit" {
                submit = value != "false";
            } else if !name.starts_with("expand[") {
                return Answer::stripe_error(
                    400,
                    "invalid_request_error",
                    None,
                    &format!("Received unknown parameter: {name}"),
                );
            }
        }
        let mut previous = json!({});
        if !evidence.is_empty() {
            previous["evidence"] = dispute["evidence"].clone();
        }
        for (field, value) in evidence {
            dispute["evidence"][&field] = value;
        }
        for (key, value) in metadata {
            previous["metadata"] = dispute["metadata"].clone();
            dispute["metadata"][&key] = value;
        }
        if submit {
            previous["status"] = dispute["status"].clone();
            dispute["status"] = json!("under_review");
            let details = &mut dispute["evidence_details"];
            details["has_evidence"] = json!(true);
            details["submission_count"] =
                json!(details["submission_count"].as_i64().unwrap_or(0) + 1);
            // Stripe's test-mode evidence: the dispute is then closed won or lost.
            outcome = match dispute["evidence"]["uncategorized_text"].as_str() {
                Some("winning_evidence") => Some("won"),
                Some("losing_evidence") => Some("lost"),
                _ => None,
            };
        }
        (dispute.clone(), previous)
    };
    let auth = call.header("authorization");
    layer
        .emit(
            "charge.dispute.updated",
            dispute.clone(),
            Some(previous),
            &call.origin,
            auth,
        )
        .await;
    if let Some(status) = outcome {
        let (layer2, id, auth) = (layer.clone(), id.to_string(), auth.map(str::to_string));
        layer.later(async move {
            settle(&layer2, &id, status, &Origin::default(), auth.as_deref()).await;
        });
    }
    Answer::json(200, &dispute)
}

async fn close(layer: &Arc<Layer>, call: &Call, id: &str) -> Answer {
    match layer.test_mode().disputes.get_mut(id) {
        None => return missing(id),
        Some(dispute) if closed(dispute) => return Answer::json(200, dispute),
        Some(_) => {}
    }
    match settle(
        layer,
        id,
        "lost",
        &call.origin,
        call.header("authorization"),
    )
    .await
    {
        Some(dispute) => Answer::json(200, &dispute),
        None => missing(id),
    }
}

/// Closes the dispute with `status` and sends `charge.dispute.closed`.
async fn settle(
    layer: &Layer,
    id: &str,
    status: &str,
    origin: &Origin,
    auth: Option<&str>,
) -> Option<Value> {
    let (dispute, previous) = {
        let mut test_mode = layer.test_mode();
        let dispute = test_mode.disputes.get_mut(id)?;
        let previous = json!({"status": dispute["status"]});
        dispute["status"] = json!(status);
        (dispute.clone(), previous)
    };
    layer
        .emit(
            "charge.dispute.closed",
            dispute.clone(),
            Some(previous),
            origin,
            auth,
        )
        .await;
    Some(dispute)
}
