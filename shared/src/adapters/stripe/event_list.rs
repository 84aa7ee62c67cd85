//! Stripe's event list (`GET /v1/events`), for reconciliation: every listed event is read by
//! the webhook's own parser (`event::parse`), so a listed event and a delivered one become the
//! same `IntentEventIn`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{event, StripeClient};
use crate::ports::{EventPage, EventQuery, ListedEvent, ProviderError};

/// Stripe's largest page.
const PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
struct List {
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct Head {
    id: String,
    created: i64,
}

impl StripeClient {
    /// Only the types the product acts on (`types[]`, each named: no wildcards), so a busy
    /// account's other events are neither fetched nor paged through.
    pub(super) async fn event_page(&self, q: &EventQuery) -> Result<EventPage, ProviderError> {
        let path = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("created[gte]", &q.created_gte.to_string());
            query.append_pair("limit", &PAGE_SIZE.to_string());
            for kind in q.types {
                query.append_pair("types[]", kind);
            }
            if let Some(after) = &q.starting_after {
                query.append_pair("starting_after", after);
            }
            if let Some(before) = &q.ending_before {
                query.append_pair("ending_before", before);
            }
            format!("/v1/events?{}", query.finish())
        };
        let list: List = self.call(Method::GET, &path, &[], None).await?.value;
        let events = list
            .data
            .iter()
            .map(|raw| listed(raw.get()))
            .collect::<Result<_, _>>()?;
        Ok(EventPage {
            events,
            has_more: list.has_more,
        })
    }
}

/// One listed event: its id and time, and the PaymentIntent event in it, if any.
pub(crate) fn listed(raw: &str) -> Result<ListedEvent, ProviderError> {
    let head: Head = serde_json::from_str(raw)
        .map_err(|e| ProviderError::Protocol(format!("/v1/events: {e}")))?;
    let (intent, money) = match event::parse(raw.as_bytes()) {
        Ok(event::Parsed::Intent(intent)) => (Some(intent), None),
        Ok(event::Parsed::Money(money)) => (None, Some(money)),
        Ok(event::Parsed::Ignored(_)) => (None, None),
        Err(e) => return Err(ProviderError::Protocol(format!("/v1/events: {e}"))),
    };
    Ok(ListedEvent {
        id: head.id,
        created: head.created,
        intent,
        money,
    })
}
