//! The relay pool: which relay takes the next message. Traffic is split by weight among the
//! healthy relays (smooth weighted round-robin, as nginx does it: exact shares, evenly
//! interleaved, no randomness to make a test flaky). A relay that fails (no reply, a 421, a
//! refusal of the session, or [`DOWN_AFTER`] temporary failures in a row) is taken out and
//! probed with growing delays, one message at a time, while the others take its traffic; the
//! first message it accepts puts it back. A relay told to `pause` rests until its time is up.
//!
//! When every relay is down, each message probes them in turn, and when that fails the
//! failure reaches the worker: the run's outage pause (`send/outage.rs`) applies. When every
//! relay rests the pool says until when ([`Lease::AllPaused`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::aimd::AdaptiveRate;

/// Temporary failures in a row (without a rule naming them the recipient's problem) that take
/// a relay out.
pub const DOWN_AFTER: u32 = 5;
const FIRST_PROBE: Duration = Duration::from_secs(1);
const MAX_PROBE: Duration = Duration::from_secs(60);

/// One relay as the pool sees it.
pub struct PoolRelay {
    pub name: String,
    pub weight: u32,
    pub rate: AdaptiveRate,
    pub accepted: AtomicU64,
}

#[derive(Debug, Clone)]
enum Health {
    Up,
    Down {
        next_probe: Instant,
        delay: Duration,
        probing: bool,
        reason: String,
    },
    Paused {
        until: Instant,
        until_wall: SystemTime,
        reason: String,
    },
}

struct Slot {
    health: Health,
    current: i64,
    failures_in_a_row: u32,
}

/// Which relay takes a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Relay `index`; `probe`: it is down and this message tests it.
    Relay { index: usize, probe: bool },
    /// Every relay rests until then.
    AllPaused { until: SystemTime },
}

/// A rule that fired: which, on which relay, how often, first and last time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fired {
    pub rule: String,
    pub action: String,
    pub relay: String,
    pub count: u64,
    pub first: String,
    pub last: String,
}

/// What `status` shows of a relay.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RelayView {
    pub name: String,
    pub weight: u32,
    /// `up`, `down (…)` or `paused until … (…)`.
    pub state: String,
    /// Messages per second now; `None`: not paced.
    pub rate: Option<f64>,
    pub accepted: u64,
    pub rate_cuts: u64,
}

pub struct RelayPool {
    pub relays: Vec<PoolRelay>,
    slots: Mutex<Vec<Slot>>,
    fired: Mutex<BTreeMap<(String, String), Fired>>,
}

impl RelayPool {
    /// `(name, weight, ceiling)` per relay.
    pub fn new(relays: Vec<(String, u32, Option<f64>)>) -> RelayPool {
        let slots = relays
            .iter()
            .map(|_| Slot {
                health: Health::Up,
                current: 0,
                failures_in_a_row: 0,
            })
            .collect();
        RelayPool {
            relays: relays
                .into_iter()
                .map(|(name, weight, ceiling)| PoolRelay {
                    name,
                    weight: weight.max(1),
                    rate: AdaptiveRate::new(ceiling),
                    accepted: AtomicU64::new(0),
                })
                .collect(),
            slots: Mutex::new(slots),
            fired: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks the relay for the next message.
    pub fn lease(&self) -> Lease {
        self.lease_at(Instant::now())
    }

    fn lease_at(&self, now: Instant) -> Lease {
        let mut slots = self.lock();
        for s in slots.iter_mut() {
            if let Health::Paused { until, .. } = s.health
                && until <= now
            {
                s.health = Health::Up;
                s.failures_in_a_row = 0;
            }
        }
        // A relay that is down and due for a probe gets this message.
        for (index, s) in slots.iter_mut().enumerate() {
            if let Health::Down {
                next_probe,
                probing,
                ..
            } = &mut s.health
                && !*probing
                && *next_probe <= now
            {
                *probing = true;
                return Lease::Relay { index, probe: true };
            }
        }
        let total: i64 = slots
            .iter()
            .zip(&self.relays)
            .filter(|(s, _)| matches!(s.health, Health::Up))
            .map(|(_, r)| i64::from(r.weight))
            .sum();
        if total > 0 {
            for (s, r) in slots.iter_mut().zip(&self.relays) {
                if matches!(s.health, Health::Up) {
                    s.current += i64::from(r.weight);
                }
            }
            // The highest current weight wins (the first relay on a tie).
            let index = (0..slots.len())
                .filter(|&i| matches!(slots[i].health, Health::Up))
                .max_by_key(|&i| (slots[i].current, std::cmp::Reverse(i)))
                .unwrap_or(0);
            slots[index].current -= total;
            return Lease::Relay {
                index,
                probe: false,
            };
        }
        // None up: the earliest-probed relay that is down, whatever its delay (the run's
        // outage pause spaces these probes).
        let down = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.health {
                Health::Down { next_probe, .. } => Some((next_probe, i)),
                _ => None,
            })
            .min();
        if let Some((_, index)) = down {
            return Lease::Relay { index, probe: true };
        }
        let until = slots
            .iter()
            .filter_map(|s| match s.health {
                Health::Paused { until_wall, .. } => Some(until_wall),
                _ => None,
            })
            .min()
            .unwrap_or_else(SystemTime::now);
        Lease::AllPaused { until }
    }

    /// The relay accepted a message, or answered for the recipient alone (a 5xx to RCPT).
    pub fn answered(&self, index: usize, accepted: bool) {
        let mut slots = self.lock();
        let s = &mut slots[index];
        s.failures_in_a_row = 0;
        if matches!(s.health, Health::Down { .. }) {
            s.health = Health::Up;
            s.current = 0;
        }
        drop(slots);
        if accepted {
            self.relays[index].accepted.fetch_add(1, Ordering::Relaxed);
            self.relays[index].rate.success();
        }
    }

    /// The relay failed (`reason` in a few words): out, probed again later.
    pub fn down(&self, index: usize, reason: &str) {
        self.down_at(index, reason, Instant::now());
    }

    fn down_at(&self, index: usize, reason: &str, now: Instant) {
        let mut slots = self.lock();
        let s = &mut slots[index];
        let delay = match &s.health {
            Health::Down { delay, .. } => (*delay * 2).min(MAX_PROBE),
            _ => FIRST_PROBE,
        };
        if matches!(s.health, Health::Paused { .. }) {
            return; // resting already; its time decides
        }
        s.health = Health::Down {
            next_probe: now + delay,
            delay,
            probing: false,
            reason: reason.to_string(),
        };
    }

    /// A temporary failure no rule called the recipient's own: a run of them takes the relay
    /// out. Returns true when it did.
    pub fn temporary(&self, index: usize, reason: &str) -> bool {
        let mut slots = self.lock();
        let s = &mut slots[index];
        s.failures_in_a_row += 1;
        // A probe that failed keeps the relay out, its next probe later.
        let out = s.failures_in_a_row >= DOWN_AFTER || matches!(s.health, Health::Down { .. });
        drop(slots);
        if out {
            self.down(index, reason);
        }
        out
    }

    /// The relay rests for `d`.
    pub fn pause(&self, index: usize, d: Duration, reason: &str) {
        let mut slots = self.lock();
        slots[index].health = Health::Paused {
            until: Instant::now() + d,
            until_wall: SystemTime::now() + d,
            reason: reason.to_string(),
        };
    }

    /// Notes that `rule` fired on relay `index`.
    pub fn fired(&self, rule: &str, action: &str, index: usize) {
        let now = crate::util::time::now_rfc3339_seconds();
        let relay = self.relays[index].name.clone();
        let mut fired = self.fired.lock().unwrap_or_else(|e| e.into_inner());
        let f = fired
            .entry((rule.to_string(), relay.clone()))
            .or_insert_with(|| Fired {
                rule: rule.to_string(),
                action: action.to_string(),
                relay,
                count: 0,
                first: now.clone(),
                last: now.clone(),
            });
        f.count += 1;
        f.last = now;
    }

    pub fn fired_rules(&self) -> Vec<Fired> {
        self.fired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn views(&self) -> Vec<RelayView> {
        let slots = self.lock();
        slots
            .iter()
            .zip(&self.relays)
            .map(|(s, r)| RelayView {
                name: r.name.clone(),
                weight: r.weight,
                state: match &s.health {
                    Health::Up => "up".to_string(),
                    Health::Down { reason, .. } => format!("down ({reason})"),
                    Health::Paused {
                        until_wall, reason, ..
                    } => format!(
                        "paused until {} ({reason})",
                        crate::util::time::format_rfc3339((*until_wall).into())
                    ),
                },
                rate: Some(r.rate.rate()).filter(|r| r.is_finite()),
                accepted: r.accepted.load(Ordering::Relaxed),
                rate_cuts: r.rate.cuts(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> RelayPool {
        RelayPool::new(vec![
            ("primary".into(), 3, None),
            ("backup".into(), 1, None),
        ])
    }

    fn index(l: Lease) -> usize {
        match l {
            Lease::Relay { index, .. } => index,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn traffic_follows_the_weights_exactly_and_interleaved() {
        let p = pool();
        let picks: Vec<usize> = (0..8).map(|_| index(p.lease())).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
        assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 2);
        // Never four of the primary in a row: the backup is interleaved.
        assert!(
            !picks.windows(4).any(|w| w.iter().all(|&i| i == 0)),
            "{picks:?}"
        );
    }

    #[test]
    fn a_relay_that_is_down_gets_only_probes_until_it_answers() {
        let p = pool();
        let t = Instant::now();
        p.down_at(0, "connection refused", t);
        // Until its probe is due, everything goes to the backup.
        for _ in 0..10 {
            assert_eq!(
                p.lease_at(t),
                Lease::Relay {
                    index: 1,
                    probe: false
                }
            );
        }
        let later = t + FIRST_PROBE;
        assert_eq!(
            p.lease_at(later),
            Lease::Relay {
                index: 0,
                probe: true
            }
        );
        // One probe at a time.
        assert_eq!(
            p.lease_at(later),
            Lease::Relay {
                index: 1,
                probe: false
            }
        );
        // It fails again: the next probe waits twice as long.
        p.down_at(0, "connection refused", later);
        assert_eq!(
            p.lease_at(later + FIRST_PROBE),
            Lease::Relay {
                index: 1,
                probe: false
            }
        );
        assert_eq!(
            p.lease_at(later + FIRST_PROBE * 2),
            Lease::Relay {
                index: 0,
                probe: true
            }
        );
        p.answered(0, true);
        let picks: Vec<usize> = (0..8).map(|_| index(p.lease_at(later))).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6, "{picks:?}");
        assert!(p.views()[0].state == "up");
    }

    #[test]
    fn a_run_of_temporary_failures_takes_a_relay_out() {
        let p = pool();
        for _ in 0..DOWN_AFTER - 1 {
            assert!(!p.temporary(1, "451 busy"));
        }
        p.answered(1, true);
        for _ in 0..DOWN_AFTER - 1 {
            assert!(!p.temporary(1, "451 busy"));
        }
        assert!(p.temporary(1, "451 busy"));
        assert!(p.views()[1].state.starts_with("down (451 busy"));
        // Its probe fails the same way: still out, probed again later (not left probing).
        let later = Instant::now() + FIRST_PROBE;
        assert_eq!(
            p.lease_at(later),
            Lease::Relay {
                index: 1,
                probe: true
            }
        );
        assert!(p.temporary(1, "451 busy"));
        assert_eq!(
            p.lease_at(later + FIRST_PROBE * 2),
            Lease::Relay {
                index: 1,
                probe: true
            }
        );
    }

    #[test]
    fn all_down_and_all_paused_are_told_apart() {
        let p = pool();
        p.down(0, "connection refused");
        p.down(1, "connection refused");
        // Both down: the one to probe first, as a probe.
        assert!(matches!(p.lease(), Lease::Relay { probe: true, .. }));
        let p = pool();
        p.pause(0, Duration::from_secs(600), "ses-quota");
        p.pause(1, Duration::from_secs(60), "ses-quota");
        match p.lease() {
            Lease::AllPaused { until } => {
                let left = until.duration_since(SystemTime::now()).unwrap_or_default();
                assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
            }
            other => panic!("{other:?}"),
        }
        // A pause that is over puts the relay back.
        let p = pool();
        p.pause(0, Duration::ZERO, "ses-quota");
        assert_eq!(
            p.lease(),
            Lease::Relay {
                index: 0,
                probe: false
            }
        );
    }
}
