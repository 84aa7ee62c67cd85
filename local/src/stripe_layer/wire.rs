//! The HTTP details the layer shares: API keys in requests, request parameters (forms and JSON
//! alike), ids and times.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// The API key of an `Authorization` header: `Bearer <key>`, or Basic with the key as the user
/// (`curl -u sk_test_...:`), both of which Stripe accepts
/// (<https://docs.stripe.com/api/authentication>).
pub fn api_key_of(authorization: Option<&str>) -> Option<String> {
    let (scheme, value) = authorization?.trim().split_once(' ')?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(value.to_string()).filter(|k| !k.is_empty());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(value).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split(':').next().unwrap_or_default();
        return Some(user.to_string()).filter(|k| !k.is_empty());
    }
    None
}

/// A key as Stripe shows it in "Invalid API Key provided": its prefix, stars, its last 4
/// characters; never the whole key.
pub fn masked(key: &str) -> String {
    let prefix_len = [
        "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_",
    ]
    .iter()
    .find(|p| key.starts_with(*p))
    .map(|p| p.len())
    .or_else(|| key.find('_').map(|i| i + 1))
    .unwrap_or(0);
    let rest: Vec<char> = key[prefix_len..].chars().collect();
    // Show the last four only when at least as much stays hidden.
    let tail: String = if rest.len() >= 8 {
        rest[rest.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("{}****{tail}", &key[..prefix_len])
}

/// Request parameters as flat `name[sub]` pairs, from a form body, a JSON body (which
/// localstripe also takes) and the query string.
pub fn params(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if content_type.is_some_and(|t| t.contains("json")) {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            flatten("", &value, &mut pairs);
            return pairs;
        }
    }
    pairs.extend(form_urlencoded::parse(body).into_owned());
    pairs
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}[{k}]")
        }
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&name(k), v, out)),
        Value::Array(items) => items
            .iter()
            .for_each(|v| flatten(&format!("{prefix}[]"), v, out)),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Null => out.push((prefix.to_string(), String::new())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The first value of parameter `name`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of a list parameter: `name[]=a&name[]=b` or `name[0]=a&name[1]=b`.
pub fn list_param(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .is_some_and(|index| index.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, v)| v.clone())
        .collect()
}

/// A new Stripe-style id: `prefix` and 24 random alphanumerics.
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..24])
}

/// Now, in Unix seconds (Stripe's `created`).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A JSON object's string field.
pub fn str_of<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// The id of an expandable field: the string itself, or the expanded object's `id`.
pub fn id_of(value: &Value) -> Option<&str> {
    value.as_str().or_else(|| str_of(value, "id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_bearer_and_basic_headers() {
        assert_eq!(
            api_key_of(Some("Bearer sk_test_1")).as_deref(),
            Some("sk_test_1")
        );
        let basic = format!("Basic {}", STANDARD.encode("sk_test_2:"));
        assert_eq!(api_key_of(Some(&basic)).as_deref(), Some("sk_test_2"));
        assert_eq!(api_key_of(Some("Bearer ")), None);
        assert_eq!(api_key_of(None), None);
    }

    #[test]
    fn masked_keys_keep_the_prefix_and_last_four_only() {
        assert_eq!(masked("sk_test_local_stack"), "sk_test_****tack");
        assert_eq!(masked("sk_test_abc"), "sk_test_****");
        assert_eq!(masked("whatever-key-12345"), "****2345");
    }

    #[test]
    fn params_from_forms_json_and_lists() {
        let form = params(Some("a=1"), None, b"card[number]=42&types[]=x&types[1]=y");
        assert_eq!(param(&form, "a"), Some("1"));
        assert_eq!(param(&form, "card[number]"), Some("42"));
        assert_eq!(list_param(&form, "types"), ["x", "y"]);
        let json = params(
            None,
            Some("application/json"),
            br#"{"card":{"number":"42"},"events":["a","b"]}"#,
        );
        assert_eq!(param(&json, "card[number]"), Some("42"));
        assert_eq!(list_param(&json, "events"), ["a", "b"]);
    }
}
