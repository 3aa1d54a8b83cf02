//! `report --unreached`: the recipients not reached by e-mail, for another channel (a letter,
//! a call), with the reason and, on request, columns copied from the list.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::journals::Journals;
use super::listing::list_rows_or_journal;
use super::output::{Format, write_line, write_start};
use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::{Outcome, State};
use crate::render::reference;

/// Why a recipient was not reached by e-mail, for `report --unreached` and `letters`; `None`
/// for a recipient e-mail reached.
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

/// The follow-up class of a row skipped by `campaign.follow_up.send_to`, from its last outcome.
fn follow_up_skip(last: Option<&crate::journal::Outcome>) -> Option<crate::render::FollowUpKind> {
    last.filter(|o| o.state == State::Skipped)
        .and_then(|o| o.reply.as_deref())
        .and_then(crate::waves::skipped_class)
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
    let letters = match &journals {
        Some(j) => j.letters()?,
        None => Default::default(),
    };
    let mut header = unreached_header();
    header.extend(columns.iter().cloned());
    let with_letters = !letters.batches.is_empty();
    if with_letters {
        header.extend(LETTER_COLUMNS.map(String::from));
    }
    write_start(out, format, &header)?;
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
            None => match (unreached_category(state), follow_up_skip(last.as_ref())) {
                (None, _) => continue,
                // Unchanged since the earlier campaign, whose notice reached them.
                (_, Some(crate::render::FollowUpKind::Unchanged)) => continue,
                (_, Some(_)) => (
                    "not_mailed",
                    last.as_ref().map(describe_outcome).unwrap_or_default(),
                ),
                (Some(c), None) => (c, last.as_ref().map(describe_outcome).unwrap_or_default()),
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
        if with_letters {
            record.extend(letter_cells(&letters, row_no));
        }
        write_unreached(out, format, &header, &record)?;
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
    let letters = journals.letters()?;
    let mut header = unreached_header();
    let with_letters = !letters.batches.is_empty();
    if with_letters {
        header.extend(LETTER_COLUMNS.map(String::from));
    }
    write_start(out, format, &header)?;
    let mut n = 0u64;
    for row in list_rows_or_journal(journals, config, recipients, encoding)? {
        let (row, id) = row?;
        let Some(category) = unreached_category(journals.state(row)) else {
            continue;
        };
        let last = journals.last_outcome(row)?;
        let category = match follow_up_skip(last.as_ref()) {
            Some(crate::render::FollowUpKind::Unchanged) => continue,
            Some(_) => "not_mailed",
            None => category,
        };
        let record = vec![
            reference::reference(&config.campaign.id, &id),
            category.to_string(),
            last.as_ref().map(describe_outcome).unwrap_or_default(),
            last.as_ref().map(|o| o.at.clone()).unwrap_or_default(),
        ];
        let letter = letter_cells(&letters, row);
        let record: Vec<String> = std::iter::once(id)
            .chain(record)
            .chain(letter.into_iter().filter(|_| with_letters))
            .collect();
        write_unreached(out, format, &header, &record)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// The last columns of `report --unreached` once `tsuchi letters` has exported any: the batch
/// file of the person's latest letter and the posting date the print vendor confirmed for it.
/// (Before that the columns are left out, so exports made before letters read as they did.)
const LETTER_COLUMNS: [&str; 2] = ["letter", "letter_posted"];

fn letter_cells(letters: &crate::journal::LetterLog, row: u64) -> [String; 2] {
    match letters.by_row.get(&row).and_then(|l| l.last()) {
        Some(l) => [
            l.batch.clone(),
            letters.posted_on(&l.batch).unwrap_or_default().to_string(),
        ],
        None => [String::new(), String::new()],
    }
}

/// The columns of `report --unreached` before any copied from the list.
fn unreached_header() -> Vec<String> {
    ["id", "reference", "category", "detail", "time"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Writes one line of `report --unreached`: `record` as CSV cells, or as a JSON object whose
/// keys are the `header`.
fn write_unreached(
    out: &mut dyn Write,
    format: Format,
    header: &[String],
    record: &[String],
) -> Result<()> {
    let object: serde_json::Map<String, serde_json::Value> = header
        .iter()
        .cloned()
        .zip(record.iter().cloned().map(serde_json::Value::String))
        .collect();
    write_line(out, format, record, &object)
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
