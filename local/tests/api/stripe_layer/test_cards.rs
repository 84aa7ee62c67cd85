//! Stripe's test-mode triggers (<https://docs.stripe.com/testing>), so the same curl works
//! against the local stack and against Stripe in test mode: Dashboard refunds, the card whose
//! refunds fail, the card that is disputed, and dispute evidence that wins or loses.

use reqwest::Method;
use serde_json::{json, Value};

use super::{object, rig, Rig};
use crate::support::{spawn_app, CARD_DISPUTED, CARD_OK, CARD_REFUND_FAILS};

fn charge_of(intent: &Value) -> String {
    intent["latest_charge"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no charge on {intent}"))
        .to_string()
}

async fn charge(rig: &Rig, id: &str) -> Value {
    let got = rig.get(&format!("/v1/charges/{id}")).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    got.body
}

#[tokio::test]
async fn a_dashboard_refund_full_or_partial_sends_charge_refunded_and_refund_updated() {
    let rig = rig().await;
    let paid = rig.paid_intent("1000", CARD_OK).await;
    let pi = paid["id"].as_str().unwrap();
    let ch = charge_of(&paid);

    let partial = rig
        .post(
            "/v1/refunds",
            &[("payment_intent", pi), ("amount", "300")],
            None,
        )
        .await;
    assert_eq!(partial.status, 200, "{:?}", partial.body);
    let refunded = rig
        .wait_event("charge.refunded", |e| object(e)["amount_refunded"] == 300)
        .await;
    let charged = object(&refunded);
    assert_eq!(
        (charged["id"].as_str(), charged["payment_intent"].as_str()),
        (Some(ch.as_str()), Some(pi))
    );
    assert_eq!(charged["refunded"], false);
    let updated = rig
        .wait_event("charge.refund.updated", |e| {
            object(e)["id"] == partial.body["id"]
        })
        .await;
    assert_eq!(object(&updated)["status"], "succeeded");
    assert_eq!(object(&updated)["payment_intent"], pi);

    let rest = rig
        .post("/v1/refunds", &[("charge", ch.as_str())], None)
        .await;
    assert_eq!(rest.status, 200, "{:?}", rest.body);
    let full = rig
        .wait_event("charge.refunded", |e| object(e)["amount_refunded"] == 1000)
        .await;
    assert_eq!(object(&full)["refunded"], true);
}

/// Stripe refunds what is left when no amount is given, and refuses more than that
/// (localstripe refunds the whole charge again, and any amount).
#[tokio::test]
async fn a_refund_takes_what_is_left_and_nothing_more() {
    let rig = rig().await;
    let paid = rig.paid_intent("1000", CARD_OK).await;
    let pi = paid["id"].as_str().unwrap();
    let partial = rig
        .post(
            "/v1/refunds",
            &[("payment_intent", pi), ("amount", "300")],
            None,
        )
        .await;
    assert_eq!(partial.status, 200, "{:?}", partial.body);
    let too_much = rig
        .post(
            "/v1/refunds",
            &[("payment_intent", pi), ("amount", "701")],
            None,
        )
        .await;
    assert_eq!(too_much.status, 400, "{:?}", too_much.body);
    assert_eq!(too_much.body["error"]["code"], "amount_too_large");

    let rest = rig
        .post("/v1/refunds", &[("payment_intent", pi)], None)
        .await;
    assert_eq!(
        (rest.status, rest.body["amount"].as_i64()),
        (200, Some(700)),
        "{:?}",
        rest.body
    );
    let ch = charge_of(&paid);
    assert_eq!(charge(&rig, &ch).await["amount_refunded"], 1000);
    for again in [vec![("payment_intent", pi)], vec![("charge", ch.as_str())]] {
        let refused = rig.post("/v1/refunds", &again, None).await;
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["code"], "charge_already_refunded");
    }
    assert_eq!(charge(&rig, &ch).await["amount_refunded"], 1000);
}

/// The whole stack: a paid booking refunded in the Dashboard first, then cancelled through the
/// API. Stripe refuses the second refund (`charge_already_refunded`) and the booking is
/// cancelled as refunded; the driver is refunded once (localstripe alone refunded twice).
#[tokio::test]
async fn a_booking_refunded_at_the_dashboard_is_cancelled_without_a_second_refund() {
    let app = spawn_app().await;
    let (booking_id, intent) = app.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap();
    assert_eq!(app.pay(pi, CARD_OK).await.status, 200);
    app.wait_for_payment_status(&booking_id, "completed").await;
    let dashboard = app
        .stripe(Method::POST, "/v1/refunds", &[("payment_intent", pi)])
        .await;
    assert_eq!(dashboard.status, 200, "{:?}", dashboard.body);

    let cancelled = app
        .post_json(&format!("/v1/bookings/{booking_id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(
        (
            cancelled.body["status"].as_str(),
            cancelled.body["payment_status"].as_str()
        ),
        (Some("cancelled"), Some("refunded"))
    );
    let charge = &app.stripe_intent(pi).await["latest_charge"];
    assert_eq!(charge["amount_refunded"], 350, "refunded once: {charge}");
}

#[tokio::test]
async fn card_5126_refunds_succeed_then_fail_a_moment_later() {
    let rig = rig().await;
    let paid = rig.paid_intent("700", CARD_REFUND_FAILS).await;
    assert_eq!(paid["status"], "succeeded");
    let ch = charge_of(&paid);
    let refund = rig
        .post(
            "/v1/refunds",
            &[("payment_intent", paid["id"].as_str().unwrap())],
            None,
        )
        .await;
    assert_eq!(
        (refund.status, refund.body["status"].as_str()),
        (200, Some("succeeded"))
    );
    let id = refund.body["id"].clone();

    let failed = rig
        .wait_event("charge.refund.updated", |e| {
            object(e)["id"] == id && object(e)["status"] == "failed"
        })
        .await;
    assert!(object(&failed)["failure_reason"].is_string());
    assert_eq!(failed["data"]["previous_attributes"]["status"], "succeeded");
    // Stripe holds it so from then on: the refund failed, the charge is not refunded.
    let now = rig
        .get(&format!("/v1/refunds/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(now.body["status"], "failed");
    let charged = charge(&rig, &ch).await;
    assert_eq!(
        (
            charged["amount_refunded"].as_i64(),
            charged["refunded"].as_bool()
        ),
        (Some(0), Some(false))
    );
}

#[tokio::test]
async fn card_0259_payments_succeed_then_a_dispute_opens() {
    let rig = rig().await;
    let paid = rig.paid_intent("1200", CARD_DISPUTED).await;
    assert_eq!(paid["status"], "succeeded");
    let ch = charge_of(&paid);
    let opened = rig
        .wait_event("charge.dispute.created", |e| {
            object(e)["charge"] == ch.as_str()
        })
        .await;
    let dispute = object(&opened).clone();
    assert!(dispute["id"].as_str().unwrap().starts_with("dp_"));
    assert_eq!(dispute["object"], "dispute");
    assert_eq!(dispute["status"], "needs_response");
    assert_eq!(dispute["payment_intent"], paid["id"]);
    assert_eq!(
        (dispute["amount"].as_i64(), dispute["currency"].as_str()),
        (Some(1200), Some("usd"))
    );

    let got = rig
        .get(&format!("/v1/disputes/{}", dispute["id"].as_str().unwrap()))
        .await;
    assert_eq!((got.status, &got.body), (200, &dispute));
    assert_eq!(charge(&rig, &ch).await["disputed"], true);
    let missing = rig.get("/v1/disputes/dp_unknown").await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    // Listed, also by the intent or the charge it disputes.
    let pi = paid["id"].as_str().unwrap();
    for query in [
        format!("payment_intent={pi}"),
        format!("charge={ch}"),
        String::new(),
    ] {
        let listed = rig.get(&format!("/v1/disputes?{query}")).await;
        assert_eq!(listed.body["data"], json!([dispute]), "{query}");
    }
    let other = rig.get("/v1/disputes?payment_intent=pi_other").await;
    assert_eq!(other.body["data"], json!([]));
}

async fn disputed(rig: &Rig) -> (String, String) {
    let paid = rig.paid_intent("1500", CARD_DISPUTED).await;
    let ch = charge_of(&paid);
    let opened = rig
        .wait_event("charge.dispute.created", |e| {
            object(e)["charge"] == ch.as_str()
        })
        .await;
    (object(&opened)["id"].as_str().unwrap().to_string(), ch)
}

#[tokio::test]
async fn dispute_evidence_winning_or_losing_closes_it_won_or_lost() {
    let rig = rig().await;
    for (text, outcome) in [("winning_evidence", "won"), ("losing_evidence", "lost")] {
        let (dp, _) = disputed(&rig).await;
        let submitted = rig
            .post(
                &format!("/v1/disputes/{dp}"),
                &[("evidence[uncategorized_text]", text)],
                None,
            )
            .await;
        assert_eq!(submitted.status, 200, "{:?}", submitted.body);
        assert_eq!(submitted.body["status"], "under_review");
        assert_eq!(submitted.body["evidence"]["uncategorized_text"], text);

        let updated = rig
            .wait_event("charge.dispute.updated", |e| object(e)["id"] == dp.as_str())
            .await;
        assert_eq!(object(&updated)["status"], "under_review");
        assert_eq!(
            updated["data"]["previous_attributes"]["status"],
            "needs_response"
        );
        let closed = rig
            .wait_event("charge.dispute.closed", |e| object(e)["id"] == dp.as_str())
            .await;
        assert_eq!(object(&closed)["status"], outcome);
        assert_eq!(
            rig.get(&format!("/v1/disputes/{dp}")).await.body["status"],
            outcome
        );

        // A closed dispute takes no more evidence.
        let late = rig
            .post(
                &format!("/v1/disputes/{dp}"),
                &[("evidence[uncategorized_text]", "more")],
                None,
            )
            .await;
        assert_eq!(late.status, 400, "{:?}", late.body);
    }
}
