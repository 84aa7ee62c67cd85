//! The fake's event list: what `GET /v1/events` pages through (reconciliation).

use super::*;

/// Events per page: fewer than Stripe's 100, so tests page through several.
const EVENT_PAGE_SIZE: usize = 2;

impl FakeStripe {
    /// Adds an event to the account's event list (as Stripe's JSON: `id`, `type`, `created`,
    /// `data.object`), as Stripe records one whether or not a webhook delivers it.
    pub fn emit(&self, event: serde_json::Value) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.to_string());
    }

    /// `GET /v1/events?created[gte]=..&starting_after=..`: newest first (the later emitted
    /// first among equal times), read by the webhook's parser as Stripe's client reads them.
    pub(super) async fn event_page(
        &self,
        created_gte: i64,
        starting_after: Option<&str>,
    ) -> Result<EventPage, ProviderError> {
        self.run_hooks(Call::ListEvents, When::Before).await;
        {
            let mut state = self.lock();
            state.calls.push(Call::ListEvents);
            if let Some(i) = state
                .failures
                .iter()
                .position(|(c, _)| *c == Call::ListEvents)
            {
                return Err(state.failures.remove(i).1);
            }
        }
        let mut all = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|raw| crate::adapters::stripe::event_list::listed(raw))
            .collect::<Result<Vec<ListedEvent>, _>>()?;
        all.retain(|e| e.created >= created_gte);
        // Stable: equal times keep their emitted order, then reversed (newest first).
        all.sort_by_key(|e| e.created);
        all.reverse();
        let start = match starting_after {
            None => 0,
            Some(id) => all
                .iter()
                .position(|e| e.id == id)
                .map(|i| i + 1)
                .ok_or_else(|| rejected(400, "resource_missing", "No such event"))?,
        };
        let events: Vec<ListedEvent> = all
            .iter()
            .skip(start)
            .take(EVENT_PAGE_SIZE)
            .cloned()
            .collect();
        let has_more = all.len() > start + events.len();
        self.run_hooks(Call::ListEvents, When::After).await;
        Ok(EventPage { events, has_more })
    }
}
