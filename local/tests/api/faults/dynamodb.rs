//! DynamoDB faults: throttling and 500s (a burst absorbed by the SDK's retries, a lasting fault
//! a 503 or a non-2xx with nothing half-applied), and writes that committed whose answer was
//! lost (applied exactly once by the retry or the redelivered webhook).

use super::*;

#[tokio::test]
async fn a_burst_of_dynamodb_throttles_and_500s_is_absorbed_by_the_sdk_retries() {
    let rig = rig().await;
    let asset = new_id();
    rig.dynamo.fail_next(
        dynamo("TransactWriteItems"),
        [Fault::dynamo_throttle(), Fault::dynamo_500()],
    );
    let created = rig
        .app
        .create_booking_with_key(&example_booking(&asset, &new_id()), Some("burst-1"))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let writes = rig.dynamo.seen(dynamo("TransactWriteItems"));
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[0].fault, Some(Fault::dynamo_throttle()));
    assert_eq!(writes[1].fault, Some(Fault::dynamo_500()));
    assert_eq!(
        (writes[2].fault.clone(), writes[2].upstream_status),
        (None, Some(200))
    );
    let id = created.body["id"].as_str().unwrap();
    let stored = rig.booking_item(id).await.expect("booking stored");
    assert_eq!(attr(&stored, "status"), Some("confirmed"));
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.to_string()])
    );

    // Reads too.
    rig.dynamo.fail_next(
        dynamo("GetItem"),
        [Fault::dynamo_500(), Fault::dynamo_throttle()],
    );
    let got = rig.app.get(&format!("/v1/bookings/{id}")).await;
    assert_eq!((got.status, got.body), (200, created.body));
}

#[tokio::test]
async fn lasting_dynamodb_faults_are_503s_with_a_detail_and_nothing_is_half_applied() {
    let rig = rig().await;
    let (asset, user) = (new_id(), new_id());
    let body = example_booking(&asset, &user);

    // Every transaction throttled: the booking is refused whole.
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_throttle());
    let refused = rig
        .app
        .create_booking_with_key(&body, Some("lasting-1"))
        .await;
    assert_unavailable(&refused);
    assert_eq!(
        rig.dynamo.seen(dynamo("TransactWriteItems")).len(),
        3,
        "the SDK's three attempts"
    );
    rig.dynamo.clear();
    assert!(rig.scan("bookings").await.is_empty());
    assert!(rig.slot_holders(&asset, DAY).await.is_empty());
    assert!(rig.scan("idempotency").await.is_empty());

    // Every read failing: 503 as well, before anything is written.
    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    assert_unavailable(
        &rig.app
            .create_booking_with_key(&body, Some("lasting-1"))
            .await,
    );
    rig.dynamo.clear();
    assert!(rig.scan("bookings").await.is_empty());

    // Back: the same request and key is a first success (nothing was recorded), not a 409.
    let created = rig
        .app
        .create_booking_with_key(&body, Some("lasting-1"))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(created.headers.get("idempotent-replayed").is_none());
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(rig.scan("bookings").await.len(), 1);
    assert_eq!(rig.scan("idempotency").await.len(), 1);
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.clone()])
    );

    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    assert_unavailable(&rig.app.get(&format!("/v1/bookings/{id}")).await);
    rig.dynamo.clear();

    // Cancelling while transactions fail: the booking stays confirmed and keeps its slot.
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_500());
    let cancel = format!("/v1/bookings/{id}/cancel");
    assert_unavailable(&rig.app.post_json(&cancel, &json!({})).await);
    rig.dynamo.clear();
    let stored = rig.booking_item(&id).await.unwrap();
    assert_eq!(attr(&stored, "status"), Some("confirmed"));
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.clone()])
    );
    let cancelled = rig.app.post_json(&cancel, &json!({})).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(
        attr(&rig.booking_item(&id).await.unwrap(), "status"),
        Some("cancelled")
    );
    assert!(rig.slot_holders(&asset, DAY).await.is_empty());
}

#[tokio::test]
async fn a_webhook_that_cannot_be_stored_is_a_5xx_so_stripe_retries_and_applies_it_later() {
    let rig = rig().await;
    let (booking_id, intent) = rig.booking_with_intent().await;
    let (payload, event_id) = succeeded_event(&intent);

    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_throttle());
    let failed = rig.deliver(&payload).await;
    assert_unavailable(&failed);
    rig.dynamo.clear();
    // Neither the effect nor the "processed" mark: the redelivery will do it.
    let stored = rig.booking_item(&booking_id).await.unwrap();
    assert_eq!(attr(&stored, "payment_status"), Some("pending"));
    assert!(
        !rig.event_recorded(&event_id).await,
        "the event is marked processed but its effect was never written"
    );

    // Since issue 12 a new event is applied by its one conditional transaction without reading
    // the booking first, so reads failing no longer hold it back.
    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    let applied = rig.deliver(&payload).await;
    rig.dynamo.clear();
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(applied.body["result"], "applied");
    let stored = rig.booking_item(&booking_id).await.unwrap();
    assert_eq!(attr(&stored, "payment_status"), Some("completed"));
    assert!(rig.event_recorded(&event_id).await);

    // A redelivery while reads fail cannot tell "duplicate" from "ignored": 5xx, Stripe
    // retries; once reads work it is a duplicate.
    rig.dynamo
        .fail_always(dynamo("GetItem"), Fault::dynamo_500());
    let during = rig.deliver(&payload).await;
    rig.dynamo.clear();
    assert!(
        during.status == 503 || during.body["result"] == "duplicate",
        "{:?}",
        during.body
    );
    let again = rig.deliver(&payload).await;
    assert_eq!(again.body["result"], "duplicate", "{:?}", again.body);
}

/// A crash between the commit and its answer: the webhook's transaction (booking update +
/// "event processed" mark) reaches DynamoDB and commits, but the answer is lost.
#[tokio::test]
async fn a_webhook_redelivered_after_its_commit_answer_was_lost_is_applied_exactly_once() {
    let rig = rig().await;
    let writes = dynamo("TransactWriteItems");

    // One answer lost: the SDK retries with the same ClientRequestToken, DynamoDB answers
    // with the committed result instead of running it again.
    let (first, intent) = rig.booking_with_intent().await;
    let (payload, _) = succeeded_event(&intent);
    let mark = rig.dynamo.mark();
    rig.dynamo
        .fail_next(dynamo("TransactWriteItems"), [Fault::LoseResponse]);
    let applied = rig.deliver(&payload).await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(applied.body["result"], "applied");
    let sent: Vec<Seen> = rig.dynamo.since(mark).into_iter().filter(&writes).collect();
    assert_eq!(sent.len(), 2);
    let tokens: BTreeSet<_> = sent
        .iter()
        .map(|s| s.body_field("ClientRequestToken"))
        .collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(tokens.iter().all(Option::is_some));

    // Every answer lost, as if the function crashed after the commit: it answers 5xx and
    // Stripe delivers the event again.
    let (second, intent) = rig.booking_with_intent().await;
    let (payload2, event_id) = succeeded_event(&intent);
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    let crashed = rig.deliver(&payload2).await;
    assert_unavailable(&crashed);
    rig.dynamo.clear();
    // The write did commit, once.
    let committed = rig.booking_item(&second).await.unwrap();
    assert_eq!(attr(&committed, "payment_status"), Some("completed"));
    assert!(rig.event_recorded(&event_id).await);

    let mark = rig.dynamo.mark();
    for payload in [&payload2, &payload2, &payload] {
        let again = rig.deliver(payload).await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(again.body["result"], "duplicate", "{:?}", again.body);
    }
    // Nothing was written for the redeliveries, and the booking is as first committed. (Since
    // issue 12 each redelivery sends its one conditional transaction, which DynamoDB refuses:
    // the event is recorded already.)
    assert!(
        rig.dynamo
            .since(mark)
            .iter()
            .filter(|s| writes(s))
            .all(|s| s.upstream_status == Some(400)),
        "a redelivery wrote"
    );
    assert_eq!(rig.booking_item(&second).await.unwrap(), committed);
    let shown = rig.app.booking(&second).await;
    assert_eq!(
        (
            shown["payment_status"].clone(),
            shown["amount_received_minor"].clone()
        ),
        (json!("completed"), json!(350))
    );
    assert_eq!(rig.app.booking(&first).await["payment_status"], "completed");
}

/// A booking whose transaction committed but whose every answer was lost is a 503; the
/// client's retry with the same Idempotency-Key gets that booking, not a second one or a 409.
#[tokio::test]
async fn a_booking_whose_commit_answer_was_lost_is_created_once_when_retried_with_its_key() {
    let rig = rig().await;
    let (asset, user) = (new_id(), new_id());
    let body = example_booking(&asset, &user);
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    assert_unavailable(&rig.app.create_booking_with_key(&body, Some("lost-1")).await);
    rig.dynamo.clear();
    let stored = rig.scan("bookings").await;
    assert_eq!(stored.len(), 1, "the transaction committed");
    let id = attr(&stored[0], "id").unwrap().to_string();
    assert_eq!(
        rig.slot_holders(&asset, DAY).await,
        BTreeSet::from([id.clone()])
    );

    let retried = rig.app.create_booking_with_key(&body, Some("lost-1")).await;
    assert_eq!(retried.status, 201, "{:?}", retried.body);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(retried.body["id"], id.as_str());
    assert_eq!(rig.scan("bookings").await.len(), 1);
}

/// create-intent between its two writes: Stripe created the intent, DynamoDB failed to attach
/// it (or attached it and the answer was lost).
#[tokio::test]
async fn create_intent_when_dynamodb_fails_after_stripe_made_the_intent() {
    let rig = rig().await;

    // Not attached: 503, the booking points at nothing, and the intent Stripe made is live and
    // unattached. The retry sends the same Idempotency-Key, so Stripe hands it that same
    // intent, which it attaches: nothing is left over. (localstripe alone ignored the key and
    // made a second intent, leaving the first unattached: this test used to expect that.)
    let one = rig.app.new_booking().await;
    let request = json!({"amount": 3.50, "booking_id": one});
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_500());
    assert_unavailable(&rig.app.create_intent(&request).await);
    rig.dynamo.clear();
    assert!(rig
        .app
        .booking(&one)
        .await
        .get("payment_intent_id")
        .is_none());
    let orphan = rig.at_stripe(&one).await.live_orphans;
    assert_eq!(orphan.len(), 1);
    let retried = rig.app.create_intent(&request).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    let attached = pi_of(&retried);
    let at = rig.at_stripe(&one).await;
    assert_eq!(at.booking["payment_intent_id"], attached.as_str());
    assert_eq!(
        orphan,
        BTreeSet::from([attached]),
        "the first intent is the one attached"
    );
    assert!(at.live_orphans.is_empty(), "{:#?}", at.intents);
    assert_eq!(at.intents.len(), 1);

    // Attached, answer lost: 503, but the retry hands out the very intent attached; no other.
    let two = rig.app.new_booking().await;
    let request = json!({"amount": 3.50, "booking_id": two});
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    assert_unavailable(&rig.app.create_intent(&request).await);
    rig.dynamo.clear();
    let stored = rig.booking_item(&two).await.unwrap();
    let committed = attr(&stored, "payment_intent_id")
        .expect("attached")
        .to_string();
    let retried = rig.app.create_intent(&request).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(pi_of(&retried), committed);
    assert_eq!(rig.at_stripe(&two).await.intents.len(), 1);
}

/// Stripe replays a key's first answer as it was, even if the object changed since: the intent
/// made by a create-intent whose booking write failed, then cancelled at Stripe (the
/// Dashboard), comes back cancelled to the retry, which carries the same key. create-intent
/// must not hand that out: it steps over it with a key naming it, and attaches a new intent.
#[tokio::test]
async fn a_retry_replayed_an_intent_cancelled_since_hands_out_a_new_one() {
    let rig = rig().await;
    let booking_id = rig.app.new_booking().await;
    let request = json!({"amount": 3.50, "booking_id": booking_id});
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::dynamo_500());
    assert_unavailable(&rig.app.create_intent(&request).await);
    rig.dynamo.clear();
    let made: Vec<String> = rig
        .at_stripe(&booking_id)
        .await
        .live_orphans
        .into_iter()
        .collect();
    assert_eq!(made.len(), 1);
    let dead = made[0].clone();
    let cancelled = rig
        .localstripe
        .call(
            reqwest::Method::POST,
            &format!("/v1/payment_intents/{dead}/cancel"),
            &[],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);

    let retried = rig.app.create_intent(&request).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    let handed_out = pi_of(&retried);
    assert_ne!(handed_out, dead);
    let posts = rig.stripe.seen(creates_for(&booking_id));
    let first_key = posts[0].idempotency_key.clone();
    // The retry's first create was Stripe's replay of the intent cancelled since...
    assert_eq!(posts[1].idempotency_key, first_key);
    assert_eq!(posts[1].upstream_id().as_deref(), Some(dead.as_str()));
    // ... stepped over with a key naming it.
    let last = posts.last().unwrap();
    assert!(
        last.idempotency_key
            .as_deref()
            .is_some_and(|k| k.contains(&dead)),
        "{last:?}"
    );
    assert_eq!(last.upstream_id().as_deref(), Some(handed_out.as_str()));
    let at = rig.at_stripe(&booking_id).await;
    assert_eq!(at.live, BTreeSet::from([handed_out.clone()]));
    assert_eq!(at.booking["payment_intent_id"], handed_out.as_str());
    assert_eq!(rig.intent(&dead).await["status"], "canceled");
}

#[tokio::test]
async fn a_write_dynamodb_refuses_as_invalid_is_a_500_at_once_and_nothing_is_stored() {
    let rig = rig().await;
    for (n, fault) in [
        Fault::dynamo_transaction_invalid(),
        Fault::dynamo_validation(),
    ]
    .into_iter()
    .enumerate()
    {
        let asset = new_id();
        let mark = rig.dynamo.mark();
        rig.dynamo
            .fail_next(dynamo("TransactWriteItems"), [fault.clone()]);
        let refused = rig
            .app
            .create_booking_with_key(
                &example_booking(&asset, &new_id()),
                Some(&format!("invalid-{n}")),
            )
            .await;
        assert_eq!(
            (refused.status, refused.body),
            (500, json!({"detail": "The booking could not be stored"})),
            "{fault:?}"
        );
        let transactions = dynamo("TransactWriteItems");
        let writes = rig
            .dynamo
            .since(mark)
            .into_iter()
            .filter(|s| transactions(s));
        assert_eq!(writes.count(), 1, "never retried: {fault:?}");
        assert!(rig.slot_holders(&asset, DAY).await.is_empty());
    }
    rig.dynamo.clear();
    assert!(rig.scan("bookings").await.is_empty());
    assert!(rig.scan("idempotency").await.is_empty());
}

// A weakness found here, kept as a failing test (run with `-- --ignored`).

/// README: a 503 is "safe to retry". Not for `POST /v1/bookings` without an Idempotency-Key
/// whose transaction committed but whose answer was lost (all three SDK attempts): the
/// client's retry is a 409 against its own booking, whose id it never learned, and that
/// booking holds the slot. (With a key it is fine: see
/// `a_booking_whose_commit_answer_was_lost_is_created_once_when_retried_with_its_key`.)
#[tokio::test]
#[ignore = "bug: a POST /v1/bookings 503 is not safe to retry without Idempotency-Key (409 on the caller's own committed booking)"]
async fn retrying_a_booking_503_without_a_key_does_not_conflict_with_itself() {
    let rig = rig().await;
    let body = example_booking(&new_id(), &new_id());
    rig.dynamo
        .fail_always(dynamo("TransactWriteItems"), Fault::LoseResponse);
    assert_unavailable(&rig.app.create_booking_with_key(&body, None).await);
    rig.dynamo.clear();
    assert_eq!(rig.scan("bookings").await.len(), 1, "it committed");
    let retried = rig.app.create_booking_with_key(&body, None).await;
    assert_eq!(
        retried.status, 201,
        "the retry of a 503 conflicts with the caller's own booking: {:?}",
        retried.body
    );
}
