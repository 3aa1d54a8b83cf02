//! The list side of a run: a cursor over the list on a blocking thread, one per lane of the
//! scheduler (`send::schedule`). Each validates and renders the rows of its own lane, passes
//! over rows the journal says are done, and feeds its lane's bounded queue; the lead cursor
//! (lane 0) also journals the refusals of every lane and counts what the list holds.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use tokio::sync::{Notify, mpsc};

use crate::config::Config;
use crate::ingest::{ListDuplicates, Next, RecipientReader, Row, RowIssue};
use crate::journal::{JournalWriter, Outcome, Replay, State};
use crate::mail::message::MessageBuilder;
use crate::mail::scan::{Scanned, Scanner};
use crate::render::notice::{Notice, Renderer};
use crate::send::schedule::{Lanes, Lead, LeadGuard, Verdict, domain_of};
use crate::send::shutdown::Shutdown;

use super::run::SendOptions;

/// A set of row numbers, one bit per row.
#[derive(Default)]
pub(super) struct RowSet {
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

    pub(super) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w as u64 * 64 + b)
        })
    }
}

/// A recipient on its way to a worker.
pub(super) struct Job {
    pub(super) row: u64,
    pub(super) id: String,
    pub(super) email: String,
    /// The destination group (`DestinationGroups::index_of`) whose limit the message waits for.
    pub(super) group: usize,
    pub(super) notice: Notice,
    pub(super) attempts_before: u32,
}

/// What the producer saw of the list.
pub(super) struct Produced {
    rows: u64,
    pub(super) refused: u64,
    /// Valid rows not mailed by choice (follow-up classes not in `send_to`).
    pub(super) skipped: u64,
    /// Valid rows of this shard seen by the producer.
    pub(super) sendable: RowSet,
    /// The producer stopped before the end of the list.
    pub(super) stopped_early: bool,
    pub(super) already_done: u64,
    pub(super) possible_duplicates: Vec<String>,
    /// Rows a follower refused when it rendered them: no longer sendable.
    dropped: RowSet,
}

impl Produced {
    /// Adds what a follower cursor saw to what the lead saw.
    pub(super) fn merge(&mut self, follower: Produced) {
        self.refused += follower.refused;
        for row in follower.dropped.iter() {
            self.sendable.remove(row);
        }
        self.stopped_early |= follower.stopped_early;
        for id in follower.possible_duplicates {
            if !self.possible_duplicates.contains(&id) {
                self.possible_duplicates.push(id);
            }
        }
    }
}

/// Which cursor a `produce` call is, and what the cursors share.
pub(super) struct Cursor<'a> {
    /// The lane this cursor feeds; lane 0 is the lead.
    pub(super) lane: usize,
    pub(super) lanes: &'a Lanes,
    pub(super) lead: &'a Lead,
    /// Messages queued by all cursors, for `--limit`.
    pub(super) queued: &'a AtomicU64,
    /// Rung after each message queued.
    pub(super) arrived: &'a Notify,
    /// The list has duplicates, which only the lead knows: a follower sends a row only once the
    /// lead has passed it and not refused it. Without duplicates a follower validates a row
    /// exactly as the lead does and need not wait for it.
    pub(super) wait_for_lead: bool,
}

fn row_index(row: &Row) -> u64 {
    match row {
        Row::Valid { recipient, .. } => recipient.row,
        Row::Invalid { row, .. } => *row,
    }
}

/// Whether a row in `state` needs a message in this run.
pub(super) fn needs_message(state: State, retry_failed: bool) -> bool {
    match state {
        State::Pending | State::Attempting | State::Deferred => true,
        State::Failed => retry_failed,
        State::Sent | State::Delayed | State::Bounced | State::Skipped => false,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn produce(
    config: &Config,
    opts: &SendOptions,
    renderer: &Renderer,
    builder: &MessageBuilder,
    journal: &JournalWriter,
    replay: Option<&Replay>,
    duplicates: Option<ListDuplicates>,
    tx: mpsc::Sender<Job>,
    shutdown: &Shutdown,
    cursor: Cursor<'_>,
) -> Result<Produced> {
    let is_lead = cursor.lane == 0;
    let _guard = is_lead.then(|| LeadGuard(cursor.lead));
    let mut reader =
        RecipientReader::open_without_duplicates(&opts.recipients, config, opts.encoding)?;
    if let Some(duplicates) = duplicates {
        reader = reader.with_duplicates(duplicates)?;
    }
    let scanner = Scanner::from_reader(reader, &opts.recipients, renderer)
        .with_builder(builder)
        .with_shard(opts.shard);
    let mut produced = Produced {
        rows: 0,
        refused: 0,
        skipped: 0,
        sendable: RowSet::default(),
        stopped_early: false,
        already_done: 0,
        possible_duplicates: Vec::new(),
        dropped: RowSet::default(),
    };
    let mut last_row = None;
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
        if let Some(row) = last_row.take().filter(|_| is_lead) {
            cursor.lead.passed(row);
        }
        if shutdown.is_triggered() {
            produced.stopped_early = true;
            break;
        }
        produced.rows += 1;
        let row = match read? {
            Next::Row(row) => row,
            Next::Finished { row } => {
                last_row = Some(row);
                if !is_lead {
                    continue;
                }
                produced.sendable.insert(row);
                if replay.is_some_and(|r| r.states.get(row).is_delivered()) {
                    produced.already_done += 1;
                }
                continue;
            }
        };
        last_row = Some(row_index(&row));
        if row.is_valid() && is_lead {
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
                // A follower reads without the list's duplicates: the lead decides refusals.
                if is_lead {
                    cursor.lead.refused(row);
                    produced.refuse(journal, state, row, id, &errors, "invalid row")?;
                }
            }
            Row::Valid {
                recipient,
                warnings,
            } => {
                let lane = cursor
                    .lanes
                    .lane_of(domain_of(&recipient.email), &recipient.brand);
                if is_lead && needs_message(state, opts.retry_failed) {
                    cursor.lead.to_send(cursor.lanes.group(lane));
                }
                if lane != cursor.lane {
                    continue;
                }
                // Finished rows were passed over above; this is a row refused in an earlier run.
                if !needs_message(state, opts.retry_failed) {
                    continue;
                }
                if !is_lead && cursor.wait_for_lead {
                    match cursor.lead.verdict(recipient.row, shutdown) {
                        Verdict::Send => {}
                        Verdict::Refused => continue,
                        Verdict::Stop => {
                            produced.stopped_early = true;
                            break;
                        }
                    }
                }
                // A follow-up's person whose situation did not change is journaled as skipped;
                // that is not a message, so it does not count against --limit.
                if let Some(reason) = crate::waves::skip_reason(config, renderer, &recipient) {
                    produced.skip(journal, recipient.row, recipient.id, reason)?;
                    continue;
                }
                if opts
                    .limit
                    .is_some_and(|l| cursor.queued.fetch_add(1, Ordering::AcqRel) >= l)
                {
                    continue;
                }
                if state == State::Attempting {
                    produced.possible_duplicates.push(recipient.id.clone());
                }
                match reader.render(recipient, warnings) {
                    Scanned::Ready {
                        recipient, notice, ..
                    } => {
                        let job = Job {
                            row: recipient.row,
                            id: recipient.id,
                            email: recipient.email,
                            group: cursor.lanes.group(lane),
                            notice,
                            attempts_before: attempts,
                        };
                        if tx.blocking_send(job).is_err() {
                            // Every worker has stopped (a signal, an outage): the rest of the
                            // list was not read.
                            produced.stopped_early = true;
                            break;
                        }
                        cursor.arrived.notify_one();
                    }
                    Scanned::Refused {
                        row, id, errors, ..
                    } => {
                        if opts.limit.is_some() {
                            cursor.queued.fetch_sub(1, Ordering::AcqRel);
                        }
                        produced.refuse(journal, state, row, id, &errors, "refused")?;
                    }
                }
            }
        }
    }
    if is_lead {
        if let Some(row) = last_row {
            cursor.lead.passed(row);
        }
        cursor.lead.finish(produced.stopped_early);
    }
    Ok(produced)
}

impl Produced {
    /// A valid row this campaign does not mail (a follow-up class not in `send_to`): no longer
    /// sendable, journaled as skipped with `reason`, and done for every later run.
    fn skip(
        &mut self,
        journal: &JournalWriter,
        row: u64,
        id: String,
        reason: String,
    ) -> Result<()> {
        self.skipped += 1;
        self.sendable.remove(row);
        journal.outcome(&Outcome::skipped(row, id, 0, reason))
    }

    /// A row that will not be sent: counted, no longer sendable, and journaled with its
    /// problems (which never quote personal data) unless an earlier run journaled it (`state`).
    fn refuse(
        &mut self,
        journal: &JournalWriter,
        state: State,
        row: u64,
        id: Option<String>,
        errors: &[RowIssue],
        what: &str,
    ) -> Result<()> {
        self.refused += 1;
        self.sendable.remove(row);
        self.dropped.insert(row);
        if state == State::Skipped {
            return Ok(());
        }
        let problems: Vec<&str> = errors.iter().map(|e| e.problem.as_str()).collect();
        journal.outcome(&Outcome::skipped(
            row,
            id.unwrap_or_default(),
            0,
            format!("{what}: {}", problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
