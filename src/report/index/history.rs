//! Where each row's records are in a journal, `<state-dir>/<campaign>.lookup-journal`: the
//! `(row, offset)` of every attempt and outcome line, sorted, up to a covered length; the
//! journal beyond it (the tail a running `send` keeps appending) is read at each lookup.
//! When the tail passes [`TAIL_MAX`] the index is brought up to date by merging the tail's
//! few entries into it — one sequential pass, never a re-read of the journal — so a lookup
//! reads at most `TAIL_MAX` bytes of tail plus a binary search. The first build reads the
//! journal once, sorting on disk in bounded memory.
//!
//! The index names the journal it was made from by the SHA-256 of its first line (the header,
//! stamped with its creation time): a journal started anew is indexed anew.

use std::fs::File;
use std::io::{BufRead, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::file::{put, read_at, u64_at};
use crate::journal::Record;
use crate::util::disk_sort::{self, Pair};

const MAGIC: &[u8; 8] = b"TSUCHIJ1";
const HEADER: usize = 8 + 8 + 8 + 32;
/// The most journal tail a lookup reads before the index is brought up to date: 4 MiB,
/// about 20 000 records, a few milliseconds to scan.
pub(super) const TAIL_MAX: u64 = 4 << 20;
/// The longest journal line read back (the writer's lines are far shorter).
const MAX_LINE: usize = 1 << 20;

/// One rebuild at a time in this process; readers meanwhile use the index in place.
static REBUILD: Mutex<()> = Mutex::new(());
/// Whether a tail past [`TAIL_MAX`] is merged by a thread of its own while the lookup that
/// found it reads the tail (a long-running service: no lookup waits for the merge), or by
/// the lookup itself (a `lookup` process, which must not exit with the merge half done).
static MERGE_IN_BACKGROUND: AtomicBool = AtomicBool::new(false);
/// A background merge is under way.
static MERGING: AtomicBool = AtomicBool::new(false);

/// Makes this process merge long tails in the background ([`MERGE_IN_BACKGROUND`]).
pub(crate) fn merge_in_background() {
    MERGE_IN_BACKGROUND.store(true, Ordering::Relaxed);
}

/// The row a journal line is about, if it is an attempt or an outcome. The writer's lines
/// are flat JSON objects and a key's quotes are never escaped inside a string, so the first
/// `"row":` is the key. A line this misreads is only looked at, then parsed in full and
/// checked, so a wrong guess costs a read, never a wrong answer.
fn row_of(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"row\":";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// The journal's first line (its header) and that line's length.
fn first_line(journal: &File) -> Result<([u8; 32], u64)> {
    let mut r = std::io::BufReader::new(journal.try_clone()?);
    let mut line = Vec::new();
    (&mut r)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)?;
    Ok((Sha256::digest(&line).into(), line.len() as u64))
}

/// The `(row, offset)` of the complete record lines of `journal` from `start`, and where the
/// last complete line ends.
fn scan(
    journal: &File,
    start: u64,
    mut each: impl FnMut(u64, u64, &[u8]) -> Result<()>,
) -> Result<u64> {
    let mut f = journal.try_clone()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut offset = start;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64 * 4)
            .read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(offset); // end, or a torn tail not yet complete
        }
        if let Some(row) = row_of(&line) {
            each(row, offset, &line)?;
        }
        offset += n as u64;
    }
}

/// The open index of one journal.
struct Index {
    file: File,
    covered: u64,
    count: u64,
}

fn open_index(path: &Path, first: &[u8; 32], journal_len: u64) -> Result<Option<Index>> {
    let Some(file) = super::file::open(path)? else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER];
    if file.read_exact_at(&mut h, 0).is_err() || &h[..8] != MAGIC || h[24..56] != first[..] {
        return Ok(None);
    }
    let (covered, count) = (u64_at(&h, 8), u64_at(&h, 16));
    if covered > journal_len || file.metadata()?.len() < HEADER as u64 + count * 16 {
        return Ok(None); // a journal cut short, or an index cut short: build anew
    }
    Ok(Some(Index {
        file,
        covered,
        count,
    }))
}

impl Index {
    fn pair(&self, i: u64) -> Result<(u64, u64)> {
        let b = read_at(&self.file, HEADER as u64 + i * 16, 16)?;
        Ok((u64_at(&b, 0), u64_at(&b, 8)))
    }

    /// Offsets of `row`'s lines, in journal order.
    fn offsets(&self, row: u64) -> Result<Vec<u64>> {
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.pair(mid)?.0 < row {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        while lo < self.count {
            let (r, off) = self.pair(lo)?;
            if r != row {
                break;
            }
            out.push(off);
            lo += 1;
        }
        Ok(out)
    }
}

fn write_index(
    path: &Path,
    first: &[u8; 32],
    covered: u64,
    count: u64,
    pairs: impl Iterator<Item = Result<Pair>>,
) -> Result<()> {
    super::file::replace(path, |w| {
        use std::io::Write;
        w.write_all(MAGIC)?;
        put(w, &[covered, count])?;
        w.write_all(first)?;
        for (n, p) in pairs.enumerate() {
            let Pair(row, off) = p?;
            put(w, &[row, off])?;
            // Written out 8 MiB at a time rather than in one burst at the end, so that the
            // audit log's fsync beside it does not wait behind hundreds of megabytes.
            if n % (1 << 19) == (1 << 19) - 1 {
                w.flush()?;
                w.get_ref().sync_data()?;
            }
        }
        Ok(())
    })
}

/// Builds the index of `journal` from scratch: one pass, sorted on disk.
fn build(path: &Path, journal: &File, first: &[u8; 32], header_len: u64) -> Result<()> {
    let err = || format!("sorting the journal's rows {}", disk_sort::location());
    let mut sorter = disk_sort::sorter::<Pair>(disk_sort::SEGMENT_ITEMS);
    let mut count = 0u64;
    let covered = scan(journal, header_len, |row, off, _| {
        count += 1;
        sorter.push(Pair(row, off)).with_context(err)
    })?;
    let sorted = sorter.done().with_context(err)?;
    write_index(
        path,
        first,
        covered,
        count,
        sorted.map(|p| p.with_context(err)),
    )
}

/// Merges the tail beyond `old.covered` into a new index.
fn merge(path: &Path, journal: &File, first: &[u8; 32], old: &Index) -> Result<()> {
    let mut tail = Vec::new();
    let covered = scan(journal, old.covered, |row, off, _| {
        tail.push(Pair(row, off));
        Ok(())
    })?;
    tail.sort_unstable();
    let mut tail = tail.into_iter().peekable();
    let mut i = 0u64;
    let count = old.count + tail.len() as u64;
    // The old entries read in order through one buffer, not a positioned read each.
    let mut f = old.file.try_clone()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(HEADER as u64))?;
    let mut entries = std::io::BufReader::with_capacity(1 << 20, f);
    let mut read_pair = move || -> Result<(u64, u64)> {
        let mut b = [0u8; 16];
        entries
            .read_exact(&mut b)
            .context("lookup index shorter than its header says")?;
        Ok((u64_at(&b, 0), u64_at(&b, 8)))
    };
    let mut pending: Option<(u64, u64)> = None;
    let merged = std::iter::from_fn(move || {
        let next_old = if i < old.count {
            Some(match pending {
                Some(p) => Ok(p),
                None => read_pair().inspect(|&p| pending = Some(p)),
            })
        } else {
            None
        };
        match (next_old, tail.peek()) {
            (None, None) => None,
            (Some(Err(e)), _) => Some(Err(e)),
            (Some(Ok((r, o))), Some(t)) if Pair(r, o) > *t => tail.next().map(Ok),
            (Some(Ok((r, o))), _) => {
                i += 1;
                pending = None;
                Some(Ok(Pair(r, o)))
            }
            (None, Some(_)) => tail.next().map(Ok),
        }
    });
    write_index(path, first, covered, count, merged)
}

/// Every attempt and outcome record of `row` in `journal`, in journal order, through the
/// index at `index_path` (built or brought up to date first when it must be).
pub(super) fn records(journal_path: &Path, index_path: &Path, row: u64) -> Result<Vec<Record>> {
    records_with(journal_path, index_path, row, TAIL_MAX)
}

fn records_with(
    journal_path: &Path,
    index_path: &Path,
    row: u64,
    tail_max: u64,
) -> Result<Vec<Record>> {
    let journal = crate::util::fs::open_state_file(journal_path, File::options().read(true))
        .with_context(|| format!("cannot read journal {}", journal_path.display()))?;
    let (first, header_len) = first_line(&journal)?;
    let mut index = open_index(index_path, &first, journal.metadata()?.len())?;
    let stale = index.as_ref().is_none_or(|i| {
        journal
            .metadata()
            .map_or(true, |m| m.len() - i.covered > TAIL_MAX)
    });
    if stale && index.is_some() && MERGE_IN_BACKGROUND.load(Ordering::Relaxed) {
        if !MERGING.swap(true, Ordering::AcqRel) {
            let (journal_path, index_path) = (journal_path.to_path_buf(), index_path.to_path_buf());
            std::thread::spawn(move || {
                // Below the lookups: on a busy host the merge takes longer, a lookup does not.
                // SAFETY: setpriority with this thread's own id changes only its nice value.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
                }
                if let Err(e) = merge_now(&journal_path, &index_path) {
                    tracing::warn!("lookup index of {}: {e:#}", journal_path.display());
                }
                MERGING.store(false, Ordering::Release);
            });
        }
    } else if stale {
        let _one = REBUILD.lock().unwrap_or_else(|p| p.into_inner());
        let len = journal.metadata()?.len();
        index = open_index(index_path, &first, len)?;
        match &index {
            Some(i) if len - i.covered <= tail_max => {}
            Some(i) => merge(index_path, &journal, &first, i)?,
            None => build(index_path, &journal, &first, header_len)?,
        }
        index = open_index(index_path, &first, journal.metadata()?.len())?;
    }
    let index = index.with_context(|| format!("cannot index {}", journal_path.display()))?;
    let mut out = Vec::new();
    for off in index.offsets(row)? {
        let line = read_line(&journal, off)?;
        out.push(parse(journal_path, &line)?);
    }
    for off in tail_offsets(journal_path, &journal, &first, index.covered, row)? {
        let line = read_line(&journal, off)?;
        out.push(parse(journal_path, &line)?);
    }
    out.retain(|rec| match rec {
        Record::Attempt(a) => a.row == row,
        Record::Outcome(o) => o.row == row,
        Record::LetterExported(l) => l.row == row,
        _ => false,
    });
    Ok(out)
}

/// What this process has read of a journal's tail beyond its index: the rows of
/// the lines from `from` to `to`, so that each lookup scans only what was appended since the
/// last one, however far the tail has grown while the index is merged.
struct TailSeen {
    first: [u8; 32],
    from: u64,
    to: u64,
    /// The journal's bytes just before `to`, to tell that the part read is still there (a
    /// `send` resuming after a crash cuts a torn last line before it appends).
    before_to: Vec<u8>,
    rows: std::collections::HashMap<u64, Vec<u64>>,
}

impl TailSeen {
    /// Nothing read yet of the tail of `journal` beyond `covered`.
    fn at(journal: &File, first: &[u8; 32], covered: u64) -> Result<TailSeen> {
        Ok(TailSeen {
            first: *first,
            from: covered,
            to: covered,
            before_to: bytes_before(journal, covered)?,
            rows: Default::default(),
        })
    }
}

/// The up to 64 bytes of `journal` before `to`.
fn bytes_before(journal: &File, to: u64) -> Result<Vec<u8>> {
    let start = to.saturating_sub(64);
    read_at(journal, start, (to - start) as usize)
}

/// Per journal file: its tail as read so far.
static TAILS: Mutex<Vec<(std::path::PathBuf, TailSeen)>> = Mutex::new(Vec::new());

/// The offsets of `row`'s lines in `journal` beyond `covered` (where its index ends), through
/// [`TAILS`].
fn tail_offsets(
    path: &Path,
    journal: &File,
    first: &[u8; 32],
    covered: u64,
    row: u64,
) -> Result<Vec<u64>> {
    let mut tails = TAILS.lock().unwrap_or_else(|p| p.into_inner());
    let at = match tails.iter().position(|(p, _)| p == path) {
        Some(i) => i,
        None => {
            tails.push((path.to_path_buf(), TailSeen::at(journal, first, covered)?));
            tails.len() - 1
        }
    };
    let seen = &mut tails[at].1;
    // Another journal, an index that now covers a different part, or a tail that is not the
    // one read: start again from the index's end.
    let unchanged = journal.metadata()?.len() >= seen.to
        && bytes_before(journal, seen.to).is_ok_and(|b| b == seen.before_to);
    if seen.first != *first || seen.from > covered || seen.to < covered || !unchanged {
        *seen = TailSeen::at(journal, first, covered)?;
    } else if seen.from < covered {
        // The index took in part of what was read: keep only what lies beyond it.
        seen.rows.retain(|_, offs| {
            offs.retain(|&o| o >= covered);
            !offs.is_empty()
        });
        seen.from = covered;
    }
    let rows = &mut seen.rows;
    seen.to = scan(journal, seen.to, |r, off, _| {
        rows.entry(r).or_default().push(off);
        Ok(())
    })?;
    seen.before_to = bytes_before(journal, seen.to)?;
    Ok(seen.rows.get(&row).cloned().unwrap_or_default())
}

/// Brings the index of the journal at `journal_path` up to date, if it still lags.
fn merge_now(journal_path: &Path, index_path: &Path) -> Result<()> {
    let _one = REBUILD.lock().unwrap_or_else(|p| p.into_inner());
    let journal = crate::util::fs::open_state_file(journal_path, File::options().read(true))?;
    let (first, _) = first_line(&journal)?;
    let len = journal.metadata()?.len();
    match open_index(index_path, &first, len)? {
        Some(i) if len - i.covered > TAIL_MAX => merge(index_path, &journal, &first, &i),
        _ => Ok(()),
    }
}

fn read_line(journal: &File, offset: u64) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        let n = journal.read_at(&mut buf, offset)?;
        if let Some(nl) = buf[..n].iter().position(|&b| b == b'\n') {
            buf.truncate(nl);
            return Ok(buf);
        }
        if n < buf.len() || buf.len() >= MAX_LINE {
            anyhow::bail!("journal line at byte {offset} has no end");
        }
        buf.resize(buf.len() * 4, 0);
    }
}

fn parse(path: &Path, line: &[u8]) -> Result<Record> {
    serde_json::from_slice(line)
        .map_err(|e| anyhow::anyhow!("{}: corrupt record ({e})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_is_read_from_record_lines_only() {
        assert_eq!(
            row_of(br#"{"type":"attempt","row":42,"id":"C1"}"#),
            Some(42)
        );
        assert_eq!(row_of(br#"{"type":"run","event":"start","at":"t"}"#), None);
        assert_eq!(
            row_of(br#"{"type":"outcome","reply":"\"row\":9","row":3}"#),
            Some(3)
        );
    }

    /// The service's tail, read a piece at a time: what each lookup sees is the tail as a
    /// fresh scan reads it — after appends, after the index took part of it in, and after a
    /// complete but unreadable last line was cut and other lines appended in its place.
    #[test]
    fn the_tail_read_a_piece_at_a_time_is_the_tail() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.journal.jsonl");
        let line = |row: u64, n: u32| {
            format!(
                "{{\"type\":\"attempt\",\"row\":{row},\"id\":\"C{row}\",\"attempt\":{n},\"at\":\"t\"}}\n"
            )
        };
        let header = "{\"type\":\"header\"}\n";
        std::fs::write(&path, format!("{header}{}{}", line(1, 1), line(2, 1))).unwrap();
        let fresh = |covered: u64, row: u64| {
            let f = File::open(&path).unwrap();
            let mut offs = Vec::new();
            scan(&f, covered, |r, off, _| {
                if r == row {
                    offs.push(off);
                }
                Ok(())
            })
            .unwrap();
            offs
        };
        let check = |covered: u64| {
            let f = File::open(&path).unwrap();
            let (first, _) = first_line(&f).unwrap();
            for row in 1..=3 {
                assert_eq!(
                    tail_offsets(&path, &f, &first, covered, row).unwrap(),
                    fresh(covered, row),
                    "row {row}, from {covered}"
                );
            }
        };
        let h = header.len() as u64;
        check(h);
        let append = |text: &str| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        append(&line(1, 2));
        append("{\"type\":\"attempt\",\"row\":3,"); // torn: not read yet
        check(h);
        append("\"id\":\"C3\",\"attempt\":1,\"at\":\"t\"}\n");
        check(h);
        // The index takes in the first two records.
        check(h + line(1, 1).len() as u64 + line(2, 1).len() as u64);
        // A garbage last line, cut by a resuming send, then other lines in its place.
        let len = std::fs::metadata(&path).unwrap().len();
        append("garbage line of some length here\n");
        check(h + line(1, 1).len() as u64 + line(2, 1).len() as u64);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len).unwrap();
        append(&line(3, 2));
        append(&line(2, 2));
        check(h + line(1, 1).len() as u64 + line(2, 1).len() as u64);
    }

    fn rows_of(records: &[Record]) -> Vec<(u64, u32)> {
        records
            .iter()
            .map(|r| match r {
                Record::Attempt(a) => (a.row, a.attempt),
                Record::Outcome(o) => (o.row, o.attempt + 100),
                _ => (0, 0),
            })
            .collect()
    }

    /// Built, then kept current from the tail (merged at once with a tail limit of 0, read
    /// from the tail with a large one): the same records, in journal order, either way; a
    /// torn last line is not read; a journal started anew is indexed anew.
    #[test]
    fn the_index_follows_the_journal_as_it_grows() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("c.journal.jsonl");
        let attempt = |row: u64, n: u32| {
            format!(
                r#"{{"type":"attempt","row":{row},"id":"C{row}","attempt":{n},"message_id":"<m>","at":"t"}}"#
            )
        };
        let outcome = |row: u64, n: u32| {
            format!(
                r#"{{"type":"outcome","row":{row},"id":"C{row}","state":"deferred","attempt":{n},"at":"t"}}"#
            )
        };
        let mut text = String::from("{\"type\":\"header\"}\n");
        for row in [3, 1, 2] {
            text.push_str(&attempt(row, 1));
            text.push('\n');
        }
        for tail_max in [0, u64::MAX] {
            std::fs::write(&journal, &text).unwrap();
            let index = dir.path().join(format!("c.lookup-journal-{tail_max}"));
            assert_eq!(
                rows_of(&records_with(&journal, &index, 1, tail_max).unwrap()),
                [(1, 1)]
            );
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&journal)
                .unwrap();
            writeln!(f, "{}", outcome(1, 1)).unwrap();
            writeln!(f, "{}", attempt(2, 2)).unwrap();
            writeln!(f, "{}", attempt(1, 2)).unwrap();
            write!(f, "{{\"type\":\"outcome\",\"row\":1,").unwrap(); // torn
            drop(f);
            assert_eq!(
                rows_of(&records_with(&journal, &index, 1, tail_max).unwrap()),
                [(1, 1), (1, 101), (1, 2)]
            );
            assert_eq!(
                rows_of(&records_with(&journal, &index, 2, tail_max).unwrap()),
                [(2, 1), (2, 2)]
            );
            assert_eq!(
                rows_of(&records_with(&journal, &index, 9, tail_max).unwrap()),
                []
            );
        }
        // A new journal (another header line) is not read through the old index.
        let index = dir.path().join("c.lookup-journal-0");
        std::fs::write(
            &journal,
            format!("{{\"type\":\"header\",\"x\":1}}\n{}\n", attempt(7, 1)),
        )
        .unwrap();
        assert_eq!(rows_of(&records_with(&journal, &index, 1, 0).unwrap()), []);
        assert_eq!(
            rows_of(&records_with(&journal, &index, 7, 0).unwrap()),
            [(7, 1)]
        );
    }
}
