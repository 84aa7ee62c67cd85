//! List cursors: the GSI key of the last booking of a page, as opaque URL-safe text, bound
//! to the user it was made for.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::items::{s, Item};
use crate::domain::UserId;

pub(super) fn encode_cursor(key: &Item) -> String {
    let plain: serde_json::Map<String, serde_json::Value> = key
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), serde_json::Value::String(v.as_s().ok()?.clone()))))
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor must decode to exactly the GSI key of a booking of the same user.
pub(super) fn decode_cursor(cursor: &str, user_id: UserId) -> Option<Item> {
    if cursor.len() > 512 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    let valid = map.len() == 3
        && map.get("user_id")? == &user_id.to_string()
        && map.get("id")?.parse::<uuid::Uuid>().is_ok()
        && map.get("created_at")?.parse::<DateTime<Utc>>().is_ok();
    valid.then(|| map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_bound_to_the_user() {
        let uid = || UserId::parse("u", &uuid::Uuid::new_v4().to_string()).unwrap();
        let user = uid();
        let key = Item::from([
            ("id".into(), s(uuid::Uuid::new_v4().to_string())),
            ("user_id".into(), s(user.to_string())),
            ("created_at".into(), s("2026-11-24T15:00:00.000Z")),
        ]);
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor(&c, user), Some(key));
        assert_eq!(decode_cursor(&c, uid()), None);
        assert_eq!(decode_cursor("not-a-cursor", user), None);
        assert_eq!(decode_cursor(&"A".repeat(600), user), None);
    }
}
