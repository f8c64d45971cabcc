//! When to retry a throttled or transient request, as a pure function of the
//! attempt number, the service's `Retry-After` and a jitter source.
//!
//! - `Retry-After` is honoured (the service knows when the throttling window
//!   ends) but capped, so a bogus or hostile value cannot park the import for hours.
//! - Otherwise capped exponential backoff with "full jitter" (a uniformly random
//!   delay between zero and the exponential ceiling), so concurrent workers that
//!   were throttled together do not come back together.
//! - After [`RetryPolicy::max_attempts`] attempts in all, give up: `None`.
//!
//! The jitter source is a small seedable generator, so tests are exact.

use std::time::Duration;

/// How often and how long to wait before retrying a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (6: the first try and five retries).
    pub max_attempts: u32,
    /// Ceiling of the first backoff; it doubles with each further attempt.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Largest `Retry-After` honoured; a larger one waits this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt after attempt number `attempt` (1 for
    /// the first try) failed with a retryable error, or `None` when that was the
    /// last attempt allowed.
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: &mut Jitter,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(after) = retry_after {
            return Some(after.min(self.max_retry_after));
        }
        Some(self.ceiling(attempt).mul_f64(jitter.next_fraction()))
    }

    /// The backoff ceiling after attempt `attempt`: `base · 2^(attempt-1)`, capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// [`RetryPolicy::next_delay`] with the default policy.
pub fn next_delay(
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: &mut Jitter,
) -> Option<Duration> {
    RetryPolicy::default().next_delay(attempt, retry_after, jitter)
}

/// The source of the random fraction in full jitter: SplitMix64 (small, seedable,
/// good enough to decorrelate retries; not for secrets).
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
    fixed: Option<f64>,
}

impl Jitter {
    /// A generator with a fixed seed: the same seed gives the same delays.
    pub fn seeded(seed: u64) -> Self {
        Self {
            state: seed,
            fixed: None,
        }
    }

    /// A generator seeded from the operating system's random source.
    pub fn from_entropy() -> Self {
        let mut seed = [0u8; 8];
        // If the OS generator fails, the clock still decorrelates processes.
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            seed = (nanos ^ u64::from(std::process::id())).to_le_bytes();
        }
        Self::seeded(u64::from_le_bytes(seed))
    }

    /// No randomness: every fraction is `fraction` (clamped to 0..=1); `fixed(1.0)`
    /// waits the full ceiling.
    pub fn fixed(fraction: f64) -> Self {
        Self {
            state: 0,
            fixed: Some(fraction.clamp(0.0, 1.0)),
        }
    }

    /// The next fraction in `[0, 1)` (or the fixed one).
    pub fn next_fraction(&mut self) -> f64 {
        if let Some(f) = self.fixed {
            return f;
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits as a double in [0, 1).
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn ceilings_double_and_cap() {
        let p = RetryPolicy::default();
        let got: Vec<Duration> = (1..=7).map(|a| p.ceiling(a)).collect();
        assert_eq!(got, [S(1), S(2), S(4), S(8), S(16), S(30), S(30)]);
        assert_eq!(p.ceiling(0), S(1));
        assert_eq!(p.ceiling(u32::MAX), S(30));
    }

    #[test]
    fn full_ceiling_with_fixed_jitter_and_none_after_the_last_attempt() {
        let mut j = Jitter::fixed(1.0);
        let got: Vec<Option<Duration>> = (1..=7).map(|a| next_delay(a, None, &mut j)).collect();
        assert_eq!(
            got,
            [
                Some(S(1)),
                Some(S(2)),
                Some(S(4)),
                Some(S(8)),
                Some(S(16)),
                None,
                None
            ]
        );
        let mut half = Jitter::fixed(0.5);
        assert_eq!(next_delay(3, None, &mut half), Some(S(2)));
        let mut zero = Jitter::fixed(-3.0);
        assert_eq!(next_delay(3, None, &mut zero), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_honoured_exactly_but_capped() {
        let mut j = Jitter::seeded(7);
        assert_eq!(next_delay(1, Some(S(3)), &mut j), Some(S(3)));
        assert_eq!(
            next_delay(5, Some(Duration::ZERO), &mut j),
            Some(Duration::ZERO)
        );
        assert_eq!(next_delay(2, Some(S(3600)), &mut j), Some(S(60)));
        // Still bounded by the number of attempts.
        assert_eq!(next_delay(6, Some(S(1)), &mut j), None);
    }

    #[test]
    fn seeded_jitter_is_reproducible_and_within_the_ceiling() {
        let p = RetryPolicy::default();
        let run = |seed| {
            let mut j = Jitter::seeded(seed);
            (1..6)
                .map(|a| p.next_delay(a, None, &mut j))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        for (i, d) in run(42).into_iter().enumerate() {
            let d = d.expect("within max_attempts");
            assert!(d < p.ceiling(i as u32 + 1), "{d:?}");
        }
        let mut j = Jitter::seeded(1);
        let fractions: Vec<f64> = (0..10_000).map(|_| j.next_fraction()).collect();
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)));
        let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn custom_policy() {
        let p = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(15),
            max_retry_after: S(2),
        };
        let mut j = Jitter::fixed(1.0);
        assert_eq!(
            p.next_delay(1, None, &mut j),
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            p.next_delay(2, None, &mut j),
            Some(Duration::from_millis(15))
        );
        assert_eq!(p.next_delay(3, None, &mut j), None);
        assert_eq!(p.next_delay(1, Some(S(5)), &mut j), Some(S(2)));
    }
}
