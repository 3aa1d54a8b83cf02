//! The letters a journal records (`letter_exported`, `letter_posted`), for `tsuchi letters`
//! (not twice to one person), `status`, `lookup` and the reports. A letter leaves the row's
//! e-mail state as it was: it is another channel, recorded beside it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Result;

use super::read::read_journal;
use super::record::Record;

/// One person's letter: the batch file it is in, its pages there, when it was exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Letter {
    pub batch: String,
    pub pages: String,
    pub at: String,
}

/// The letters of one journal.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LetterLog {
    /// Row → its letters, oldest first (an export `--again` adds one).
    pub by_row: HashMap<u64, Vec<Letter>>,
    /// Batch file → letters in it.
    pub batches: BTreeMap<String, u64>,
    /// Batch file → the posting date the print vendor confirmed (the latest recorded).
    pub posted: BTreeMap<String, String>,
}

impl LetterLog {
    /// Reads the letter records of the journal at `path` (a journal without any, or no
    /// journal at all, has none).
    pub fn read(path: &Path) -> Result<LetterLog> {
        let mut log = LetterLog::default();
        if !path.exists() {
            return Ok(log);
        }
        for line in read_journal(path)? {
            log.add(line?.record);
        }
        Ok(log)
    }

    /// Counts one journal record (records other than letters' are passed over).
    pub fn add(&mut self, record: Record) {
        match record {
            Record::LetterExported(l) => {
                *self.batches.entry(l.batch.clone()).or_default() += 1;
                self.by_row.entry(l.row).or_default().push(Letter {
                    batch: l.batch,
                    pages: l.pages,
                    at: l.at,
                });
            }
            Record::LetterPosted(p) => {
                self.posted.insert(p.batch, p.date);
            }
            _ => {}
        }
    }

    /// The letters of several journals (the shards of one campaign) as one log.
    pub fn merge(logs: impl IntoIterator<Item = LetterLog>) -> LetterLog {
        let mut all = LetterLog::default();
        for log in logs {
            for (row, letters) in log.by_row {
                all.by_row.entry(row).or_default().extend(letters);
            }
            for (batch, n) in log.batches {
                *all.batches.entry(batch).or_default() += n;
            }
            all.posted.extend(log.posted);
        }
        all
    }

    /// People with at least one letter exported.
    pub fn people(&self) -> u64 {
        self.by_row.len() as u64
    }

    /// People whose last letter's batch has a posting date.
    pub fn people_posted(&self) -> u64 {
        self.by_row
            .values()
            .filter(|l| l.last().is_some_and(|l| self.posted.contains_key(&l.batch)))
            .count() as u64
    }

    /// The posting date of `batch`, if the vendor's confirmation is recorded.
    pub fn posted_on(&self, batch: &str) -> Option<&str> {
        self.posted.get(batch).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{
        Header, JournalWriter, LetterExported, LetterPosted, Outcome, State, journal_path, replay,
    };

    /// Letter records leave the e-mail states as they were, and read back per row and batch.
    #[test]
    fn letters_are_read_back_beside_the_email_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal_path(dir.path(), "c");
        let writer = JournalWriter::create(&path, &Header::new("c", "d", 3, "t", "k")).unwrap();
        writer
            .outcome(&Outcome::new(1, "C1", State::Failed, 1))
            .unwrap();
        writer
            .outcome(&Outcome::new(2, "C2", State::Sent, 1))
            .unwrap();
        for (row, id, batch, pages) in [
            (1, "C1", "letters-0001.pdf", "1-2"),
            (3, "C3", "letters-0001.pdf", "3-4"),
        ] {
            writer
                .letter(Record::LetterExported(LetterExported {
                    row,
                    id: id.into(),
                    batch: batch.into(),
                    pages: pages.into(),
                    at: String::new(),
                }))
                .unwrap();
        }
        writer
            .letter(Record::LetterPosted(LetterPosted {
                batch: "letters-0001.pdf".into(),
                date: "2026-12-03".into(),
                at: String::new(),
            }))
            .unwrap();
        assert!(
            writer
                .letter(Record::Outcome(Outcome::new(1, "C1", State::Sent, 1)))
                .is_err()
        );
        writer.close().unwrap();

        let r = replay(&path).unwrap();
        assert_eq!(
            [r.states.get(1), r.states.get(2), r.states.get(3)],
            [State::Failed, State::Sent, State::Pending]
        );
        assert_eq!(r.records, 5);
        assert!(r.missing.is_none() && r.torn_tail.is_none());

        let log = LetterLog::read(&path).unwrap();
        assert_eq!(log.people(), 2);
        assert_eq!(log.by_row[&1][0].pages, "1-2");
        assert!(!log.by_row.contains_key(&2));
        assert_eq!(log.batches["letters-0001.pdf"], 2);
        assert_eq!(log.posted_on("letters-0001.pdf"), Some("2026-12-03"));
        assert_eq!(log.people_posted(), 2);
        let merged = LetterLog::merge([log.clone(), LetterLog::default()]);
        assert_eq!(merged.people(), 2);
        assert!(
            LetterLog::read(&dir.path().join("none.journal.jsonl"))
                .unwrap()
                .by_row
                .is_empty()
        );
    }
}
