//! Stripe refusing a request the service made on its own (issue 20, item 5): not the caller's
//! error, and none of Stripe's text in the answer.

use super::*;

#[tokio::test]
async fn stripe_refusing_a_cancels_refund_is_no_400_and_quotes_none_of_its_text() {
    let rig = rig().await;
    let (booking_id, intent) = rig.booking_with_intent().await;
    let pi = intent["id"].as_str().unwrap().to_string();
    rig.pay(&pi).await;
    rig.app
        .wait_for_payment_status(&booking_id, "completed")
        .await;
    let stripe_text = "Charge ch_3Poison has been charged back; cannot issue a refund.";
    rig.stripe.fail_next(
        request("POST", "/v1/refunds"),
        [Fault::Respond {
            status: 400,
            headers: vec![("content-type", "application/json".into())],
            body: json!({"error": {
                "type": "invalid_request_error",
                "code": "charge_disputed",
                "message": stripe_text,
            }})
            .to_string(),
        }],
    );

    let cancel = rig
        .app
        .post_json(&format!("/v1/bookings/{booking_id}/cancel"), &json!({}))
        .await;

    assert_eq!(cancel.status, 502, "{:?}", cancel.body);
    let text = cancel.body.to_string();
    assert!(
        !text.contains("charged back") && !text.contains("ch_3Poison"),
        "{text}"
    );
    // Nothing changed: still confirmed and paid, and the next cancel can refund it.
    let booking = rig.app.booking(&booking_id).await;
    assert_eq!(
        (&booking["status"], &booking["payment_status"]),
        (&json!("confirmed"), &json!("completed"))
    );
}
