//! What the lead cursor (lane 0) tells the others. Only the lead validates the whole list
//! with its duplicates (found once, before the run) and journals refusals; a follower reads
//! the list without the duplicate findings, so before it sends a row it waits until the lead
//! has passed that row and checks that the lead did not refuse it.
//!
//! Followers are throttled lanes and lag far behind the lead; the wait matters only at the
//! start, or when the lead is slowed (its own queue full, or the CPU). A list without
//! duplicates needs no wait at all: a follower then validates a row exactly as the lead does.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::send::shutdown::Shutdown;

#[derive(Default)]
pub(crate) struct Lead {
    /// The last row the lead has finished with.
    passed: AtomicU64,
    /// The lead has read the whole list, or stopped.
    done: AtomicBool,
    /// The lead stopped before the end of the list.
    stopped_early: AtomicBool,
    /// Rows the lead refused (invalid, duplicate): one bit per row.
    refused: Mutex<Vec<u64>>,
    /// Valid rows that need a message, per destination group, as far as the lead has read.
    to_send: Vec<AtomicU64>,
}

/// What a follower may do with a row, once the lead has seen it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    Refused,
    /// The lead stopped before this row: so does the follower.
    Stop,
}

impl Lead {
    pub(crate) fn new(groups: usize) -> Lead {
        Lead {
            to_send: (0..groups).map(|_| AtomicU64::new(0)).collect(),
            ..Lead::default()
        }
    }

    /// A valid row of `group` that needs a message.
    pub(crate) fn to_send(&self, group: usize) {
        if let Some(n) = self.to_send.get(group) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows of `group` that need a message, as far as the lead has read, and whether it has
    /// read the whole list (then the count is the group's total).
    pub(crate) fn group_total(&self, group: usize) -> (u64, bool) {
        let n = self
            .to_send
            .get(group)
            .map_or(0, |n| n.load(Ordering::Relaxed));
        let complete =
            self.done.load(Ordering::Acquire) && !self.stopped_early.load(Ordering::Acquire);
        (n, complete)
    }
    pub(crate) fn passed(&self, row: u64) {
        self.passed.store(row, Ordering::Release);
    }

    pub(crate) fn refused(&self, row: u64) {
        let mut bits = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let w = (row / 64) as usize;
        if bits.len() <= w {
            bits.resize(w + 1, 0);
        }
        bits[w] |= 1 << (row % 64);
    }

    /// The lead is done with the list (`early`: it stopped before the end).
    pub(crate) fn finish(&self, early: bool) {
        self.stopped_early.fetch_or(early, Ordering::AcqRel);
        self.done.store(true, Ordering::Release);
    }

    /// Waits until the lead has passed `row`, then says what to do with it.
    pub(crate) fn verdict(&self, row: u64, shutdown: &Shutdown) -> Verdict {
        loop {
            if self.passed.load(Ordering::Acquire) >= row {
                break;
            }
            if self.done.load(Ordering::Acquire) {
                if self.passed.load(Ordering::Acquire) >= row
                    || !self.stopped_early.load(Ordering::Acquire)
                {
                    break;
                }
                return Verdict::Stop;
            }
            if shutdown.is_triggered() {
                return Verdict::Stop;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let bits = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let refused = bits
            .get((row / 64) as usize)
            .is_some_and(|w| w & (1 << (row % 64)) != 0);
        if refused {
            Verdict::Refused
        } else {
            Verdict::Send
        }
    }
}

/// Marks the lead done however its cursor ends (an error included), so no follower waits
/// for it forever.
pub(crate) struct LeadGuard<'a>(pub(crate) &'a Lead);

impl Drop for LeadGuard<'_> {
    fn drop(&mut self) {
        if !self.0.done.load(Ordering::Acquire) {
            self.0.finish(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_sends_what_the_lead_passed_and_did_not_refuse() {
        let lead = Lead::default();
        let stop = Shutdown::default();
        lead.refused(3);
        lead.passed(5);
        assert_eq!(lead.verdict(2, &stop), Verdict::Send);
        assert_eq!(lead.verdict(3, &stop), Verdict::Refused);
        lead.finish(true);
        assert_eq!(lead.verdict(9, &stop), Verdict::Stop, "never validated");
        let lead = Lead::default();
        lead.finish(false);
        assert_eq!(
            lead.verdict(9, &stop),
            Verdict::Send,
            "the lead read past it"
        );
    }
}
