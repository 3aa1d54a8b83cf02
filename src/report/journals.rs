//! The journals of one campaign read together: one per state directory, so that the shards of
//! a list sent from several hosts (`--shard K/N`, each with its own state directory) report as
//! one campaign. A recipient recorded in two journals is flagged: shards must be disjoint.
//!
//! Beyond the replayed states this finds where each row's last outcome line is (to show the
//! reply), by sorting the journal's outcomes by row on disk so that memory does not grow with
//! the journal, and whether a re-send may have duplicated an earlier message.

use std::collections::BTreeSet;
use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::journal::{self, Outcome, Record, Replay, State, read_journal};
use crate::util::disk_sort::{self, Pair};

/// One journal and what was read from it.
pub struct OneJournal {
    pub path: PathBuf,
    pub replay: Replay,
    /// Offset of each row's last outcome line, handed out in row order.
    last_outcomes: LastOutcomes,
    possible_duplicates: BTreeSet<u64>,
    /// The pid of the live process holding this journal's state directory (a `send` running
    /// now), if any: its in-flight rows are in flight, not left over from a crash.
    pub running: Option<String>,
    file: std::io::BufReader<std::fs::File>,
}

/// The campaign's journals, one per state directory given.
pub struct Journals {
    pub journals: Vec<OneJournal>,
    pub list_rows: u64,
    pub campaign: String,
    /// Which journal holds each row (`u8::MAX`: none), index `row - 1`.
    owner: Vec<u8>,
    /// Rows recorded in more than one journal (shards that overlap).
    pub overlapping: BTreeSet<u64>,
}

impl Journals {
    /// Opens the journal of `campaign` in each of `state_dirs` (at least one must exist); they
    /// must all belong to the same list.
    pub fn open(state_dirs: &[PathBuf], campaign: &str) -> Result<Option<Journals>> {
        let mut journals = Vec::new();
        for dir in state_dirs {
            let path = journal::journal_path(dir, campaign);
            if !path.exists() {
                if state_dirs.len() > 1 {
                    bail!("no journal at {}", path.display());
                }
                return Ok(None);
            }
            journals.push(OneJournal::open(&path)?);
        }
        if journals.len() > 200 {
            bail!("at most 200 state directories can be merged");
        }
        let first = &journals[0].replay.header;
        for j in &journals[1..] {
            let h = &j.replay.header;
            if h.list_digest != first.list_digest || h.list_rows != first.list_rows {
                bail!(
                    "{} and {} were sent from different lists; merge only the shards of one list",
                    journals[0].path.display(),
                    j.path.display()
                );
            }
        }
        let list_rows = first.list_rows;
        let campaign = first.campaign.clone();
        let mut owner = vec![u8::MAX; list_rows as usize];
        let mut overlapping = BTreeSet::new();
        for (n, j) in journals.iter().enumerate() {
            for row in 1..=list_rows {
                if j.replay.states.get(row) == State::Pending && j.replay.attempts.get(row) == 0 {
                    continue;
                }
                let slot = &mut owner[row as usize - 1];
                if *slot != u8::MAX {
                    overlapping.insert(row);
                } else {
                    *slot = n as u8;
                }
            }
        }
        Ok(Some(Journals {
            journals,
            list_rows,
            campaign,
            owner,
            overlapping,
        }))
    }

    /// Binds `list` to the journals. `Ok(false)`: there is no file at `list`, and the caller
    /// answers from the journals alone. `Ok(true)`: it is the list the journals were made
    /// from (same digest and rows) and every row's id agrees with the journals'. A list that
    /// differs is refused (exit 5), naming the list the journals were made from.
    pub fn bind_list(
        &self,
        list: &Path,
        config: &crate::config::Config,
        encoding: crate::ingest::Encoding,
    ) -> Result<bool> {
        if list.symlink_metadata().is_err() {
            return Ok(false);
        }
        let (digest, rows) = crate::ingest::list_identity(list)?;
        journal::check_list(
            &self.journals[0].path,
            &self.journals[0].replay.header,
            list,
            (&digest, rows),
            journal::Purpose::Answer,
        )?;
        let replays: Vec<(&Path, &Replay)> = self
            .journals
            .iter()
            .map(|j| (j.path.as_path(), &j.replay))
            .collect();
        journal::verify_ids(&replays, list, config, encoding)?;
        Ok(true)
    }

    fn owner(&self, row: u64) -> Option<usize> {
        match row.checked_sub(1).and_then(|i| self.owner.get(i as usize)) {
            Some(&n) if n != u8::MAX => Some(n as usize),
            _ => None,
        }
    }

    /// The row's state in the journal that holds it.
    pub fn state(&self, row: u64) -> State {
        self.owner(row)
            .map_or(State::Pending, |n| self.journals[n].replay.states.get(row))
    }

    pub fn attempts(&self, row: u64) -> u32 {
        self.owner(row)
            .map_or(0, |n| self.journals[n].replay.attempts.get(row))
    }

    pub fn possible_duplicate(&self, row: u64) -> bool {
        self.journals
            .iter()
            .any(|j| j.possible_duplicates.contains(&row))
    }

    pub fn possible_duplicates(&self) -> BTreeSet<u64> {
        self.journals
            .iter()
            .flat_map(|j| j.possible_duplicates.iter().copied())
            .collect()
    }

    /// The row's last outcome record, if it has one. Rows must be asked in increasing order
    /// (as the list is read).
    pub fn last_outcome(&mut self, row: u64) -> Result<Option<Outcome>> {
        let Some(n) = self.owner(row) else {
            return Ok(None);
        };
        let j = &mut self.journals[n];
        let Some(offset) = j.last_outcomes.offset(row).with_context(|| {
            format!(
                "sorting the outcomes of {} {}",
                j.path.display(),
                disk_sort::location()
            )
        })?
        else {
            return Ok(None);
        };
        j.file.seek(std::io::SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        j.file.read_until(b'\n', &mut buf)?;
        Ok(match serde_json::from_slice(&buf)? {
            Record::Outcome(o) => Some(o),
            _ => None,
        })
    }

    /// The customer id the journals record for each of `rows` (rows without a record are
    /// left out): what names recipients when the list is not at hand.
    pub fn recorded_ids(
        &self,
        rows: &BTreeSet<u64>,
    ) -> Result<std::collections::BTreeMap<u64, String>> {
        let mut ids = std::collections::BTreeMap::new();
        if rows.is_empty() {
            return Ok(ids);
        }
        for j in &self.journals {
            for line in read_journal(&j.path)? {
                let (row, id) = match line?.record {
                    Record::Attempt(a) => (a.row, a.id),
                    Record::Outcome(o) => (o.row, o.id),
                    _ => continue,
                };
                if !id.is_empty() && rows.contains(&row) {
                    ids.entry(row).or_insert(id);
                }
            }
        }
        Ok(ids)
    }

    /// The row whose records name customer `id`, or whose reference number is `reference`,
    /// from the journals alone.
    pub fn find_recorded(
        &self,
        id: &str,
        reference: Option<&str>,
        campaign: &str,
    ) -> Result<Option<(u64, String)>> {
        for j in &self.journals {
            for line in read_journal(&j.path)? {
                let (row, rid) = match line?.record {
                    Record::Attempt(a) => (a.row, a.id),
                    Record::Outcome(o) => (o.row, o.id),
                    _ => continue,
                };
                if rid.is_empty() {
                    continue;
                }
                if rid == id
                    || reference
                        .is_some_and(|r| crate::render::reference::reference(campaign, &rid) == r)
                {
                    return Ok(Some((row, rid)));
                }
            }
        }
        Ok(None)
    }

    /// Rows in each state over all journals.
    pub fn counts(&self) -> std::collections::BTreeMap<State, u64> {
        let mut counts: std::collections::BTreeMap<State, u64> =
            State::ALL.iter().map(|&s| (s, 0)).collect();
        for row in 1..=self.list_rows {
            *counts.entry(self.state(row)).or_default() += 1;
        }
        counts
    }

    /// The letters `tsuchi letters` recorded in the journals.
    pub fn letters(&self) -> Result<journal::LetterLog> {
        let logs = self
            .journals
            .iter()
            .map(|j| journal::LetterLog::read(&j.path))
            .collect::<Result<Vec<_>>>()?;
        Ok(journal::LetterLog::merge(logs))
    }
}

/// Opens the journals of the campaign in `state_dirs`, or says there is none.
pub(super) fn open_journals(config: &Config, state_dirs: &[PathBuf]) -> Result<Journals> {
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

impl OneJournal {
    fn open(path: &Path) -> Result<OneJournal> {
        let replay = journal::replay(path)?;
        let rows = replay.header.list_rows;
        let mut outcomes = disk_sort::sorter::<Pair>(disk_sort::SEGMENT_ITEMS);
        // Per row: 0 no transaction open, 1 an attempt without outcome, 2 an outcome unknown.
        let mut open_attempt = vec![0u8; rows as usize];
        let mut possible_duplicates = BTreeSet::new();
        for line in read_journal(path)? {
            let line = line?;
            match line.record {
                Record::Attempt(a) => {
                    if let Some(i) = a.row.checked_sub(1).filter(|&i| i < rows) {
                        if open_attempt[i as usize] != 0 {
                            possible_duplicates.insert(a.row);
                        }
                        open_attempt[i as usize] = 1;
                    }
                }
                Record::Outcome(o) => {
                    if let Some(i) = o.row.checked_sub(1).filter(|&i| i < rows) {
                        outcomes.push(Pair(o.row, line.offset)).with_context(|| {
                            format!(
                                "sorting the outcomes of {} {}",
                                path.display(),
                                disk_sort::location()
                            )
                        })?;
                        // An attempt whose outcome is unknown stays open: the next attempt of
                        // the row may duplicate it.
                        let unknown = o.may_have_been_delivered();
                        open_attempt[i as usize] = if unknown { 2 } else { 0 };
                    }
                }
                _ => {}
            }
        }
        // A row with an attempt still open at the end was in flight when the last run died:
        // the next run re-sends it. Unless that run is alive: then it is simply in flight.
        let running = journal::lock_holder(crate::util::fs::parent_dir(path))?;
        if running.is_none() {
            for (i, open) in open_attempt.iter().enumerate() {
                if *open == 1 {
                    possible_duplicates.insert(i as u64 + 1);
                }
            }
        }
        let file = std::io::BufReader::new(crate::util::fs::open_state_file(
            path,
            std::fs::File::options().read(true),
        )?);
        Ok(OneJournal {
            path: path.to_path_buf(),
            replay,
            last_outcomes: LastOutcomes(disk_sort::Cursor::new(
                outcomes.done().with_context(|| {
                    format!(
                        "sorting the outcomes of {} {}",
                        path.display(),
                        disk_sort::location()
                    )
                })?,
                |&Pair(row, _)| row,
            )),
            possible_duplicates,
            running,
            file,
        })
    }
}

/// `(row, offset)` of every outcome line, sorted: a row's last outcome is its last pair.
struct LastOutcomes(disk_sort::Cursor<Pair>);

impl LastOutcomes {
    /// The offset of `row`'s last outcome line. Rows must be asked in increasing order.
    fn offset(&mut self, row: u64) -> std::io::Result<Option<u64>> {
        let mut last = None;
        self.0.take(row, |&Pair(_, offset)| last = Some(offset))?;
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rows_last_outcome_is_its_latest_line_and_rows_without_one_have_none() {
        let mut sorter = disk_sort::sorter::<Pair>(2);
        for pair in [
            Pair(3, 20),
            Pair(1, 50),
            Pair(1, 10),
            Pair(3, 5),
            Pair(6, 7),
        ] {
            sorter.push(pair).unwrap();
        }
        let mut last = LastOutcomes(disk_sort::Cursor::new(
            sorter.done().unwrap(),
            |&Pair(row, _)| row,
        ));
        let got: Vec<Option<u64>> = (1..=7).map(|row| last.offset(row).unwrap()).collect();
        assert_eq!(got, [Some(50), None, Some(20), None, None, Some(7), None]);
    }
}
