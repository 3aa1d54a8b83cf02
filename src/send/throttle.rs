//! Rate limits: one governor limiter for the whole run plus one per destination group
//! (`[[send.destinations]]`, `[send.domain_rates]`: mobile carriers throttle senders that flood
//! them). A message waits for its group's permit, then the global one, *before* it is built and
//! sent, so no burst ever exceeds the configured burst. The scheduler asks a group without
//! waiting ([`Throttle::try_group`]) so that a group at its limit holds back only its own rows.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::DestinationGroups;

/// The run's limiters.
#[derive(Clone, Default)]
pub struct Throttle {
    global: Option<Arc<DefaultDirectRateLimiter>>,
    /// By group index (`DestinationGroups::index_of`); `None`: the global rate only.
    groups: Arc<Vec<Option<DefaultDirectRateLimiter>>>,
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
    /// `rate` 0 means no global limit; each group has its own rate and burst.
    pub fn new(rate: f64, burst: u32, groups: &DestinationGroups) -> Throttle {
        let global = quota(rate, burst).map(|q| Arc::new(RateLimiter::direct(q)));
        let groups = groups
            .groups()
            .iter()
            .map(|g| {
                g.rate
                    .and_then(|r| quota(r, g.burst))
                    .map(RateLimiter::direct)
            })
            .collect();
        Throttle {
            global,
            groups: Arc::new(groups),
        }
    }

    /// Waits until one message to `group` may go (a retry: its worker waits, nobody else).
    pub async fn acquire(&self, group: usize) {
        // The group's permit first: waiting on it must not hold a global permit that other
        // groups could use.
        if let Some(limiter) = self.group_limiter(group) {
            limiter.until_ready().await;
        }
        self.acquire_global().await;
    }

    /// Takes `group`'s permit if it has one now; otherwise says how long until it will.
    pub fn try_group(&self, group: usize) -> Result<(), Duration> {
        match self.group_limiter(group) {
            None => Ok(()),
            Some(l) => l
                .check()
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    /// Waits for the global permit.
    pub async fn acquire_global(&self) {
        if let Some(global) = &self.global {
            global.until_ready().await;
        }
    }

    fn group_limiter(&self, group: usize) -> Option<&DefaultDirectRateLimiter> {
        self.groups.get(group).and_then(Option::as_ref)
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
    fn a_group_at_its_limit_says_how_long_and_others_are_free() {
        let mut settings = crate::config::SendSettings::default();
        settings
            .domain_rates
            .insert("docomo.ne.jp".to_string(), 1.0);
        let groups = settings.destination_groups();
        let t = Throttle::new(0.0, 1, &groups);
        let docomo = groups.index_of("MAIL.docomo.ne.jp");
        assert_eq!(groups.groups()[docomo].name, "docomo.ne.jp");
        assert!(t.try_group(docomo).is_ok());
        let wait = t.try_group(docomo).unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        for _ in 0..100 {
            assert!(t.try_group(groups.index_of("example.jp")).is_ok());
        }
    }
}
