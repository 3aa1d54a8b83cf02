//! Relay health: many temporary failures in a row across all workers mean the relay itself is
//! down. Then everything pauses while one worker probes with growing delays, instead of
//! burning through the list deferring everyone; past the configured outage time the run stops
//! cleanly as resumable.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::send::shutdown::Shutdown;

const FIRST_PROBE_DELAY: Duration = Duration::from_secs(1);
const MAX_PROBE_DELAY: Duration = Duration::from_secs(60);

pub struct RelayHealth {
    threshold: u32,
    max_outage: Duration,
    state: Mutex<HealthState>,
    recovered: Notify,
}

struct HealthState {
    consecutive_failures: u32,
    outage_since: Option<Instant>,
    prober_active: bool,
    probe_delay: Duration,
}

impl RelayHealth {
    pub fn new(threshold: u32, max_outage: Duration) -> RelayHealth {
        RelayHealth {
            threshold: threshold.max(1),
            max_outage,
            state: Mutex::new(HealthState {
                consecutive_failures: 0,
                outage_since: None,
                prober_active: false,
                probe_delay: FIRST_PROBE_DELAY,
            }),
            recovered: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn in_outage(&self) -> bool {
        self.lock().outage_since.is_some()
    }

    /// Waits until this worker may send. `Some(false)`: the relay is healthy; `Some(true)`:
    /// the relay is down and this worker's next message is the probe; `None`: stopping.
    pub async fn wait_turn(&self, shutdown: &Shutdown) -> Option<bool> {
        loop {
            if shutdown.is_triggered() {
                return None;
            }
            let notified = self.recovered.notified();
            let delay = {
                let mut s = self.lock();
                if s.outage_since.is_none() {
                    return Some(false);
                }
                if s.prober_active {
                    None
                } else {
                    s.prober_active = true;
                    let d = s.probe_delay;
                    s.probe_delay = (s.probe_delay * 2).min(MAX_PROBE_DELAY);
                    Some(d)
                }
            };
            match delay {
                Some(d) => {
                    if !shutdown.sleep(d).await {
                        self.lock().prober_active = false;
                        return None;
                    }
                    return Some(true);
                }
                None => {
                    tokio::select! {
                        _ = notified => {}
                        _ = shutdown.triggered() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// The relay answered (2xx or 5xx): it is up.
    pub fn success(&self) {
        let mut s = self.lock();
        s.consecutive_failures = 0;
        if s.outage_since.take().is_some() {
            s.prober_active = false;
            s.probe_delay = FIRST_PROBE_DELAY;
            drop(s);
            self.recovered.notify_waiters();
        }
    }

    /// A temporary failure. Returns true when the relay is (now) considered down; stops the
    /// run once the outage has lasted longer than allowed.
    pub fn failure(&self, shutdown: &Shutdown) -> bool {
        let mut s = self.lock();
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        if s.outage_since.is_none() && s.consecutive_failures >= self.threshold {
            s.outage_since = Some(Instant::now());
        }
        let Some(since) = s.outage_since else {
            return false;
        };
        s.prober_active = false;
        if since.elapsed() > self.max_outage {
            shutdown.trigger(format!(
                "relay outage: no message accepted for {} s (send.outage_max_secs)",
                since.elapsed().as_secs()
            ));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_outage_begins_at_the_threshold_and_ends_with_a_success() {
        let h = RelayHealth::new(3, Duration::from_secs(3600));
        let stop = Shutdown::default();
        assert!(!h.failure(&stop));
        assert!(!h.failure(&stop));
        assert!(h.failure(&stop));
        assert!(h.in_outage());
        h.success();
        assert!(!h.in_outage());
        assert_eq!(h.wait_turn(&stop).await, Some(false));
    }

    #[tokio::test]
    async fn a_success_in_between_resets_the_count() {
        let h = RelayHealth::new(3, Duration::from_secs(3600));
        let stop = Shutdown::default();
        h.failure(&stop);
        h.failure(&stop);
        h.success();
        assert!(!h.failure(&stop));
    }

    #[tokio::test]
    async fn a_long_outage_stops_the_run() {
        let h = RelayHealth::new(1, Duration::ZERO);
        let stop = Shutdown::default();
        h.failure(&stop);
        std::thread::sleep(Duration::from_millis(2));
        h.failure(&stop);
        assert!(stop.is_triggered());
        assert!(stop.reason().unwrap().contains("relay outage"));
        assert_eq!(h.wait_turn(&stop).await, None);
    }
}
