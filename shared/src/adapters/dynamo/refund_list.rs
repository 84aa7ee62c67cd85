//! A booking's `refunds` attribute: its refunds one by one (`domain::refund_log`), as a list of
//! maps, read and written whole with the rest of the payment (so the versioned payment write
//! covers it: a reservation is that write's condition on `updated_at`).

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{num, s};
use crate::domain::refund_log::{EntryStatus, RefundEntry, RequestMark};
use crate::domain::slot::format_stored_time;

pub(super) const ATTR: &str = "refunds";

pub(super) fn encode(entries: &[RefundEntry]) -> AttributeValue {
    AttributeValue::L(
        entries
            .iter()
            .map(|e| {
                let mut m = std::collections::HashMap::from([
                    ("amount_minor".to_string(), num(e.amount_minor)),
                    ("status".to_string(), s(e.status.as_str())),
                ]);
                if let Some(id) = &e.refund_id {
                    m.insert("refund_id".into(), s(id.clone()));
                }
                if let Some(reason) = &e.reason {
                    m.insert("reason".into(), s(reason.clone()));
                }
                if let Some(at) = e.created_at {
                    m.insert("created_at".into(), s(format_stored_time(at)));
                }
                if let Some(mark) = &e.request {
                    m.insert("request_key".into(), s(mark.key.clone()));
                    m.insert("request_hash".into(), s(mark.hash.clone()));
                }
                AttributeValue::M(m)
            })
            .collect(),
    )
}

/// `None`: not what [`encode`] writes.
pub(super) fn decode(value: &AttributeValue) -> Option<Vec<RefundEntry>> {
    value
        .as_l()
        .ok()?
        .iter()
        .map(|v| {
            let m = v.as_m().ok()?;
            let text = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
            let request = match (text("request_key"), text("request_hash")) {
                (Some(key), Some(hash)) => Some(RequestMark { key, hash }),
                (None, None) => None,
                _ => return None,
            };
            Some(RefundEntry {
                refund_id: text("refund_id"),
                amount_minor: m.get("amount_minor")?.as_n().ok()?.parse().ok()?,
                status: EntryStatus::parse(&text("status")?)?,
                reason: text("reason"),
                created_at: match text("created_at") {
                    None => None,
                    Some(at) => Some(at.parse().ok()?),
                },
                request,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RefundStatus;

    #[test]
    fn entries_read_back_as_written() {
        let entries = vec![
            RefundEntry {
                refund_id: None,
                amount_minor: 150,
                status: EntryStatus::Reserved,
                reason: Some("duplicate".into()),
                created_at: Some("2026-02-05T23:00:00.123Z".parse().unwrap()),
                request: Some(RequestMark {
                    key: "k".into(),
                    hash: "h".into(),
                }),
            },
            RefundEntry::of_stripe("re_1".into(), 200, RefundStatus::Failed, None, None),
        ];
        assert_eq!(decode(&encode(&entries)), Some(entries));
        assert_eq!(decode(&AttributeValue::S("x".into())), None);
        let half = AttributeValue::L(vec![AttributeValue::M(
            [("amount_minor".to_string(), num(1))].into(),
        )]);
        assert_eq!(decode(&half), None);
    }
}
