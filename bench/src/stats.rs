//! Order statistics over samples of durations, in milliseconds.

use std::time::Duration;

use serde_json::{json, Value};

/// The nearest-rank percentile (`q` in 0..=1) of unsorted samples; `None` when empty.
pub fn percentile(samples: &[Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median: the mean of the two middle samples for an even count.
pub fn median(samples: &[Duration]) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    })
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `{median, min, max, samples}` in ms, for a handful of samples (cold starts).
pub fn summary(samples: &[Duration]) -> Value {
    json!({
        "median_ms": median(samples).map(ms),
        "min_ms": samples.iter().min().copied().map(ms),
        "max_ms": samples.iter().max().copied().map(ms),
        "samples_ms": samples.iter().copied().map(ms).collect::<Vec<_>>(),
    })
}

/// `{n, p50, p90, p99, max, mean}` in ms, for many samples (warm invocations).
pub fn distribution(samples: &[Duration]) -> Value {
    let mean = if samples.is_empty() {
        None
    } else {
        Some(samples.iter().sum::<Duration>() / samples.len() as u32)
    };
    json!({
        "n": samples.len(),
        "p50_ms": percentile(samples, 0.50).map(ms),
        "p90_ms": percentile(samples, 0.90).map(ms),
        "p99_ms": percentile(samples, 0.99).map(ms),
        "max_ms": samples.iter().max().copied().map(ms),
        "mean_ms": mean.map(ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(d).collect();
        assert_eq!(percentile(&samples, 0.50), Some(d(50)));
        assert_eq!(percentile(&samples, 0.99), Some(d(99)));
        assert_eq!(percentile(&samples, 1.0), Some(d(100)));
        assert_eq!(percentile(&samples, 0.0), Some(d(1)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[d(3), d(1), d(2)]), Some(d(2)));
        assert_eq!(
            median(&[d(4), d(1), d(2), d(3)]),
            Some(Duration::from_micros(2500))
        );
        assert_eq!(median(&[]), None);
    }
}
