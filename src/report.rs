//! What the journal says: `status` (counts, last run, failures by reply and by domain, possible
//! duplicates), `report` (one line per recipient, CSV or JSON) and `lookup` (the hotline's
//! "was this person notified?"). Everything here is computed from the journal and the list;
//! nothing here prints a name, an address or a phone number.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::Config;
use crate::journal::{self, Outcome, Record, Replay, State};
use crate::recipients::{Encoding, RecipientReader, Row};
use crate::reference;

/// One journal line with its byte offset.
pub struct JournalLine {
    pub offset: u64,
    pub record: Record,
}

/// Reads every complete record of a journal, in order (a torn last line is skipped; `replay`
/// reports it).
pub fn read_journal(path: &Path) -> Result<impl Iterator<Item = Result<JournalLine>>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read journal {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let path = path.to_path_buf();
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    Ok(std::iter::from_fn(move || {
        {
            buf.clear();
            let n = match reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return Some(Err(anyhow::anyhow!("{}: {e}", path.display()))),
            };
            let start = offset;
            offset += n as u64;
            line_no += 1;
            if buf.last() != Some(&b'\n') {
                return None; // torn tail
            }
            Some(
                serde_json::from_slice::<Record>(&buf)
                    .map(|record| JournalLine {
                        offset: start,
                        record,
                    })
                    .map_err(|e| {
                        anyhow::anyhow!("{}:{line_no}: corrupt record ({e})", path.display())
                    }),
            )
        }
    }))
}

/// Reads the one record at `offset`.
fn record_at(file: &mut std::io::BufReader<std::fs::File>, offset: u64) -> Result<Record> {
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.read_until(b'\n', &mut buf)?;
    Ok(serde_json::from_slice(&buf)?)
}

/// The per-row detail `report` and `status` need beyond the replayed states.
struct Detail {
    /// Offset of each row's last outcome line (0 = none), index `row - 1`.
    last_outcome: Vec<u64>,
    /// Rows attempted again with no outcome in between: the previous run died mid-transaction.
    possible_duplicates: BTreeSet<u64>,
}

fn detail(path: &Path, rows: u64) -> Result<Detail> {
    let mut last_outcome = vec![0u64; rows as usize];
    let mut open_attempt = vec![false; rows as usize];
    let mut possible_duplicates = BTreeSet::new();
    for line in read_journal(path)? {
        let line = line?;
        match line.record {
            Record::Attempt(a) => {
                if let Some(i) = a.row.checked_sub(1).filter(|&i| i < rows) {
                    if open_attempt[i as usize] {
                        possible_duplicates.insert(a.row);
                    }
                    open_attempt[i as usize] = true;
                }
            }
            Record::Outcome(o) => {
                if let Some(i) = o.row.checked_sub(1).filter(|&i| i < rows) {
                    last_outcome[i as usize] = line.offset;
                    open_attempt[i as usize] = false;
                }
            }
            _ => {}
        }
    }
    // A row still open at the end was in flight when the last run died.
    for (i, open) in open_attempt.iter().enumerate() {
        if *open {
            possible_duplicates.insert(i as u64 + 1);
        }
    }
    Ok(Detail {
        last_outcome,
        possible_duplicates,
    })
}

/// The columns of `report --format csv`, in order (the fields of [`ReportRow`]).
pub const REPORT_COLUMNS: [&str; 10] = [
    "id",
    "reference",
    "state",
    "attempts",
    "code",
    "enhanced",
    "reply",
    "message_id",
    "time",
    "possible_duplicate",
];

/// One recipient's line in `report`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ReportRow {
    pub id: String,
    pub reference: String,
    pub state: String,
    pub attempts: u32,
    pub code: Option<u16>,
    pub enhanced: Option<String>,
    pub reply: Option<String>,
    pub message_id: Option<String>,
    pub time: Option<String>,
    pub possible_duplicate: bool,
}

/// Output format of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

/// Writes one row per recipient of the list, in list order.
pub fn report(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dir: &Path,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64> {
    let path = journal::journal_path(state_dir, &config.campaign.id);
    let replay = journal::replay(&path)?;
    let detail = detail(&path, replay.header.list_rows)?;
    let mut journal_file = std::io::BufReader::new(std::fs::File::open(&path)?);
    if format == Format::Csv {
        writeln!(out, "{}", REPORT_COLUMNS.join(","))?;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut n = 0u64;
    for row in RecipientReader::open(recipients, config, encoding)? {
        let (row, id) = match row? {
            Row::Valid { recipient, .. } => (recipient.row, recipient.id),
            Row::Invalid { row, id, .. } => (row, id.unwrap_or_default()),
        };
        let last = match detail.last_outcome.get(row as usize - 1) {
            Some(&offset) if offset > 0 => match record_at(&mut journal_file, offset)? {
                Record::Outcome(o) => Some(o),
                _ => None,
            },
            _ => None,
        };
        let line = report_row(&config.campaign.id, row, id, &replay, last, &detail);
        n += 1;
        buf.clear();
        match format {
            Format::Csv => {
                // csv does the quoting; one row at a time keeps memory flat.
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut buf);
                w.serialize(&line)?;
                w.flush()?;
            }
            Format::Json => {
                serde_json::to_writer(&mut buf, &line)?;
                buf.push(b'\n');
            }
        }
        out.write_all(&buf)?;
    }
    out.flush()?;
    Ok(n)
}

fn report_row(
    campaign: &str,
    row: u64,
    id: String,
    replay: &Replay,
    last: Option<Outcome>,
    detail: &Detail,
) -> ReportRow {
    let state = replay.states.get(row);
    ReportRow {
        reference: reference::reference(campaign, &id),
        id,
        state: state.as_str().to_string(),
        attempts: replay.attempts.get(row),
        code: last.as_ref().and_then(|o| o.code),
        enhanced: last.as_ref().and_then(|o| o.enhanced.clone()),
        reply: last.as_ref().and_then(|o| o.reply.clone()),
        message_id: last.as_ref().and_then(|o| o.message_id.clone()),
        time: last.as_ref().map(|o| o.at.clone()),
        possible_duplicate: detail.possible_duplicates.contains(&row),
    }
}

/// Counts and breakdowns for `status`.
#[derive(Debug, Default, Serialize)]
pub struct Status {
    pub campaign: String,
    pub journal: PathBuf,
    pub list_rows: u64,
    pub states: BTreeMap<String, u64>,
    pub failures_by_reply: BTreeMap<String, u64>,
    pub failures_by_domain: BTreeMap<String, u64>,
    pub possible_duplicates: Vec<String>,
    pub torn_tail: Option<String>,
}

/// Computes `status` from the journal; the list is read only to group failures by domain.
pub fn status(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dir: &Path,
    out: &mut dyn Write,
) -> Result<Status> {
    let path = journal::journal_path(state_dir, &config.campaign.id);
    if !path.exists() {
        writeln!(
            out,
            "campaign {}: nothing sent yet (no journal at {})",
            config.campaign.id,
            path.display()
        )?;
        return Ok(Status {
            campaign: config.campaign.id.clone(),
            journal: path,
            ..Default::default()
        });
    }
    let replay = journal::replay(&path)?;
    let detail = detail(&path, replay.header.list_rows)?;
    let mut status = Status {
        campaign: replay.header.campaign.clone(),
        journal: path.clone(),
        list_rows: replay.header.list_rows,
        torn_tail: replay
            .torn_tail
            .as_ref()
            .map(|t| format!("line {}: {}", t.line, t.reason)),
        ..Default::default()
    };
    for (state, n) in replay.states.counts() {
        status.states.insert(state.as_str().to_string(), n);
    }
    // Failures by reply, from the last outcome of each failed or deferred row.
    let mut failing_rows = BTreeSet::new();
    let mut journal_file = std::io::BufReader::new(std::fs::File::open(&path)?);
    for (i, &offset) in detail.last_outcome.iter().enumerate() {
        let row = i as u64 + 1;
        if offset == 0
            || !matches!(
                replay.states.get(row),
                State::Failed | State::Deferred | State::Bounced
            )
        {
            continue;
        }
        if let Record::Outcome(o) = record_at(&mut journal_file, offset)? {
            let key = match (o.code, &o.enhanced) {
                (Some(c), Some(e)) => format!("{} {c} {e}", o.state),
                (Some(c), None) => format!("{} {c}", o.state),
                _ => format!(
                    "{} (no reply: {})",
                    o.state,
                    o.reply.as_deref().unwrap_or("")
                ),
            };
            *status.failures_by_reply.entry(key).or_default() += 1;
            failing_rows.insert(row);
        }
    }
    let need_list = !failing_rows.is_empty() || !detail.possible_duplicates.is_empty();
    if need_list && recipients.exists() {
        for row in RecipientReader::open(recipients, config, encoding)? {
            if let Row::Valid { recipient, .. } = row? {
                let r = recipient.row;
                if failing_rows.contains(&r) {
                    let domain = recipient
                        .email
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_ascii_lowercase());
                    *status
                        .failures_by_domain
                        .entry(domain.unwrap_or_default())
                        .or_default() += 1;
                }
                if detail.possible_duplicates.contains(&r) {
                    status.possible_duplicates.push(recipient.id);
                }
            }
        }
    }
    print_status(&status, &replay, out)?;
    Ok(status)
}

fn print_status(s: &Status, replay: &Replay, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "campaign {} — journal {}",
        s.campaign,
        s.journal.display()
    )?;
    writeln!(out, "list: {} rows", s.list_rows)?;
    for (state, n) in &s.states {
        if *n > 0 || matches!(state.as_str(), "sent" | "pending" | "deferred" | "failed") {
            let label = match state.as_str() {
                "attempting" => "attempting (in flight when a run died)",
                "skipped" => "skipped (invalid rows)",
                other => other,
            };
            writeln!(out, "  {label:<40} {n:>10}")?;
        }
    }
    if let Some(run) = replay.runs.last() {
        let how = if run.clean_stop {
            "stopped cleanly"
        } else {
            "ended without a clean stop (crash or kill)"
        };
        writeln!(
            out,
            "last run: {} → {}, {how}{}",
            run.started,
            run.ended,
            run.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )?;
        if let Some(rate) = run.outcome_rate() {
            let left = s.states.get("pending").copied().unwrap_or(0)
                + s.states.get("deferred").copied().unwrap_or(0)
                + s.states.get("attempting").copied().unwrap_or(0);
            let eta = if rate > 0.0 && left > 0 {
                format!(
                    ", ETA at that rate {}",
                    crate::progress::format_duration(left as f64 / rate)
                )
            } else {
                String::new()
            };
            writeln!(out, "  rate {rate:.1} msg/s{eta}")?;
        }
    }
    if !s.failures_by_reply.is_empty() {
        writeln!(out, "failures by reply:")?;
        for (k, n) in &s.failures_by_reply {
            writeln!(out, "  {n:>10}  {k}")?;
        }
    }
    if !s.failures_by_domain.is_empty() {
        writeln!(out, "failures by recipient domain:")?;
        let mut by: Vec<_> = s.failures_by_domain.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in by {
            writeln!(out, "  {n:>10}  {k}")?;
        }
    }
    if !s.possible_duplicates.is_empty() {
        writeln!(
            out,
            "possible duplicates (re-sent after a run died mid-transaction): {}",
            s.possible_duplicates.join(", ")
        )?;
    }
    if let Some(t) = &s.torn_tail {
        writeln!(out, "journal: torn last line set aside ({t})")?;
    }
    Ok(())
}

/// The history of one recipient, found by reference number or customer id.
pub fn lookup(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dir: &Path,
    key: &str,
    out: &mut dyn Write,
) -> Result<bool> {
    let by_reference = reference::normalize(key);
    let mut found = None;
    for row in RecipientReader::open(recipients, config, encoding)? {
        let (row, id) = match row? {
            Row::Valid { recipient, .. } => (recipient.row, recipient.id),
            Row::Invalid {
                row, id: Some(id), ..
            } => (row, id),
            Row::Invalid { .. } => continue,
        };
        let matches = id == key
            || by_reference.as_deref()
                == Some(reference::reference(&config.campaign.id, &id).as_str());
        if matches {
            found = Some((row, id));
            break;
        }
    }
    let Some((row, id)) = found else {
        writeln!(
            out,
            "{key}: no such reference number or customer id in this campaign"
        )?;
        return Ok(false);
    };
    writeln!(
        out,
        "customer {id}, reference {}",
        reference::reference(&config.campaign.id, &id)
    )?;
    let path = journal::journal_path(state_dir, &config.campaign.id);
    if !path.exists() {
        writeln!(out, "  not notified yet (no journal)")?;
        return Ok(true);
    }
    let replay = journal::replay(&path)?;
    let state = replay.states.get(row);
    writeln!(out, "  state: {}", describe(state))?;
    for line in read_journal(&path)? {
        match line?.record {
            Record::Attempt(a) if a.row == row => {
                writeln!(out, "  {}  attempt {} ({})", a.at, a.attempt, a.message_id)?;
            }
            Record::Outcome(o) if o.row == row => {
                let code = o.code.map(|c| c.to_string()).unwrap_or_default();
                writeln!(
                    out,
                    "  {}  {} {} {}",
                    o.at,
                    o.state,
                    code,
                    o.reply.as_deref().unwrap_or("")
                )?;
            }
            _ => {}
        }
    }
    Ok(true)
}

fn describe(state: State) -> &'static str {
    match state {
        State::Pending => "not notified yet",
        State::Attempting => "a message was being sent when a run stopped; it will be re-sent",
        State::Sent => "notified: the relay accepted the message",
        State::Delayed => "notified, delivery delayed by the receiving side",
        State::Deferred => "not yet: temporary failures, will be retried",
        State::Failed => "not reachable by e-mail: the address was refused",
        State::Bounced => "not reachable by e-mail: the message bounced",
        State::Skipped => "not sent: the row in the list is invalid",
    }
}
