//! Records missing from a journal: what replay reports when the journal holds less than its
//! commit hint says was committed (see [`hint`](super::hint)), and which rows that touches.
//!
//! The lost records themselves are gone, so the rows they named cannot be listed exactly.
//! What is known: they were committed when the hint was written, so every row they name is at
//! most the hint's `max_row`. Among those rows, the ones the damaged journal shows as not yet
//! sent are the ones another `send` would mail — and any of them may have been mailed already.
//! Those are the rows named; `send` refuses to go on ([`JournalWriter::open_append`]), so
//! none of them is mailed twice unflagged.
//!
//! [`JournalWriter::open_append`]: super::JournalWriter::open_append

use std::path::PathBuf;

use super::record::State;
use super::rows::RowStates;

/// At most this many runs of rows are spelled out in the message.
const SHOWN_RANGES: usize = 12;

/// A journal that has lost committed records: not something a crash produces. The rows it
/// affects must be treated as possibly sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct RecordsMissing {
    pub journal: PathBuf,
    pub hint: PathBuf,
    /// Where the last commit the hint records ended, and how many records it had written.
    pub committed_len: u64,
    pub committed_records: u64,
    /// What the journal holds now (up to its last complete record).
    pub found_len: u64,
    pub found_records: u64,
    /// The highest row any committed record named: the lost records name none above it.
    pub max_row: u64,
    /// Rows up to `max_row` that the journal shows as not sent (pending, attempting, deferred
    /// or failed), as ascending runs `first..=last`; at most [`SHOWN_RANGES`] of them.
    pub unsent: Vec<(u64, u64)>,
    /// How many rows `unsent` would hold in full.
    pub unsent_rows: u64,
}

impl RecordsMissing {
    /// Builds the report from the replayed `states` of the damaged journal.
    pub(crate) fn new(
        journal: PathBuf,
        hint: PathBuf,
        committed: (u64, u64),
        found: (u64, u64),
        max_row: u64,
        states: &RowStates,
    ) -> RecordsMissing {
        let mut unsent: Vec<(u64, u64)> = Vec::new();
        let mut unsent_rows = 0;
        for row in 1..=max_row.min(states.len()) {
            use State::*;
            if !matches!(states.get(row), Pending | Attempting | Deferred | Failed) {
                continue;
            }
            unsent_rows += 1;
            let full = unsent.len() == SHOWN_RANGES;
            match unsent.last_mut() {
                Some(last) if last.1 + 1 == row => last.1 = row,
                _ if full => {}
                _ => unsent.push((row, row)),
            }
        }
        RecordsMissing {
            journal,
            hint,
            committed_len: committed.0,
            committed_records: committed.1,
            found_len: found.0,
            found_records: found.1,
            max_row,
            unsent,
            unsent_rows,
        }
    }

    fn message(&self) -> String {
        let now = if self.found_len < self.committed_len {
            format!(
                "the journal now ends at byte {} with {} records (cut short, or lines removed)",
                self.found_len, self.found_records
            )
        } else {
            format!(
                "its first {} bytes are not the records committed (lines removed or changed)",
                self.committed_len
            )
        };
        let shown: Vec<String> = self
            .unsent
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        let listed: u64 = self.unsent.iter().map(|&(a, b)| b - a + 1).sum();
        let rest = self.unsent_rows - listed;
        let rows = match (self.unsent_rows, rest) {
            (0, _) => "none of them is shown as not sent, but outcomes recorded for them \
                       (bounces, delays) may be lost"
                .to_string(),
            (1, 0) => format!(
                "1 of them the journal shows as not sent (row {}), and it may have been mailed \
                 already",
                shown.join(", ")
            ),
            (n, 0) => format!(
                "{n} of them the journal shows as not sent (rows {}), and any of those may \
                 have been mailed already",
                shown.join(", ")
            ),
            (n, rest) => format!(
                "{n} of them the journal shows as not sent (rows {} and {rest} more), and any of \
                 those may have been mailed already",
                shown.join(", ")
            ),
        };
        format!(
            "{}: records are missing: the last commit (recorded in {}) ended at byte {} with {} \
             records, but {now}. The lost records concern rows 1-{}; {rows}. tsuchi does not send \
             on from this journal: restore it from a backup. Without one, find out from the \
             relay's logs who was mailed, then remove {} to go on from the journal as it is \
             (the rows above are then mailed again)",
            self.journal.display(),
            self.hint.display(),
            self.committed_len,
            self.committed_records,
            self.max_row,
            self.hint.display(),
        )
    }
}
