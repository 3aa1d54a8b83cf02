//! The dispatcher: one task that owns the lanes' queues and hands each free worker the next
//! message of whichever lane may send now.
//!
//! A free worker asks ([`WorkSource::next`]); the dispatcher waits for the global permit,
//! then looks at the lanes round-robin from the one after the lane it served last and gives
//! the head of the first lane that is open (its windows), within the daily cap and has its
//! group's permit. A lane at its limit is passed over, so it holds back only its own rows;
//! when no lane may send, the dispatcher sleeps until the earliest permit or window, or until
//! a cursor queues a message, or a stop. The permit is taken when the message is handed out,
//! so a group's messages leave at its rate, not when a queue happened to fill. A message the
//! transport holds back (the error-ratio breaker) is handed out at once, without permits: the
//! worker leaves its row to be sent, and a held carrier's rows do not wait at its rate for it.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, oneshot};

/// The longest the dispatcher waits before it looks at its queues again.
const IDLE_LOOK: Duration = Duration::from_millis(200);

use crate::send::producer::Job;
use crate::send::shutdown::{Shutdown, StopReason};
use crate::send::throttle::Throttle;

use super::daily::DailyCap;
use super::lanes::Lanes;
use super::window::{describe_wait, next_open_all};

/// Whether the transport holds back messages to an address (the error-ratio breaker).
pub(crate) type Held = Box<dyn Fn(&str) -> bool + Send>;

/// What a worker takes its next message from.
#[derive(Clone)]
pub(crate) struct WorkSource {
    requests: mpsc::Sender<oneshot::Sender<Job>>,
}

impl WorkSource {
    /// The next message to send, its permits taken; `None` when there is no more work.
    pub(crate) async fn next(&self) -> Option<Job> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(tx).await.ok()?;
        rx.await.ok()
    }
}

pub(crate) struct Dispatcher {
    lanes: Arc<Lanes>,
    queues: Vec<Queue>,
    throttle: Throttle,
    daily: Option<DailyCap>,
    shutdown: Shutdown,
    /// Cursors ring it when they queue a message.
    arrived: Arc<Notify>,
    requests: mpsc::Receiver<oneshot::Sender<Job>>,
    /// The lane after the one served last: where the next look starts.
    next: usize,
    /// The opening last announced, so a wait is said once.
    announced: Option<Timestamp>,
    held: Held,
}

struct Queue {
    rx: mpsc::Receiver<Job>,
    head: Option<Job>,
    closed: bool,
}

/// The senders of the lanes' queues, one per lane, for the cursors.
pub(crate) struct LaneSenders {
    pub(crate) senders: Vec<mpsc::Sender<Job>>,
    pub(crate) arrived: Arc<Notify>,
}

impl Dispatcher {
    /// A dispatcher with a queue of `depth` messages per lane; the senders go to the
    /// cursors, the source to the workers.
    pub(crate) fn new(
        lanes: Arc<Lanes>,
        depth: usize,
        throttle: Throttle,
        daily: Option<(std::path::PathBuf, u64)>,
        shutdown: Shutdown,
        held: Held,
    ) -> anyhow::Result<(Dispatcher, LaneSenders, WorkSource)> {
        let mut queues = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..lanes.count() {
            let (tx, rx) = mpsc::channel(depth.max(1));
            senders.push(tx);
            queues.push(Queue {
                rx,
                head: None,
                closed: false,
            });
        }
        let daily = daily
            .map(|(journal, limit)| {
                DailyCap::from_journal(&journal, limit, lanes.tz.clone(), Timestamp::now())
            })
            .transpose()?;
        let (req_tx, req_rx) = mpsc::channel(1);
        let arrived = Arc::new(Notify::new());
        Ok((
            Dispatcher {
                lanes,
                queues,
                throttle,
                daily,
                shutdown,
                arrived: arrived.clone(),
                requests: req_rx,
                next: 0,
                announced: None,
                held,
            },
            LaneSenders { senders, arrived },
            WorkSource { requests: req_tx },
        ))
    }

    /// Serves the workers until every queue is empty and closed, or the run stops.
    pub(crate) async fn run(mut self) {
        loop {
            let reply = tokio::select! {
                r = self.requests.recv() => r,
                _ = self.shutdown.triggered() => None,
            };
            let Some(reply) = reply else { return };
            if let Some(job) = self.take_held() {
                let _ = reply.send(job);
                continue;
            }
            // The global permit first: the group permit is taken only when a message can
            // leave at once.
            tokio::select! {
                _ = self.throttle.acquire_global() => {}
                _ = self.shutdown.triggered() => return,
            }
            let Some(job) = self.pick().await else { return };
            // A worker that stopped meanwhile drops the message: its row stays as the journal
            // has it.
            let _ = reply.send(job);
        }
    }

    /// The next message that may go, waiting as long as none may.
    async fn pick(&mut self) -> Option<Job> {
        loop {
            if let Some(job) = self.take_held() {
                return Some(job);
            }
            if self.queues.iter().all(|q| q.closed && q.head.is_none()) {
                return None;
            }
            let now = Timestamp::now();
            let mut wait: Option<Duration> = None;
            let mut window_wait: Option<Timestamp> = None;
            let mut rate_limited = false;
            let n = self.queues.len();
            for k in 0..n {
                let lane = (self.next + k) % n;
                if self.queues[lane].head.is_none() {
                    continue;
                }
                let windows: Vec<_> = self.lanes.windows(lane).iter().collect();
                if !windows.is_empty() {
                    // Looked for a week ahead; windows that never overlap are looked at again
                    // in a day.
                    let open = next_open_all(&windows, now)
                        .unwrap_or_else(|| now + jiff::SignedDuration::from_hours(24));
                    if open > now {
                        window_wait = Some(window_wait.map_or(open, |w| w.min(open)));
                        let d = Duration::try_from(open.duration_since(now)).unwrap_or_default();
                        wait = Some(wait.map_or(d, |w| w.min(d)));
                        continue;
                    }
                }
                if self.daily.as_mut().is_some_and(|cap| !cap.has_room(now)) {
                    self.stop_for_the_day(now);
                    return None;
                }
                match self.throttle.try_group(self.lanes.group(lane)) {
                    Ok(()) => {
                        if let Some(cap) = self.daily.as_mut() {
                            cap.take();
                        }
                        self.next = lane + 1;
                        self.announced = None;
                        return self.queues[lane].head.take();
                    }
                    Err(d) => {
                        rate_limited = true;
                        wait = Some(wait.map_or(d, |w| w.min(d)));
                    }
                }
            }
            if let Some(open) = window_wait
                && !rate_limited
                && self.announced != Some(open)
            {
                self.announced = Some(open);
                crate::send::progress::say(&format!(
                    "waiting for the send window: {}",
                    describe_wait(open, now, &self.lanes.tz)
                ));
            }
            // The cursors wake the dispatcher when a message arrives or a queue closes; it
            // also looks again every IDLE_LOOK at the latest, so that no wake-up it misses can
            // hold a run up (a run once sat waiting after its last message, under load).
            let wait = wait.unwrap_or(IDLE_LOOK).min(IDLE_LOOK);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.arrived.notified() => {}
                _ = self.shutdown.triggered() => return None,
            }
        }
    }

    /// The head of a lane whose message the transport holds back, if any.
    fn take_held(&mut self) -> Option<Job> {
        self.refill();
        let held = &self.held;
        self.queues
            .iter_mut()
            .find(|q| q.head.as_ref().is_some_and(|j| held(&j.email)))
            .and_then(|q| q.head.take())
    }

    fn refill(&mut self) {
        for q in &mut self.queues {
            if q.head.is_none() && !q.closed {
                match q.rx.try_recv() {
                    Ok(job) => q.head = Some(job),
                    Err(mpsc::error::TryRecvError::Empty) => {}
                    Err(mpsc::error::TryRecvError::Disconnected) => q.closed = true,
                }
            }
        }
    }

    fn stop_for_the_day(&self, now: Timestamp) {
        let Some(cap) = &self.daily else { return };
        let resumes = cap
            .renews_at()
            .map(|at| describe_wait(at, now, &self.lanes.tz))
            .unwrap_or_else(|| "tomorrow".into());
        // The messages already handed out are within the cap: they are sent; then the workers
        // find no more work and the run ends for the day.
        self.shutdown.note(StopReason::DailyLimit {
            limit: cap.limit,
            resumes,
        });
    }
}
