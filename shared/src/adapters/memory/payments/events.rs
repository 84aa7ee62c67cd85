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

    /// `GET /v1/events` as Stripe pages it: `created[gte]`, `types[]`, newest first (the later
    /// emitted first among equal times); `starting_after` the older page right after an event,
    /// `ending_before` the newer page right before one (still newest first), with `has_more`
    /// saying whether more follow in that direction. Every query is kept
    /// ([`FakeStripe::event_queries`]).
    pub(super) async fn event_page(&self, query: &EventQuery) -> Result<EventPage, ProviderError> {
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
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(query.clone());
        let mut all = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|raw| crate::adapters::stripe::event_list::listed(raw))
            .collect::<Result<Vec<ListedEvent>, _>>()?;
        let types: Vec<String> = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|raw| {
                serde_json::from_str::<serde_json::Value>(raw).unwrap_or_default()["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        let mut kept: Vec<ListedEvent> = all
            .drain(..)
            .zip(types)
            .filter(|(e, kind)| {
                e.created >= query.created_gte
                    && (query.types.is_empty() || query.types.contains(&kind.as_str()))
            })
            .map(|(e, _)| e)
            .collect();
        // Stable: equal times keep their emitted order, then reversed (newest first).
        kept.sort_by_key(|e| e.created);
        kept.reverse();
        let all = kept;
        let size = match self.page_size.load(std::sync::atomic::Ordering::Relaxed) {
            0 => EVENT_PAGE_SIZE,
            n => n,
        };
        let at = |id: &str| {
            all.iter()
                .position(|e| e.id == id)
                .ok_or_else(|| rejected(400, "resource_missing", "No such event"))
        };
        let (events, has_more) = match (&query.starting_after, &query.ending_before) {
            (_, Some(before)) => {
                let end = at(before)?;
                let start = end.saturating_sub(size);
                (all[start..end].to_vec(), start > 0)
            }
            (Some(after), None) => {
                let start = at(after)? + 1;
                let end = (start + size).min(all.len());
                (all[start..end].to_vec(), end < all.len())
            }
            (None, None) => {
                let end = size.min(all.len());
                (all[..end].to_vec(), end < all.len())
            }
        };
        self.run_hooks(Call::ListEvents, When::After).await;
        Ok(EventPage { events, has_more })
    }

    /// Every event list query made, in order.
    pub fn event_queries(&self) -> Vec<EventQuery> {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Lists `size` events a page from now on (Stripe's largest page is 100).
    pub fn set_event_page_size(&self, size: usize) {
        self.page_size
            .store(size, std::sync::atomic::Ordering::Relaxed);
    }
}
