//! One relay's adaptive rate (AIMD, as TCP and Haraka's adaptive-rate plugin do it): a
//! throttling reply cuts the rate by a quarter, and every run of [`STEP_AFTER`] accepted
//! messages gives back [`STEP`] message per second, never above the relay's ceiling.
//!
//! A cut applies once per "window": replies to messages handed out *before* the last cut say
//! nothing about the new rate, so they do not cut again (workers in flight together would
//! otherwise halve the rate five times for one burst). Each lease carries the epoch of the rate
//! it was paced at.
//!
//! The pacing is a slot schedule of our own rather than governor's: governor's quota is fixed
//! at construction, and this rate changes with every reply.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The share of the rate kept on a throttling reply.
pub const CUT: f64 = 0.75;
/// Accepted messages in a row before the rate steps up.
pub const STEP_AFTER: u32 = 10;
/// Messages per second given back per step.
pub const STEP: f64 = 1.0;
/// The rate never falls below this (one message every two seconds).
pub const FLOOR: f64 = 0.5;

pub struct AdaptiveRate {
    ceiling: f64,
    state: Mutex<State>,
}

struct State {
    rate: f64,
    epoch: u64,
    next_slot: Option<Instant>,
    successes: u32,
    cuts: u64,
}

impl AdaptiveRate {
    /// `ceiling`: the relay's configured rate, or the run's; `None` (or 0) means no pacing
    /// until the first throttling reply, which then starts from `start_after_cut`.
    pub fn new(ceiling: Option<f64>) -> AdaptiveRate {
        let ceiling = ceiling
            .filter(|r| *r > 0.0 && r.is_finite())
            .unwrap_or(f64::INFINITY);
        AdaptiveRate {
            ceiling,
            state: Mutex::new(State {
                rate: ceiling,
                epoch: 0,
                next_slot: None,
                successes: 0,
                cuts: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages per second now (infinite: not paced).
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// How many times the rate was cut.
    pub fn cuts(&self) -> u64 {
        self.lock().cuts
    }

    /// Reserves the next slot: returns when the message may go (`now` or later) and the epoch
    /// it was paced at.
    pub fn reserve(&self, now: Instant) -> (Instant, u64) {
        let mut s = self.lock();
        if !s.rate.is_finite() {
            return (now, s.epoch);
        }
        let slot = s.next_slot.map_or(now, |n| n.max(now));
        s.next_slot = Some(slot + Duration::from_secs_f64(1.0 / s.rate));
        (slot, s.epoch)
    }

    /// Waits for the next slot; returns its epoch.
    pub async fn acquire(&self) -> u64 {
        let (slot, epoch) = self.reserve(Instant::now());
        tokio::time::sleep_until(slot.into()).await;
        epoch
    }

    /// A throttling reply to a message paced at `epoch`, `observed` messages per second being
    /// what the relay actually took lately (used when no ceiling is known). Returns true when
    /// the rate was cut.
    pub fn slow(&self, epoch: u64, observed: f64) -> bool {
        let mut s = self.lock();
        if epoch < s.epoch {
            return false;
        }
        let from = if s.rate.is_finite() {
            s.rate
        } else {
            observed.max(FLOOR)
        };
        s.rate = (from * CUT).max(FLOOR);
        s.epoch += 1;
        s.successes = 0;
        s.cuts += 1;
        true
    }

    /// An accepted message.
    pub fn success(&self) {
        let mut s = self.lock();
        if !s.rate.is_finite() {
            return;
        }
        s.successes += 1;
        if s.successes >= STEP_AFTER {
            s.successes = 0;
            s.rate = (s.rate + STEP).min(self.ceiling);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_cuts_once_per_window_and_successes_step_back_up_to_the_ceiling() {
        let r = AdaptiveRate::new(Some(100.0));
        let (_, e0) = r.reserve(Instant::now());
        let (_, e0b) = r.reserve(Instant::now());
        assert!(r.slow(e0, 0.0));
        assert_eq!(r.rate(), 75.0);
        // A second reply from the same window says nothing new.
        assert!(!r.slow(e0b, 0.0));
        assert_eq!(r.rate(), 75.0);
        let (_, e1) = r.reserve(Instant::now());
        assert!(r.slow(e1, 0.0));
        assert_eq!(r.rate(), 56.25);
        for _ in 0..STEP_AFTER * 10 {
            r.success();
        }
        assert_eq!(r.rate(), 66.25);
        for _ in 0..STEP_AFTER * 1000 {
            r.success();
        }
        assert_eq!(r.rate(), 100.0, "never above the ceiling");
        assert_eq!(r.cuts(), 2);
    }

    #[test]
    fn slots_are_spaced_by_the_rate() {
        let r = AdaptiveRate::new(Some(50.0));
        let t = Instant::now();
        let slots: Vec<Instant> = (0..5).map(|_| r.reserve(t).0).collect();
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(20));
        }
        assert_eq!(slots[0], t);
    }

    #[test]
    fn an_unpaced_relay_starts_from_what_it_took_and_never_falls_below_the_floor() {
        let r = AdaptiveRate::new(None);
        assert!(!r.rate().is_finite());
        let t = Instant::now();
        assert_eq!(r.reserve(t).0, t);
        let (_, e) = r.reserve(t);
        r.slow(e, 40.0);
        assert_eq!(r.rate(), 30.0);
        for _ in 0..100 {
            let (_, e) = r.reserve(t);
            r.slow(e, 0.0);
        }
        assert_eq!(r.rate(), FLOOR);
    }
}
