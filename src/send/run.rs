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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use tokio::sync::{Mutex, mpsc};

use crate::config::{Config, SendSettings};
use crate::ingest::{Encoding, ListDuplicates, Next, RecipientReader, Row, list_identity};
use crate::journal::{self, Attempt, Header, JournalWriter, Outcome, Replay, RunMarker, State};
use crate::mail::message::{MessageBuilder, OutgoingMessage};
use crate::mail::scan::{Scanned, Scanner};
use crate::render::notice::{Notice, Renderer};
use crate::send::outage::RelayHealth;
use crate::send::progress::Progress;
use crate::send::shutdown::Shutdown;
use crate::send::throttle::Throttle;
use crate::send::transport::{FailureKind, Session, Transport, file_name_for, redact_reply};

/// Starts the reply of an outcome whose message may have been delivered although the attempt
/// failed (the connection broke or timed out with no reply to the final dot). `report` and
/// `status` count a later attempt of the same row as a possible duplicate.
pub const UNKNOWN_OUTCOME: &str = "outcome unknown, the message may have been delivered: ";

/// Starts the reply of a deferred outcome journaled because the relay refused the session
/// (5xx before any recipient was named): nothing about the recipient, who is sent to on the
/// next run.
pub const RELAY_REFUSED: &str = "relay refused the session (not this recipient): ";

/// The stop reason when `--limit` messages have been sent.
pub const LIMIT_REACHED: &str = "--limit reached";

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
    pub shard: Option<crate::ingest::shard::Shard>,
}

/// How a run ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Messages accepted by the transport in this run.
    pub sent: u64,
    /// Permanent failures in this run.
    pub failed: u64,
    /// Recipients left deferred after their attempts in this run.
    pub deferred: u64,
    /// Rows refused by validation (never sent).
    pub refused: u64,
    /// Recipients already done before this run (sent in an earlier run).
    pub already_done: u64,
    /// Recipients re-sent because an earlier run died mid-transaction with them.
    pub possible_duplicates: Vec<String>,
    /// Why the run stopped early (signal, outage, limit), if it did.
    pub stopped: Option<String>,
    /// The relay refused the session itself (a 5xx to the greeting, EHLO, STARTTLS, AUTH or
    /// MAIL FROM): a relay error, not the recipients'. The run stopped; nobody was marked
    /// failed for it.
    pub relay_refused: Option<String>,
    /// Rows still needing a message when the run ended.
    pub remaining: u64,
    /// Recipients whose address was refused permanently, in this or earlier runs.
    pub failed_total: u64,
    /// A shard's run stopped before it had read the whole list (so `remaining` counts only the
    /// part it read; without a shard it counts the whole list).
    pub list_unfinished: bool,
    /// Where the journal is.
    pub journal: PathBuf,
}

impl RunReport {
    /// True when another `send` has something to do: recipients not yet sent or deferred, a
    /// list not read to its end, or a stop other than `--limit`.
    pub fn work_left(&self) -> bool {
        let interrupted = self.stopped.as_deref().is_some_and(|r| r != LIMIT_REACHED);
        self.remaining > 0 || self.deferred > 0 || self.list_unfinished || interrupted
    }
}

/// A set of row numbers, one bit per row.
#[derive(Default)]
struct RowSet {
    words: Vec<u64>,
}

impl RowSet {
    fn insert(&mut self, row: u64) {
        let (w, b) = ((row / 64) as usize, row % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    fn remove(&mut self, row: u64) {
        if let Some(w) = self.words.get_mut((row / 64) as usize) {
            *w &= !(1 << (row % 64));
        }
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w as u64 * 64 + b)
        })
    }
}

/// A recipient on its way to a worker.
struct Job {
    row: u64,
    id: String,
    email: String,
    domain: String,
    notice: Notice,
    attempts_before: u32,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    deferred: AtomicU64,
    retries: AtomicU64,
    /// Rows refused when their message was built.
    refused: AtomicU64,
    /// Recipients re-sent after an attempt whose outcome is unknown.
    possible_duplicates: std::sync::Mutex<Vec<String>>,
    /// The first refusal of the session by the relay.
    relay_refused: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn possible_duplicate(&self, id: &str) {
        let mut list = self
            .possible_duplicates
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|x| x == id) {
            list.push(id.to_string());
        }
    }
}

/// About how many messages this run will send, for the progress bar's ETA: the rows of the
/// list not yet done (a share of them with `--shard`), at most `--limit`.
fn expected_messages(rows: u64, replay: Option<&Replay>, opts: &SendOptions) -> Option<u64> {
    let done = replay.map_or(0, |r| {
        r.states
            .counts()
            .iter()
            .filter(|(s, _)| !needs_message(**s, opts.retry_failed))
            .map(|(_, n)| n)
            .sum()
    });
    let mut left = rows.saturating_sub(done);
    if let Some(shard) = opts.shard {
        left = left.div_ceil(u64::from(shard.n));
    }
    Some(opts.limit.map_or(left, |l| left.min(l)))
}

/// A digest of every notice-relevant setting, for the journal header.
pub fn notice_settings_digest(config: &Config) -> String {
    crate::config::digest_of(&config.notice_digests())
}

/// The campaign journal, opened for appending.
pub struct OpenJournal {
    pub writer: JournalWriter,
    /// What an existing journal held (`None`: created now).
    pub replay: Option<Replay>,
    pub path: PathBuf,
    /// Data rows in the list the journal is bound to.
    pub list_rows: u64,
    /// The list's duplicate ids and addresses, for the reader that sends.
    pub duplicates: ListDuplicates,
}

/// Opens (resuming) or creates the campaign journal in `state_dir`, refusing one that was
/// started with other inputs unless `accept_changes`. The list is read to its end first (for
/// its digest and its duplicates), so a list that cannot be read leaves no journal behind.
pub fn open_journal(
    config: &Config,
    renderer: &Renderer,
    opts: &SendOptions,
) -> Result<OpenJournal> {
    let path = journal::journal_path(&opts.state_dir, &config.campaign.id);
    // Hashing the list, finding its duplicates and replaying the journal all read a large
    // file: do them side by side.
    let (identity, duplicates, existing) = std::thread::scope(|scope| {
        let identity = scope.spawn(|| list_identity(&opts.recipients));
        let duplicates = scope
            .spawn(|| RecipientReader::find_duplicates(&opts.recipients, config, opts.encoding));
        let existing = path.exists().then(|| journal::replay(&path));
        (identity.join(), duplicates.join(), existing)
    });
    let duplicates =
        duplicates.map_err(|_| anyhow::anyhow!("reading the recipients list failed"))??;
    let (list_digest, list_rows) =
        identity.map_err(|_| anyhow::anyhow!("hashing the recipients list failed"))??;
    let mut header = Header::new(
        &config.campaign.id,
        &list_digest,
        list_rows,
        &renderer.templates_digest(),
        &notice_settings_digest(config),
    );
    header.list_file = Some(journal::list_file_name(&opts.recipients));
    if let Some(replay) = existing {
        let replay = replay?;
        journal::check_list(
            &path,
            &replay.header,
            &opts.recipients,
            (&list_digest, list_rows),
            journal::Purpose::Resume,
        )?;
        journal::verify_ids(&[(&path, &replay)], &opts.recipients, config, opts.encoding)?;
        if let Err(e) = replay.header.check_matches(&header)
            && !opts.accept_changes
        {
            return Err(journal::JournalMismatch::InputsChanged {
                journal: path.clone(),
                changes: format!("{e:#}"),
            }
            .into());
        }
        let writer = JournalWriter::open_append(&path, &replay)?;
        Ok(OpenJournal {
            writer,
            replay: Some(replay),
            path,
            list_rows,
            duplicates,
        })
    } else {
        let writer = JournalWriter::create(&path, &header)?;
        Ok(OpenJournal {
            writer,
            replay: None,
            path,
            list_rows,
            duplicates,
        })
    }
}

/// Runs the campaign through `transport`. Progress and the summary go to `out`.
pub async fn send<T: Transport>(
    config: &Config,
    opts: &SendOptions,
    transport: T,
    shutdown: Shutdown,
    out: &mut (dyn Write + Send),
) -> Result<RunReport> {
    let renderer = Arc::new(Renderer::new(config)?);
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
                shutdown.trigger(format!("{e:#}"));
            }
            Err(e) => shutdown.trigger(format!("a worker stopped unexpectedly: {e}")),
        }
    }
    progress.finish().await;
    let produced = produced?;

    let mut report = RunReport {
        sent: counters.sent.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        deferred: counters.deferred.load(Ordering::Relaxed),
        refused: produced.refused + counters.refused.load(Ordering::Relaxed),
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
    let stop = RunMarker::stop(report.stopped.as_deref().unwrap_or("finished"))
        .with("sent", report.sent)
        .with("failed", report.failed)
        .with("deferred", report.deferred)
        .with("retries", counters.retries.load(Ordering::Relaxed));
    journal.run_marker(&stop)?;
    journal.flush()?;
    Ok(report)
}

fn counters_view(c: &Arc<Counters>) -> impl Fn() -> (u64, u64, u64) + Send + Sync + 'static {
    let c = c.clone();
    move || {
        (
            c.sent.load(Ordering::Relaxed),
            c.deferred.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
        )
    }
}

/// What the producer saw of the list.
struct Produced {
    rows: u64,
    refused: u64,
    /// Valid rows of this shard seen by the producer.
    sendable: RowSet,
    /// The producer stopped before the end of the list.
    stopped_early: bool,
    already_done: u64,
    possible_duplicates: Vec<String>,
}

fn row_index(row: &Row) -> u64 {
    match row {
        Row::Valid { recipient, .. } => recipient.row,
        Row::Invalid { row, .. } => *row,
    }
}

/// Whether a row in `state` needs a message in this run.
fn needs_message(state: State, retry_failed: bool) -> bool {
    match state {
        State::Pending | State::Attempting | State::Deferred => true,
        State::Failed => retry_failed,
        State::Sent | State::Delayed | State::Bounced | State::Skipped => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn produce(
    config: &Config,
    opts: &SendOptions,
    renderer: &Renderer,
    builder: &MessageBuilder,
    journal: &JournalWriter,
    replay: Option<&Replay>,
    duplicates: ListDuplicates,
    tx: mpsc::Sender<Job>,
    shutdown: &Shutdown,
) -> Result<Produced> {
    let reader = RecipientReader::open_without_duplicates(&opts.recipients, config, opts.encoding)?
        .with_duplicates(duplicates)?;
    let scanner = Scanner::from_reader(reader, &opts.recipients, renderer)
        .with_builder(builder)
        .with_shard(opts.shard);
    let mut produced = Produced {
        rows: 0,
        refused: 0,
        sendable: RowSet::default(),
        stopped_early: false,
        already_done: 0,
        possible_duplicates: Vec::new(),
    };
    let mut queued = 0u64;
    let mut reader = scanner;
    // Rows already sent (or failed for good) were valid when they were sent: passing over them
    // unvalidated lets a resumed campaign reach its first unsent row sooner.
    let finished = |row: u64| {
        replay.is_some_and(|r| {
            let state = r.states.get(row);
            !needs_message(state, opts.retry_failed) && state != State::Skipped
        })
    };
    while let Some(read) = reader.next_row_unless_finished(finished) {
        if shutdown.is_triggered() {
            produced.stopped_early = true;
            break;
        }
        produced.rows += 1;
        let row = match read? {
            Next::Row(row) => row,
            Next::Finished { row } => {
                produced.sendable.insert(row);
                if replay.is_some_and(|r| r.states.get(row).is_delivered()) {
                    produced.already_done += 1;
                }
                continue;
            }
        };
        if row.is_valid() {
            produced.sendable.insert(row_index(&row));
        }
        let (state, attempts) = match replay {
            Some(r) => (
                r.states.get(row_index(&row)),
                r.attempts.get(row_index(&row)),
            ),
            None => (State::Pending, 0),
        };
        match row {
            Row::Invalid {
                row, id, errors, ..
            } => {
                produced.refused += 1;
                produced.sendable.remove(row);
                if state != State::Skipped {
                    journal_refusal(journal, row, id, &errors, "invalid row")?;
                }
            }
            Row::Valid {
                recipient,
                warnings,
            } => {
                // Finished rows were passed over above; this is a row refused in an earlier run.
                if !needs_message(state, opts.retry_failed) {
                    continue;
                }
                if opts.limit.is_some_and(|l| queued >= l) {
                    continue;
                }
                if state == State::Attempting {
                    produced.possible_duplicates.push(recipient.id.clone());
                }
                match reader.render(recipient, warnings) {
                    Scanned::Ready {
                        recipient, notice, ..
                    } => {
                        let domain = recipient
                            .email
                            .rsplit_once('@')
                            .map(|(_, d)| d.to_ascii_lowercase())
                            .unwrap_or_default();
                        let job = Job {
                            row: recipient.row,
                            id: recipient.id,
                            email: recipient.email,
                            domain,
                            notice,
                            attempts_before: attempts,
                        };
                        queued += 1;
                        if tx.blocking_send(job).is_err() {
                            // Every worker has stopped (a signal, an outage): the rest of the
                            // list was not read.
                            produced.stopped_early = true;
                            break;
                        }
                    }
                    Scanned::Refused {
                        row, id, errors, ..
                    } => {
                        produced.refused += 1;
                        produced.sendable.remove(row);
                        if state != State::Skipped {
                            journal_refusal(journal, row, id, &errors, "refused")?;
                        }
                    }
                }
            }
        }
    }
    Ok(produced)
}

/// Records a row that will not be sent, with its problems (which never quote personal data).
fn journal_refusal(
    journal: &JournalWriter,
    row: u64,
    id: Option<String>,
    errors: &[crate::ingest::RowIssue],
    what: &str,
) -> Result<()> {
    let problems: Vec<&str> = errors.iter().map(|e| e.problem.as_str()).collect();
    journal.outcome(&Outcome {
        row,
        id: id.unwrap_or_default(),
        state: State::Skipped,
        attempt: 0,
        code: None,
        enhanced: None,
        reply: Some(format!("{what}: {}", problems.join("; "))),
        message_id: None,
        at: String::new(),
    })
}

struct Worker<S: Session> {
    session: S,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    journal: Arc<JournalWriter>,
    builder: Arc<MessageBuilder>,
    throttle: Throttle,
    health: Arc<RelayHealth>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    settings: SendSettings,
    sent_limit: Option<u64>,
}

impl<S: Session> Worker<S> {
    async fn run(mut self) -> Result<()> {
        let result = self.run_inner().await;
        self.session.close().await;
        if let Err(e) = &result {
            self.shutdown.trigger(format!("{e:#}"));
        }
        result
    }

    async fn run_inner(&mut self) -> Result<()> {
        loop {
            if self.shutdown.is_triggered() {
                return Ok(());
            }
            let job = {
                let mut rx = self.rx.lock().await;
                tokio::select! {
                    job = rx.recv() => job,
                    _ = self.shutdown.triggered() => None,
                }
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
        loop {
            // During a relay outage one worker probes; the others wait here.
            let probing = match self.health.wait_turn(&self.shutdown).await {
                Some(probing) => probing,
                None => return Ok(()), // stopping: the row stays as the journal has it
            };
            self.throttle.acquire(&job.domain).await;
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
                        self.journal.outcome(&Outcome {
                            row: job.row,
                            id: job.id.clone(),
                            state: State::Skipped,
                            attempt,
                            code: None,
                            enhanced: None,
                            reply: Some(format!("refused: {e}")),
                            message_id: None,
                            at: String::new(),
                        })?;
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
            let result = self.session.send(&message, &file_name_for(&job.id)).await;
            let mut outcome = Outcome {
                row: job.row,
                id: job.id.clone(),
                state: State::Sent,
                attempt,
                code: None,
                enhanced: None,
                reply: None,
                message_id: Some(message_id.clone()),
                at: String::new(),
            };
            match result {
                Ok(delivery) => {
                    self.health.success();
                    outcome.code = Some(delivery.code);
                    outcome.reply = Some(redact_reply(&delivery.reply));
                    self.journal.outcome(&outcome)?;
                    let sent = self.counters.sent.fetch_add(1, Ordering::Relaxed) + 1;
                    if self.sent_limit.is_some_and(|l| sent >= l) {
                        self.shutdown.trigger(LIMIT_REACHED);
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
                        let reason = format!(
                            "relay refused the session: {}{}",
                            f.code.map(|c| format!("{c} ")).unwrap_or_default(),
                            redact_reply(&f.text)
                        );
                        self.counters
                            .relay_refused
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert_with(|| reason.clone());
                        self.shutdown.trigger(reason);
                        return Ok(());
                    }
                    if f.kind == FailureKind::Permanent {
                        self.health.success(); // the relay answered: it is up
                        outcome.state = State::Failed;
                        self.journal.outcome(&outcome)?;
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    outcome.state = State::Deferred;
                    if f.maybe_delivered {
                        outcome.reply = Some(format!("{UNKNOWN_OUTCOME}{}", redact_reply(&f.text)));
                        unknown_outcome = true;
                    }
                    self.journal.outcome(&outcome)?;
                    let outage = self.health.failure(
                        &self.shutdown,
                        &crate::send::outage::short_reason(f.code, &redact_reply(&f.text)),
                    );
                    if probing || outage {
                        // Attempts that only probe a relay that is down are not held against
                        // the recipient.
                        tries = tries.saturating_sub(1);
                    }
                    if tries >= self.settings.max_attempts || self.shutdown.is_triggered() {
                        self.counters.deferred.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    if !probing && !outage {
                        let delay = backoff(self.settings.retry_base_ms, tries);
                        if !self.shutdown.sleep(delay).await {
                            self.counters.deferred.fetch_add(1, Ordering::Relaxed);
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

/// Prints the end-of-run summary and how to resume.
pub fn print_report(report: &RunReport, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    writeln!(out)?;
    let what = if dry_run {
        "written to the outbox"
    } else {
        "sent"
    };
    writeln!(out, "{:>10}  {what}", report.sent)?;
    writeln!(out, "{:>10}  failed permanently", report.failed)?;
    if report.failed_total > report.failed {
        writeln!(
            out,
            "{:>10}  failed permanently in earlier runs (not retried without --retry-failed)",
            report.failed_total - report.failed
        )?;
    }
    writeln!(
        out,
        "{:>10}  deferred (temporary failures; retried on the next run)",
        report.deferred
    )?;
    writeln!(
        out,
        "{:>10}  refused rows (see `tsuchi check`)",
        report.refused
    )?;
    writeln!(
        out,
        "{:>10}  already done in earlier runs",
        report.already_done
    )?;
    if !report.possible_duplicates.is_empty() {
        writeln!(
            out,
            "{:>10}  re-sent after a crash mid-transaction (possible duplicates): {}",
            report.possible_duplicates.len(),
            report.possible_duplicates.join(", ")
        )?;
    }
    writeln!(out, "journal: {}", report.journal.display())?;
    if let Some(reason) = &report.stopped {
        writeln!(out, "stopped: {reason}")?;
    }
    if report.list_unfinished {
        writeln!(
            out,
            "the run stopped before the end of the list: run the same `tsuchi send` command \
             again to resume."
        )?;
    } else if report.remaining > 0 {
        writeln!(
            out,
            "{} recipients still need a message: run the same `tsuchi send` command again to resume.",
            report.remaining
        )?;
    }
    Ok(())
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

    #[test]
    fn only_unfinished_rows_need_a_message() {
        assert!(needs_message(State::Pending, false));
        assert!(needs_message(State::Attempting, false));
        assert!(needs_message(State::Deferred, false));
        assert!(!needs_message(State::Sent, false));
        assert!(!needs_message(State::Failed, false));
        assert!(needs_message(State::Failed, true));
        assert!(!needs_message(State::Bounced, true));
    }
}
