//! Appending to a journal, durably, from many tasks at once.
//!
//! One dedicated OS thread owns the file. Callers serialize their record into a line and
//! queue it on a bounded channel; the thread drains everything queued, writes it with one
//! `write`, and when any of the queued records asked for durability (an `attempt`, a flush)
//! it calls `fdatasync` once and then wakes every waiter of that batch — group commit: a
//! hundred concurrent senders share one fsync instead of queueing for a hundred. Outcomes
//! are buffered and reach the disk with the next durable record, after at most
//! [`COMMIT_INTERVAL`], or after [`COMMIT_RECORDS`] records, whichever comes first. Records
//! reach the file in the order they were queued.
//!
//! fsync never runs on an async worker thread: `attempt` only queues the line and awaits a
//! oneshot answer from the writer thread.
//!
//! The first write or sync error (full disk, EIO, …) stops the journal for good: the thread
//! answers every waiter of the failed batch and every later call with that error, and writes
//! nothing more. Success is never reported for a record that is not on disk.
//!
//! After each commit's `fdatasync` the thread rewrites the journal's commit hint
//! ([`hint`](super::hint)) to say where the commit ended — without syncing it: the hint only
//! ever lags what is durable. A hint write that fails leaves the previous hint, which lags too.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::sync::oneshot;

use super::hint::{HintFile, Tally};
use super::record::{Attempt, AttemptRecord, Header, Outcome, Record, RunMarker};
use super::replay::Replay;
use crate::util::fs::{fsync_dir, open_state_file, parent_dir, temp_path};
use crate::util::time::now_rfc3339;

/// Buffered records reach the disk at least this often.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// …or once this many records are buffered.
pub const COMMIT_RECORDS: usize = 4096;
/// Records that may wait in the channel before callers are held back (backpressure: the
/// disk is slower than the senders).
const QUEUE_CAPACITY: usize = 16 * 1024;

type Reply = std::result::Result<(), String>;

enum Waiter {
    Async(oneshot::Sender<Reply>),
    Sync(SyncSender<Reply>),
}

impl Waiter {
    fn answer(self, reply: Reply) {
        // A caller that stopped waiting is no error of ours.
        match self {
            Waiter::Async(tx) => {
                let _ = tx.send(reply);
            }
            Waiter::Sync(tx) => {
                let _ = tx.send(reply);
            }
        }
    }
}

enum Cmd {
    Line {
        bytes: Vec<u8>,
        /// The row the record names (0: none), for the commit hint.
        row: u64,
        durable: Option<Waiter>,
    },
    Flush(Waiter),
    Close(Waiter),
}

struct Shared {
    /// The first write error; once set the journal is dead.
    failed: OnceLock<String>,
    closed: AtomicBool,
    syncs: AtomicU64,
}

struct Inner {
    path: PathBuf,
    tx: SyncSender<Cmd>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last handle gone without `close`: still flush what was queued before leaving.
        if let Some(thread) = self.thread.lock().map(|mut t| t.take()).unwrap_or(None) {
            let (tx, _rx) = std::sync::mpsc::sync_channel(1);
            let _ = self.tx.send(Cmd::Close(Waiter::Sync(tx)));
            let _ = thread.join();
        }
    }
}

/// Appends records to one journal file; cheap to clone, usable from many tokio tasks.
#[derive(Clone)]
pub struct JournalWriter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Creates a new journal holding only `header`: owner-only (0600), header fsynced,
    /// directory fsynced. The file appears atomically (written aside, then linked into place),
    /// and an existing journal is never overwritten. Its commit hint is written before the
    /// journal appears, so that no journal of this version is without one.
    pub fn create(path: &Path, header: &Header) -> Result<JournalWriter> {
        let shown = path.display();
        if path.symlink_metadata().is_ok() {
            bail!("journal {shown} already exists; resume it instead of creating it");
        }
        let tmp = temp_path(path);
        let line = Record::Header(header.clone()).to_line();
        let tally = Tally::of_header(&line[..line.len() - 1]);
        let made = (|| -> Result<HintFile> {
            let mut f = open_state_file(
                &tmp,
                OpenOptions::new().write(true).create_new(true).mode(0o600),
            )
            .with_context(|| format!("cannot create journal {}", tmp.display()))?;
            f.write_all(&line)
                .and_then(|_| f.sync_all())
                .with_context(|| format!("cannot write journal {}", tmp.display()))?;
            let hint = HintFile::create(path)?;
            hint.write(&tally)?;
            // link(2), unlike rename(2), fails if the target exists.
            std::fs::hard_link(&tmp, path)
                .with_context(|| format!("cannot create journal {shown}"))?;
            Ok(hint)
        })();
        let _ = std::fs::remove_file(&tmp);
        let hint = made?;
        fsync_dir(parent_dir(path))?;
        let file = open_state_file(path, OpenOptions::new().append(true))
            .with_context(|| format!("cannot open journal {shown}"))?;
        Ok(Self::start(path, file, Some((hint, tally))))
    }

    /// Opens a replayed journal for appending. A torn tail is cut off first (and the cut
    /// fsynced), so new records are not glued to the garbage. Fails if the file changed since
    /// `replay` read it, and with [`RecordsMissing`](super::RecordsMissing) if the journal has
    /// lost committed records: records appended after the loss would bury it. A commit hint
    /// that held at replay is kept going; a journal without one gains none.
    pub fn open_append(path: &Path, replay: &Replay) -> Result<JournalWriter> {
        let shown = path.display();
        if let Some(missing) = &replay.missing {
            return Err(missing.clone().into());
        }
        let file = open_state_file(path, OpenOptions::new().append(true))
            .with_context(|| format!("cannot open journal {shown} for appending"))?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot stat journal {shown}"))?;
        // Only regular files have a length to check (a device such as /dev/full has none).
        if meta.is_file() {
            let seen = replay.valid_len + replay.torn_tail.as_ref().map_or(0, |t| t.len);
            if meta.len() != seen {
                bail!(
                    "journal {shown} changed since it was replayed ({} bytes, replay saw {seen}); \
                     is another process writing it?",
                    meta.len()
                );
            }
            if replay.torn_tail.is_some() {
                file.set_len(replay.valid_len)
                    .and_then(|_| file.sync_all())
                    .with_context(|| format!("cannot cut the torn tail of journal {shown}"))?;
            }
            if let Some(tally) = replay.commit {
                // What lies past the hint (a crash between a commit and its hint) is made
                // durable before the hint names it.
                file.sync_data()
                    .with_context(|| format!("cannot sync journal {shown}"))?;
                let hint = HintFile::open_existing(path)?;
                hint.write(&tally)?;
                return Ok(Self::start(path, file, Some((hint, tally))));
            }
        }
        Ok(Self::start(path, file, None))
    }

    fn start(path: &Path, file: File, hint: Option<(HintFile, Tally)>) -> JournalWriter {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let shared = Arc::new(Shared {
            failed: OnceLock::new(),
            closed: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
        });
        let thread = {
            let shared = shared.clone();
            let path = path.to_owned();
            std::thread::Builder::new()
                .name("tsuchi-journal".into())
                .spawn(move || writer_thread(file, path, hint, rx, shared))
                .expect("spawn the journal writer thread")
        };
        JournalWriter {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                tx,
                shared,
                thread: Mutex::new(Some(thread)),
            }),
        }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Number of fsyncs done so far (for tests and metrics).
    pub fn sync_count(&self) -> u64 {
        self.inner.shared.syncs.load(Ordering::Relaxed)
    }

    /// The first write error, if the journal has stopped.
    pub fn error(&self) -> Option<String> {
        self.inner.shared.failed.get().cloned()
    }

    fn check(&self) -> Result<()> {
        if let Some(e) = self.inner.shared.failed.get() {
            return Err(anyhow!("{e}"));
        }
        if self.inner.shared.closed.load(Ordering::Acquire) {
            bail!("journal {} is closed", self.inner.path.display());
        }
        Ok(())
    }

    fn stopped(&self) -> anyhow::Error {
        match self.inner.shared.failed.get() {
            Some(e) => anyhow!("{e}"),
            None => anyhow!(
                "journal {} is closed; the record was not written",
                self.inner.path.display()
            ),
        }
    }

    /// Queues a line, blocking while the queue is full.
    fn send_blocking(&self, cmd: Cmd) -> Result<()> {
        self.check()?;
        self.inner.tx.send(cmd).map_err(|_| self.stopped())
    }

    /// Waits (blocking the calling thread) for the writer's answer to `cmd`.
    fn send_and_wait(&self, make: impl FnOnce(Waiter) -> Cmd) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send_blocking(make(Waiter::Sync(tx)))?;
        match rx.recv() {
            Ok(reply) => reply.map_err(|e| anyhow!("{e}")),
            Err(_) => Err(self.stopped()),
        }
    }

    /// Journals an attempt; the future resolves once the record is durably on disk. Only then
    /// may the message's DATA be sent. Concurrent callers share one fsync.
    ///
    /// The record is queued when this is *called*, so calls are journaled in call order; the
    /// future only waits for the answer.
    pub fn attempt(&self, a: &Attempt) -> impl Future<Output = Result<()>> + Send + 'static {
        let line = Record::Attempt(AttemptRecord {
            row: a.row,
            id: a.id.clone(),
            attempt: a.attempt,
            message_id: a.message_id.clone(),
            at: now_rfc3339(),
        })
        .to_line();
        self.durable_line(line, a.row)
    }

    /// Queues `line` now and returns a future resolving when it is on disk.
    fn durable_line(
        &self,
        line: Vec<u8>,
        row: u64,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let cmd = Cmd::Line {
            bytes: line,
            row,
            durable: Some(Waiter::Async(tx)),
        };
        let mut queued = self.check().map(|_| None);
        if let Ok(None) = queued {
            queued = match self.inner.tx.try_send(cmd) {
                Ok(()) => Ok(None),
                Err(TrySendError::Full(cmd)) => Ok(Some(cmd)),
                Err(TrySendError::Disconnected(_)) => Err(self.stopped()),
            };
        }
        let this = self.clone();
        async move {
            let mut waiting = queued?;
            // The writer is behind (slow disk): wait for room without blocking the worker.
            while let Some(cmd) = waiting.take() {
                tokio::time::sleep(Duration::from_millis(1)).await;
                waiting = match this.inner.tx.try_send(cmd) {
                    Ok(()) => None,
                    Err(TrySendError::Full(cmd)) => Some(cmd),
                    Err(TrySendError::Disconnected(_)) => return Err(this.stopped()),
                };
            }
            match rx.await {
                Ok(reply) => reply.map_err(|e| anyhow!("{e}")),
                Err(_) => Err(this.stopped()),
            }
        }
    }

    /// Journals an outcome (the writer stamps `at` if empty). Buffered: it reaches the disk
    /// with the next durable record, within [`COMMIT_INTERVAL`], or on [`flush`](Self::flush).
    /// Blocks only when the writer is `QUEUE_CAPACITY` records behind.
    ///
    /// `Ok` means *queued*, not *on disk*: if the disk fails before the batch is written, the
    /// next `attempt`, `flush` or `close` reports it (and the journal stops).
    pub fn outcome(&self, o: &Outcome) -> Result<()> {
        if !o.state.is_outcome() {
            bail!("{} is not an outcome state (row {})", o.state, o.row);
        }
        let mut o = o.clone();
        if o.at.is_empty() {
            o.at = now_rfc3339();
        }
        let row = o.row;
        self.send_blocking(Cmd::Line {
            bytes: Record::Outcome(o).to_line(),
            row,
            durable: None,
        })
    }

    /// Journals a run marker (the writer stamps `at` if empty). Buffered like an outcome;
    /// follow a `stop` marker with [`close`](Self::close) or [`flush`](Self::flush).
    pub fn run_marker(&self, m: &RunMarker) -> Result<()> {
        let mut m = m.clone();
        if m.at.is_empty() {
            m.at = now_rfc3339();
        }
        self.send_blocking(Cmd::Line {
            bytes: Record::Run(m).to_line(),
            row: 0,
            durable: None,
        })
    }

    /// Journals a letter record (`letter_exported` or `letter_posted`; the writer stamps `at`
    /// if empty). Buffered like an outcome; follow with [`flush`](Self::flush).
    pub fn letter(&self, record: Record) -> Result<()> {
        let (row, record) = match record {
            Record::LetterExported(mut l) => {
                if l.at.is_empty() {
                    l.at = now_rfc3339();
                }
                (l.row, Record::LetterExported(l))
            }
            Record::LetterPosted(mut l) => {
                if l.at.is_empty() {
                    l.at = now_rfc3339();
                }
                (0, Record::LetterPosted(l))
            }
            _ => bail!("not a letter record"),
        };
        self.send_blocking(Cmd::Line {
            bytes: record.to_line(),
            row,
            durable: None,
        })
    }

    /// Returns once everything journaled so far is durably on disk. Blocks the calling
    /// thread; from async code use [`flush_async`](Self::flush_async).
    pub fn flush(&self) -> Result<()> {
        self.send_and_wait(Cmd::Flush)
    }

    /// [`flush`](Self::flush) for async callers: waits without blocking the worker.
    pub fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.check().and_then(|_| {
            match self.inner.tx.try_send(Cmd::Flush(Waiter::Async(tx))) {
                Ok(()) => Ok(None),
                Err(TrySendError::Full(_)) => Ok(Some(())),
                Err(TrySendError::Disconnected(_)) => Err(self.stopped()),
            }
        });
        let this = self.clone();
        async move {
            match queued? {
                None => match rx.await {
                    Ok(reply) => reply.map_err(|e| anyhow!("{e}")),
                    Err(_) => Err(this.stopped()),
                },
                // Queue full: a blocking flush on the blocking pool instead.
                Some(()) => tokio::task::spawn_blocking(move || this.flush())
                    .await
                    .map_err(|e| anyhow!("journal flush task failed: {e}"))?,
            }
        }
    }

    /// Flushes, fsyncs and stops the writer thread. Other clones get "closed" errors after.
    pub fn close(self) -> Result<()> {
        // Sent even after a failure: the thread must be told to stop before we join it.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let result = match self.inner.tx.send(Cmd::Close(Waiter::Sync(tx))) {
            Ok(()) => match rx.recv() {
                Ok(reply) => reply.map_err(|e| anyhow!("{e}")),
                Err(_) => Err(self.stopped()),
            },
            Err(_) => Err(self.stopped()),
        };
        self.inner.shared.closed.store(true, Ordering::Release);
        let thread = self
            .inner
            .thread
            .lock()
            .map(|mut t| t.take())
            .unwrap_or(None);
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            bail!("journal writer thread panicked");
        }
        result
    }
}

/// The writer thread: owns the file; batches, writes, fsyncs, answers.
fn writer_thread(
    mut file: File,
    path: PathBuf,
    hint: Option<(HintFile, Tally)>,
    rx: Receiver<Cmd>,
    shared: Arc<Shared>,
) {
    // The hint file, and the tally of the journal with everything in `buf`.
    let (hint, mut tally) = hint.unzip();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut buffered = 0usize; // records in `buf`
    let mut first_buffered: Option<Instant> = None;
    let mut waiters: Vec<Waiter> = Vec::new();
    let mut closing: Option<Waiter> = None;
    let mut disconnected = false;

    let take = |cmd: Cmd,
                buf: &mut Vec<u8>,
                buffered: &mut usize,
                first: &mut Option<Instant>,
                tally: &mut Option<Tally>,
                waiters: &mut Vec<Waiter>,
                closing: &mut Option<Waiter>| {
        match cmd {
            Cmd::Line {
                bytes,
                row,
                durable,
            } => {
                if shared.failed.get().is_none() {
                    buf.extend_from_slice(&bytes);
                    *buffered += 1;
                    first.get_or_insert_with(Instant::now);
                    if let Some(t) = tally {
                        // Every line ends with its newline (`Record::to_line`).
                        t.add(&bytes[..bytes.len() - 1], row);
                    }
                }
                if let Some(w) = durable {
                    waiters.push(w);
                }
            }
            Cmd::Flush(w) => waiters.push(w),
            Cmd::Close(w) => *closing = Some(w),
        }
    };

    while closing.is_none() && !disconnected {
        // Wait for work: indefinitely when nothing is buffered, else until the commit is due.
        let first_cmd = match first_buffered {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => {
                rx.recv_timeout((t + COMMIT_INTERVAL).saturating_duration_since(Instant::now()))
            }
        };
        match first_cmd {
            Ok(cmd) => take(
                cmd,
                &mut buf,
                &mut buffered,
                &mut first_buffered,
                &mut tally,
                &mut waiters,
                &mut closing,
            ),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => disconnected = true,
        }
        // Drain whatever else is queued: that is the batch.
        while closing.is_none() && !disconnected {
            match rx.try_recv() {
                Ok(cmd) => take(
                    cmd,
                    &mut buf,
                    &mut buffered,
                    &mut first_buffered,
                    &mut tally,
                    &mut waiters,
                    &mut closing,
                ),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => disconnected = true,
            }
        }
        let due = first_buffered.is_some_and(|t| t.elapsed() >= COMMIT_INTERVAL);
        if !waiters.is_empty()
            || closing.is_some()
            || disconnected
            || due
            || buffered >= COMMIT_RECORDS
        {
            let wrote = !buf.is_empty();
            let reply = commit(&mut file, &path, &mut buf, &shared);
            if let (Ok(()), true, Some(hint), Some(t)) = (&reply, wrote, &hint, &tally) {
                // After the fdatasync: the hint names only what is durable. A failed write
                // leaves an older hint, which lags, so it is not the journal's failure.
                let _ = hint.write(t);
            }
            buffered = 0;
            first_buffered = None;
            for w in waiters.drain(..) {
                w.answer(reply.clone());
            }
        }
    }
    if let Some(w) = closing {
        let reply = match shared.failed.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        };
        w.answer(reply);
    }
    // Anything still queued after a close gets "closed" when its sender sees us gone.
}

/// Writes and fsyncs the buffer. After the first failure nothing is written again.
fn commit(file: &mut File, path: &Path, buf: &mut Vec<u8>, shared: &Shared) -> Reply {
    if let Some(e) = shared.failed.get() {
        buf.clear();
        return Err(e.clone());
    }
    if buf.is_empty() {
        // Every earlier batch was synced before its waiters were answered.
        return Ok(());
    }
    let result = file.write_all(buf).and_then(|_| file.sync_data());
    buf.clear();
    match result {
        Ok(()) => {
            shared.syncs.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            let msg = format!(
                "journal write failed: {}: {e}; stopping — nothing after this point is recorded",
                path.display()
            );
            let _ = shared.failed.set(msg);
            Err(shared.failed.get().cloned().unwrap_or_default())
        }
    }
}
