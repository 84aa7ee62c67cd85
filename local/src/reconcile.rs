//! The `reconcile` function of `template.yaml`, locally: the same use case
//! (`shared::app::reconcile`), run every `RECONCILE_INTERVAL_SECONDS` by a background task in
//! place of EventBridge, and on demand by tests (`RunningStack::reconcile_now`). Not a route:
//! API Gateway serves nothing of it.

use std::sync::Arc;
use std::time::Duration;

use shared::adapters::dynamo::DynamoStore;
use shared::adapters::stripe::StripeClient;
use shared::app::reconcile::{self, RunError, Summary};
use shared::domain::capture::HoldSettings;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::RunningStack;

/// Default of `RECONCILE_INTERVAL_SECONDS`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// `RECONCILE_INTERVAL_SECONDS`, given its value: unset or empty is the default minute, `0`
/// is off.
pub fn interval(value: Option<String>) -> Result<Option<Duration>, String> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(Some(DEFAULT_INTERVAL)),
        Some(v) => match v.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(secs) => Ok(Some(Duration::from_secs(secs))),
            Err(e) => Err(format!("RECONCILE_INTERVAL_SECONDS: {e}")),
        },
    }
}

/// The use case with the stack's store and Stripe; one run at a time, as the function's
/// reserved concurrency of 1 has it on AWS.
#[derive(Clone)]
pub struct Reconciler {
    store: DynamoStore,
    stripe: StripeClient,
    holds: HoldSettings,
    running: Arc<Mutex<()>>,
}

impl Reconciler {
    pub fn new(store: DynamoStore, stripe: StripeClient, holds: HoldSettings) -> Self {
        Self {
            store,
            stripe,
            holds,
            running: Arc::default(),
        }
    }

    /// One run, taking the lease as on AWS (`Ok(None)`: another run holds it). Without a
    /// deadline: the timer's runs end when they are done.
    pub async fn run(&self) -> Result<Option<Summary>, RunError> {
        let _one_at_a_time = self.running.lock().await;
        // The process's own variables, as the handlers in this process read them.
        let rules = shared::runtime::config::hold_rules_from_env();
        reconcile::run(
            &self.store,
            &self.stripe,
            &self.holds,
            rules,
            &reconcile::Budget::unbounded(),
        )
        .await
    }

    /// Runs every `every`, the first time one interval after the start.
    pub fn spawn(&self, every: Duration) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let _ = this.run().await;
            }
        })
    }
}

impl RunningStack {
    /// One reconcile run now (waiting for a scheduled one in progress to end first).
    pub async fn reconcile_now(&self) -> Result<Summary, RunError> {
        let summary = self.reconciler.run().await?;
        Ok(summary.expect("no other run holds the lease in this stack"))
    }

    /// One reconcile run now, as the function runs one: `Ok(None)` if another run holds the
    /// lease.
    pub async fn try_reconcile_now(&self) -> Result<Option<Summary>, RunError> {
        self.reconciler.run().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_defaults_to_a_minute_and_zero_is_off() {
        assert_eq!(interval(None), Ok(Some(DEFAULT_INTERVAL)));
        assert_eq!(interval(Some(" ".into())), Ok(Some(DEFAULT_INTERVAL)));
        assert_eq!(interval(Some("0".into())), Ok(None));
        assert_eq!(interval(Some("5".into())), Ok(Some(Duration::from_secs(5))));
        assert!(interval(Some("soon".into())).is_err());
        assert!(interval(Some("-1".into())).is_err());
    }
}
