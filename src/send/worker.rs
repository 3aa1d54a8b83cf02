//! One worker of a run: takes the next recipient the scheduler may send now (its permits
//! taken), builds the message, journals the attempt durably, sends it, journals the outcome,
//! and retries temporary failures with backoff (waiting for the permits again).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::config::SendSettings;
use crate::journal::{Attempt, JournalWriter, Outcome, State, UNKNOWN_OUTCOME};
use crate::mail::message::{MessageBuilder, OutgoingMessage};
use crate::send::outage::RelayHealth;
use crate::send::schedule::WorkSource;
use crate::send::shutdown::{Shutdown, StopReason};
use crate::send::throttle::Throttle;
use crate::send::transport::{FailureKind, Session, file_name_for};
use crate::util::redact::redact_reply;

use super::producer::Job;
use super::summary::{Counters, Tally};

/// Starts the reply of a deferred outcome journaled because the relay refused the session
/// (5xx before any recipient was named): nothing about the recipient, who is sent to on the
/// next run.
const RELAY_REFUSED: &str = "relay refused the session (not this recipient): ";

pub(super) struct Worker<S: Session> {
    pub(super) session: S,
    pub(super) source: WorkSource,
    pub(super) journal: Arc<JournalWriter>,
    pub(super) builder: Arc<MessageBuilder>,
    pub(super) throttle: Throttle,
    pub(super) health: Arc<RelayHealth>,
    pub(super) counters: Arc<Counters>,
    pub(super) shutdown: Shutdown,
    pub(super) settings: SendSettings,
    pub(super) sent_limit: Option<u64>,
}

impl<S: Session> Worker<S> {
    pub(super) async fn run(mut self) -> Result<()> {
        let result = self.run_inner().await;
        self.session.close().await;
        if let Err(e) = &result {
            self.shutdown.trigger(StopReason::Error(format!("{e:#}")));
        }
        result
    }

    async fn run_inner(&mut self) -> Result<()> {
        loop {
            if self.shutdown.is_triggered() {
                return Ok(());
            }
            let job = tokio::select! {
                job = self.source.next() => job,
                _ = self.shutdown.triggered() => None,
            };
            let Some(job) = job else { return Ok(()) };
            self.deliver(job).await?;
        }
    }

    /// Sends one recipient's message, retrying temporary failures with backoff.
    async fn deliver(&mut self, job: Job) -> Result<()> {
        let message_id = self.builder.message_id(&job.id);
        let mut attempt = job.attempts_before;
        let mut unknown_outcome = false;
        let mut tries = 0u32;
        // The scheduler took the first attempt's permits; a retry waits for its own.
        let mut permitted = true;
        if self
            .session
            .holds(crate::send::schedule::domain_of(&job.email))
        {
            // Held (the error-ratio breaker): not attempted; the row stays to be sent.
            self.counters.deferred.fetch_add(1, Ordering::Relaxed);
            self.counters
                .tally(job.group, Tally::Deferred, self.session.relay());
            return Ok(());
        }
        loop {
            // During a relay outage one worker probes; the others wait here.
            let probing = match self.health.wait_turn(&self.shutdown).await {
                Some(probing) => probing,
                None => return Ok(()), // stopping: the row stays as the journal has it
            };
            if !std::mem::take(&mut permitted) {
                self.throttle.acquire(job.group).await;
            }
            if self.shutdown.is_triggered() && tries == 0 {
                return Ok(());
            }
            let message: OutgoingMessage =
                match self
                    .builder
                    .build(&job.notice, &job.id, &job.email, SystemTime::now())
                {
                    Ok(m) => m,
                    Err(e) => {
                        // `check` finds these first; should one reach here, the row is refused.
                        self.counters.refused.fetch_add(1, Ordering::Relaxed);
                        self.journal.outcome(&Outcome::skipped(
                            job.row,
                            job.id.clone(),
                            attempt,
                            format!("refused: {e}"),
                        ))?;
                        return Ok(());
                    }
                };
            if unknown_outcome {
                // The previous attempt may have been delivered: this one may duplicate it.
                unknown_outcome = false;
                self.counters.possible_duplicate(&job.id);
            }
            attempt += 1;
            tries += 1;
            // Durable before DATA: after a crash this row is known to have been in flight.
            self.journal
                .attempt(&Attempt {
                    row: job.row,
                    id: job.id.clone(),
                    attempt,
                    message_id: message_id.clone(),
                })
                .await?;
            let in_flight = self.counters.by_destination.in_flight();
            let result = self.session.send(&message, &file_name_for(&job.id)).await;
            drop(in_flight);
            let mut outcome = Outcome {
                message_id: Some(message_id.clone()),
                relay: self.session.relay().map(str::to_string),
                ..Outcome::new(job.row, job.id.clone(), State::Sent, attempt)
            };
            match result {
                Ok(delivery) => {
                    self.health.success();
                    outcome.code = Some(delivery.code);
                    outcome.reply = Some(redact_reply(&delivery.reply));
                    self.journal.outcome(&outcome)?;
                    let sent = self.counters.sent.fetch_add(1, Ordering::Relaxed) + 1;
                    self.counters
                        .tally(job.group, Tally::Sent, self.session.relay());
                    if self.sent_limit.is_some_and(|l| sent >= l) {
                        self.shutdown.trigger(StopReason::LimitReached);
                    }
                    return Ok(());
                }
                Err(f) => {
                    outcome.code = f.code;
                    outcome.enhanced = f.enhanced.clone();
                    outcome.reply = Some(redact_reply(&f.text));
                    if f.kind == FailureKind::Relay {
                        // The relay refused the session before any recipient was named (a
                        // mistyped password, a sender it does not accept): the row stays to be
                        // sent, nobody is marked failed, and the run stops as a relay error.
                        outcome.state = State::Deferred;
                        outcome.reply = Some(format!("{RELAY_REFUSED}{}", redact_reply(&f.text)));
                        self.journal.outcome(&outcome)?;
                        self.counters.deferred.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .tally(job.group, Tally::Deferred, self.session.relay());
                        let reason = StopReason::RelayRefused {
                            code: f.code,
                            reply: redact_reply(&f.text),
                        };
                        self.counters
                            .relay_refused
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert_with(|| reason.to_string());
                        self.shutdown.trigger(reason);
                        return Ok(());
                    }
                    if f.kind == FailureKind::Held {
                        // The relay pool held it back (a breaker, a stop, every relay
                        // resting): nobody is marked, nothing is retried in this run.
                        outcome.state = State::Deferred;
                        self.journal.outcome(&outcome)?;
                        self.counters.deferred.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .tally(job.group, Tally::Deferred, self.session.relay());
                        return Ok(());
                    }
                    if f.kind == FailureKind::Permanent {
                        self.health.success(); // the relay answered: it is up
                        outcome.state = State::Failed;
                        self.journal.outcome(&outcome)?;
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .tally(job.group, Tally::Failed, self.session.relay());
                        return Ok(());
                    }
                    outcome.state = State::Deferred;
                    if f.maybe_delivered {
                        outcome.unknown = true;
                        outcome.reply = Some(format!("{UNKNOWN_OUTCOME}{}", redact_reply(&f.text)));
                        unknown_outcome = true;
                    }
                    self.journal.outcome(&outcome)?;
                    let outage = if self.session.relay_answered() {
                        // The recipient's own temporary problem (greylisting, a full
                        // mailbox): the relay is up.
                        self.health.success();
                        false
                    } else {
                        self.health.failure(
                            &self.shutdown,
                            &crate::send::outage::short_reason(f.code, &redact_reply(&f.text)),
                        )
                    };
                    if probing || outage {
                        // Attempts that only probe a relay that is down are not held against
                        // the recipient.
                        tries = tries.saturating_sub(1);
                    }
                    if tries >= self.settings.max_attempts || self.shutdown.is_triggered() {
                        self.counters.deferred.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .tally(job.group, Tally::Deferred, self.session.relay());
                        return Ok(());
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    if !probing && !outage {
                        let delay = backoff(self.settings.retry_base_ms, tries);
                        if !self.shutdown.sleep(delay).await {
                            self.counters.deferred.fetch_add(1, Ordering::Relaxed);
                            self.counters
                                .tally(job.group, Tally::Deferred, self.session.relay());
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// Exponential backoff with full jitter: a random delay up to base × 2^(n-1), capped at five
/// minutes, so workers that failed together do not retry together.
fn backoff(base_ms: u64, failures: u32) -> Duration {
    use rand::RngExt;
    let cap = base_ms
        .saturating_mul(1u64 << failures.saturating_sub(1).min(16))
        .min(300_000);
    let ms = rand::rng().random_range(cap / 2..=cap.max(1));
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_capped() {
        for n in 1..30 {
            let d = backoff(1000, n);
            let cap = (1000u64 << (n - 1).min(16)).min(300_000);
            assert!(
                d.as_millis() as u64 <= cap && d.as_millis() as u64 >= cap / 2,
                "{n}: {d:?}"
            );
        }
    }
}
