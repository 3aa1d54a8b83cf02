//! The commit hint: a small file beside the journal, `<campaign>.journal.commit`, that says
//! where the journal's last group commit ended, so that replay can tell records lost from
//! the middle of a journal from a crash's torn tail.
//!
//! A journal alone cannot tell: cut in the middle of a line, or with lines removed, it looks
//! like a journal a crash interrupted, and the rows whose records were lost would be sent
//! again unflagged. The hint holds, for the journal as it stood after the last commit:
//!
//! - `len`, its length in bytes, and `lines`, its number of lines (the header included);
//! - `chain`, a running checksum of those lines ([`chain`], one step per line, in order);
//! - `header`, the checksum of the header line alone, which binds the hint to its journal (a
//!   hint left over from a journal since deleted and begun anew names another header and is
//!   ignored);
//! - `max_row`, the highest row any of those records names;
//! - `check`, a checksum of the hint's own text.
//!
//! **It only ever lags the journal.** The writer writes the hint after the commit's
//! `fdatasync` has returned, and never syncs the hint itself: the hint describes data that is
//! already durable. A crash between the two, or a power cut that loses the hint's last write,
//! leaves a hint describing an earlier commit — a prefix of the journal. So on replay:
//!
//! - the journal's first `len` bytes must end on a line boundary with exactly `lines` lines and
//!   the checksum `chain`; whatever follows is newer than the hint (normal) and may end in a
//!   torn line (expected after a crash);
//! - a journal that ends before `len` bytes, or whose first `len` bytes are other lines than
//!   the ones committed, has lost committed records: [`RecordsMissing`](super::RecordsMissing),
//!   which no crash produces.
//!
//! The checksum makes the check independent of how far the hint lags: lines removed from the
//! committed part are found even when the journal has grown past the hint since.
//!
//! The hint is rewritten in place (one `pwrite` of a fixed-length line) after every commit. A
//! hint that does not pass its own check — a concurrent `status` reading it mid-write, which
//! is retried, or a hint damaged on disk — is treated as absent. A journal without a hint (made
//! by an earlier version, or whose hint was removed) is taken as it is, as before, and gains
//! none: the hint is begun with its journal, so that it vouches for every line from the header
//! on, never for lines it did not see written.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::util::fs::open_state_file;

/// The start of the chain, before the header line.
const SEED: u64 = 0x7473_7563_6869_6a31; // "tsuchij1"
const TAG: &str = "tsuchi-journal-commit 1";

/// The hint file of the journal at `journal`: `<campaign>.journal.commit` beside
/// `<campaign>.journal.jsonl`.
pub fn hint_path(journal: &Path) -> PathBuf {
    journal.with_extension("commit")
}

/// One step of the running checksum: the chain after `line` (without its newline) follows a
/// chain `h`. Not cryptographic — it finds lost or changed lines, it does not resist forgery.
pub(crate) fn chain(h: u64, line: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(31);
    let mut h = step(h, line.len() as u64);
    let mut words = line.chunks_exact(8);
    for w in &mut words {
        h = step(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    h = step(h, u64::from_le_bytes(last));
    h ^ (h >> 29)
}

/// The journal as far as some line: what the hint records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub len: u64,
    pub lines: u64,
    pub chain: u64,
    /// The checksum of the header line (the chain after line 1).
    pub header: u64,
    pub max_row: u64,
}

impl Tally {
    /// The tally of a journal holding only `header_line` (without its newline).
    pub fn of_header(header_line: &[u8]) -> Tally {
        let c = chain(SEED, header_line);
        Tally {
            len: header_line.len() as u64 + 1,
            lines: 1,
            chain: c,
            header: c,
            max_row: 0,
        }
    }

    /// Counts one more line (without its newline) naming `row` (0: none).
    #[inline]
    pub fn add(&mut self, line: &[u8], row: u64) {
        self.len += line.len() as u64 + 1;
        self.lines += 1;
        self.chain = chain(self.chain, line);
        self.max_row = self.max_row.max(row);
    }

    /// True if `self` (from the journal) is the state the hint `committed` describes.
    pub fn is(&self, committed: &Tally) -> bool {
        (self.len, self.lines, self.chain) == (committed.len, committed.lines, committed.chain)
    }

    fn body(&self) -> String {
        format!(
            "{TAG} len={:020} lines={:020} max_row={:020} chain={:016x} header={:016x}",
            self.len, self.lines, self.max_row, self.chain, self.header
        )
    }

    /// The hint's text: one line of fixed length.
    fn encode(&self) -> Vec<u8> {
        let body = self.body();
        format!("{body} check={:016x}\n", chain(SEED, body.as_bytes())).into_bytes()
    }

    fn decode(text: &[u8]) -> Option<Tally> {
        let text = std::str::from_utf8(text).ok()?.strip_suffix('\n')?;
        let (body, check) = text.rsplit_once(" check=")?;
        if u64::from_str_radix(check, 16).ok()? != chain(SEED, body.as_bytes()) {
            return None;
        }
        let mut fields = body.strip_prefix(TAG)?.split(' ').skip(1);
        let mut field = |name: &str, radix: u32| {
            let value = fields.next()?.strip_prefix(name)?.strip_prefix('=')?;
            u64::from_str_radix(value, radix).ok()
        };
        let t = Tally {
            len: field("len", 10)?,
            lines: field("lines", 10)?,
            max_row: field("max_row", 10)?,
            chain: field("chain", 16)?,
            header: field("header", 16)?,
        };
        (t.encode() == format!("{text}\n").into_bytes()).then_some(t)
    }
}

/// Replay's check of a journal against its hint: the journal's lines are counted as the hint
/// counts them, and the state at the hint's length compared with the hint.
pub(crate) struct Witness {
    committed: Tally,
    running: Tally,
    /// A line ended exactly at the hint's length, with the hint's count and checksum.
    holds: bool,
}

impl Witness {
    /// Starts the check after the header line (without its newline); `None` without a hint or
    /// with a hint of another journal (another header).
    pub fn start(committed: Option<Tally>, header_line: &[u8]) -> Option<Witness> {
        let running = Tally::of_header(header_line);
        let committed = committed.filter(|c| c.header == running.header)?;
        Some(Witness {
            committed,
            running,
            holds: running.is(&committed),
        })
    }

    /// Counts the next complete line (without its newline).
    #[inline]
    pub fn line(&mut self, line: &[u8]) {
        self.running.add(line, 0);
        if self.running.len == self.committed.len {
            self.holds = self.running.is(&self.committed);
        }
    }

    /// Where the check stands, to go on with it later ([`Witness::resume`]).
    pub fn state(&self) -> super::replay::WitnessState {
        super::replay::WitnessState {
            committed: self.committed,
            running: self.running,
            holds: self.holds,
        }
    }

    /// The check of a journal replayed earlier up to `at` (its [`state`](Self::state) then),
    /// now against the hint `committed`: `None` when the two cannot be reconciled without
    /// reading the journal from the start (a hint that went back to another commit).
    pub fn resume(at: super::replay::WitnessState, committed: Tally) -> Option<Witness> {
        let running = at.running;
        let holds = match committed.len.cmp(&running.len) {
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => running.is(&committed),
            std::cmp::Ordering::Less if committed == at.committed => at.holds,
            std::cmp::Ordering::Less => return None,
        };
        Some(Witness {
            committed,
            running,
            holds,
        })
    }

    /// The hint's record of the last commit.
    pub fn committed(&self) -> &Tally {
        &self.committed
    }

    /// The journal's tally so far, if it holds everything the hint says was committed.
    pub fn holding(&self, max_row: u64) -> Option<Tally> {
        self.holds.then_some(Tally {
            max_row,
            ..self.running
        })
    }
}

/// Reads the hint of the journal at `journal`: `None` if there is none or it does not pass its
/// own check (read again first: a writer may be rewriting it this instant).
pub(crate) fn read_hint(journal: &Path) -> Result<Option<Tally>> {
    let path = hint_path(journal);
    for _ in 0..3 {
        let Some(bytes) = crate::util::fs::read_state_file(&path)? else {
            return Ok(None);
        };
        if let Some(t) = Tally::decode(&bytes) {
            return Ok(Some(t));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(None)
}

/// The open hint file of a journal being written.
#[derive(Debug)]
pub(crate) struct HintFile {
    file: File,
    path: PathBuf,
}

impl HintFile {
    /// Creates (or empties) the hint of the journal at `journal`, owner-only.
    pub fn create(journal: &Path) -> Result<HintFile> {
        Self::open(
            journal,
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600),
        )
    }

    /// Opens the existing hint of the journal at `journal`.
    pub fn open_existing(journal: &Path) -> Result<HintFile> {
        Self::open(journal, OpenOptions::new().write(true))
    }

    fn open(journal: &Path, options: &mut OpenOptions) -> Result<HintFile> {
        let path = hint_path(journal);
        let file = open_state_file(&path, options)
            .with_context(|| format!("cannot open the commit hint {}", path.display()))?;
        Ok(HintFile { file, path })
    }

    /// Records `t` as the last commit. Only call it once the journal up to `t.len` is durable.
    pub fn write(&self, t: &Tally) -> Result<()> {
        self.file
            .write_all_at(&t.encode(), 0)
            .with_context(|| format!("cannot write the commit hint {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tally {
        let mut t = Tally::of_header(br#"{"type":"header"}"#);
        t.add(br#"{"type":"attempt","row":3}"#, 3);
        t.add(br#"{"type":"run"}"#, 0);
        t
    }

    #[test]
    fn round_trips_and_has_a_fixed_length() {
        let t = sample();
        assert_eq!(Tally::decode(&t.encode()), Some(t));
        assert_eq!(t.len, 18 + 27 + 15);
        assert_eq!((t.lines, t.max_row), (3, 3));
        let big = Tally {
            len: u64::MAX,
            lines: u64::MAX,
            chain: u64::MAX,
            header: 0,
            max_row: u64::MAX,
        };
        assert_eq!(big.encode().len(), t.encode().len());
        assert_eq!(Tally::decode(&big.encode()), Some(big));
    }

    #[test]
    fn a_damaged_hint_is_no_hint() {
        let good = sample().encode();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] = if bad[i] == b'1' { b'2' } else { b'1' };
            assert_eq!(Tally::decode(&bad), None, "byte {i}");
            assert_eq!(Tally::decode(&good[..i]), None, "cut at {i}");
        }
    }

    #[test]
    fn the_chain_sees_order_and_content() {
        let (a, b) = (&b"{\"row\":1}"[..], &b"{\"row\":2}"[..]);
        let mut ab = Tally::of_header(b"h");
        ab.add(a, 1);
        ab.add(b, 2);
        let mut ba = Tally::of_header(b"h");
        ba.add(b, 2);
        ba.add(a, 1);
        assert_ne!(ab.chain, ba.chain);
        assert_ne!(chain(SEED, b"12345678x"), chain(SEED, b"12345678y"));
        assert_ne!(chain(SEED, b""), chain(SEED, b"\0"));
    }
}
