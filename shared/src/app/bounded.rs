//! Reads bounded by design: a request reads at most [`MAX_HOLD_READS`] bookings whose hold has
//! passed (to learn whether each is dead or paid since), [`MAX_CONCURRENT_READS`] at a time.
//! One asset can gather thousands of unpaid short bookings; reading them all, all at once,
//! would cost a consistent read unit each, open thousands of connections at once, and miss
//! the API's deadline.

/// Bookings whose hold has passed one request reads at most.
pub const MAX_HOLD_READS: usize = 100;
/// Of those, how many are read at once.
pub const MAX_CONCURRENT_READS: usize = 8;
