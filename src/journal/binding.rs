//! The binding of a journal to one list: the journal names people by their row in the list
//! whose digest and row count its header records, so every command that joins the two first
//! checks that they belong together, and refuses — with [`JournalMismatch`], which the CLI
//! turns into a refusal — a list or inputs other than the journal's own.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::record::{Header, Record};
use super::replay::Replay;

/// Why a journal is not for the list or the inputs at hand.
#[derive(Debug)]
pub enum JournalMismatch {
    /// The list is not the one the journal was made from.
    ListChanged {
        journal: PathBuf,
        list: PathBuf,
        /// The list the journal was made from, as its header names it (journals of earlier
        /// versions do not).
        made_from: Option<String>,
        journal_digest: String,
        journal_rows: u64,
        list_digest: String,
        list_rows: u64,
        /// Who asks: `send` resuming, or a command answering questions.
        purpose: Purpose,
    },
    /// The templates or notice settings changed since the journal began (`send` only; it may go
    /// on with `--accept-changes`).
    InputsChanged { journal: PathBuf, changes: String },
}

/// What a list is bound to a journal for; the advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `send` continuing the campaign.
    Resume,
    /// `status`, `report`, `lookup`: answering for the people of the list.
    Answer,
}

impl fmt::Display for JournalMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |d: &str| d.get(..12).unwrap_or(d).to_string();
        match self {
            JournalMismatch::ListChanged {
                journal,
                list,
                made_from,
                journal_digest,
                journal_rows,
                list_digest,
                list_rows,
                purpose,
            } => match purpose {
                Purpose::Resume => write!(
                    f,
                    "{}: the recipients list changed since this journal began (list_digest {} → \
                     {}, {journal_rows} → {list_rows} rows). The journal identifies people by their \
                     row in the list, so it cannot continue with another list: restore the original \
                     list, or send the new one as a campaign of its own (another campaign.id or \
                     --state-dir)",
                    journal.display(),
                    short(journal_digest),
                    short(list_digest),
                ),
                Purpose::Answer => {
                    let made_from = made_from
                        .as_deref()
                        .map(|f| format!("{f}, "))
                        .unwrap_or_default();
                    write!(
                        f,
                        "{} ({list_rows} rows, digest {}) is not the list the journal {} was made \
                         from ({made_from}{journal_rows} rows, digest {}): the journal identifies \
                         people by their row in that list, so another list would answer for the \
                         wrong people. Give the original with --recipients, or move the other list \
                         away to answer from the journal alone",
                        list.display(),
                        short(list_digest),
                        journal.display(),
                        short(journal_digest),
                    )
                }
            },
            JournalMismatch::InputsChanged { journal, changes } => write!(
                f,
                "{}: {changes}. The templates or notice settings changed since this journal \
                 began: sending on would mix two versions of the notice; if the change is \
                 deliberate (and approved), run again with --accept-changes",
                journal.display()
            ),
        }
    }
}

impl std::error::Error for JournalMismatch {}

/// Checks that the list at `list`, whose digest and data rows are `identity`, is the one the
/// journal at `journal` (with `header`) was made from.
pub fn check_list(
    journal: &Path,
    header: &Header,
    list: &Path,
    identity: (&str, u64),
    purpose: Purpose,
) -> Result<()> {
    let (digest, rows) = identity;
    if digest == header.list_digest && rows == header.list_rows {
        return Ok(());
    }
    Err(JournalMismatch::ListChanged {
        journal: journal.to_path_buf(),
        list: list.to_path_buf(),
        made_from: header.list_file.clone(),
        journal_digest: header.list_digest.clone(),
        journal_rows: header.list_rows,
        list_digest: digest.to_string(),
        list_rows: rows,
        purpose,
    }
    .into())
}

/// The recipients file as a journal header names it: its absolute path when it can be had.
pub fn list_file_name(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Checks that every row of `list` is the customer the journals' records of that row name
/// (the list must already be bound to them by digest). A record naming another customer than
/// its row is damage: trusted by row, it would report one person notified who never was and
/// mail another twice unflagged. The error names the journal, the row and both ids.
pub fn verify_ids(
    journals: &[(&Path, &Replay)],
    list: &Path,
    config: &crate::config::Config,
    encoding: crate::ingest::Encoding,
) -> Result<()> {
    use crate::ingest::{Next, RecipientReader, Row};
    let mut reader = RecipientReader::open_without_duplicates(list, config, encoding)?;
    while let Some(next) = reader.next_unless_finished(|_| true) {
        let row = match next? {
            Next::Finished { row } => row,
            Next::Row(row) => match row {
                Row::Valid { recipient, .. } => recipient.row,
                Row::Invalid { row, .. } => row,
            },
        };
        let Some(id) = reader.current_id() else {
            continue;
        };
        for (path, replay) in journals {
            if replay.ids.matches(row, &id) {
                continue;
            }
            let theirs = id_recorded(path, row)?.unwrap_or_default();
            bail!(
                "{}: the journal's records of row {row} name customer {theirs:?}, but row {row} \
                 of {} is customer {id:?}: the journal is damaged (a record that names another \
                 customer than its row cannot be trusted); restore it from a backup",
                path.display(),
                list.display()
            );
        }
    }
    Ok(())
}

/// The id the first record of `row` in the journal at `path` names.
fn id_recorded(path: &Path, row: u64) -> Result<Option<String>> {
    for line in super::read::read_journal(path)? {
        match line?.record {
            Record::Attempt(a) if a.row == row && !a.id.is_empty() => return Ok(Some(a.id)),
            Record::Outcome(o) if o.row == row && !o.id.is_empty() => return Ok(Some(o.id)),
            _ => {}
        }
    }
    Ok(None)
}
