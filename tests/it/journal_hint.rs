//! The commit hint beside a journal: records lost before the journal's end are told from a
//! crash's torn tail, a hint that lags the journal (a crash between a commit and its hint) is
//! no damage, and journals without a hint are read as before.

use std::path::{Path, PathBuf};

use tsuchi::journal::{self, JournalWriter, RecordsMissing, State};

use crate::journal_replay::{header, outcome, sample};

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// The sample journal with one more record (a `failed` outcome of row 9) than its hint knows
/// of, as a process leaves it that died after the journal's fsync and before the hint's write.
/// Returns the journal, its hint, the hint's bytes and the length the hint vouches for.
fn behind_its_hint(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>, usize) {
    let path = sample(dir);
    let hint = journal::hint_path(&path);
    let behind = read(&hint);
    let committed = read(&path).len();
    let r = journal::replay(&path).unwrap();
    let w = JournalWriter::open_append(&path, &r).unwrap();
    w.outcome(&outcome(9, State::Failed, 1)).unwrap();
    w.close().unwrap();
    std::fs::write(&hint, &behind).unwrap();
    (path, hint, behind, committed)
}

#[test]
fn a_journal_cut_before_its_last_commit_has_lost_records_whatever_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let full = read(&path);
    let header_end = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    let last_start = full[..full.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    for cut in header_end..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let r = journal::replay(&path).unwrap_or_else(|e| panic!("cut {cut}: {e:#}"));
        let m = r
            .missing
            .as_ref()
            .unwrap_or_else(|| panic!("cut {cut}: not reported"));
        assert_eq!(r.torn_tail, None, "cut {cut}: a loss, not a torn tail");
        assert_eq!(m.committed_len, full.len() as u64);
        assert_eq!(m.committed_records, 19);
        assert_eq!(m.max_row, 7, "the highest row the sample records");
        assert!(m.found_len < m.committed_len);
        let text = m.to_string();
        assert!(
            text.contains("records are missing") && text.contains("rows 1-7"),
            "{text}"
        );
        if cut == header_end {
            assert_eq!(m.unsent, [(1, 7)], "nothing is left: every row may be sent");
        }
        if cut >= last_start {
            // Only the last attempt (row 7, in flight) is lost.
            assert_eq!(m.unsent, [(7, 7)], "cut {cut}");
            assert!(text.contains("(row 7)"), "{text}");
        }
        let err = JournalWriter::open_append(&path, &r).unwrap_err();
        assert_eq!(err.downcast_ref::<RecordsMissing>(), Some(m));
        assert_eq!(read(&path), &full[..cut], "nothing is written after a loss");
    }
}

#[test]
fn a_hint_behind_the_journal_is_a_crash_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (path, hint, behind, _) = behind_its_hint(dir.path());
    let r = journal::replay(&path).unwrap();
    assert_eq!(r.missing, None);
    assert_eq!(r.torn_tail, None);
    assert_eq!(r.records, 20);
    assert_eq!(r.states.get(9), State::Failed);

    // …and tore the line it was writing: still a crash's torn tail.
    let whole = read(&path);
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"type":"outcome","row":10,"#);
    std::fs::write(&path, &torn).unwrap();
    let r = journal::replay(&path).unwrap();
    assert_eq!(r.missing, None);
    assert_eq!(r.torn_tail.as_ref().unwrap().offset, whole.len() as u64);

    // Resuming cuts the tail and brings the hint up to date: from now on the record the old
    // hint did not know of is vouched for too.
    let w = JournalWriter::open_append(&path, &r).unwrap();
    w.close().unwrap();
    assert_eq!(read(&path), whole);
    assert_ne!(read(&hint), behind);
    std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
    assert!(journal::replay(&path).unwrap().missing.is_some());
}

#[test]
fn lines_removed_before_a_lagging_hint_are_found_though_the_journal_is_longer() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _, committed) = behind_its_hint(dir.path());
    // Line 3, an attempt, is shorter than the outcome appended since the hint was written.
    let text = String::from_utf8(read(&path)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let removed = lines.remove(2);
    assert!(removed.contains("\"attempt\""));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    assert!(read(&path).len() > committed);

    let r = journal::replay(&path).unwrap();
    let m = r.missing.as_ref().expect("lines removed");
    let text = m.to_string();
    assert!(
        text.contains("records are missing") && text.contains("lines removed or changed"),
        "{text}"
    );
    assert!(JournalWriter::open_append(&path, &r).is_err());
}

#[test]
fn a_journal_without_a_hint_is_read_as_before_and_gains_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let hint = journal::hint_path(&path);
    std::fs::remove_file(&hint).unwrap();
    let full = read(&path);
    std::fs::write(&path, &full[..full.len() - 10]).unwrap();
    let r = journal::replay(&path).unwrap();
    assert_eq!(r.missing, None);
    assert!(r.torn_tail.is_some());
    let w = JournalWriter::open_append(&path, &r).unwrap();
    w.outcome(&outcome(9, State::Failed, 1)).unwrap();
    w.close().unwrap();
    assert!(!hint.exists());
}

#[test]
fn a_hint_left_by_another_journal_or_damaged_is_no_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let hint = journal::hint_path(&path);
    let full = read(&path);
    let cut = &full[..full.len() - 10];

    // The hint of another journal of the same name, since deleted.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let other_path = journal::journal_path(&other, "kaede-2026-11");
    JournalWriter::create(&other_path, &header("kaede-2026-11", 3))
        .unwrap()
        .close()
        .unwrap();
    std::fs::copy(journal::hint_path(&other_path), &hint).unwrap();
    std::fs::write(&path, cut).unwrap();
    let r = journal::replay(&path).unwrap();
    assert_eq!(r.missing, None);
    assert!(r.torn_tail.is_some());

    // A hint that fails its own check.
    let mut garbled = read(&journal::hint_path(&other_path));
    garbled[30] ^= 1;
    std::fs::write(&hint, &garbled).unwrap();
    assert_eq!(journal::replay(&path).unwrap().missing, None);
}

#[test]
fn a_symbolic_link_in_place_of_the_hint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("precious.txt");
    std::fs::write(&outside, "keep me\n").unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    std::os::unix::fs::symlink(&outside, journal::hint_path(&path)).unwrap();
    let err = JournalWriter::create(&path, &header("kaede-2026-11", 3)).unwrap_err();
    assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me\n");
    assert!(!path.exists());
}
