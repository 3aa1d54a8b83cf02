//! The replay checkpoint: `<campaign>.journal.checkpoint` beside the journal, the state a
//! replay reached at some length of the journal, so that the readers that answer questions
//! about a campaign of millions (`status`, `report`, the hotline) replay only what the
//! journal gained since, not gigabytes from the start.
//!
//! It holds the per-row tables and the rest of replay's state ([`Resume`]) at the end of the
//! journal's trusted part, and what the reader that saved it kept besides (`extra`: where
//! each row's last outcome is, …). It is only a cache, never the record: it is used only when
//! it still fits the journal —
//!
//! - the journal's first line (its header, stamped with its creation time) is the one the
//!   checkpoint was made from, so a journal started anew is replayed anew;
//! - the journal is at least as long, and its last 64 KiB before the checkpoint's length are
//!   unchanged (a journal cut short, restored from an older copy or rewritten is replayed
//!   from the start, where replay finds what is wrong with it);
//! - the commit hint agrees with what the checkpoint saw of it ([`Witness::resume`]);
//! - the file passes its own SHA-256 (a checkpoint damaged or cut short is ignored).
//!
//! Otherwise replay reads the whole journal, exactly as without a checkpoint. A journal whose
//! records are missing is never checkpointed. The file is written aside and renamed into
//! place, owner-only, and holds no personal data: states, attempt counts and id fingerprints
//! per row, run markers' times and counters. `send` does not read it: a send replays its
//! journal in full before it appends.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};

use super::hint::{Tally, Witness};
use super::record::Record;
use super::replay::{Replay, Resume, RunInfo, WitnessState};
use super::rows::{RowAttempts, RowIds, RowStates};
use crate::util::table::{read_table, write_table};

const MAGIC: &[u8; 8] = b"TSUCHIC1";
/// How much of the journal before the checkpoint's end must be unchanged for it to be used.
const TAIL: u64 = 64 << 10;
/// The longest run-marker part a checkpoint may hold (a journal has a marker pair per run).
const MAX_RUNS_JSON: u64 = 64 << 20;

/// The checkpoint of the journal at `journal`: `<campaign>.journal.checkpoint` beside it.
pub fn checkpoint_path(journal: &Path) -> PathBuf {
    journal.with_extension("checkpoint")
}

/// The journal's bytes that must be unchanged: where they start and their SHA-256.
fn tail_digest(journal: &File, end: u64) -> std::io::Result<(u64, [u8; 32])> {
    let start = end.saturating_sub(TAIL);
    let mut buf = vec![0u8; (end - start) as usize];
    journal.read_exact_at(&mut buf, start)?;
    Ok((start, Sha256::digest(&buf).into()))
}

/// True if the replay `prev` (read back from a checkpoint) is of the journal `file`, whose
/// first line hashes to `first_line`, as it stands now.
pub(super) fn fits(file: &File, first_line: &[u8; 32], prev: &Replay) -> bool {
    let Some(tail) = prev.resume.tail else {
        return false;
    };
    prev.resume.first_line == *first_line
        && file.metadata().is_ok_and(|m| m.len() >= prev.valid_len)
        && tail_digest(file, prev.valid_len).is_ok_and(|t| t == tail)
}

/// The commit hint's check to go on with from `prev`, given the hint `committed` read now
/// and the journal's header line: `None` when the checkpoint cannot be used with this hint
/// (the journal is then replayed from the start, which judges the hint).
pub(super) fn resumed_witness(
    prev: &Replay,
    committed: Option<Tally>,
    header_line: &[u8],
) -> Option<Option<Witness>> {
    let header = Tally::of_header(header_line).header;
    let committed = committed.filter(|c| c.header == header);
    match (prev.resume.witness, committed) {
        (_, None) => Some(None),
        (None, Some(_)) => None,
        (Some(at), Some(c)) => Witness::resume(at, c).map(Some),
    }
}

/// A writer that hashes what passes through it.
struct Hashing<'a, W: Write> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what it reads.
struct Hashed<R: Read> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn put(w: &mut dyn Write, values: &[u64]) -> std::io::Result<()> {
    for v in values {
        w.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

fn get(r: &mut dyn Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn put_tally(w: &mut dyn Write, t: &Tally) -> std::io::Result<()> {
    put(w, &[t.len, t.lines, t.chain, t.header, t.max_row])
}

fn get_tally(r: &mut dyn Read) -> std::io::Result<Tally> {
    Ok(Tally {
        len: get(r)?,
        lines: get(r)?,
        chain: get(r)?,
        header: get(r)?,
        max_row: get(r)?,
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Runs {
    last_at: String,
    runs: Vec<RunInfo>,
}

/// Saves `replay` of the journal at `journal` as its checkpoint, with what `extra` writes
/// after it (read back by [`load`]'s `extra`). Nothing is saved for a journal whose records
/// are missing.
pub fn save(
    journal: &Path,
    replay: &Replay,
    extra: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    if replay.missing.is_some() {
        return Ok(());
    }
    let file = crate::util::fs::open_state_file(journal, File::options().read(true))?;
    let (tail_start, tail) = tail_digest(&file, replay.valid_len)?;
    let r = &replay.resume;
    crate::util::fs::write_atomic_with(&checkpoint_path(journal), 0o600, |out| {
        let mut w = Hashing {
            inner: out,
            hash: Sha256::new(),
        };
        w.write_all(MAGIC)?;
        put(
            &mut w,
            &[
                replay.valid_len,
                r.lines,
                replay.records,
                r.max_row,
                replay.states.len(),
                tail_start,
            ],
        )?;
        w.write_all(&r.first_line)?;
        w.write_all(&tail)?;
        match &r.witness {
            None => put(&mut w, &[0])?,
            Some(ws) => {
                put(&mut w, &[1])?;
                put_tally(&mut w, &ws.committed)?;
                put_tally(&mut w, &ws.running)?;
                put(&mut w, &[u64::from(ws.holds)])?;
            }
        }
        let runs = serde_json::to_vec(&Runs {
            last_at: r.last_at.clone(),
            runs: replay.runs.clone(),
        })?;
        put(&mut w, &[runs.len() as u64])?;
        w.write_all(&runs)?;
        w.write_all(replay.states.as_bytes())?;
        w.write_all(&replay.attempts.bytes)?;
        write_table(&mut w, &replay.ids.prints, u32::to_le_bytes)?;
        extra(&mut w)?;
        let digest = w.hash.finalize();
        out.write_all(&digest)?;
        Ok(())
    })
}

/// Reads back the checkpoint of the journal at `journal`, if there is one that passes its
/// own check and is of a journal with this first line: the replay it holds (to hand to
/// `replay_from`, which checks that it still fits the journal) and what `extra` made of the
/// saved extra part, given the list's rows. `extra` must bound what it allocates by what it
/// is given: the file is checked only once it has been read.
pub fn load<T>(
    journal: &Path,
    extra: impl FnOnce(&mut dyn Read, u64) -> Result<T>,
) -> Result<Option<(Replay, T)>> {
    let Some(file) = crate::util::fs::open_existing_state_file(
        &checkpoint_path(journal),
        File::options().read(true),
    )?
    else {
        return Ok(None);
    };
    let Some(header) = header_of(journal)? else {
        return Ok(None);
    };
    let mut r = Hashed {
        inner: BufReader::with_capacity(1 << 20, file),
        hash: Sha256::new(),
    };
    let read = |r: &mut Hashed<BufReader<File>>| -> Result<Option<(Replay, T)>> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Ok(None);
        }
        let [valid_len, lines, records, max_row, rows, tail_start] =
            [get(r)?, get(r)?, get(r)?, get(r)?, get(r)?, get(r)?];
        if rows != header.list_rows {
            return Ok(None);
        }
        let mut first_line = [0u8; 32];
        r.read_exact(&mut first_line)?;
        let mut tail = [0u8; 32];
        r.read_exact(&mut tail)?;
        let witness = match get(r)? {
            0 => None,
            1 => Some(WitnessState {
                committed: get_tally(r)?,
                running: get_tally(r)?,
                holds: get(r)? == 1,
            }),
            _ => return Ok(None),
        };
        let runs_len = get(r)?;
        if runs_len > MAX_RUNS_JSON {
            return Ok(None);
        }
        let mut runs = vec![0u8; runs_len as usize];
        r.read_exact(&mut runs)?;
        let Ok(runs) = serde_json::from_slice::<Runs>(&runs) else {
            return Ok(None);
        };
        let n = rows as usize;
        let mut states = vec![0u8; n];
        r.read_exact(&mut states)?;
        let mut attempts = vec![0u8; n];
        r.read_exact(&mut attempts)?;
        let prints = read_table(r, n, u32::from_le_bytes)?;
        let extra = extra(r, rows)?;
        let digest: [u8; 32] = std::mem::take(&mut r.hash).finalize().into();
        let mut stored = [0u8; 32];
        r.inner.read_exact(&mut stored)?;
        if stored != digest {
            return Ok(None);
        }
        let states = RowStates::from_bytes(states);
        let in_flight = states.rows_in(super::record::State::Attempting).collect();
        let replay = Replay {
            header: header.clone(),
            states,
            attempts: RowAttempts { bytes: attempts },
            ids: RowIds { prints },
            in_flight,
            torn_tail: None,
            records,
            runs: runs.runs,
            valid_len,
            missing: None,
            commit: None,
            resume: Resume {
                first_line,
                lines,
                last_at: runs.last_at,
                max_row,
                witness,
                tail: Some((tail_start, tail)),
                from: None,
            },
        };
        Ok(Some((replay, extra)))
    };
    // A checkpoint cut short or otherwise unreadable is no checkpoint.
    match read(&mut r) {
        Ok(found) => Ok(found),
        Err(e) if is_short(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_short(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof)
}

/// The journal's header, if its first line is one (without replaying the rest).
pub fn header_of(journal: &Path) -> Result<Option<super::record::Header>> {
    let Some(f) = crate::util::fs::open_existing_state_file(journal, File::options().read(true))?
    else {
        return Ok(None);
    };
    let mut line = Vec::new();
    BufReader::new(f)
        .take(1 << 20)
        .read_until(b'\n', &mut line)?;
    Ok(match serde_json::from_slice::<Record>(&line) {
        Ok(Record::Header(h)) => Some(h),
        _ => None,
    })
}

/// Saves a checkpoint only when the replay read at least this much of the journal past the
/// checkpoint it went on from: `min_gain` bytes, or an eighth of the part that checkpoint
/// covers, whichever is less — so a journal is checkpointed early and then again as it grows,
/// without rewriting a checkpoint of millions of rows for a few records. A replay from the
/// start (no checkpoint, or one that no longer fit) always saves.
pub fn worth_saving(replay: &Replay, min_gain: u64) -> bool {
    if replay.missing.is_some() {
        return false;
    }
    let from = replay.resume.from.unwrap_or(0);
    let gained = replay.valid_len.saturating_sub(from);
    gained > 0 && (gained >= min_gain || gained >= from / 8)
}

#[cfg(test)]
mod tests {
    use super::super::hint::{HintFile, Tally};
    use super::super::record::{
        AttemptRecord, Header, LetterExported, Outcome, Record, RunMarker, State,
    };
    use super::super::replay::{Observer, Seen, replay, replay_from};
    use super::*;

    /// An observer that keeps every record it is told of (what the readers' observers see).
    #[derive(Default, Debug, PartialEq)]
    struct Log(Vec<(u64, Seen)>);

    impl Observer for Log {
        fn record(&mut self, offset: u64, _: &[u8], seen: Seen) -> Result<()> {
            self.0.push((offset, seen));
            Ok(())
        }
        fn restart(&mut self) {
            self.0.clear();
        }
    }

    /// The lines of a journal of 5 rows over two runs: attempts, a deferral, an unknown
    /// outcome, a re-send, a bounce, a letter; each line with its newline.
    fn lines() -> Vec<Vec<u8>> {
        let at = |s: u32| format!("2026-11-25T08:00:{s:02}.000Z");
        let attempt = |row: u64, n: u32, s: u32| {
            Record::Attempt(AttemptRecord {
                row,
                id: format!("C{row:04}"),
                attempt: n,
                message_id: format!("<{row}.{n}@x>"),
                at: at(s),
            })
        };
        let outcome = |row: u64, state: State, n: u32, s: u32| {
            let mut o = Outcome::new(row, format!("C{row:04}"), state, n);
            o.at = at(s);
            o.code = Some(if state == State::Sent { 250 } else { 451 });
            o.unknown = state == State::Deferred && row == 4;
            Record::Outcome(o)
        };
        let mut start = RunMarker::start();
        start.at = at(0);
        let mut stop = RunMarker::stop("done");
        stop.at = at(20);
        let mut start2 = RunMarker::start();
        start2.at = at(30);
        let records = vec![
            Record::Header(Header::new("c", "digest", 5, "t", "s")),
            Record::Run(start),
            attempt(1, 1, 1),
            outcome(1, State::Sent, 1, 2),
            attempt(2, 1, 3),
            outcome(2, State::Deferred, 1, 4),
            attempt(3, 1, 5),
            attempt(4, 1, 6),
            outcome(4, State::Deferred, 1, 7),
            Record::Run(stop),
            Record::Run(start2),
            attempt(2, 2, 31),
            outcome(2, State::Sent, 2, 32),
            attempt(4, 2, 33),
            outcome(4, State::Sent, 2, 34),
            outcome(1, State::Bounced, 1, 35),
            Record::LetterExported(LetterExported {
                row: 1,
                id: "C0001".into(),
                batch: "letters-0001.pdf".into(),
                pages: "1-2".into(),
                at: at(36),
            }),
            attempt(5, 1, 37),
        ];
        records.iter().map(Record::to_line).collect()
    }

    fn write(path: &Path, lines: &[Vec<u8>], torn: &[u8]) {
        let mut bytes = lines.concat();
        bytes.extend_from_slice(torn);
        std::fs::write(path, bytes).unwrap();
    }

    /// The hint as a writer would leave it after committing `lines`.
    fn hint(path: &Path, lines: &[Vec<u8>]) {
        let strip = |l: &Vec<u8>| l[..l.len() - 1].to_vec();
        let mut t = Tally::of_header(&strip(&lines[0]));
        for l in &lines[1..] {
            t.add(&strip(l), 0);
        }
        HintFile::create(path).unwrap().write(&t).unwrap();
    }

    fn same(a: &Replay, b: &Replay) {
        assert_eq!(a.states, b.states);
        assert_eq!(a.attempts, b.attempts);
        assert_eq!(a.ids, b.ids);
        assert_eq!(a.in_flight, b.in_flight);
        assert_eq!(a.torn_tail, b.torn_tail);
        assert_eq!(a.records, b.records);
        assert_eq!(a.runs, b.runs);
        assert_eq!(a.valid_len, b.valid_len);
        assert_eq!(a.missing.is_some(), b.missing.is_some());
        assert_eq!(a.commit, b.commit);
        assert_eq!(a.resume.lines, b.resume.lines);
        assert_eq!(a.resume.max_row, b.resume.max_row);
        assert_eq!(a.resume.last_at, b.resume.last_at);
    }

    /// Checkpointed after any number of lines (with or without a torn line after them, with
    /// or without a commit hint), a journal that then grows replays from the checkpoint to
    /// exactly what a replay from the start gives, and the observer is told of exactly the
    /// records after the checkpoint.
    #[test]
    fn a_replay_from_a_checkpoint_is_the_replay_from_the_start() {
        let all = lines();
        for hinted in [false, true] {
            for cut in 1..=all.len() {
                for torn in [&b""[..], &br#"{"type":"attempt","row":5,"#[..]] {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().join("c.journal.jsonl");
                    write(&path, &all[..cut], torn);
                    if hinted {
                        hint(&path, &all[..cut]);
                    }
                    let early = replay(&path).unwrap();
                    assert!(early.missing.is_none());
                    save(&path, &early, |w| Ok(w.write_all(b"extra")?)).unwrap();

                    write(&path, &all, b"");
                    if hinted {
                        hint(&path, &all);
                    }
                    let (prev, extra) = load(&path, |r, _| {
                        let mut b = [0u8; 5];
                        r.read_exact(&mut b)?;
                        Ok(b)
                    })
                    .unwrap()
                    .expect("a checkpoint");
                    assert_eq!(&extra, b"extra", "cut {cut}");
                    let mut seen = Log::default();
                    let resumed = replay_from(&path, Some(prev), &mut seen).unwrap();
                    let mut from_start = Log::default();
                    let full = replay_from(&path, None, &mut from_start).unwrap();
                    same(&resumed, &full);
                    let after: Vec<_> = from_start
                        .0
                        .iter()
                        .filter(|(o, _)| *o >= early.valid_len)
                        .cloned()
                        .collect();
                    assert_eq!(seen.0, after, "hinted {hinted}, cut {cut}, torn {torn:?}");
                }
            }
        }
    }

    /// A checkpoint is not used for a journal that is no longer the one it was made from:
    /// started anew, cut short, or changed before the checkpoint's end.
    #[test]
    fn a_checkpoint_of_another_journal_is_not_used() {
        let all = lines();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.journal.jsonl");
        write(&path, &all[..10], b"");
        save(&path, &replay(&path).unwrap(), |_| Ok(())).unwrap();
        let load_it = || load(&path, |_, _| Ok(())).unwrap().map(|(r, ())| r);

        // Changed before the checkpoint's end: a line of the same length, another reply.
        let mut changed = all.clone();
        let line = String::from_utf8(changed[3].clone()).unwrap();
        changed[3] = line.replace("\"code\":250", "\"code\":550").into_bytes();
        assert_ne!(changed[3], all[3]);
        assert_eq!(changed[3].len(), all[3].len());
        write(&path, &changed, b"");
        let mut log = Log::default();
        let r = replay_from(&path, load_it(), &mut log).unwrap();
        same(&r, &replay(&path).unwrap());
        assert_eq!(log.0.len() as u64, r.records, "replayed from the start");
        assert_eq!(r.resume.from, None);
        assert!(
            worth_saving(&r, u64::MAX),
            "a replay from the start is saved"
        );
        // Unchanged, the same checkpoint is used: only the records after it are read.
        write(&path, &all, b"");
        let mut log = Log::default();
        let covered = load_it().unwrap().valid_len;
        let r = replay_from(&path, load_it(), &mut log).unwrap();
        assert_eq!(log.0.len(), all.len() - 10);
        assert_eq!(r.resume.from, Some(covered));
        assert!(
            worth_saving(&r, u64::MAX),
            "8 lines past 10: more than an eighth"
        );
        // Nothing past it: not saved again.
        save(&path, &r, |_| Ok(())).unwrap();
        let r = replay_from(&path, load_it(), &mut ()).unwrap();
        assert_eq!(r.resume.from, Some(r.valid_len));
        assert!(!worth_saving(&r, 1));

        // Cut short below the checkpoint.
        write(&path, &all[..10], b"");
        save(&path, &replay(&path).unwrap(), |_| Ok(())).unwrap();
        write(&path, &all[..6], b"");
        let r = replay_from(&path, load_it(), &mut ()).unwrap();
        same(&r, &replay(&path).unwrap());

        // Started anew: another header line.
        write(&path, &all[..10], b"");
        save(&path, &replay(&path).unwrap(), |_| Ok(())).unwrap();
        let mut anew = all.clone();
        anew[0] = Record::Header(Header::new("c", "digest", 5, "t2", "s")).to_line();
        write(&path, &anew, b"");
        let r = replay_from(&path, load_it(), &mut ()).unwrap();
        same(&r, &replay(&path).unwrap());
    }

    /// A checkpoint damaged anywhere, or cut short, is no checkpoint.
    #[test]
    fn a_damaged_checkpoint_is_ignored() {
        let all = lines();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.journal.jsonl");
        write(&path, &all, b"");
        save(
            &path,
            &replay(&path).unwrap(),
            |w| Ok(w.write_all(&[7; 9])?),
        )
        .unwrap();
        let good = std::fs::read(checkpoint_path(&path)).unwrap();
        let read_extra = |r: &mut dyn Read, _| {
            let mut b = [0u8; 9];
            r.read_exact(&mut b)?;
            Ok(b)
        };
        assert!(load(&path, read_extra).unwrap().is_some());
        for i in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            std::fs::write(checkpoint_path(&path), &bad).unwrap();
            assert!(load(&path, read_extra).unwrap().is_none(), "byte {i}");
            std::fs::write(checkpoint_path(&path), &good[..i]).unwrap();
            assert!(load(&path, read_extra).unwrap().is_none(), "cut at {i}");
        }
    }

    /// A journal that lost committed records is not checkpointed.
    #[test]
    fn a_journal_with_records_missing_is_not_checkpointed() {
        let all = lines();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.journal.jsonl");
        write(&path, &all, b"");
        hint(&path, &all);
        write(&path, &all[..8], b"");
        let r = replay(&path).unwrap();
        assert!(r.missing.is_some());
        assert!(!worth_saving(&r, 1));
        save(&path, &r, |_| Ok(())).unwrap();
        assert!(!checkpoint_path(&path).exists());
    }
}
