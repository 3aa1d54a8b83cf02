//! Rate limits: one governor limiter for the whole run plus one per recipient domain named in
//! `send.domain_rates` (mobile carriers throttle senders that flood them). A worker waits for
//! its permits *before* it builds and sends, so no burst ever exceeds the configured burst.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The run's limiters.
#[derive(Clone, Default)]
pub struct Throttle {
    global: Option<Arc<DefaultDirectRateLimiter>>,
    domains: Arc<BTreeMap<String, DefaultDirectRateLimiter>>,
}

/// A quota of `rate` messages per second with bursts of at most `burst`.
pub fn quota(rate: f64, burst: u32) -> Option<Quota> {
    if !(rate > 0.0 && rate.is_finite()) {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

impl Throttle {
    /// `rate` 0 means no global limit. Domain rates use a burst of 1: carriers count per second.
    pub fn new(rate: f64, burst: u32, domain_rates: &BTreeMap<String, f64>) -> Throttle {
        let global = quota(rate, burst).map(|q| Arc::new(RateLimiter::direct(q)));
        let domains = domain_rates
            .iter()
            .filter_map(|(d, &r)| {
                quota(r, 1).map(|q| (d.to_ascii_lowercase(), RateLimiter::direct(q)))
            })
            .collect();
        Throttle {
            global,
            domains: Arc::new(domains),
        }
    }

    /// Waits until one message to `domain` may go.
    pub async fn acquire(&self, domain: &str) {
        // The domain's permit first: waiting on it must not hold a global permit that other
        // domains could use.
        if let Some(limiter) = self.domain_limiter(domain) {
            limiter.until_ready().await;
        }
        if let Some(global) = &self.global {
            global.until_ready().await;
        }
    }

    fn domain_limiter(&self, domain: &str) -> Option<&DefaultDirectRateLimiter> {
        if self.domains.is_empty() {
            return None;
        }
        let domain = domain.to_ascii_lowercase();
        // `mail.docomo.ne.jp` falls under a `docomo.ne.jp` entry.
        let mut candidate = domain.as_str();
        loop {
            if let Some(l) = self.domains.get(candidate) {
                return Some(l);
            }
            candidate = candidate.split_once('.')?.1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_quota_never_allows_more_than_its_burst_and_then_its_rate() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota(50.0, 10).unwrap(), clock.clone());
        let mut allowed = 0;
        while limiter.check().is_ok() {
            allowed += 1;
        }
        assert_eq!(allowed, 10, "burst");
        // Over ten simulated seconds, exactly 50 per second more.
        let mut total = 0;
        for _ in 0..10_000 {
            clock.advance(Duration::from_millis(1));
            while limiter.check().is_ok() {
                total += 1;
            }
        }
        assert_eq!(total, 500);
    }

    #[test]
    fn zero_rate_means_unlimited() {
        assert!(quota(0.0, 10).is_none());
    }

    #[test]
    fn subdomains_share_their_carrier_limit() {
        let mut rates = BTreeMap::new();
        rates.insert("docomo.ne.jp".to_string(), 5.0);
        let t = Throttle::new(0.0, 1, &rates);
        assert!(t.domain_limiter("docomo.ne.jp").is_some());
        assert!(t.domain_limiter("MAIL.docomo.ne.jp").is_some());
        assert!(t.domain_limiter("example.jp").is_none());
    }
}
