//! Relay health: many temporary failures in a row across all workers mean the relay itself is
//! down. Then everything pauses while one worker probes with growing delays, instead of
//! burning through the list deferring everyone; past the configured outage time the run stops
//! cleanly as resumable.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

use crate::send::shutdown::{Shutdown, StopReason};

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
    /// What the last temporary failure was, in a few words (see [`short_reason`]).
    last_failure: Option<String>,
}

/// What the operator is shown while the relay is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageView {
    /// The last failure in a few words: `connection refused`, `421 4.3.2 Service not available`.
    pub reason: String,
    /// When the run gives up (stops as resumable) if the relay stays down.
    pub gives_up_at: SystemTime,
}

impl OutageView {
    /// `relay down (connection refused), probing; giving up at 03:41 UTC`
    pub fn line(&self) -> String {
        let at = time::OffsetDateTime::from(self.gives_up_at);
        format!(
            "relay down ({}), probing; giving up at {:02}:{:02} UTC",
            self.reason,
            at.hour(),
            at.minute()
        )
    }
}

/// A failure in a few words for the progress line: the relay's code and text when it
/// answered, else the last part of the error (`Connection refused (os error 111)` →
/// `connection refused`), at most 80 characters.
pub fn short_reason(code: Option<u16>, text: &str) -> String {
    let text = match code {
        Some(c) => format!("{c} {text}"),
        None => {
            let last = text.rsplit(": ").next().unwrap_or(text);
            let last = last.split(" (os error").next().unwrap_or(last);
            let mut chars = last.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::from("no reply"),
            }
        }
    };
    if text.chars().count() > 80 {
        text.chars().take(80).collect::<String>() + "…"
    } else {
        text
    }
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
                last_failure: None,
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

    /// While the relay is down: why, and when the run will give up.
    pub fn outage(&self) -> Option<OutageView> {
        let s = self.lock();
        let since = s.outage_since?;
        let left = self.max_outage.saturating_sub(since.elapsed());
        Some(OutageView {
            reason: s
                .last_failure
                .clone()
                .unwrap_or_else(|| "no reply".to_string()),
            gives_up_at: SystemTime::now() + left,
        })
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

    /// A temporary failure (`reason` in a few words, see [`short_reason`]). Returns true when
    /// the relay is (now) considered down; stops the run once the outage has lasted longer
    /// than allowed.
    pub fn failure(&self, shutdown: &Shutdown, reason: &str) -> bool {
        let mut s = self.lock();
        s.last_failure = Some(reason.to_string());
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        if s.outage_since.is_none() && s.consecutive_failures >= self.threshold {
            s.outage_since = Some(Instant::now());
        }
        let Some(since) = s.outage_since else {
            return false;
        };
        s.prober_active = false;
        if since.elapsed() > self.max_outage {
            shutdown.trigger(StopReason::RelayOutage {
                secs: since.elapsed().as_secs(),
            });
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
        assert!(!h.failure(&stop, "connection refused"));
        assert!(!h.failure(&stop, "connection refused"));
        assert!(h.failure(&stop, "connection refused"));
        assert!(h.in_outage());
        h.success();
        assert!(!h.in_outage());
        assert_eq!(h.wait_turn(&stop).await, Some(false));
    }

    #[test]
    fn an_outage_says_why_and_when_the_run_gives_up() {
        let h = RelayHealth::new(1, Duration::from_secs(600));
        let stop = Shutdown::default();
        assert_eq!(h.outage(), None);
        h.failure(&stop, "connection refused");
        let view = h.outage().unwrap();
        assert_eq!(view.reason, "connection refused");
        let left = view
            .gives_up_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));
        assert!(
            view.line()
                .starts_with("relay down (connection refused), probing; giving up at ")
        );
        h.success();
        assert_eq!(h.outage(), None);
    }

    #[test]
    fn reasons_are_short() {
        assert_eq!(
            short_reason(
                None,
                "connect to 127.0.0.1:2525: Connection refused (os error 111)"
            ),
            "connection refused"
        );
        assert_eq!(
            short_reason(Some(421), "4.3.2 Service not available"),
            "421 4.3.2 Service not available"
        );
        assert_eq!(
            short_reason(None, "connect to relay:25: timed out"),
            "timed out"
        );
        assert!(short_reason(Some(451), &"x".repeat(500)).chars().count() <= 81);
    }

    #[tokio::test]
    async fn a_success_in_between_resets_the_count() {
        let h = RelayHealth::new(3, Duration::from_secs(3600));
        let stop = Shutdown::default();
        h.failure(&stop, "connection refused");
        h.failure(&stop, "connection refused");
        h.success();
        assert!(!h.failure(&stop, "connection refused"));
    }

    #[tokio::test]
    async fn a_long_outage_stops_the_run() {
        let h = RelayHealth::new(1, Duration::ZERO);
        let stop = Shutdown::default();
        h.failure(&stop, "connection refused");
        std::thread::sleep(Duration::from_millis(2));
        h.failure(&stop, "connection refused");
        assert!(stop.is_triggered());
        let reason = stop.reason().unwrap();
        assert!(reason.to_string().contains("relay outage"));
        assert!(matches!(reason, StopReason::RelayOutage { .. }));
        assert_eq!(h.wait_turn(&stop).await, None);
    }
}
