//! What the journal says: `status` (counts, last run, failures by reply and by domain, possible
//! duplicates), `report` (one line per recipient, CSV or JSON) and `lookup` (the hotline's
//! "was this person notified?"). Everything here is computed from the journal and the list;
//! nothing here prints a name, an address or a phone number.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::read_journal;
use crate::journal::{Outcome, Record, State};
use crate::render::reference;
use crate::report::journals::Journals;

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

/// A cell as every CSV this tool writes carries it: a cell that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return would be run as a formula by a spreadsheet (a customer
/// named `=HYPERLINK(…)`), so it gets a leading single quote, as OWASP advises for CSV
/// injection. The quote shows in the cell; the value stays readable and is never executed.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The byte order mark that CSV files for people begin with: Excel (Japanese Windows in
/// particular) reads a CSV without one as Shift_JIS and garbles every name.
pub const CSV_BOM: &str = "\u{feff}";

/// Starts a CSV output: the BOM, then the header record.
fn write_csv_header(out: &mut dyn Write, header: &[String]) -> Result<()> {
    out.write_all(CSV_BOM.as_bytes())?;
    write_line(out, Format::Csv, header, &())
}

/// Writes one line of output: `cells` as a CSV record (csv does the quoting, [`csv_cell`]
/// neutralises formulas; one row at a time keeps memory flat) or `object` as a JSON line.
fn write_line(
    out: &mut dyn Write,
    format: Format,
    cells: &[String],
    object: &impl Serialize,
) -> Result<()> {
    let mut buf = Vec::new();
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut buf);
            w.write_record(cells.iter().map(|c| csv_cell(c).into_owned()))?;
            w.flush()?;
        }
        Format::Json => {
            serde_json::to_writer(&mut buf, object)?;
            buf.push(b'\n');
        }
    }
    out.write_all(&buf)?;
    Ok(())
}

impl ReportRow {
    /// The row as CSV cells, in [`REPORT_COLUMNS`] order.
    fn cells(&self) -> Vec<String> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            self.id.clone(),
            self.reference.clone(),
            self.state.clone(),
            self.attempts.to_string(),
            self.code.map(|c| c.to_string()).unwrap_or_default(),
            opt(&self.enhanced),
            opt(&self.reply),
            opt(&self.message_id),
            opt(&self.time),
            self.possible_duplicate.to_string(),
        ]
    }
}

/// Output format of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

/// Opens the journals of the campaign in `state_dirs`, or says there is none.
fn open_journals(config: &Config, state_dirs: &[PathBuf]) -> Result<Journals> {
    Journals::open(state_dirs, &config.campaign.id)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no journal for campaign {} in {}: nothing has been sent yet",
            config.campaign.id,
            state_dirs
                .first()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )
    })
}

/// Writes one row per recipient of the list, in list order.
pub fn report(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    format: Format,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut journals = open_journals(config, state_dirs)?;
    let rows = list_rows_or_journal(&journals, config, recipients, encoding)?;
    if format == Format::Csv {
        let header: Vec<String> = REPORT_COLUMNS.iter().map(|c| c.to_string()).collect();
        write_csv_header(out, &header)?;
    }
    let mut n = 0u64;
    for row in rows {
        let (row, id) = row?;
        let last = journals.last_outcome(row)?;
        let line = ReportRow {
            reference: reference::reference(&config.campaign.id, &id),
            id,
            state: journals.state(row).as_str().to_string(),
            attempts: journals.attempts(row),
            code: last.as_ref().and_then(|o| o.code),
            enhanced: last.as_ref().and_then(|o| o.enhanced.clone()),
            reply: last.as_ref().and_then(|o| o.reply.clone()),
            message_id: last.as_ref().and_then(|o| o.message_id.clone()),
            time: last.as_ref().map(|o| o.at.clone()),
            possible_duplicate: journals.possible_duplicate(row),
        };
        n += 1;
        write_line(out, format, &line.cells(), &line)?;
    }
    out.flush()?;
    Ok(n)
}

/// Recipients to report, as `(row, id)`, in row order.
type RowIdIter<'a> = Box<dyn Iterator<Item = Result<(u64, String)>> + 'a>;

/// `(row, id)` of every recipient to report, in row order: from the list when it is there
/// (and bound to the journals, [`Journals::bind_list`]), else from the journals alone — every
/// row they hold a record of; rows never attempted have their id only in the list, and are
/// counted in a note on standard error.
fn list_rows_or_journal<'a>(
    journals: &Journals,
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
) -> Result<RowIdIter<'a>> {
    if journals.bind_list(recipients, config, encoding)? {
        let reader = RecipientReader::open_without_duplicates(recipients, config, encoding)?;
        return Ok(Box::new(reader.map(|row| {
            Ok(match row? {
                Row::Valid { recipient, .. } => (recipient.row, recipient.id),
                Row::Invalid { row, id, .. } => (row, id.unwrap_or_default()),
            })
        })));
    }
    let all: BTreeSet<u64> = (1..=journals.list_rows).collect();
    let ids = journals.recorded_ids(&all)?;
    let unknown = journals.list_rows - ids.len() as u64;
    if unknown > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "note: {} not found: reporting from the journal alone; {unknown} of {} rows have \
             no record yet, and their ids are only in the list",
            recipients.display(),
            journals.list_rows
        );
    }
    Ok(Box::new(ids.into_iter().map(Ok)))
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
    /// Recipients recorded in the journals of two shards (the shards overlap).
    pub in_two_shards: Vec<String>,
    pub torn_tail: Option<String>,
    /// Committed records a journal has lost (see `journal::RecordsMissing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_records: Option<String>,
}

/// Computes `status` from the journals; the list is read only to name recipients and group
/// failures by domain.
pub fn status(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    out: &mut dyn Write,
) -> Result<Status> {
    let Some(mut journals) = Journals::open(state_dirs, &config.campaign.id)? else {
        writeln!(
            out,
            "campaign {}: nothing sent yet (no journal in {})",
            config.campaign.id,
            state_dirs
                .first()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )?;
        return Ok(Status {
            campaign: config.campaign.id.clone(),
            ..Default::default()
        });
    };
    let mut status = Status {
        campaign: journals.campaign.clone(),
        journal: journals.journals[0].path.clone(),
        list_rows: journals.list_rows,
        torn_tail: journals
            .journals
            .iter()
            .find_map(|j| j.replay.torn_tail.as_ref().map(|t| (j, t)))
            .map(|(j, t)| format!("{} line {}: {}", j.path.display(), t.line, t.reason)),
        missing_records: journals
            .journals
            .iter()
            .find_map(|j| j.replay.missing.as_ref().map(|m| m.to_string())),
        ..Default::default()
    };
    for (state, n) in journals.counts() {
        status.states.insert(state.as_str().to_string(), n);
    }
    // Failures by reply, from the last outcome of each failed, deferred or bounced row.
    let mut failing_rows = BTreeSet::new();
    for row in 1..=journals.list_rows {
        if !matches!(
            journals.state(row),
            State::Failed | State::Deferred | State::Bounced
        ) {
            continue;
        }
        if let Some(o) = journals.last_outcome(row)? {
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
    let duplicates = journals.possible_duplicates();
    // The list is read only when it is the journals' own (a different one is refused), and
    // only for the failures by domain: recipients are named by the ids the journals hold.
    let bound = journals.bind_list(recipients, config, encoding)?;
    if bound && !failing_rows.is_empty() {
        for row in RecipientReader::open_without_duplicates(recipients, config, encoding)? {
            if let Row::Valid { recipient, .. } = row?
                && failing_rows.contains(&recipient.row)
            {
                let domain = recipient
                    .email
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase());
                *status
                    .failures_by_domain
                    .entry(domain.unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    let named: BTreeSet<u64> = duplicates
        .iter()
        .chain(&journals.overlapping)
        .copied()
        .collect();
    let ids = journals.recorded_ids(&named)?;
    let name = |row: &u64| {
        ids.get(row)
            .cloned()
            .unwrap_or_else(|| format!("row {row}"))
    };
    status.possible_duplicates = duplicates.iter().map(name).collect();
    status.in_two_shards = journals.overlapping.iter().map(name).collect();
    print_status(&status, &journals, out)?;
    Ok(status)
}

fn print_status(s: &Status, journals: &Journals, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "campaign {} — journal {}",
        s.campaign,
        s.journal.display()
    )?;
    writeln!(out, "list: {} rows", s.list_rows)?;
    let running = journals.journals.iter().find_map(|j| j.running.clone());
    for (state, n) in &s.states {
        if *n > 0 || matches!(state.as_str(), "sent" | "pending" | "deferred" | "failed") {
            let label = match state.as_str() {
                "attempting" if running.is_some() => "attempting (in flight now)",
                "attempting" => "attempting (in flight when a run died)",
                "skipped" => "skipped (invalid rows)",
                other => other,
            };
            writeln!(out, "  {label:<40} {n:>10}")?;
        }
    }
    if journals.journals.len() > 1 {
        writeln!(out, "merged from {} journals:", journals.journals.len())?;
        for j in &journals.journals {
            writeln!(out, "  {}", j.path.display())?;
        }
    }
    let last_run = journals
        .journals
        .iter()
        .filter_map(|j| j.replay.runs.last())
        .max_by(|a, b| a.started.cmp(&b.started));
    if let Some(run) = last_run {
        let how = match &running {
            _ if run.clean_stop => "stopped cleanly".to_string(),
            Some(pid) => format!("running now (pid {pid})"),
            None => "died: ended without a clean stop (crash or kill)".to_string(),
        };
        let ended = if running.is_some() && !run.clean_stop {
            "now".to_string()
        } else {
            shown_time(&run.ended)
        };
        writeln!(
            out,
            "last run: {} → {ended}, {how}{}",
            shown_time(&run.started),
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
                    crate::util::format::format_duration(left as f64 / rate)
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
    if !s.in_two_shards.is_empty() {
        writeln!(
            out,
            "warning: recorded in two shards' journals (the shards overlap): {}",
            s.in_two_shards.join(", ")
        )?;
    }
    if let Some(t) = &s.torn_tail {
        writeln!(out, "journal: torn last line set aside ({t})")?;
    }
    if let Some(m) = &s.missing_records {
        writeln!(out, "journal damaged: {m}")?;
    }
    Ok(())
}

/// The offset of the times shown to people. The config has no time-zone setting: a campaign
/// in Japan speaks Japan Standard Time, which has had no daylight saving since 1951, so a fixed
/// +09:00 is exact (Asia/Tokyo) without a zone database.
const SHOWN_OFFSET: (i8, i8, i8) = (9, 0, 0);

/// A journal timestamp (UTC) as people read it: `2026-11-25 17:00:00 +09:00`. Text that is not
/// a journal timestamp is shown as it is.
pub fn shown_time(at: &str) -> String {
    let Some(t) = crate::journal::parse_rfc3339(at) else {
        return at.to_string();
    };
    let (h, m, s) = SHOWN_OFFSET;
    let offset = time::UtcOffset::from_hms(h, m, s).expect("a valid offset");
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    t.to_offset(offset)
        .format(&fmt)
        .unwrap_or_else(|_| at.to_string())
}

/// The history of one recipient, found by reference number or customer id.
pub fn lookup(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    key: &str,
    out: &mut dyn Write,
) -> Result<bool> {
    let by_reference = reference::normalize(key);
    let journals = Journals::open(state_dirs, &config.campaign.id)?;
    let bound = match &journals {
        Some(j) => j.bind_list(recipients, config, encoding)?,
        None => true, // nothing to bind to: the list alone answers "not notified yet"
    };
    let mut found = None;
    if !bound && let Some(j) = &journals {
        found = j.find_recorded(key, by_reference.as_deref(), &config.campaign.id)?;
        if found.is_none() {
            writeln!(
                out,
                "{key}: no record in the journal under this reference number or customer id; \
                 the list ({}) is not here, so whether {key} is on it cannot be told",
                recipients.display()
            )?;
            return Ok(false);
        }
    }
    let rows = if found.is_some() {
        None
    } else {
        Some(RecipientReader::open_without_duplicates(
            recipients, config, encoding,
        )?)
    };
    for row in rows.into_iter().flatten() {
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
    let Some(journals) = journals else {
        writeln!(out, "  not notified yet (no journal)")?;
        return Ok(true);
    };
    writeln!(out, "  state: {}", describe(journals.state(row)))?;
    let paths: Vec<PathBuf> = journals.journals.iter().map(|j| j.path.clone()).collect();
    for line in paths
        .iter()
        .map(|p| read_journal(p))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
    {
        match line?.record {
            Record::Attempt(a) if a.row == row => {
                writeln!(
                    out,
                    "  {}  attempt {} ({})",
                    shown_time(&a.at),
                    a.attempt,
                    a.message_id
                )?;
            }
            Record::Outcome(o) if o.row == row => {
                let code = o.code.map(|c| c.to_string()).unwrap_or_default();
                writeln!(
                    out,
                    "  {}  {} {} {}",
                    shown_time(&o.at),
                    o.state,
                    code,
                    crate::send::transport::redact_reply(o.reply.as_deref().unwrap_or(""))
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

/// Why a recipient was not reached by e-mail, for `report --unreached`.
pub fn unreached_category(state: State) -> Option<&'static str> {
    match state {
        State::Sent | State::Delayed => None,
        State::Bounced => Some("bounced"),
        State::Failed => Some("smtp_refused"),
        State::Deferred => Some("deferred"),
        State::Skipped => Some("invalid"),
        State::Pending => Some("not_sent"),
        State::Attempting => Some("unconfirmed"),
    }
}

/// Writes one line per recipient not reached by e-mail — invalid rows, permanent SMTP
/// failures, deferred and never-sent recipients, bounces — with `columns` copied from the list
/// (a postal address for a letter, say). Returns the number of lines.
#[allow(clippy::too_many_arguments)]
pub fn unreached(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    format: Format,
    columns: &[String],
    out: &mut dyn Write,
) -> Result<u64> {
    let mut journals = Journals::open(state_dirs, &config.campaign.id)?;
    if let Some(j) = &mut journals
        && !j.bind_list(recipients, config, encoding)?
    {
        if !columns.is_empty() {
            anyhow::bail!(
                "{}: not found; --columns copies cells of the list the journal was made from",
                recipients.display()
            );
        }
        return unreached_from_journal(config, j, recipients, encoding, format, out);
    }
    let mut reader = RecipientReader::open(recipients, config, encoding)?;
    let indices = reader.column_indices(columns)?;
    let mut header: Vec<String> = ["id", "reference", "category", "detail", "time"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(columns.iter().cloned());
    if format == Format::Csv {
        write_csv_header(out, &header)?;
    }
    let mut n = 0u64;
    while let Some(row) = reader.next() {
        let row = row?;
        let values = reader.current_values(&indices);
        let (row_no, id, invalid) = match row {
            Row::Valid { recipient, .. } => (recipient.row, recipient.id, None),
            Row::Invalid {
                row, id, errors, ..
            } => {
                let problems: Vec<String> = errors.into_iter().map(|e| e.problem).collect();
                (row, id.unwrap_or_default(), Some(problems.join("; ")))
            }
        };
        let state = journals
            .as_ref()
            .map_or(State::Pending, |j| j.state(row_no));
        let last = match &mut journals {
            Some(j) => j.last_outcome(row_no)?,
            None => None,
        };
        let (category, detail_text) = match invalid {
            Some(problems) => ("invalid", problems),
            None => match unreached_category(state) {
                None => continue,
                Some(c) => (c, last.as_ref().map(describe_outcome).unwrap_or_default()),
            },
        };
        let time = last.as_ref().map(|o| o.at.clone()).unwrap_or_default();
        let reference = if id.is_empty() {
            String::new()
        } else {
            reference::reference(&config.campaign.id, &id)
        };
        let mut record = vec![id, reference, category.to_string(), detail_text, time];
        record.extend(values);
        let object: serde_json::Map<String, serde_json::Value> = header
            .iter()
            .cloned()
            .zip(record.iter().cloned().map(serde_json::Value::String))
            .collect();
        write_line(out, format, &record, &object)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// `report --unreached` without the list: the rows the journals hold that were not reached.
fn unreached_from_journal(
    config: &Config,
    journals: &mut Journals,
    recipients: &Path,
    encoding: Encoding,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64> {
    let header: Vec<String> = ["id", "reference", "category", "detail", "time"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if format == Format::Csv {
        write_csv_header(out, &header)?;
    }
    let mut n = 0u64;
    for row in list_rows_or_journal(journals, config, recipients, encoding)? {
        let (row, id) = row?;
        let Some(category) = unreached_category(journals.state(row)) else {
            continue;
        };
        let last = journals.last_outcome(row)?;
        let record = vec![
            reference::reference(&config.campaign.id, &id),
            category.to_string(),
            last.as_ref().map(describe_outcome).unwrap_or_default(),
            last.as_ref().map(|o| o.at.clone()).unwrap_or_default(),
        ];
        let record: Vec<String> = std::iter::once(id).chain(record).collect();
        let object: serde_json::Map<String, serde_json::Value> = header
            .iter()
            .cloned()
            .zip(record.iter().cloned().map(serde_json::Value::String))
            .collect();
        write_line(out, format, &record, &object)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

fn describe_outcome(o: &Outcome) -> String {
    let mut parts = Vec::new();
    if let Some(c) = o.code {
        parts.push(c.to_string());
    }
    if let Some(e) = &o.enhanced {
        parts.push(e.clone());
    }
    if let Some(r) = &o.reply {
        parts.push(r.clone());
    }
    parts.join(" ")
}

/// The figures an incident report needs, from the journal alone, in Japanese and English.
pub fn summary(config: &Config, state_dirs: &[PathBuf], out: &mut dyn Write) -> Result<()> {
    let journals = open_journals(config, state_dirs)?;
    let counts = journals.counts();
    let get = |s: State| counts.get(&s).copied().unwrap_or(0);
    let people = journals.list_rows;
    let notified = get(State::Sent) + get(State::Delayed);
    let bounced = get(State::Bounced);
    let refused = get(State::Failed);
    let invalid = get(State::Skipped);
    let not_yet = get(State::Pending) + get(State::Deferred) + get(State::Attempting);
    let unreachable = bounced + refused + invalid;
    let g = crate::util::format::group_digits;
    writeln!(
        out,
        "通知状況の集計 / Notification summary — campaign {}",
        journals.campaign
    )?;
    writeln!(
        out,
        "  対象者数 (people in the list)                              {:>12}",
        g(people)
    )?;
    writeln!(
        out,
        "  電子メールで通知済み (notified by e-mail)                  {:>12}",
        g(notified)
    )?;
    writeln!(
        out,
        "    うち配信遅延の報告あり (of which delivery delayed)        {:>12}",
        g(get(State::Delayed))
    )?;
    writeln!(
        out,
        "  電子メールで通知できなかった (not reachable by e-mail)    {:>12}",
        g(unreachable)
    )?;
    writeln!(
        out,
        "    不達通知 (bounced)                                       {:>12}",
        g(bounced)
    )?;
    writeln!(
        out,
        "    送信拒否 (refused by the receiving server)               {:>12}",
        g(refused)
    )?;
    writeln!(
        out,
        "    宛先データ不備 (invalid row in the list)                 {:>12}",
        g(invalid)
    )?;
    writeln!(
        out,
        "  未送信・再送待ち (not sent yet or to be retried)           {:>12}",
        g(not_yet)
    )?;
    writeln!(
        out,
        "  他の手段での通知対象 (exported for another channel: `report --unreached`) {:>12}",
        g(unreachable + not_yet)
    )?;
    let total = notified + unreachable + not_yet;
    if total != people {
        writeln!(
            out,
            "  warning: the categories add up to {total}, not {people}"
        )?;
    }
    Ok(())
}
