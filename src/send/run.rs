//! The sending pipeline: the list streams from disk through a bounded channel to N workers;
//! each worker rate-limits, builds, journals the attempt durably, sends, and journals the
//! outcome. Resuming is the default: the journal is replayed first and only rows that still
//! need a message are sent.
//!
//! ```text
//! list ─▶ producer (validate, skip done rows, render) ─▶ channel ─▶ worker × N
//!                                                                   │ throttle (global, domain)
//!                                                                   │ journal: attempt (fsync)
//!                                                                   │ transport: send
//!                                                                   ▼ journal: outcome
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{Mutex, mpsc};

use crate::config::{Config, SendSettings};
use crate::ingest::Encoding;
use crate::journal::{self, RunMarker, State};
use crate::mail::message::MessageBuilder;
use crate::send::outage::RelayHealth;
use crate::send::progress::Progress;
use crate::send::shutdown::{Shutdown, StopReason};
use crate::send::throttle::Throttle;
use crate::send::transport::Transport;

use super::journal_open::{OpenJournal, expected_messages, open_journal};
use super::producer::{Job, produce};
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
}

/// Runs the campaign through `transport`. Progress and the summary go to `out`.
pub async fn send<T: Transport>(
    config: &Config,
    opts: &SendOptions,
    transport: T,
    shutdown: Shutdown,
    out: &mut (dyn Write + Send),
) -> Result<RunReport> {
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
    journal.run_marker(&RunMarker::start())?;
    {
        let journal = journal.clone();
        shutdown.on_immediate_exit(move || {
            let _ = journal.flush();
        });
    }

    let settings = &opts.settings;
    let (tx, rx) = mpsc::channel::<Job>(settings.concurrency * 4);
    let rx = Arc::new(Mutex::new(rx));
    let counters = Arc::new(Counters::default());
    let health = Arc::new(RelayHealth::new(
        settings.outage_threshold,
        Duration::from_secs(settings.outage_max_secs),
    ));
    let throttle = Throttle::new(settings.rate, settings.burst, &settings.domain_rates);
    let replay = Arc::new(replay);

    // The producer reads the list on a blocking thread and feeds the channel.
    let producer = {
        let config = config.clone();
        let opts = opts.clone();
        let renderer = renderer.clone();
        let builder = builder.clone();
        let journal = journal.clone();
        let replay = replay.clone();
        let shutdown = shutdown.clone();
        tokio::task::spawn_blocking(move || {
            produce(
                &config,
                &opts,
                &renderer,
                &builder,
                &journal,
                replay.as_ref().as_ref(),
                duplicates,
                tx,
                &shutdown,
            )
        })
    };

    let progress = Progress::start(opts.progress, expected, counters_view(&counters), {
        let health = health.clone();
        move || health.outage().map(|o| o.line())
    });
    let mut workers = Vec::new();
    for _ in 0..settings.concurrency {
        let worker = Worker {
            session: transport.session(),
            rx: rx.clone(),
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
    // Only the workers hold the receiver now: when they have all stopped, the producer's next
    // send fails and it stops reading the list.
    drop(rx);

    let produced = producer
        .await
        .context("the list reader stopped unexpectedly")?;
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
    Ok(report)
}
