//! Replays the vectors that `tools/gen_signature_vectors.py` generated with stripe-python's own
//! signing and verification code (`fixtures/stripe_signature_vectors.json`) against
//! `shared::adapters::stripe::signature`. Regenerate with `.venv/bin/python tools/gen_signature_vectors.py`.

use base64::Engine as _;
use serde_json::Value;
use shared::adapters::stripe::signature::{sign, verify};

const FIXTURE: &str = include_str!("fixtures/stripe_signature_vectors.json");

struct Vector {
    name: String,
    payload: Vec<u8>,
    header: Option<String>,
    secret: String,
    now: i64,
    tolerance: i64,
    /// stripe-python's outcome: "ok" or "ExceptionClass: message".
    expected: String,
    /// Our outcome where it deliberately differs ("ok" or "error").
    rust_expected: Option<String>,
    stripe_signature_header: Option<String>,
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn vectors() -> Vec<Vector> {
    let doc: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let list = doc["vectors"].as_array().expect("`vectors` is an array");
    list.iter()
        .map(|v| {
            let name = str_field(v, "name").expect("name");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v["payload_base64"].as_str().expect("payload_base64"))
                .expect("payload_base64 is base64");
            // The text form, when present, must be the same bytes.
            if let Some(text) = v["payload"].as_str() {
                assert_eq!(
                    text.as_bytes(),
                    &raw[..],
                    "{name}: payload vs payload_base64"
                );
            }
            Vector {
                payload: raw,
                header: str_field(v, "header"),
                secret: str_field(v, "secret").expect("secret"),
                now: v["now"].as_i64().expect("now"),
                tolerance: v["tolerance"].as_i64().expect("tolerance"),
                expected: str_field(v, "expected").expect("expected"),
                rust_expected: str_field(v, "rust_expected"),
                stripe_signature_header: str_field(v, "stripe_signature_header"),
                name,
            }
        })
        .collect()
}

fn ours_should_accept(v: &Vector) -> bool {
    match v.rust_expected.as_deref() {
        Some("ok") => true,
        Some("error") => false,
        Some(other) => panic!("{}: rust_expected must be ok or error, not {other}", v.name),
        None => v.expected == "ok",
    }
}

#[test]
fn fixture_has_enough_vectors_of_each_kind() {
    let all = vectors();
    assert!(all.len() >= 15, "only {} vectors", all.len());
    let accepted = all.iter().filter(|v| ours_should_accept(v)).count();
    let refused = all.len() - accepted;
    assert!(accepted >= 5, "only {accepted} accepting vectors");
    assert!(refused >= 10, "only {refused} refusing vectors");
    assert!(
        all.iter()
            .filter(|v| v.stripe_signature_header.is_some())
            .count()
            >= 5
    );
    let mut names: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "duplicate vector names");
}

#[test]
fn verify_agrees_with_stripe_python() {
    let mut failures = Vec::new();
    for v in vectors() {
        let want_ok = ours_should_accept(&v);
        let secrets = vec![v.secret.clone()];
        let got = verify(
            &v.payload,
            v.header.as_deref(),
            &secrets,
            v.now,
            v.tolerance,
        );
        if got.is_ok() != want_ok {
            failures.push(format!(
                "{}: stripe-python says {:?}{}, ours gave {got:?}",
                v.name,
                v.expected,
                v.rust_expected
                    .as_deref()
                    .map(|r| format!(" (ours should be {r})"))
                    .unwrap_or_default(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn accepted_vectors_return_the_header_timestamp() {
    for v in vectors().iter().filter(|v| ours_should_accept(v)) {
        let header = v.header.as_deref().expect("accepted vectors have a header");
        let t: i64 = header
            .split(',')
            .find_map(|e| e.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .expect("accepted vectors have an integer t");
        let got = verify(
            &v.payload,
            Some(header),
            std::slice::from_ref(&v.secret),
            v.now,
            v.tolerance,
        );
        assert_eq!(got, Ok(t), "{}", v.name);
    }
}

#[test]
fn extra_secrets_change_nothing_and_no_secrets_accept_nothing() {
    for v in vectors() {
        let want_ok = ours_should_accept(&v);
        let header = v.header.as_deref();
        // Secrets roll: one unrelated secret before and after the real one.
        let rolled = vec![
            "whsec_unrelated_rolled_secret".to_string(),
            v.secret.clone(),
            "whsec_another_unrelated".to_string(),
        ];
        let got = verify(&v.payload, header, &rolled, v.now, v.tolerance);
        assert_eq!(
            got.is_ok(),
            want_ok,
            "{} with several secrets: {got:?}",
            v.name
        );
        // Without the real secret nothing is accepted.
        let wrong = vec!["whsec_unrelated_rolled_secret".to_string()];
        let got = verify(&v.payload, header, &wrong, v.now, v.tolerance);
        assert!(got.is_err(), "{} accepted with the wrong secret", v.name);
        // And without any secret, never.
        let got = verify(&v.payload, header, &[], v.now, v.tolerance);
        assert!(got.is_err(), "{} accepted with no secret", v.name);
    }
}

#[test]
fn sign_reproduces_stripe_python() {
    let mut checked = 0;
    for v in vectors() {
        let Some(stripe_header) = v.stripe_signature_header.as_deref() else {
            continue;
        };
        let t: i64 = stripe_header
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad stripe_signature_header", v.name));
        assert_eq!(
            sign(&v.payload, &v.secret, t),
            stripe_header,
            "{}: sign() differs from stripe-python",
            v.name
        );
        // stripe-python's v1 appears in the vector's header (possibly among other entries).
        let stripe_v1 = stripe_header.split_once(",v1=").expect("v1").1;
        let header = v.header.as_deref().unwrap_or_default();
        assert!(
            header.split(',').any(|e| e == format!("v1={stripe_v1}")),
            "{}: header does not carry stripe-python's v1",
            v.name
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} vectors compared with sign()");
}
