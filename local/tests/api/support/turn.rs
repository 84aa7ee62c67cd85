//! Which tests run at once.

use std::sync::{Arc, LazyLock};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// A test's turn to run. Every test app holds a shared turn; a heavy test (`load`) takes the
/// machine alone, so no other test runs while it does and it runs beside no other.
///
/// Each test file used to be its own binary, and cargo runs binaries one after another, so
/// `load` (32 clients, thousands of requests, its own localstripe) always had the 2 cores to
/// itself. In one binary, libtest runs 2 tests at a time: `load` would starve the test beside it
/// and be starved by it, and tests with a deadline (the faults' 10 s and 15 s Lambda timeouts,
/// `wait_for_payment_status`'s 20 s, load's own 90 s for every payment to settle) could flake.
/// This keeps the old concurrency: `load` alone, the rest two at a time as before.
///
/// tokio's lock is fair: once a heavy test waits, new shared turns wait behind it. A test must
/// never hold two apps at once (their turns could then wait on each other); none does.
pub enum Turn {
    Shared(OwnedRwLockReadGuard<()>),
    Alone(OwnedRwLockWriteGuard<()>),
}

static TURNS: LazyLock<Arc<RwLock<()>>> = LazyLock::new(Default::default);

impl Turn {
    pub async fn shared() -> Turn {
        Turn::Shared(TURNS.clone().read_owned().await)
    }

    pub async fn alone() -> Turn {
        Turn::Alone(TURNS.clone().write_owned().await)
    }
}
