//! The journals of one campaign read together: one per state directory, so that the shards of
//! a list sent from several hosts (`--shard K/N`, each with its own state directory) report as
//! one campaign. A recipient recorded in two journals is flagged: shards must be disjoint.
//!
//! Beyond the replayed states this finds where each row's last outcome line is (to show the
//! reply), by sorting the journal's outcomes by row on disk so that memory does not grow with
//! the journal, and whether a re-send may have duplicated an earlier message.

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::config::Config;
use crate::journal::{self, Outcome, Record, Replay, State, read_journal};
use crate::util::table::{read_table, write_table};

/// One journal and what was read from it.
pub struct OneJournal {
    pub path: PathBuf,
    pub replay: Replay,
    kept: Kept,
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

    /// The row's last outcome record, if it has one.
    pub fn last_outcome(&mut self, row: u64) -> Result<Option<Outcome>> {
        let Some(n) = self.owner(row) else {
            return Ok(None);
        };
        let j = &mut self.journals[n];
        let Some(offset) = j
            .kept
            .last_outcome
            .get(row as usize - 1)
            .and_then(|&o| o.checked_sub(1))
        else {
            return Ok(None);
        };
        j.file.seek(std::io::SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        (&mut j.file).take(1 << 20).read_until(b'\n', &mut buf)?;
        Ok(match serde_json::from_slice(&buf)? {
            Record::Outcome(o) => Some(o),
            _ => None,
        })
    }

    /// How the row's last outcome is told in the failures by reply ([`reply_key`]), if it
    /// has one.
    pub fn reply_key(&mut self, row: u64) -> Result<Option<String>> {
        let Some(n) = self.owner(row) else {
            return Ok(None);
        };
        let kept = &self.journals[n].kept;
        match kept.reply.get(row as usize - 1) {
            Some(&k) if k > 0 => Ok(kept.replies.get(k as usize - 1).cloned()),
            // A `sent` line (not parsed in the pass): read it.
            _ => Ok(self.last_outcome(row)?.map(|o| reply_key(&o))),
        }
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
        Ok(journal::LetterLog::merge(
            self.journals.iter().map(|j| j.kept.letters.clone()),
        ))
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

/// How much more journal than its checkpoint covers makes a reader save a new one: 64 MiB,
/// about 400,000 records (or an eighth of what the checkpoint covers, if less).
const CHECKPOINT_GAIN: u64 = 64 << 20;
/// The replies told apart per journal in `status`'s "failures by reply"; later ones are
/// counted together under [`OTHER_REPLIES`].
const MAX_REPLIES: usize = 4096;
const OTHER_REPLIES: &str = "(further replies, not told apart)";

/// How `status` groups a failure: the outcome's state with its SMTP code and enhanced code,
/// or the reason when no reply came.
pub fn reply_key(o: &Outcome) -> String {
    match (o.code, &o.enhanced) {
        (Some(c), Some(e)) => format!("{} {c} {e}", o.state),
        (Some(c), None) => format!("{} {c}", o.state),
        _ => format!(
            "{} (no reply: {})",
            o.state,
            o.reply.as_deref().unwrap_or("")
        ),
    }
}

/// What the readers keep of a journal beyond replay's tables, gathered in replay's pass and
/// saved with its checkpoint: where each row's last outcome is and how it is told in the
/// failures by reply, which transactions are open (for possible duplicates), the letters.
/// 11 bytes per row.
struct Kept {
    /// Per row (index `row - 1`): the offset of its last outcome line, plus one (0: none).
    last_outcome: Vec<u64>,
    /// Per row: its last outcome's reply key (index into `replies`, plus one), 0 when that
    /// outcome was `sent` (not a failure, and not parsed: `sent` lines are most of a journal).
    reply: Vec<u16>,
    replies: Vec<String>,
    reply_index: std::collections::HashMap<String, u16>,
    /// Per row: 0 no transaction open, 1 an attempt without outcome, 2 an outcome unknown.
    open: Vec<u8>,
    /// Rows attempted again while an earlier attempt was open.
    possible_duplicates: BTreeSet<u64>,
    letters: journal::LetterLog,
}

impl Kept {
    fn new(rows: u64) -> Kept {
        Kept {
            last_outcome: vec![0; rows as usize],
            reply: vec![0; rows as usize],
            replies: Vec::new(),
            reply_index: Default::default(),
            open: vec![0; rows as usize],
            possible_duplicates: BTreeSet::new(),
            letters: Default::default(),
        }
    }

    fn reply_id(&mut self, key: String) -> u16 {
        if let Some(&i) = self.reply_index.get(&key) {
            return i;
        }
        let key = if self.replies.len() + 1 >= MAX_REPLIES {
            OTHER_REPLIES.to_string()
        } else {
            key
        };
        if let Some(&i) = self.reply_index.get(&key) {
            return i;
        }
        self.replies.push(key.clone());
        let i = self.replies.len() as u16;
        self.reply_index.insert(key, i);
        i
    }

    fn write(&self, w: &mut dyn Write) -> Result<()> {
        w.write_all(&self.open)?;
        write_table(w, &self.last_outcome, u64::to_le_bytes)?;
        write_table(w, &self.reply, u16::to_le_bytes)?;
        let tables =
            serde_json::to_vec(&(&self.replies, &self.possible_duplicates, &self.letters))?;
        w.write_all(&(tables.len() as u64).to_le_bytes())?;
        w.write_all(&tables)?;
        Ok(())
    }

    /// Reads back what [`write`](Self::write) saved for a list of `rows` rows; allocates no
    /// more than the file holds beyond the per-row tables.
    fn read(r: &mut dyn Read, rows: u64) -> Result<Kept> {
        let short = || anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        let n = rows as usize;
        let mut open = vec![0u8; n];
        r.read_exact(&mut open)?;
        let last_outcome = read_table(r, n, u64::from_le_bytes)?;
        let reply = read_table(r, n, u16::from_le_bytes)?;
        let mut b = [0u8; 8];
        r.read_exact(&mut b)?;
        let len = u64::from_le_bytes(b);
        let mut tables = Vec::new();
        r.take(len).read_to_end(&mut tables)?;
        if tables.len() as u64 != len {
            return Err(short());
        }
        let (replies, possible_duplicates, letters): (
            Vec<String>,
            BTreeSet<u64>,
            journal::LetterLog,
        ) = serde_json::from_slice(&tables).map_err(|_| short())?;
        if replies.len() >= MAX_REPLIES || reply.iter().any(|&k| k as usize > replies.len()) {
            return Err(short());
        }
        let reply_index = replies
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u16 + 1))
            .collect();
        Ok(Kept {
            last_outcome,
            reply,
            replies,
            reply_index,
            open,
            possible_duplicates,
            letters,
        })
    }
}

impl journal::Observer for Kept {
    fn restart(&mut self) {
        *self = Kept::new(self.open.len() as u64);
    }

    fn record(&mut self, offset: u64, line: &[u8], seen: journal::Seen) -> Result<()> {
        match seen {
            journal::Seen::Attempt { row } => {
                let i = row as usize - 1;
                if self.open[i] != 0 {
                    self.possible_duplicates.insert(row);
                }
                self.open[i] = 1;
            }
            journal::Seen::Outcome { row, state } => {
                let i = row as usize - 1;
                self.last_outcome[i] = offset + 1;
                if state == State::Sent {
                    // Accepted: the transaction is closed and nothing failed.
                    self.open[i] = 0;
                    self.reply[i] = 0;
                } else if let Ok(Record::Outcome(o)) = serde_json::from_slice::<Record>(line) {
                    // An attempt whose outcome is unknown stays open: the next attempt of
                    // the row may duplicate it.
                    self.open[i] = if o.may_have_been_delivered() { 2 } else { 0 };
                    self.reply[i] = self.reply_id(reply_key(&o));
                }
            }
            journal::Seen::Other => {
                if line.windows(8).any(|w| w == b"\"letter_")
                    && let Ok(record) = serde_json::from_slice::<Record>(line)
                {
                    self.letters.add(record);
                }
            }
        }
        Ok(())
    }
}

impl OneJournal {
    fn open(path: &Path) -> Result<OneJournal> {
        let Some(header) = journal::header_of(path)? else {
            // Not a journal replay can read: replay says why.
            journal::replay(path)?;
            bail!("{}: journal header missing", path.display());
        };
        let rows = header.list_rows;
        let (from, mut kept) = match journal::load_checkpoint(path, Kept::read)? {
            Some((replay, kept)) => (Some(replay), kept),
            None => (None, Kept::new(rows)),
        };
        let replay = journal::replay_from(path, from, &mut kept)?;
        if journal::worth_saving(&replay, CHECKPOINT_GAIN)
            && let Err(e) = journal::save_checkpoint(path, &replay, |w| kept.write(w))
        {
            // Only a cache: without it the next reader replays more.
            tracing::debug!("no checkpoint saved for {}: {e:#}", path.display());
        }
        // A row with an attempt still open at the end was in flight when the last run died:
        // the next run re-sends it. Unless that run is alive: then it is simply in flight.
        let running = journal::lock_holder(crate::util::fs::parent_dir(path))?;
        let mut possible_duplicates = kept.possible_duplicates.clone();
        if running.is_none() {
            for (i, open) in kept.open.iter().enumerate() {
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
            kept,
            possible_duplicates,
            running,
            file,
        })
    }
}
