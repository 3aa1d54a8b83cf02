//! The sending pipeline: the list streams from disk, one cursor per lane of the scheduler
//! (destination group × send window), through a bounded queue per lane to the dispatcher,
//! which hands each free worker the next message that may go now; each worker builds,
//! journals the attempt durably, sends, and journals the outcome. Resuming is the default:
//! the journal is replayed first and only rows that still need a message are sent.
//!
//! ```text
//! list ─▶ producer × lanes (validate, skip done rows, render) ─▶ queue per lane
//!            ─▶ dispatcher (group and global permits, windows, daily cap) ─▶ worker × N
//!                                                                   │ journal: attempt (fsync)
//!                                                                   │ transport: send
//!                                                                   ▼ journal: outcome
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::{Config, SendSettings};
use crate::ingest::Encoding;
use crate::journal::{self, RunMarker, State};
use crate::mail::message::MessageBuilder;
use crate::render::Renderer;
use crate::send::outage::RelayHealth;
use crate::send::progress::{GroupProgress, Progress};
use crate::send::schedule::{Dispatcher, Lanes, Lead};
use crate::send::shutdown::{Shutdown, StopReason};
use crate::send::throttle::Throttle;
use crate::send::transport::{Session, Transport};

use super::events;
use super::journal_open::{OpenJournal, expected_messages, open_journal};
use super::metrics::{MetricsListener, MetricsServer, RunView};
use super::producer::{Cursor, produce};
use super::summary::{Counters, RunReport, counters_view};
use super::worker::Worker;

/// What a `send` run is asked to do.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub recipients: PathBuf,
    pub encoding: Encoding,
    /// Where the journal and its lock live.
    pub state_dir: PathBuf,
    pub settings: SendSettings,
    /// Stop after this many messages sent in this run.
    pub limit: Option<u64>,
    /// Send again to recipients that failed permanently in earlier runs.
    pub retry_failed: bool,
    /// Continue a journal although the list, templates or notice settings changed.
    pub accept_changes: bool,
    /// Show a progress bar (a terminal) or plain lines (a log).
    pub progress: bool,
    /// Only this shard of the list.
    pub shard: Option<crate::ingest::Shard>,
    /// Serve metrics on this address while the run lasts (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
}

/// Runs the campaign through `transport`. Progress and the summary go to `out`.
pub async fn send<T: Transport>(
    config: &Config,
    opts: &SendOptions,
    transport: T,
    shutdown: Shutdown,
    out: &mut (dyn Write + Send),
) -> Result<RunReport> {
    // Bound first: a port already taken stops the run before its journal is touched.
    let metrics_listener = opts.metrics.map(MetricsListener::bind).transpose()?;
    let renderer = Arc::new(crate::waves::renderer(config)?);
    let builder = Arc::new(MessageBuilder::new(config)?);
    let OpenJournal {
        writer: journal,
        replay,
        path: journal_path,
        list_rows,
        duplicates,
    } = open_journal(config, &renderer, opts)?;
    let journal = Arc::new(journal);
    let expected = expected_messages(list_rows, replay.as_ref(), opts);
    if let Some(torn) = replay.as_ref().and_then(|r| r.torn_tail.as_ref()) {
        // What is printed is for the operator; a closed stdout must not end the run.
        let _ = writeln!(
            out,
            "journal: the last line ({} bytes at line {}) was cut short by a crash and was set aside: {}",
            torn.len, torn.line, torn.reason
        );
    }
    if let Some(addr) = metrics_listener.as_ref().and_then(|l| l.local_addr()) {
        let _ = writeln!(out, "metrics: http://{addr}/metrics");
    }
    let run_id = events::run_id();
    journal.run_marker(&RunMarker::start().with("run", run_id.clone()))?;
    events::started(&run_id, &config.campaign.id, expected, &opts.settings);
    {
        let journal = journal.clone();
        shutdown.on_immediate_exit(move || {
            let _ = journal.flush();
        });
    }

    let settings = &opts.settings;
    let lanes = Arc::new(Lanes::new(config)?);
    let counters = Arc::new(Counters::for_groups(&lanes.groups));
    let group_names: Vec<String> = lanes
        .groups
        .groups()
        .iter()
        .map(|g| g.name.clone())
        .collect();
    let health = Arc::new(RelayHealth::new(
        settings.outage_threshold,
        Duration::from_secs(settings.outage_max_secs),
    ));
    let _metrics = metrics_listener
        .map(|listener| {
            MetricsServer::start(
                listener,
                RunView {
                    counters: counters.clone(),
                    health: health.clone(),
                    rate_limit: settings.rate,
                    expected,
                    campaign: config.campaign.id.clone(),
                    approval_digest: approval_digest(config, &renderer),
                },
            )
        })
        .transpose()?;
    let throttle = Throttle::new(settings.rate, settings.burst, &lanes.groups);
    let replay = Arc::new(replay);
    let (dispatcher, queues, source) = Dispatcher::new(
        lanes.clone(),
        settings.concurrency * 4,
        throttle.clone(),
        settings.daily_limit.map(|l| (journal_path.clone(), l)),
        shutdown.clone(),
        {
            // A session of its own asks the transport what it holds back.
            let probe = std::sync::Mutex::new(transport.session());
            Box::new(move |email: &str| {
                probe
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .holds(crate::send::schedule::domain_of(email))
            })
        },
    )?;
    let dispatcher = tokio::spawn(dispatcher.run());

    // One cursor per lane reads the list on a blocking thread and feeds its lane's queue;
    // the lead (lane 0) holds the list's duplicates.
    let lead = Arc::new(Lead::new(lanes.groups.groups().len()));
    let queued = Arc::new(AtomicU64::new(0));
    let wait_for_lead = !duplicates.is_empty();
    let mut duplicates = Some(duplicates);
    let mut producers = Vec::new();
    for (lane, tx) in queues.senders.into_iter().enumerate() {
        let config = config.clone();
        let opts = opts.clone();
        let renderer = renderer.clone();
        let builder = builder.clone();
        let journal = journal.clone();
        let replay = replay.clone();
        let shutdown = shutdown.clone();
        let lanes = lanes.clone();
        let lead = lead.clone();
        let queued = queued.clone();
        let arrived = queues.arrived.clone();
        let duplicates = duplicates.take();
        producers.push(tokio::task::spawn_blocking(move || {
            let produced = produce(
                &config,
                &opts,
                &renderer,
                &builder,
                &journal,
                replay.as_ref().as_ref(),
                duplicates,
                tx,
                &shutdown,
                Cursor {
                    lane,
                    lanes: &lanes,
                    lead: &lead,
                    queued: &queued,
                    arrived: &arrived,
                    wait_for_lead,
                },
            );
            // The queue is closed now: the dispatcher must look again.
            arrived.notify_one();
            produced
        }));
    }

    let progress = Progress::start(
        opts.progress,
        expected,
        counters_view(&counters),
        {
            let health = health.clone();
            move || health.outage().map(|o| o.line())
        },
        {
            let counters = counters.clone();
            let names = group_names.clone();
            let lead = lead.clone();
            move || {
                counters
                    .per_group(&names)
                    .into_iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let (total, complete) = lead.group_total(i);
                        GroupProgress {
                            left: total.saturating_sub(g.sent + g.failed + g.deferred),
                            complete,
                            name: g.name,
                            sent: g.sent,
                        }
                    })
                    .filter(|g| g.sent > 0 || g.left > 0)
                    .collect()
            }
        },
    );
    let mut workers = Vec::new();
    for _ in 0..settings.concurrency {
        let worker = Worker {
            session: transport.session(),
            source: source.clone(),
            journal: journal.clone(),
            builder: builder.clone(),
            throttle: throttle.clone(),
            health: health.clone(),
            counters: counters.clone(),
            shutdown: shutdown.clone(),
            settings: settings.clone(),
            sent_limit: opts.limit,
        };
        workers.push(tokio::spawn(worker.run()));
    }
    // Only the workers hold the source now: when they have all stopped, the dispatcher stops,
    // the cursors' next sends fail and they stop reading the list.
    drop(source);

    let mut produced: Option<Result<super::producer::Produced>> = None;
    for p in producers {
        let p = p.await.context("the list reader stopped unexpectedly")?;
        produced = Some(match (produced, p) {
            (None, p) => p,
            (Some(Ok(mut lead)), Ok(follower)) => {
                lead.merge(follower);
                Ok(lead)
            }
            (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) => Err(e),
        });
    }
    let produced = produced.context("no list reader")?;
    for w in workers {
        match w.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                shutdown.trigger(StopReason::Error(format!("{e:#}")));
            }
            Err(e) => shutdown.trigger(StopReason::Error(format!(
                "a worker stopped unexpectedly: {e}"
            ))),
        }
    }
    let _ = dispatcher.await;
    progress.finish().await;
    let produced = produced?;

    let mut report = RunReport {
        sent: counters.sent.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        deferred: counters.deferred.load(Ordering::Relaxed),
        refused: produced.refused + counters.refused.load(Ordering::Relaxed),
        skipped: produced.skipped,
        already_done: produced.already_done,
        possible_duplicates: {
            let mut all = produced.possible_duplicates;
            for id in counters
                .possible_duplicates
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                if !all.contains(id) {
                    all.push(id.clone());
                }
            }
            all
        },
        stopped: shutdown.reason(),
        relay_refused: counters
            .relay_refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        remaining: 0,
        failed_total: 0,
        list_unfinished: false,
        journal: journal_path.clone(),
        by_group: counters.by_group(&group_names),
    };
    journal.flush()?;
    // What is left is whatever the journal now says still needs a message: for a run that
    // stopped before the end of the list, the rows it never reached too (as `status` counts
    // them). A shard cannot tell which of the unread rows are its own, so there it is the
    // rows it read, and the summary says the list was not finished.
    let after = journal::replay(&journal_path)?;
    let still_to_send =
        |state: State| matches!(state, State::Pending | State::Attempting | State::Deferred);
    report.list_unfinished = produced.stopped_early && opts.shard.is_some();
    report.remaining = if produced.stopped_early && opts.shard.is_none() {
        (1..=list_rows)
            .filter(|&row| still_to_send(after.states.get(row)))
            .count() as u64
    } else {
        produced
            .sendable
            .iter()
            .filter(|&row| still_to_send(after.states.get(row)))
            .count() as u64
    };
    report.failed_total = after
        .states
        .counts()
        .get(&State::Failed)
        .copied()
        .unwrap_or(0);
    let stop = RunMarker::stop(
        &report
            .stopped
            .as_ref()
            .unwrap_or(&StopReason::Finished)
            .to_string(),
    )
    .with("sent", report.sent)
    .with("failed", report.failed)
    .with("deferred", report.deferred)
    .with("retries", counters.retries.load(Ordering::Relaxed));
    journal.run_marker(&stop)?;
    journal.flush()?;
    events::stopped(
        &run_id,
        &config.campaign.id,
        &report,
        counters.retries.load(Ordering::Relaxed),
    );
    Ok(report)
}

/// A digest of what an approval pins — every template and every notice setting in force — for
/// the metrics' info line: the same digest on two hosts means the same approved notice.
fn approval_digest(config: &Config, renderer: &Renderer) -> String {
    let mut pinned = std::collections::BTreeMap::new();
    for (k, v) in &renderer.template_digests {
        pinned.insert(format!("templates/{k}"), v.clone());
    }
    for (k, v) in config.notice_digests() {
        pinned.insert(format!("settings/{k}"), v);
    }
    crate::config::digest_of(&pinned)
}
