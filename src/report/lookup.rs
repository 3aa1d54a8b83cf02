//! `lookup`: the hotline's "was this person notified?" — one recipient's history, found by
//! reference number or customer id, from the journals and the list (or the journals alone
//! when the list is not at hand).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::journals::Journals;
use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::{Record, State, read_journal};
use crate::render::reference;
use crate::util::time::shown_time;

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
    let mut letter_batches = std::collections::BTreeSet::new();
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
            Record::LetterExported(l) if l.row == row => {
                writeln!(
                    out,
                    "  {}  letter exported in {} (pages {})",
                    shown_time(&l.at),
                    l.batch,
                    l.pages
                )?;
                letter_batches.insert(l.batch);
            }
            Record::LetterPosted(p) if letter_batches.contains(&p.batch) => {
                writeln!(
                    out,
                    "  {}  letter in {} posted on {} (the print vendor's confirmation)",
                    shown_time(&p.at),
                    p.batch,
                    p.date
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
                    crate::util::redact::redact_reply(o.reply.as_deref().unwrap_or(""))
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
