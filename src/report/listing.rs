//! `report`: one line per recipient of the list — state, attempts, the last reply — as CSV or
//! JSON Lines, computed from the journals and the list.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::journals::{Journals, open_journals};
use super::output::{Format, write_line, write_start};
use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::render::reference;

/// The columns of `report --format csv`, in order (the fields of [`ReportRow`]).
const REPORT_COLUMNS: [&str; 11] = [
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
    "relay",
];

/// One recipient's line in `report`.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct ReportRow {
    id: String,
    reference: String,
    state: String,
    attempts: u32,
    code: Option<u16>,
    enhanced: Option<String>,
    reply: Option<String>,
    message_id: Option<String>,
    time: Option<String>,
    possible_duplicate: bool,
    /// The relay of `[[send.relays]]` that took (or refused) the last attempt.
    relay: Option<String>,
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
            opt(&self.relay),
        ]
    }
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
    let header: Vec<String> = REPORT_COLUMNS.iter().map(|c| c.to_string()).collect();
    write_start(out, format, &header)?;
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
            relay: last.as_ref().and_then(|o| o.relay.clone()),
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
pub(super) fn list_rows_or_journal<'a>(
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
