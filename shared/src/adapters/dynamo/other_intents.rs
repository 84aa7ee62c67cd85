//! A booking's `other_intent_issues` attribute: the disputes and failed refunds of intents it
//! no longer uses (`domain::other_intents`), as one JSON string (a list of a few small
//! entries, read and written whole with the rest of the payment).

use serde_json::{json, Value};

use crate::domain::other_intents::{IssueKind, OtherIntentIssue};
use crate::domain::IntentId;

pub(super) const ATTR: &str = "other_intent_issues";

pub(super) fn encode(issues: &[OtherIntentIssue]) -> String {
    let list: Vec<Value> = issues
        .iter()
        .map(|i| {
            json!({
                "pi": i.intent_id.as_str(),
                "kind": i.kind.as_str(),
                "status": i.status,
                "reason": i.reason,
                "refund": i.refund_id,
                "at": i.last_event_at,
            })
        })
        .collect();
    Value::Array(list).to_string()
}

/// `None`: not what [`encode`] writes.
pub(super) fn decode(text: &str) -> Option<Vec<OtherIntentIssue>> {
    let list: Vec<Value> = serde_json::from_str(text).ok()?;
    list.iter()
        .map(|v| {
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            Some(OtherIntentIssue {
                intent_id: IntentId::parse(v.get("pi")?.as_str()?).ok()?,
                kind: IssueKind::parse(v.get("kind")?.as_str()?)?,
                status: text("status")?,
                reason: text("reason"),
                refund_id: text("refund"),
                last_event_at: v.get("at")?.as_i64()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_round_trip() {
        let issues = vec![
            OtherIntentIssue {
                intent_id: IntentId::parse("pi_1").unwrap(),
                kind: IssueKind::Dispute,
                status: "needs_response".into(),
                reason: Some("fraudulent".into()),
                refund_id: None,
                last_event_at: 10,
            },
            OtherIntentIssue {
                intent_id: IntentId::parse("pi_2").unwrap(),
                kind: IssueKind::RefundFailed,
                status: "failed".into(),
                reason: None,
                refund_id: Some("re_1".into()),
                last_event_at: 11,
            },
        ];
        assert_eq!(decode(&encode(&issues)), Some(issues));
        assert_eq!(decode("not json"), None);
        assert_eq!(decode(r#"[{"pi":"pi_1"}]"#), None);
    }
}
