//! The pool as a [`Transport`]: each worker's session holds one SMTP session per relay and,
//! for every message, asks the pool for a relay, waits for that relay's pace, sends, and acts
//! on what the reply means ([`super::rules`]):
//!
//! - accepted: the relay is up, its rate steps back up;
//! - `slow`: the relay's rate is cut and the message goes again (to whichever relay the pool
//!   picks) within the same attempt: it was refused before DATA was accepted, so nothing was
//!   delivered and the attempt is not held against the recipient;
//! - `pause`: the relay rests; the message goes to another; with none left the run stops as
//!   resumable and says when to resume;
//! - the relay failed (no reply, 421, a refusal of the session): it is taken out and the
//!   message goes to another relay; with none left the failure goes to the worker, whose
//!   outage pause applies;
//! - `defer` / `fail`: the recipient's, as today; `fail` for an unknown user counts towards
//!   the error-ratio breaker;
//! - `stop`: the run stops at once as resumable, with the reply shown.
//!
//! A failure after which the message may have been delivered (no reply to the final dot) is
//! never sent elsewhere here: it goes back to the worker, whose unknown-outcome rule decides.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{DestinationGroups, ReplyAction};
use crate::mail::message::OutgoingMessage;
use crate::send::outage::short_reason;
use crate::send::shutdown::{Shutdown, StopReason};
use crate::send::smtp::SmtpRelay;
use crate::send::transport::{Delivery, FailureKind, SendFailure, Session, Transport};
use crate::util::redact::redact_reply;

use super::breaker::{Breaker, destination_key};
use super::pool::{Lease, RelayPool, RelayView};
use super::rules::{Meaning, ReplyRules};

/// Throttling replies one message may meet within one attempt before it is left to the
/// worker's retry.
const MAX_SLOW_RETRIES: u32 = 50;

/// What all sessions of a run share.
pub struct Shared {
    pub pool: RelayPool,
    pub rules: ReplyRules,
    pub breaker: Breaker,
    /// What the breaker counts by (`destination_key`).
    pub groups: DestinationGroups,
    pub shutdown: Shutdown,
    started: Instant,
}

/// The relays of `[[send.relays]]` behind one [`Transport`].
pub struct PoolTransport {
    relays: Vec<SmtpRelay>,
    shared: Arc<Shared>,
}

impl PoolTransport {
    /// `relays`: (name, weight, rate ceiling, relay), in the configured order.
    pub fn new(
        relays: Vec<(String, u32, Option<f64>, SmtpRelay)>,
        rules: ReplyRules,
        breaker: Breaker,
        groups: DestinationGroups,
        shutdown: Shutdown,
    ) -> PoolTransport {
        let mut smtp = Vec::new();
        let mut entries = Vec::new();
        for (name, weight, ceiling, relay) in relays {
            entries.push((name, weight, ceiling));
            smtp.push(relay);
        }
        PoolTransport {
            relays: smtp,
            shared: Arc::new(Shared {
                pool: RelayPool::new(entries),
                rules,
                breaker,
                groups,
                shutdown,
                started: Instant::now(),
            }),
        }
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl Shared {
    pub fn views(&self) -> Vec<RelayView> {
        self.pool.views()
    }

    /// What the relay took per second since the run began (the start of a rate cut when the
    /// relay has no configured rate).
    fn observed_rate(&self, index: usize) -> f64 {
        let accepted = self.pool.relays[index]
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed);
        accepted as f64 / self.started.elapsed().as_secs_f64().max(1.0)
    }
}

impl Transport for PoolTransport {
    type Session = PoolSession;
    fn session(&self) -> PoolSession {
        PoolSession {
            sessions: self.relays.iter().map(|r| r.session()).collect(),
            shared: self.shared.clone(),
            last: None,
            recipient_only: false,
        }
    }
}

/// One worker's sessions, one per relay, each connecting on its first message.
pub struct PoolSession {
    sessions: Vec<<SmtpRelay as Transport>::Session>,
    shared: Arc<Shared>,
    last: Option<usize>,
    /// The last failure was deferred by a rule naming it the recipient's own problem.
    recipient_only: bool,
}

/// A message held back without being offered to any relay: the row stays to be sent.
fn held(text: String) -> SendFailure {
    SendFailure {
        kind: FailureKind::Held,
        maybe_delivered: false,
        code: None,
        enhanced: None,
        text,
    }
}

impl Session for PoolSession {
    async fn send(
        &mut self,
        message: &OutgoingMessage,
        name: &str,
    ) -> Result<Delivery, SendFailure> {
        let shared = self.shared.clone();
        let destination = message
            .envelope
            .to()
            .first()
            .map(|a| destination_key(&shared.groups, a.domain()))
            .unwrap_or_default();
        if let Some(trip) = shared.breaker.held(&destination) {
            return Err(held(format!("held by the error-ratio breaker: {trip}")));
        }
        self.last = None;
        self.recipient_only = false;
        let mut slow_retries = 0u32;
        let mut failovers = 0usize;
        loop {
            if shared.shutdown.is_triggered() && self.last.is_some() {
                return Err(held("the run is stopping".into()));
            }
            let index = match shared.pool.lease() {
                Lease::Relay { index, .. } => index,
                Lease::AllPaused { until } => {
                    let until = crate::util::time::format_rfc3339(until.into());
                    shared.shutdown.trigger(StopReason::RelaysPaused {
                        until: until.clone(),
                    });
                    return Err(held(format!("every relay rests until {until}")));
                }
            };
            let epoch = shared.pool.relays[index].rate.acquire().await;
            self.last = Some(index);
            let relay_name = shared.pool.relays[index].name.clone();
            let result = self.sessions[index].send(message, name).await;
            let f = match result {
                Ok(d) => {
                    shared.pool.answered(index, true);
                    if let Err(e) = shared.breaker.record(&destination, false) {
                        shared.shutdown.trigger(StopReason::Error(format!("{e:#}")));
                    }
                    return Ok(d);
                }
                Err(f) => f,
            };
            let reason = short_reason(f.code, &redact_reply(&f.text));
            if f.maybe_delivered {
                // The message may be at the relay: only the worker's rule may send it again.
                shared.pool.temporary(index, &reason);
                return Err(f);
            }
            let verdict = shared.rules.classify(index, &f);
            if let Some(rule) = &verdict.rule {
                let action = match verdict.action {
                    Meaning::Act(a, _) => a.as_str(),
                    Meaning::UnknownUser => "fail",
                    Meaning::RelayDown => "down",
                };
                shared.pool.fired(rule, action, index);
            }
            match verdict.action {
                Meaning::Act(ReplyAction::Slow, _) => {
                    // The relay answered: it is up, only too fast for it.
                    shared.pool.answered(index, false);
                    shared.pool.relays[index]
                        .rate
                        .slow(epoch, shared.observed_rate(index));
                    slow_retries += 1;
                    if slow_retries > MAX_SLOW_RETRIES {
                        let mut f = f;
                        f.kind = FailureKind::Temporary;
                        return Err(f);
                    }
                }
                Meaning::Act(ReplyAction::Pause, d) => {
                    shared.pool.pause(
                        index,
                        d.unwrap_or(Duration::from_secs(900)),
                        verdict.rule.as_deref().unwrap_or("pause"),
                    );
                }
                Meaning::Act(ReplyAction::Stop, _) => {
                    shared.shutdown.trigger(StopReason::RelayPolicy {
                        relay: relay_name,
                        reply: reason.clone(),
                    });
                    return Err(held(format!("stopped on a policy block: {reason}")));
                }
                Meaning::Act(ReplyAction::Defer, _) => {
                    // The relay answered for this recipient alone; a long run of these with
                    // nothing accepted still means the relay is unwell.
                    if verdict.rule.is_some() {
                        shared.pool.answered(index, false);
                        self.recipient_only = true;
                    } else {
                        shared.pool.temporary(index, &reason);
                    }
                    let mut f = f;
                    f.kind = FailureKind::Temporary;
                    return Err(f);
                }
                Meaning::Act(ReplyAction::Fail, _) | Meaning::UnknownUser => {
                    shared.pool.answered(index, false);
                    let unknown = verdict.action == Meaning::UnknownUser;
                    if let Err(e) = shared.breaker.record(&destination, unknown) {
                        shared.shutdown.trigger(StopReason::Error(format!("{e:#}")));
                    }
                    let mut f = f;
                    f.kind = FailureKind::Permanent;
                    return Err(f);
                }
                Meaning::RelayDown => {
                    shared.pool.down(index, &reason);
                    failovers += 1;
                    // Every relay tried twice: the worker's outage pause takes over.
                    if failovers > 2 * self.sessions.len() {
                        return Err(f);
                    }
                }
            }
        }
    }

    async fn close(&mut self) {
        for s in &mut self.sessions {
            s.close().await;
        }
    }

    fn relay(&self) -> Option<&str> {
        self.last.map(|i| self.shared.pool.relays[i].name.as_str())
    }

    fn relay_answered(&self) -> bool {
        self.recipient_only
    }

    fn holds(&self, domain: &str) -> bool {
        self.shared
            .breaker
            .held(&destination_key(&self.shared.groups, domain))
            .is_some()
    }
}
