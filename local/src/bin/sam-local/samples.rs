//! The sample events (events/*.json), what each must get (events/expected.json), and the data
//! they expect to find (events/seeds.json): read, seeded into the local stack, and re-signed,
//! as local/tests/api/sample_events.rs does in-process.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use local_stack::RunningStack;
use serde_json::{json, Value};
use shared::adapters::stripe::signature;
use shared::domain::{Booking, BookingId};
use shared::ports::BookingStore;

pub const EVENTS_DIR: &str = "events";

/// One line of events/expected.json.
#[derive(Debug)]
pub struct Expected {
    /// The function's binary name (`bookings`), as template.yaml's `BuildProperties.Binary`.
    pub function: String,
    pub status: u16,
    /// A webhook sample whose stored signature is stale by design: signed anew for the run.
    pub resign: bool,
}

pub fn expected() -> Result<BTreeMap<String, Expected>, String> {
    let map: BTreeMap<String, Value> = read_json(&Path::new(EVENTS_DIR).join("expected.json"))?;
    let mut out = BTreeMap::new();
    for (name, v) in map {
        let (Some(function), Some(status)) = (v["function"].as_str(), v["status"].as_u64()) else {
            return Err(format!(
                "expected.json: {name} needs a function and a status"
            ));
        };
        out.insert(
            name.clone(),
            Expected {
                function: function.to_string(),
                status: u16::try_from(status).map_err(|_| format!("{name}: status {status}"))?,
                resign: v["resign"].as_bool().unwrap_or(false),
            },
        );
    }
    // Every sample is run: a file the list lacks is an error, as in sample_events.rs.
    let files = sample_files()?;
    for name in &files {
        if !out.contains_key(name) {
            return Err(format!("events/{name} is not in events/expected.json"));
        }
    }
    for name in out.keys() {
        if !files.contains(name) {
            return Err(format!(
                "events/expected.json names {name}, which is not in events/"
            ));
        }
    }
    Ok(out)
}

/// events/*.json but expected.json and seeds.json.
fn sample_files() -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(EVENTS_DIR).map_err(|e| format!("{EVENTS_DIR}: {e}"))? {
        let name = entry
            .map_err(|e| e.to_string())?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".json") && name != "expected.json" && name != "seeds.json" {
            names.push(name);
        }
    }
    Ok(names)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// One booking of events/seeds.json (see events/README.md, "Fixed ids").
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The booking's fixed id (the API always makes a random one, so it is stored directly).
    pub id: String,
    /// Its `POST /v1/bookings` body.
    pub booking: Value,
    /// If set, a `POST /v1/payments/create-intent` body (without `booking_id`): the booking's
    /// PaymentIntent is created through the API, as a client would.
    #[serde(default)]
    pub intent: Option<Value>,
    /// If set (with `intent`), a card number the intent is then confirmed with at the Stripe
    /// emulator, as Stripe.js would (README, "Pay for it", Step 3). The emulator delivers no
    /// webhook in these runs: the booking learns of it only from the samples (a webhook
    /// sample, or the reconcile run, which lists Stripe's events).
    #[serde(default)]
    pub pay_with_card: Option<String>,
    /// The PaymentIntent id the webhook samples use for this booking's intent: replaced by the
    /// real one when a sample is re-signed.
    #[serde(default)]
    pub sample_intent: Option<String>,
    /// Fields the booking (`GET /v1/bookings/{id}`) must show once every sample has run.
    #[serde(default)]
    pub after: BTreeMap<String, Value>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Seeds {
    bookings: Vec<Seed>,
}

pub fn seeds() -> Result<Vec<Seed>, String> {
    let seeds: Seeds = read_json(&Path::new(EVENTS_DIR).join("seeds.json"))?;
    for seed in &seeds.bookings {
        if seed.pay_with_card.is_some() && seed.intent.is_none() {
            return Err(format!(
                "seeds.json: {}: pay_with_card needs an intent",
                seed.id
            ));
        }
        if seed.sample_intent.is_some() && seed.intent.is_none() {
            return Err(format!(
                "seeds.json: {}: sample_intent needs an intent",
                seed.id
            ));
        }
    }
    Ok(seeds.bookings)
}

/// What seeding made: the real PaymentIntent of each sample intent id.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Sample intent id -> (real intent id, the booking it belongs to).
    pub intents: BTreeMap<String, (String, String)>,
}

/// Stores each seed booking under its fixed id, then creates (and pays) its intent through the
/// local stack's API and Stripe emulator.
pub async fn seed(stack: &RunningStack, api_key: &str, seeds: &[Seed]) -> Result<Seeded, String> {
    let http = reqwest::Client::new();
    let mut seeded = Seeded::default();
    for seed in seeds {
        let new = shared::http::dto::new_booking(seed.booking.to_string().as_bytes())
            .map_err(|e| format!("seeds.json: {}: {e:?}", seed.id))?;
        let id = BookingId::parse("id", &seed.id)
            .map_err(|e| format!("seeds.json: {}: {e:?}", seed.id))?;
        let booking = Booking::new(new, id, chrono::Utc::now());
        stack
            .store
            .create_booking(&booking, None)
            .await
            .map_err(|e| format!("seeds.json: {}: not stored: {e:?}", seed.id))?;
        let Some(intent) = &seed.intent else { continue };
        let mut body = intent.clone();
        body["booking_id"] = json!(seed.id);
        let resp = http
            .post(format!("{}/v1/payments/create-intent", stack.url()))
            .header("X-API-Key", api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let answer: Value = resp.json().await.map_err(|e| e.to_string())?;
        let pi = answer["payment_intent_id"]
            .as_str()
            .filter(|_| status.is_success())
            .ok_or_else(|| format!("seeds.json: {}: create-intent {status} {answer}", seed.id))?
            .to_string();
        if let Some(card) = &seed.pay_with_card {
            pay(stack, &http, &pi, card)
                .await
                .map_err(|e| format!("seeds.json: {}: {e}", seed.id))?;
        }
        if let Some(sample) = &seed.sample_intent {
            seeded.intents.insert(sample.clone(), (pi, seed.id.clone()));
        }
    }
    Ok(seeded)
}

/// Confirms an intent with a test card at the Stripe emulator (README, Step 3).
async fn pay(
    stack: &RunningStack,
    http: &reqwest::Client,
    pi: &str,
    card: &str,
) -> Result<(), String> {
    let stripe = |path: &str, form: Vec<(&str, &str)>| {
        http.post(format!("{}{path}", stack.stripe_base))
            .basic_auth(&stack.stripe_secret_key, Some(""))
            .form(&form)
            .send()
    };
    let pm: Value = stripe(
        "/v1/payment_methods",
        vec![
            ("type", "card"),
            ("card[number]", card),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ],
    )
    .await
    .map_err(|e| e.to_string())?
    .json()
    .await
    .map_err(|e| e.to_string())?;
    let pm = pm["id"]
        .as_str()
        .ok_or(format!("no payment method: {pm}"))?;
    stripe(
        &format!("/v1/payment_intents/{pi}"),
        vec![("payment_method", pm)],
    )
    .await
    .map_err(|e| e.to_string())?;
    let confirmed: Value = stripe(&format!("/v1/payment_intents/{pi}/confirm"), vec![])
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    match confirmed["status"].as_str() {
        Some(_) if confirmed["error"].is_null() => Ok(()),
        _ => Err(format!("confirming {pi} failed: {confirmed}")),
    }
}

/// A webhook sample for this run: its intent becomes the real one of the seed that names the
/// sample's intent id, and it is signed now (the stored signature is stale by design). A
/// base64 body stays base64; `Content-Length` follows the new body.
pub fn resign(name: &str, event: &mut Value, seeded: &Seeded, secret: &str) -> Result<(), String> {
    let mut payload: Value = serde_json::from_slice(&body_bytes(event)?)
        .map_err(|e| format!("{name}: the body is not JSON: {e}"))?;
    let object = &mut payload["data"]["object"];
    // A PaymentIntent names itself; a charge or a dispute names its intent.
    let field = if object["object"] == "payment_intent" {
        "id"
    } else {
        "payment_intent"
    };
    let sample = object[field].as_str().unwrap_or_default().to_string();
    let (real, booking) = seeded.intents.get(&sample).ok_or_else(|| {
        format!("{name}: intent {sample:?} is no seed's sample_intent (events/seeds.json)")
    })?;
    if let Some(named) = object["metadata"]["booking_id"].as_str() {
        if named != booking {
            return Err(format!(
                "{name}: names booking {named}, but {sample} is the sample intent of {booking}"
            ));
        }
    }
    object[field] = json!(real);
    if field == "id" {
        object["client_secret"] = json!(format!("{real}_secret_sample"));
    }
    let bytes = serde_json::to_vec_pretty(&payload).map_err(|e| e.to_string())?;
    event["body"] = if event["isBase64Encoded"] == true {
        json!(STANDARD.encode(&bytes))
    } else {
        json!(String::from_utf8_lossy(&bytes))
    };
    let now = chrono::Utc::now().timestamp();
    set_header(
        event,
        "stripe-signature",
        &signature::sign(&bytes, secret, now),
        false,
    );
    set_header(event, "content-length", &bytes.len().to_string(), true);
    Ok(())
}

fn body_bytes(event: &Value) -> Result<Vec<u8>, String> {
    match event["body"].as_str() {
        None => Ok(Vec::new()),
        Some(b) if event["isBase64Encoded"] == true => {
            STANDARD.decode(b).map_err(|e| e.to_string())
        }
        Some(b) => Ok(b.as_bytes().to_vec()),
    }
}

/// Sets a header in `headers` and (REST events) `multiValueHeaders`, keeping its spelling;
/// with `only_if_present`, only where the sample has it.
fn set_header(event: &mut Value, name: &str, value: &str, only_if_present: bool) {
    for (field, v) in [
        ("headers", json!(value)),
        ("multiValueHeaders", json!([value])),
    ] {
        if let Some(map) = event[field].as_object_mut() {
            let key = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
            match key {
                Some(key) => {
                    map.insert(key, v);
                }
                None if !only_if_present => {
                    map.insert(name.to_string(), v);
                }
                None => {}
            }
        }
    }
}
