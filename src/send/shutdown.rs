//! A stop signal every task of a run holds: set once (first Ctrl-C or SIGTERM, a relay outage
//! past its limit, a journal that can no longer be written), observed by the producer (which
//! stops taking rows) and by the workers (which finish the message in hand, then stop).
//!
//! Why it stopped is a [`StopReason`], so that what follows (the exit code, whether another
//! run has work left) is decided on the reason's kind, never on its words.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

type Hook = Box<dyn Fn() + Send + Sync>;

/// Why a run stopped before the end of its work. `Display` gives the words the summary
/// (`stopped: …`) and the journal's stop marker show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The first Ctrl-C or SIGTERM.
    Interrupted,
    /// `--limit` messages were sent: the run did what it was asked.
    LimitReached,
    /// The relay stayed down longer than `send.outage_max_secs`.
    RelayOutage {
        /// How long no message had been accepted, in seconds.
        secs: u64,
    },
    /// The relay refused the session itself (a 5xx before any recipient was named).
    RelayRefused {
        code: Option<u16>,
        /// The relay's reply, redacted.
        reply: String,
    },
    /// `send.daily_limit` notices went out today; the run may go on when the day turns.
    DailyLimit {
        limit: u64,
        /// When, as the operator reads it (`Thu 00:00 JST, in 3h 10m`).
        resumes: String,
    },
    /// A relay of the pool answered with a policy block (`554 5.7.1`, "blocked", "spam"):
    /// continuing would burn the list against it.
    RelayPolicy {
        relay: String,
        /// The relay's reply, redacted and short.
        reply: String,
    },
    /// Every relay of the pool rests (its quota is spent) until then (RFC 3339 UTC).
    RelaysPaused { until: String },
    /// An error stopped a worker (most often: the journal could no longer be written).
    Error(String),
    /// The work is done: the stop a run gives its progress line, and the journal's stop
    /// marker of a run that was not stopped early.
    Finished,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Interrupted => f.write_str("interrupted by signal"),
            StopReason::LimitReached => f.write_str("--limit reached"),
            StopReason::RelayOutage { secs } => write!(
                f,
                "relay outage: no message accepted for {secs} s (send.outage_max_secs)"
            ),
            StopReason::RelayRefused { code, reply } => {
                f.write_str("relay refused the session: ")?;
                if let Some(code) = code {
                    write!(f, "{code} ")?;
                }
                f.write_str(reply)
            }
            StopReason::DailyLimit { limit, resumes } => write!(
                f,
                "daily limit of {limit} notices reached (send.daily_limit); sending may go on from {resumes}"
            ),
            StopReason::RelayPolicy { relay, reply } => write!(
                f,
                "relay {relay} answered with a policy block ({reply}): stopped before more of \
                 the list meets it; resume with `tsuchi send` once it is lifted"
            ),
            StopReason::RelaysPaused { until } => write!(
                f,
                "every relay rests (quota spent): resume with `tsuchi send` after {}",
                crate::util::time::shown_time(until)
            ),
            StopReason::Error(text) => f.write_str(text),
            StopReason::Finished => f.write_str("finished"),
        }
    }
}

#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
    reason: Arc<Mutex<Option<StopReason>>>,
    exit_hooks: Arc<Mutex<Vec<Hook>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: Arc::new(tx),
            rx,
            reason: Arc::new(Mutex::new(None)),
            exit_hooks: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl Shutdown {
    /// Asks every task to stop; the first reason given is kept.
    pub fn trigger(&self, reason: StopReason) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        let _ = self.tx.send(true);
    }

    /// Records why the run ends without asking anything to stop now: what is already handed
    /// to a worker is still sent (the day's cap counts it), then the run ends with this
    /// reason. The first reason given is kept, as by [`trigger`](Self::trigger).
    pub fn note(&self, reason: StopReason) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
    }

    /// Registers what must happen even on an immediate exit (flushing the journal).
    pub fn on_immediate_exit(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.exit_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
    }

    /// Runs the immediate-exit hooks; the caller exits right after.
    pub fn run_exit_hooks(&self) {
        for hook in self
            .exit_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            hook();
        }
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves once a stop has been asked for.
    pub async fn triggered(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `d` unless a stop comes first; returns false when interrupted.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.triggered() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of each reason are what the summary and the journal's stop marker show.
    #[test]
    fn stop_reasons_read_as_before() {
        let cases = [
            (StopReason::Interrupted, "interrupted by signal"),
            (StopReason::LimitReached, "--limit reached"),
            (
                StopReason::RelayOutage { secs: 600 },
                "relay outage: no message accepted for 600 s (send.outage_max_secs)",
            ),
            (
                StopReason::RelayRefused {
                    code: Some(535),
                    reply: "5.7.8 authentication failed".into(),
                },
                "relay refused the session: 535 5.7.8 authentication failed",
            ),
            (
                StopReason::RelayRefused {
                    code: None,
                    reply: "no greeting".into(),
                },
                "relay refused the session: no greeting",
            ),
            (
                StopReason::Error("journal: disk full".into()),
                "journal: disk full",
            ),
            (StopReason::Finished, "finished"),
            (
                StopReason::RelayPolicy {
                    relay: "primary".into(),
                    reply: "554 5.7.1 blocked".into(),
                },
                "relay primary answered with a policy block (554 5.7.1 blocked): stopped before \
                 more of the list meets it; resume with `tsuchi send` once it is lifted",
            ),
            (
                StopReason::RelaysPaused {
                    until: "2026-12-02T03:00:00Z".into(),
                },
                "every relay rests (quota spent): resume with `tsuchi send` after \
                 2026-12-02 12:00:00 +09:00",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn the_first_reason_is_kept() {
        let stop = Shutdown::default();
        assert_eq!(stop.reason(), None);
        stop.trigger(StopReason::LimitReached);
        stop.trigger(StopReason::Interrupted);
        assert!(stop.is_triggered());
        assert_eq!(stop.reason(), Some(StopReason::LimitReached));
    }
}
