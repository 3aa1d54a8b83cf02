//! Replaying a journal file into per-row states.
//!
//! The journal is trusted up to its last complete record. A last line that is cut short (no
//! trailing newline) or unreadable is a *torn tail* — expected after a crash, reported and
//! ignored. Damage anywhere before the last line is an error naming the file and line: the
//! journal cannot be trusted and the run must stop.
//!
//! A journal with a commit hint beside it ([`hint`](super::hint)) is also held to what the hint
//! says was committed: a journal shorter than that, or whose committed part holds other lines,
//! has lost records. Replay then still answers, with [`Replay::missing`] saying what is lost
//! and which rows it touches (the "torn" last line of such a journal is part of the loss, not
//! a crash's, and is not reported as a torn tail); appending to it is refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use sha2::Digest;

use super::hint::{Tally, Witness, hint_path, read_hint};
use super::missing::RecordsMissing;
use super::record::{Header, OLDEST_VERSION, Outcome, Record, RunEvent, State, VERSION};
use super::rows::{RowAttempts, RowIds, RowStates};
use super::scan::{Fast, find_newline, scan};

/// Longest line replay accepts (a journal line is a few hundred bytes; this only stops a
/// garbage tail without newlines from being buffered whole).
const MAX_LINE: usize = 1 << 20;

/// A last line that was cut short or is unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset where the torn line starts (the file is trusted up to here).
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub len: u64,
    /// Why it was not accepted.
    pub reason: String,
}

/// One send run, delimited by `run` markers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// The `start` marker's time, or the first record's if the records came without one.
    pub started: String,
    /// The `stop` marker's time, or the last record's time if the run ended without one
    /// (crash, kill) — then `clean_stop` is false.
    pub ended: String,
    pub clean_stop: bool,
    /// The reason given in the `stop` marker.
    pub reason: Option<String>,
    /// `attempt` records in the run.
    pub attempts: u64,
    /// `outcome` records in the run, by state.
    pub outcomes: BTreeMap<State, u64>,
    /// Free counters of the `stop` marker (or the `start` marker if there was no stop).
    pub counters: BTreeMap<String, serde_json::Value>,
}

impl RunInfo {
    fn new(started: String) -> RunInfo {
        RunInfo {
            started,
            ended: String::new(),
            clean_stop: false,
            reason: None,
            attempts: 0,
            outcomes: BTreeMap::new(),
            counters: BTreeMap::new(),
        }
    }

    /// Seconds from start to end, if both times parse.
    pub fn elapsed_secs(&self) -> Option<f64> {
        let a = crate::util::time::parse_rfc3339(&self.started)?;
        let b = crate::util::time::parse_rfc3339(&self.ended)?;
        Some((b - a).as_seconds_f64())
    }

    /// Outcomes per second over the run (for `status`).
    pub fn outcome_rate(&self) -> Option<f64> {
        let secs = self.elapsed_secs()?;
        let n: u64 = self.outcomes.values().sum();
        (secs > 0.0).then(|| n as f64 / secs)
    }
}

/// Result of replaying a journal file.
#[derive(Debug, Clone)]
pub struct Replay {
    pub header: Header,
    /// State of every row after the whole journal.
    pub states: RowStates,
    /// Attempts so far per row.
    pub attempts: RowAttempts,
    /// The customer id each row's records name (checked against the list by the callers
    /// that read it: the list is bound to the journal by its digest).
    pub ids: RowIds,
    /// Rows whose last record is an `attempt` with no outcome after it: mid-transaction at a
    /// crash, so possibly delivered — "possible duplicates" if re-sent. Ascending.
    pub in_flight: Vec<u64>,
    pub torn_tail: Option<TornTail>,
    /// Event records replayed (the header not counted, the torn tail not counted).
    pub records: u64,
    pub runs: Vec<RunInfo>,
    /// Length in bytes of the trusted part of the file (up to the torn tail, if any).
    pub valid_len: u64,
    /// Committed records the journal has lost, per its commit hint: appending is refused.
    pub missing: Option<RecordsMissing>,
    /// The journal up to `valid_len` as its commit hint counts it, when it has a hint that
    /// holds (the writer then keeps the hint going).
    pub(crate) commit: Option<Tally>,
    /// What a replay needs, beyond the tables, to go on from `valid_len` later
    /// ([`checkpoint`](super::checkpoint)).
    pub(crate) resume: Resume,
}

/// The rest of replay's state at `valid_len`: with the tables, enough to replay only what
/// the journal gained since.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resume {
    /// SHA-256 of the journal's first line (the header, stamped with its creation time).
    pub first_line: [u8; 32],
    /// Lines before `valid_len`, the header included.
    pub lines: u64,
    /// The time of the last record before `valid_len`.
    pub last_at: String,
    /// The highest row a record before `valid_len` names.
    pub max_row: u64,
    /// The count of the commit hint's check, when the journal has a hint.
    pub witness: Option<WitnessState>,
    /// Where the journal's bytes a checkpoint holds to start, and their SHA-256 (read back
    /// from a checkpoint; `None` from a replay).
    pub tail: Option<(u64, [u8; 32])>,
    /// Where this replay began: the end of the checkpoint it went on from, `None` when it
    /// read the journal from the start.
    pub from: Option<u64>,
}

/// The commit hint's check as it stood at `valid_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WitnessState {
    pub committed: Tally,
    pub running: Tally,
    pub holds: bool,
}

/// What replay tells an [`Observer`] of a record line it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Attempt {
        row: u64,
    },
    Outcome {
        row: u64,
        state: State,
    },
    /// A run marker or a letter record.
    Other,
}

/// A reader that keeps more of each record than replay does (where a row's last outcome is,
/// what its reply was): told of every record line replay accepts, in order, with the line's
/// offset in the file, in the same pass.
pub trait Observer {
    fn record(&mut self, offset: u64, line: &[u8], seen: Seen) -> Result<()>;

    /// Replay reads the journal from its start after all: forget what came with the
    /// checkpoint it was handed.
    fn restart(&mut self) {}
}

impl Observer for () {
    fn record(&mut self, _: u64, _: &[u8], _: Seen) -> Result<()> {
        Ok(())
    }
}

/// The state a row takes when `record` follows a row in state `current`. The one place the
/// precedence rules live:
///
/// - an `attempt` always makes the row `Attempting` — a new transaction begins, whatever
///   came before (a re-send after a deferral, or an explicit re-send);
/// - `bounced` is final for the transaction: later outcomes without a new attempt do not
///   undo it (a stale or duplicated `sent` must not hide a bounce);
/// - `delayed` after `sent` stays `Delayed` (sent-but-delayed, delivered so far), and a later
///   `sent` without a new attempt does not clear the delay;
/// - once delivered (`sent`/`delayed`), an outcome that is not a delivery status notification
///   (`deferred`, `failed`, `skipped`) without a new attempt cannot undo the delivery;
/// - otherwise the later outcome overrides the earlier state.
pub fn next_state(current: State, record: &RecordKind) -> State {
    use State::*;
    match *record {
        RecordKind::Attempt => Attempting,
        RecordKind::Outcome(new) => match (current, new) {
            (Bounced, _) => Bounced,
            (_, Bounced) => Bounced,
            (Sent | Delayed, Delayed) => Delayed,
            (Delayed, Sent) => Delayed,
            (Sent | Delayed, Deferred | Failed | Skipped) => current,
            (_, new) => new,
        },
    }
}

/// The part of a record that drives a row's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Attempt,
    Outcome(State),
}

/// Why a line was not accepted.
enum Bad {
    /// Not a readable record: a torn tail if it is the last line, else corruption.
    Unreadable(String),
    /// A well-formed record that cannot be true (row outside the list, a second header, …):
    /// a crash cannot produce it, so it is corruption even as the last line.
    Invalid(String),
}

struct Replayer {
    header: Header,
    states: RowStates,
    attempts: Vec<u8>,
    ids: Vec<u32>,
    records: u64,
    runs: Vec<RunInfo>,
    /// Time of the last record seen (reused buffer: no allocation per line).
    last_at: Vec<u8>,
    /// The highest row a record names.
    max_row: u64,
}

impl Replayer {
    fn row_event(
        &mut self,
        row: u64,
        id: &[u8],
        kind: RecordKind,
        attempt: u32,
        at: &[u8],
    ) -> Result<(), Bad> {
        let rows = self.states.len();
        let Some(slot) = self.states.slot(row) else {
            return Err(Bad::Invalid(format!(
                "row {row} outside the list (rows 1..={rows} per the header)"
            )));
        };
        // Every record of a row names the same customer: a record naming another is not
        // something a crash produces, and trusting it by row would report the wrong person.
        let print = RowIds::print(id);
        let known = &mut self.ids[row as usize - 1];
        if print != 0 {
            if *known == 0 {
                *known = print;
            } else if *known != print {
                return Err(Bad::Invalid(format!(
                    "row {row} is recorded here under customer id {:?}, but under another id \
                     earlier in the journal",
                    String::from_utf8_lossy(id)
                )));
            }
        }
        *slot = next_state(State::from_u8(*slot), &kind).as_u8();
        self.max_row = self.max_row.max(row);
        let a = &mut self.attempts[row as usize - 1];
        *a = (*a).max(u8::try_from(attempt).unwrap_or(u8::MAX));
        self.records += 1;
        if self.runs.is_empty() {
            self.runs
                .push(RunInfo::new(String::from_utf8_lossy(at).into_owned()));
        }
        let run = self.runs.last_mut().expect("a run");
        match kind {
            RecordKind::Attempt => run.attempts += 1,
            RecordKind::Outcome(s) => *run.outcomes.entry(s).or_insert(0) += 1,
        }
        self.last_at.clear();
        self.last_at.extend_from_slice(at);
        Ok(())
    }

    fn close_open_run(&mut self) {
        if let Some(run) = self.runs.last_mut()
            && !run.clean_stop
            && !self.last_at.is_empty()
        {
            run.ended = String::from_utf8_lossy(&self.last_at).into_owned();
        }
    }

    fn record(&mut self, rec: Record) -> Result<Seen, Bad> {
        match rec {
            Record::Header(_) => Err(Bad::Invalid("a second header".into())),
            Record::Attempt(a) => self
                .row_event(
                    a.row,
                    a.id.as_bytes(),
                    RecordKind::Attempt,
                    a.attempt,
                    a.at.as_bytes(),
                )
                .map(|()| Seen::Attempt { row: a.row }),
            Record::Outcome(Outcome {
                row,
                id,
                state,
                attempt,
                at,
                ..
            }) => {
                if !state.is_outcome() {
                    return Err(Bad::Invalid(format!(
                        "outcome state {state} is not an outcome"
                    )));
                }
                self.row_event(
                    row,
                    id.as_bytes(),
                    RecordKind::Outcome(state),
                    attempt,
                    at.as_bytes(),
                )
                .map(|()| Seen::Outcome { row, state })
            }
            // Letters leave the e-mail state of the row as it was; `journal::letters` reads them.
            Record::LetterExported(super::record::LetterExported { at, .. })
            | Record::LetterPosted(super::record::LetterPosted { at, .. }) => {
                self.records += 1;
                self.last_at.clear();
                self.last_at.extend_from_slice(at.as_bytes());
                Ok(Seen::Other)
            }
            Record::Run(m) => {
                self.records += 1;
                match m.event {
                    RunEvent::Start => {
                        self.close_open_run();
                        let mut run = RunInfo::new(m.at.clone());
                        run.counters = m.counters;
                        self.runs.push(run);
                    }
                    RunEvent::Stop => {
                        if self.runs.last().is_none_or(|r| r.clean_stop) {
                            self.runs.push(RunInfo::new(m.at.clone()));
                        }
                        let run = self.runs.last_mut().expect("a run");
                        run.ended = m.at.clone();
                        run.clean_stop = true;
                        run.reason = m.reason;
                        run.counters = m.counters;
                    }
                }
                self.last_at.clear();
                self.last_at.extend_from_slice(m.at.as_bytes());
                Ok(Seen::Other)
            }
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<Seen, Bad> {
        match scan(line) {
            Some(Fast::Attempt {
                row,
                id,
                attempt,
                at,
            }) => self
                .row_event(row, id, RecordKind::Attempt, attempt, at)
                .map(|()| Seen::Attempt { row }),
            Some(Fast::Outcome {
                row,
                id,
                state,
                attempt,
                at,
            }) => self
                .row_event(row, id, RecordKind::Outcome(state), attempt, at)
                .map(|()| Seen::Outcome { row, state }),
            None => match serde_json::from_slice::<Record>(line) {
                Ok(rec) => self.record(rec),
                Err(e) => Err(Bad::Unreadable(e.to_string())),
            },
        }
    }
}

fn corrupt(shown: &std::path::Display<'_>, bad: &TornTail) -> anyhow::Error {
    anyhow!(
        "{shown}:{}: corrupt record ({}); more lines follow, so this is not a torn tail",
        bad.line,
        bad.reason
    )
}

/// The campaign id a journal's file name implies (`<campaign>.journal.jsonl`), if it follows
/// the convention.
fn campaign_of(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()?.strip_suffix(".journal.jsonl")
}

/// Replays a journal file. See the module documentation for what is tolerated.
///
/// Errors: the file cannot be read; the header is missing, of another version, or of another
/// campaign than the file name says; any line before the last is corrupt
/// (`<file>:<line>: corrupt record (…)`).
pub fn replay(path: &Path) -> Result<Replay> {
    replay_from(path, None, &mut ())
}

/// [`replay`], going on from `from` — the replay of this journal as it stood earlier, read
/// back from a [`checkpoint`](super::checkpoint) — when it still fits the file (the same
/// header, the bytes before its end unchanged, a commit hint that agrees), else from the
/// start; `observer` is told of every record read. The result is the one [`replay`] gives.
pub(crate) fn replay_from(
    path: &Path,
    from: Option<Replay>,
    observer: &mut dyn Observer,
) -> Result<Replay> {
    let shown = path.display();
    // The hint first: it only lags the journal, so the journal read after it holds at least
    // what it names even while a writer appends.
    let committed = read_hint(path)?;
    let file = crate::util::fs::open_state_file(path, File::options().read(true))
        .with_context(|| format!("cannot open journal {shown}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);

    // Line 1: the header, parsed fully.
    let mut first = Vec::new();
    (&mut reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut first)
        .with_context(|| format!("cannot read journal {shown}"))?;
    if first.last() != Some(&b'\n') {
        bail!("{shown}:1: journal header missing or incomplete");
    }
    let header = match serde_json::from_slice::<Record>(&first[..first.len() - 1]) {
        Ok(Record::Header(h)) => h,
        Ok(_) => bail!("{shown}:1: journal header missing (first record is not a header)"),
        Err(e) => bail!("{shown}:1: journal header missing or corrupt ({e})"),
    };
    if !(OLDEST_VERSION..=VERSION).contains(&header.version) {
        bail!(
            "{shown}:1: unsupported journal version {} (this tsuchi reads versions \
             {OLDEST_VERSION} to {VERSION})",
            header.version
        );
    }
    if let Some(expected) = campaign_of(path)
        && expected != header.campaign
    {
        bail!(
            "{shown}:1: journal of campaign {:?}, but the file is named for campaign {expected:?}",
            header.campaign
        );
    }
    let rows = usize::try_from(header.list_rows)
        .ok()
        .filter(|&n| n <= 1 << 34)
        .ok_or_else(|| anyhow!("{shown}:1: implausible list_rows {}", header.list_rows))?;
    let first_line: [u8; 32] = sha2::Sha256::digest(&first[..first.len() - 1]).into();
    let had_checkpoint = from.is_some();
    let from = from.and_then(|prev| {
        let witness =
            super::checkpoint::resumed_witness(&prev, committed, &first[..first.len() - 1])?;
        super::checkpoint::fits(reader.get_ref(), &first_line, &prev).then_some((prev, witness))
    });

    let began = from.as_ref().map(|(prev, _)| prev.valid_len);
    let (mut r, mut witness, mut offset, mut line_no) = match from {
        Some((prev, witness)) => {
            reader
                .seek(std::io::SeekFrom::Start(prev.valid_len))
                .with_context(|| format!("cannot read journal {shown}"))?;
            let r = Replayer {
                states: prev.states,
                attempts: prev.attempts.bytes,
                ids: prev.ids.prints,
                header,
                records: prev.records,
                runs: prev.runs,
                last_at: prev.resume.last_at.into_bytes(),
                max_row: prev.resume.max_row,
            };
            (r, witness, prev.valid_len, prev.resume.lines)
        }
        None => {
            if had_checkpoint {
                observer.restart();
            }
            let r = Replayer {
                states: RowStates::new(rows as u64),
                attempts: vec![0; rows],
                ids: vec![0; rows],
                header,
                records: 0,
                runs: Vec::new(),
                last_at: Vec::with_capacity(64),
                max_row: 0,
            };
            let witness = Witness::start(committed, &first[..first.len() - 1]);
            // offset: the start of the current line
            (r, witness, first.len() as u64, 1u64)
        }
    };
    // A bad line is only an error once we know it is not the last one.
    let mut pending_bad: Option<TornTail> = None;
    // A line spanning buffer refills; beyond MAX_LINE only its length is kept.
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_len = 0u64;

    loop {
        let buf = reader
            .fill_buf()
            .with_context(|| format!("cannot read journal {shown}"))?;
        if buf.is_empty() {
            break;
        }
        let buf_len = buf.len();
        let mut p = 0;
        while p < buf_len {
            let rest = &buf[p..];
            let Some(nl) = find_newline(rest) else {
                if carry.len() + rest.len() <= MAX_LINE {
                    carry.extend_from_slice(rest);
                }
                carry_len += rest.len() as u64;
                break;
            };
            line_no += 1;
            if let Some(bad) = pending_bad.take() {
                return Err(corrupt(&shown, &bad));
            }
            let (result, len) = if carry_len == 0 {
                let line = &rest[..nl];
                let res = r.line(line);
                if let Ok(seen) = res {
                    if let Some(w) = &mut witness {
                        w.line(line);
                    }
                    observer.record(offset, line, seen)?;
                }
                (res.map(|_| ()), nl as u64 + 1)
            } else {
                let len = carry_len + nl as u64 + 1;
                let res = if len > MAX_LINE as u64 {
                    Err(Bad::Unreadable(format!(
                        "line longer than {MAX_LINE} bytes"
                    )))
                } else {
                    carry.extend_from_slice(&rest[..nl]);
                    let res = r.line(&carry);
                    if let Ok(seen) = res {
                        if let Some(w) = &mut witness {
                            w.line(&carry);
                        }
                        observer.record(offset, &carry, seen)?;
                    }
                    res.map(|_| ())
                };
                carry.clear();
                carry_len = 0;
                (res, len)
            };
            if let Err(Bad::Invalid(reason)) = result {
                bail!("{shown}:{line_no}: corrupt record ({reason})");
            }
            if let Err(Bad::Unreadable(reason)) = result {
                pending_bad = Some(TornTail {
                    line: line_no,
                    offset,
                    len,
                    reason,
                });
            }
            offset += len;
            p += nl + 1;
        }
        reader.consume(buf_len);
    }
    let torn = if carry_len > 0 {
        if let Some(bad) = pending_bad.take() {
            return Err(corrupt(&shown, &bad));
        }
        Some(TornTail {
            line: line_no + 1,
            offset,
            len: carry_len,
            reason: "last line has no newline (cut short)".into(),
        })
    } else if let Some(bad) = pending_bad.take() {
        offset = bad.offset;
        line_no -= 1; // the bad line is not counted as trusted
        Some(bad)
    } else {
        None
    };
    let resume = Resume {
        first_line,
        lines: line_no,
        last_at: String::from_utf8_lossy(&r.last_at).into_owned(),
        max_row: r.max_row,
        witness: witness.as_ref().map(Witness::state),
        tail: None,
        from: began,
    };
    r.close_open_run();
    let (missing, commit) = match witness {
        None => (None, None),
        Some(w) => match w.holding(r.max_row) {
            Some(tally) => (None, Some(tally)),
            None => {
                let c = w.committed();
                let missing = RecordsMissing::new(
                    path.to_path_buf(),
                    hint_path(path),
                    (c.len, c.lines - 1),
                    (offset, r.records),
                    c.max_row,
                    &r.states,
                );
                (Some(missing), None)
            }
        },
    };
    // A journal that lost records ends where the loss is, not where a crash tore it.
    let torn = if missing.is_some() { None } else { torn };

    let in_flight = r.states.rows_in(State::Attempting).collect();
    Ok(Replay {
        header: r.header,
        states: r.states,
        attempts: RowAttempts { bytes: r.attempts },
        ids: RowIds { prints: r.ids },
        in_flight,
        torn_tail: torn,
        records: r.records,
        runs: r.runs,
        valid_len: offset,
        missing,
        commit,
        resume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    fn out(s: State) -> RecordKind {
        RecordKind::Outcome(s)
    }

    #[test]
    fn precedence() {
        assert_eq!(next_state(Pending, &RecordKind::Attempt), Attempting);
        assert_eq!(next_state(Attempting, &out(Sent)), Sent);
        assert_eq!(next_state(Sent, &out(Bounced)), Bounced);
        assert_eq!(next_state(Bounced, &out(Sent)), Bounced);
        assert_eq!(next_state(Sent, &out(Delayed)), Delayed);
        assert_eq!(next_state(Delayed, &out(Sent)), Delayed);
        assert_eq!(next_state(Delayed, &out(Bounced)), Bounced);
        assert_eq!(next_state(Sent, &out(Deferred)), Sent);
        assert_eq!(next_state(Deferred, &RecordKind::Attempt), Attempting);
        assert_eq!(next_state(Attempting, &out(Deferred)), Deferred);
        assert_eq!(next_state(Deferred, &out(Failed)), Failed);
        assert_eq!(next_state(Bounced, &RecordKind::Attempt), Attempting);
        assert_eq!(next_state(Pending, &out(Skipped)), Skipped);
    }
}
