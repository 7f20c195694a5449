//! Retry backoff: exponential with a cap and random jitter, so retries of many jobs that
//! failed together do not all come back at the same second.

use std::time::Duration;

/// The retry policy of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Longest delay between two attempts.
    pub max: Duration,
}

impl Backoff {
    /// The delay after `attempt` (1 for the first attempt) failed, before jitter:
    /// `base * 2^(attempt-1)`, capped at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let delay = self.base.saturating_mul(1u32 << exponent);
        delay.min(self.max)
    }

    /// [`Backoff::delay`] plus a jitter of up to 20 %, drawn from `unit` in `[0, 1)`.
    pub fn delay_with_jitter(&self, attempt: u32, unit: f64) -> Duration {
        let delay = self.delay(attempt);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        delay + delay.mul_f64(0.2 * unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn delays_double_with_each_attempt_until_the_cap() {
        let b = policy();
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert_eq!(b.delay(2), Duration::from_secs(10));
        assert_eq!(b.delay(4), Duration::from_secs(40));
        assert_eq!(b.delay(20), Duration::from_secs(3600));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn jitter_adds_at_most_a_fifth() {
        let b = policy();
        assert_eq!(b.delay_with_jitter(2, 0.0), Duration::from_secs(10));
        assert_eq!(b.delay_with_jitter(2, 1.0), Duration::from_secs(12));
        assert_eq!(b.delay_with_jitter(2, f64::NAN), Duration::from_secs(10));
    }
}
