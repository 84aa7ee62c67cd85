//! The Stripe client against a scripted fake server: what it sends, when it retries, and
//! what errors it gives.

use std::sync::{Arc, Mutex};

use shared::adapters::stripe::{StripeClient, StripeKeys};
use shared::domain::Secret;
use shared::ports::{EventQuery, NewIntent, PaymentProvider, ProviderError as StripeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves the canned responses in order, one per connection, and records each request.
async fn scripted(responses: Vec<String>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for response in responses {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 16384];
            let mut request = Vec::new();
            // Read headers, then the body by Content-Length.
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request).to_string());
            if response == "HANGUP" {
                continue; // drop the connection without answering
            }
            stream.write_all(response.as_bytes()).await.unwrap();
            stream.shutdown().await.ok();
        }
    });
    (format!("http://{addr}"), seen)
}

fn http(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

const INTENT: &str = r#"{"id":"pi_123","object":"payment_intent","status":"requires_payment_method","amount":350,"currency":"usd","client_secret":"pi_123_secret_abc","metadata":{"booking_id":"6db74bfd-bfba-47a9-86e5-2304af3a6e40"}}"#;

fn client(base: &str) -> StripeClient {
    StripeClient::new(
        base,
        StripeKeys {
            secret_key: Secret::new("sk_test_client_test"),
            webhook_secrets: vec![],
        },
    )
}

const BOOKING: &str = "6db74bfd-bfba-47a9-86e5-2304af3a6e40";

fn new_intent() -> NewIntent {
    let usd = shared::domain::money::currency("usd").unwrap();
    NewIntent {
        amount: shared::domain::Money::parse("3.50", usd).unwrap(),
        booking_id: shared::domain::BookingId::parse("booking_id", BOOKING).unwrap(),
        capture_method: shared::domain::CaptureMethod::Automatic,
        receipt_email: None,
    }
}

fn pi_1() -> shared::domain::IntentId {
    shared::domain::IntentId::parse("pi_1").unwrap()
}

#[tokio::test]
async fn sends_a_form_with_key_version_and_idempotency_key() {
    let (base, seen) = scripted(vec![http("200 OK", "", INTENT)]).await;
    let pi = client(&base)
        .create_intent(&new_intent(), "key-1")
        .await
        .unwrap();
    assert_eq!(pi.id.as_str(), "pi_123");
    assert_eq!(pi.client_secret.unwrap().expose(), "pi_123_secret_abc");
    let req = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(req.starts_with("post /v1/payment_intents "), "{req}");
    assert!(req.contains("authorization: bearer sk_test_client_test"));
    assert!(req.contains("idempotency-key: key-1"));
    assert!(req.contains("stripe-version: "));
    assert!(req.contains("content-type: application/x-www-form-urlencoded"));
    assert!(
        req.contains(&format!(
            "amount=350&currency=usd&metadata%5bbooking_id%5d={BOOKING}"
        )),
        "{req}"
    );
}

/// Manual capture (<https://docs.stripe.com/payments/place-a-hold-on-a-payment-method>): the
/// create asks for it, the capture names the amount, and a read of the intent expands its
/// charge for the authorization's `capture_before`.
#[tokio::test]
async fn manual_capture_create_capture_and_the_charges_capture_before() {
    let held = r#"{"id":"pi_123","object":"payment_intent","status":"requires_capture","amount":800,"currency":"usd","capture_method":"manual","amount_capturable":800,"latest_charge":{"id":"ch_1","object":"charge","captured":false,"payment_method_details":{"type":"card","card":{"capture_before":1770890400}}}}"#;
    let captured = r#"{"id":"pi_123","object":"payment_intent","status":"succeeded","amount":800,"currency":"usd","capture_method":"manual","amount_capturable":0,"amount_received":275,"latest_charge":"ch_1"}"#;
    let (base, seen) = scripted(vec![
        http("200 OK", "", INTENT),
        http("200 OK", "", held),
        http("200 OK", "", captured),
    ])
    .await;
    let stripe = client(&base);
    let mut new = new_intent();
    new.capture_method = shared::domain::CaptureMethod::Manual;
    stripe.create_intent(&new, "key-m").await.unwrap();
    let pi = stripe.retrieve_intent(&pi_123()).await.unwrap();
    assert_eq!(pi.capture_method, shared::domain::CaptureMethod::Manual);
    assert_eq!(pi.amount_capturable, Some(800));
    assert_eq!(
        pi.capture_before.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-02-12T10:00:00+00:00")
    );
    let done = stripe
        .capture_intent(&pi_123(), 275, "capture-pi_123-275")
        .await
        .unwrap();
    assert_eq!(done.amount_received, Some(275));
    assert_eq!(
        done.capture_before, None,
        "latest_charge as an id says nothing"
    );
    let seen = seen.lock().unwrap();
    let create = seen[0].to_ascii_lowercase();
    assert!(create.ends_with("&capture_method=manual"), "{create}");
    let retrieve = seen[1].to_ascii_lowercase();
    assert!(
        retrieve.starts_with("get /v1/payment_intents/pi_123?expand%5b%5d=latest_charge "),
        "{retrieve}"
    );
    let capture = seen[2].to_ascii_lowercase();
    assert!(
        capture.starts_with("post /v1/payment_intents/pi_123/capture "),
        "{capture}"
    );
    assert!(capture.contains("idempotency-key: capture-pi_123-275"));
    assert!(
        capture.ends_with("\r\n\r\namount_to_capture=275"),
        "{capture}"
    );
}

fn pi_123() -> shared::domain::IntentId {
    shared::domain::IntentId::parse("pi_123").unwrap()
}

#[tokio::test]
async fn retries_5xx_429_and_hangups_with_the_same_idempotency_key() {
    let (base, seen) = scripted(vec![
        http("500 Internal Server Error", "", "{}"),
        "HANGUP".to_string(),
        http("200 OK", "", INTENT),
    ])
    .await;
    let pi = client(&base)
        .create_intent(&new_intent(), "key-2")
        .await
        .unwrap();
    assert_eq!(pi.id.as_str(), "pi_123");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        for req in seen.iter() {
            assert!(req.to_ascii_lowercase().contains("idempotency-key: key-2"));
        }
    }

    let (base, seen) = scripted(vec![
        http("429 Too Many Requests", "", "{}"),
        http("200 OK", "", INTENT),
    ])
    .await;
    assert!(client(&base)
        .create_intent(&new_intent(), "k")
        .await
        .is_ok());
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn honours_stripe_should_retry() {
    // A 409 Stripe says to retry (e.g. a lock timeout)...
    let (base, seen) = scripted(vec![
        http(
            "409 Conflict",
            "stripe-should-retry: true\r\n",
            r#"{"error":{"message":"lock"}}"#,
        ),
        http("200 OK", "", INTENT),
    ])
    .await;
    assert!(client(&base)
        .create_intent(&new_intent(), "k")
        .await
        .is_ok());
    assert_eq!(seen.lock().unwrap().len(), 2);
    // ...and a 503 Stripe says not to.
    let (base, seen) = scripted(vec![http(
        "503 Service Unavailable",
        "stripe-should-retry: false\r\n",
        "{}",
    )])
    .await;
    let err = client(&base)
        .create_intent(&new_intent(), "k")
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_keeps_stripes_message() {
    let (base, seen) = scripted(vec![http(
        "400 Bad Request",
        "",
        r#"{"error":{"type":"invalid_request_error","message":"Amount must be at least $0.50 usd"}}"#,
    )])
    .await;
    let err = client(&base)
        .create_intent(&new_intent(), "k")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Amount must be at least $0.50 usd");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn gives_up_after_three_attempts_and_never_leaks_the_key() {
    let (base, seen) = scripted(vec![
        http("502 Bad Gateway", "", "{}"),
        http("502 Bad Gateway", "", "{}"),
        http("502 Bad Gateway", "", "{}"),
        http("200 OK", "", INTENT),
    ])
    .await;
    let err = client(&base)
        .create_intent(&new_intent(), "k")
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Unavailable(_)));
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(!format!("{err} {err:?}").contains("sk_test_client_test"));

    // Nobody listening at all.
    let err = client("http://127.0.0.1:1")
        .retrieve_intent(&pi_1())
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_answer_replayed_for_a_key_is_marked() {
    let (base, _) = scripted(vec![
        http("200 OK", "", INTENT),
        http("200 OK", "idempotent-replayed: true\r\n", INTENT),
    ])
    .await;
    let stripe = client(&base);
    let first = stripe.create_intent(&new_intent(), "k").await.unwrap();
    let again = stripe.create_intent(&new_intent(), "k").await.unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
}

#[tokio::test]
async fn a_revoked_key_never_shows_in_the_error() {
    let (base, _) = scripted(vec![http(
        "401 Unauthorized",
        "",
        r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****test"}}"#,
    )])
    .await;
    let err = client(&base)
        .create_intent(&new_intent(), "k")
        .await
        .unwrap_err();
    assert_eq!(err, StripeError::Unauthorized { status: 401 });
    assert!(!format!("{err} {err:?}").contains("sk_test"));
}

/// The stored secret as a test controls it: what `read` returns, and how often it was read.
struct RotatingSecret {
    keys: Arc<Mutex<Vec<&'static str>>>,
    reads: Arc<Mutex<u32>>,
}

impl shared::adapters::stripe::SecretReader for RotatingSecret {
    fn read(&self) -> futures::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            *self.reads.lock().unwrap() += 1;
            let mut keys = self.keys.lock().unwrap();
            let key = if keys.len() > 1 {
                keys.remove(0)
            } else {
                keys[0]
            };
            Ok(format!(
                r#"{{"secret_key":"{key}","webhook_secrets":["whsec_x"]}}"#
            ))
        })
    }
}

#[tokio::test]
async fn a_rolled_key_is_read_again_after_a_401_and_used() {
    let revoked =
        r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#;
    let (base, seen) = scripted(vec![
        http("401 Unauthorized", "", revoked),
        http("200 OK", "", INTENT),
    ])
    .await;
    let reads = Arc::new(Mutex::new(0));
    let stripe = StripeClient::with_secret_reader(
        base,
        Box::new(RotatingSecret {
            keys: Arc::new(Mutex::new(vec!["sk_test_old", "sk_test_new"])),
            reads: reads.clone(),
        }),
    );
    let pi = stripe.create_intent(&new_intent(), "k").await.unwrap();
    assert_eq!(pi.id.as_str(), "pi_123");
    let seen = seen.lock().unwrap();
    assert!(seen[0].to_ascii_lowercase().contains("bearer sk_test_old"));
    assert!(seen[1].to_ascii_lowercase().contains("bearer sk_test_new"));
    assert!(seen[1].to_ascii_lowercase().contains("idempotency-key: k"));
    assert_eq!(*reads.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_revoked_key_that_did_not_change_is_not_retried_and_not_read_again_soon() {
    let revoked =
        r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#;
    let (base, seen) = scripted(vec![
        http("401 Unauthorized", "", revoked),
        http("401 Unauthorized", "", revoked),
    ])
    .await;
    let reads = Arc::new(Mutex::new(0));
    let stripe = StripeClient::with_secret_reader(
        base,
        Box::new(RotatingSecret {
            keys: Arc::new(Mutex::new(vec!["sk_test_same"])),
            reads: reads.clone(),
        }),
    );
    for _ in 0..2 {
        let err = stripe.create_intent(&new_intent(), "k").await.unwrap_err();
        assert_eq!(err, StripeError::Unauthorized { status: 401 });
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "one request per call");
    // The first read, one read again after the first 401, none after the second (too soon).
    assert_eq!(*reads.lock().unwrap(), 2);
}

// ---------------------------------------------------------------- events (reconciliation)

#[tokio::test]
async fn lists_events_by_page_read_by_the_webhooks_parser() {
    let succeeded = format!(
        r#"{{"id":"evt_2","object":"event","type":"payment_intent.succeeded","created":1700000100,
            "data":{{"object":{{"id":"pi_1","object":"payment_intent","amount_received":350,
            "metadata":{{"booking_id":"{BOOKING}"}}}}}}}}"#
    );
    let charge = r#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1700000100,
        "data":{"object":{"id":"ch_1","object":"charge"}}}"#;
    let (base, seen) = scripted(vec![
        http(
            "200 OK",
            "",
            &format!(r#"{{"object":"list","has_more":true,"data":[{succeeded},{charge}]}}"#),
        ),
        http(
            "200 OK",
            "",
            r#"{"object":"list","has_more":false,"data":[]}"#,
        ),
    ])
    .await;
    let stripe = client(&base);

    let query = |after: Option<&str>, before: Option<&str>| EventQuery {
        created_gte: 1700000000,
        types: &["payment_intent.succeeded", "charge.refunded"],
        starting_after: after.map(str::to_string),
        ending_before: before.map(str::to_string),
    };
    let page = stripe.list_events(&query(None, None)).await.unwrap();

    assert!(page.has_more);
    let ids: Vec<&str> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_2", "evt_1"]);
    let intent = page.events[0]
        .intent
        .as_ref()
        .expect("a PaymentIntent event");
    assert_eq!(intent.intent_id, pi_1());
    assert_eq!(intent.booking_id.to_string(), BOOKING);
    assert_eq!(intent.created, 1700000100);
    assert_eq!(page.events[1].intent, None, "not a PaymentIntent event");

    let next = stripe
        .list_events(&query(Some("evt_1"), None))
        .await
        .unwrap();

    assert!(!next.has_more && next.events.is_empty());
    let requests = seen.lock().unwrap().clone();
    let first_line = |r: &str| r.lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first_line(&requests[0]),
        "GET /v1/events?created%5Bgte%5D=1700000000&limit=100\
         &types%5B%5D=payment_intent.succeeded&types%5B%5D=charge.refunded HTTP/1.1"
    );
    assert_eq!(
        first_line(&requests[1]),
        "GET /v1/events?created%5Bgte%5D=1700000000&limit=100\
         &types%5B%5D=payment_intent.succeeded&types%5B%5D=charge.refunded&starting_after=evt_1 HTTP/1.1"
    );
    assert!(requests[0]
        .to_ascii_lowercase()
        .contains("authorization: bearer sk_test_client_test"));
}

/// `receipt_email` reaches Stripe's create (<https://docs.stripe.com/api/payment_intents/create#create_payment_intent-receipt_email>)
/// and is read back; an operator refund sends its amount and reason
/// (<https://docs.stripe.com/api/refunds/create>).
#[tokio::test]
async fn sends_the_receipt_email_and_a_refund_s_amount_and_reason() {
    let with_email = r#"{"id":"pi_123","object":"payment_intent","status":"requires_payment_method","amount":350,"currency":"usd","client_secret":"pi_123_secret_abc","receipt_email":"driver@example.com"}"#;
    let refund =
        r#"{"id":"re_1","object":"refund","amount":125,"status":"succeeded","reason":"duplicate"}"#;
    let (base, seen) = scripted(vec![
        http("200 OK", "", with_email),
        http("200 OK", "", refund),
    ])
    .await;
    let stripe = client(&base);
    let mut new = new_intent();
    new.receipt_email =
        Some(shared::domain::receipt_email::ReceiptEmail::parse("driver@example.com").unwrap());
    let pi = stripe.create_intent(&new, "key-r").await.unwrap();
    assert_eq!(
        pi.receipt_email.as_ref().map(|e| e.expose()),
        Some("driver@example.com")
    );
    let made = stripe
        .refund_with_reason(
            &pi_123(),
            125,
            shared::domain::operator_refund::RefundReason::Duplicate,
            "refund-key",
        )
        .await
        .unwrap();
    assert_eq!((made.id.as_str(), made.amount), ("re_1", Some(125)));
    let seen = seen.lock().unwrap();
    let create = seen[0].to_ascii_lowercase();
    assert!(
        create.contains("receipt_email=driver%40example.com"),
        "{create}"
    );
    let refund = seen[1].to_ascii_lowercase();
    assert!(refund.starts_with("post /v1/refunds "), "{refund}");
    assert!(
        refund.contains("payment_intent=pi_123&amount=125&reason=duplicate"),
        "{refund}"
    );
    assert!(refund.contains("idempotency-key: refund-key"), "{refund}");
}
