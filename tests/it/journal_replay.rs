//! Replay: round trip through the writer, torn tails, corruption, wrong campaign.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tsuchi::journal::{self, Attempt, Header, JournalWriter, Outcome, RunEvent, RunMarker, State};

pub(crate) fn header(campaign: &str, rows: u64) -> Header {
    Header::new(
        campaign,
        &"a".repeat(64),
        rows,
        &"b".repeat(64),
        &"c".repeat(64),
    )
}

pub(crate) fn attempt(row: u64, n: u32) -> Attempt {
    Attempt {
        row,
        id: format!("C{row:04}"),
        attempt: n,
        message_id: format!("<{row}.{n}@notice.example.jp>"),
    }
}

pub(crate) fn outcome(row: u64, state: State, n: u32) -> Outcome {
    Outcome {
        row,
        id: format!("C{row:04}"),
        state,
        attempt: n,
        code: Some(if state == State::Sent { 250 } else { 451 }),
        enhanced: Some("2.0.0".into()),
        reply: Some("Ok: queued as ABC123 — 受付".into()),
        unknown: false,
        message_id: Some(format!("<{row}.{n}@notice.example.jp>")),
        relay: None,
        at: String::new(),
    }
}

/// A journal with rows 1..=10: some sent, one deferred then sent, one bounced after sent,
/// one delayed, one in flight, one skipped; two runs.
pub(crate) fn sample(dir: &Path) -> PathBuf {
    let path = journal::journal_path(dir, "kaede-2026-11");
    let w = JournalWriter::create(&path, &header("kaede-2026-11", 10)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        w.run_marker(&RunMarker::start()).unwrap();
        for row in 1..=4 {
            w.attempt(&attempt(row, 1)).await.unwrap();
            w.outcome(&outcome(row, State::Sent, 1)).unwrap();
        }
        w.attempt(&attempt(5, 1)).await.unwrap();
        w.outcome(&outcome(5, State::Deferred, 1)).unwrap();
        w.run_marker(&RunMarker::stop("relay outage").with("sent", 4))
            .unwrap();
        w.run_marker(&RunMarker::start()).unwrap();
        w.attempt(&attempt(5, 2)).await.unwrap();
        w.outcome(&outcome(5, State::Sent, 2)).unwrap();
        w.outcome(&outcome(2, State::Bounced, 1)).unwrap();
        w.outcome(&outcome(3, State::Delayed, 1)).unwrap();
        w.outcome(&outcome(6, State::Skipped, 0)).unwrap();
        w.attempt(&attempt(7, 1)).await.unwrap();
    });
    w.close().unwrap();
    path
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let r = journal::replay(&path).unwrap();
    assert_eq!(r.header.campaign, "kaede-2026-11");
    assert_eq!(r.header.list_rows, 10);
    let s = &r.states;
    assert_eq!(s.len(), 10);
    assert_eq!(s.get(1), State::Sent);
    assert_eq!(s.get(2), State::Bounced);
    assert_eq!(s.get(3), State::Delayed);
    assert_eq!(s.get(4), State::Sent);
    assert_eq!(s.get(5), State::Sent);
    assert_eq!(s.get(6), State::Skipped);
    assert_eq!(s.get(7), State::Attempting);
    assert_eq!(s.get(8), State::Pending);
    assert_eq!(r.attempts.get(5), 2);
    assert_eq!(r.attempts.get(8), 0);
    let c = s.counts();
    assert_eq!(c[&State::Sent], 3);
    assert_eq!(c[&State::Pending], 3);
    assert_eq!(c.values().sum::<u64>(), 10);
    assert_eq!(r.in_flight, vec![7]);
    assert_eq!(r.torn_tail, None);
    assert_eq!(r.records, 19);
    assert_eq!(r.valid_len, std::fs::metadata(&path).unwrap().len());

    assert_eq!(r.runs.len(), 2);
    let first = &r.runs[0];
    assert!(first.clean_stop);
    assert_eq!(first.reason.as_deref(), Some("relay outage"));
    assert_eq!(first.attempts, 5);
    assert_eq!(first.outcomes[&State::Sent], 4);
    assert_eq!(first.counters["sent"], 4);
    assert!(first.elapsed_secs().unwrap() >= 0.0);
    let second = &r.runs[1];
    assert!(
        !second.clean_stop,
        "the second run ended without a stop marker"
    );
    assert_eq!(second.attempts, 2);
    assert!(journal::parse_rfc3339(&second.ended).is_some());

    // No personal data in the file, only ids and outcomes; every line parses as a Record.
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        let rec: journal::Record = serde_json::from_str(line).unwrap();
        if let journal::Record::Run(m) = rec {
            assert!(matches!(m.event, RunEvent::Start | RunEvent::Stop));
        }
    }
}

#[test]
fn created_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _lock = journal::lock_state_dir(&state).unwrap();
    let dir_mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let path = sample(&state);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let hint_mode = std::fs::metadata(journal::hint_path(&path))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(hint_mode & 0o777, 0o600);
    // Only the journal, its commit hint and the lock: no temporary files left behind.
    let mut names: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kaede-2026-11.journal.commit",
            "kaede-2026-11.journal.jsonl",
            "lock"
        ]
    );
    // And create refuses to overwrite.
    let err = JournalWriter::create(&path, &header("kaede-2026-11", 10)).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

/// Cutting the file at every byte within its last two records: replay keeps every complete
/// record, reports the torn tail, and after `open_append` the journal continues cleanly.
#[test]
fn torn_tail_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let full_path = sample(dir.path());
    let full = std::fs::read(&full_path).unwrap();
    let full_replay = journal::replay(&full_path).unwrap();
    // Line starts: the last two records begin at the last two line starts.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            full.iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < full.len())
        .collect();
    let lines = starts.len() as u64; // header included
    let from = starts[starts.len() - 2];

    let work = dir.path().join("torn");
    std::fs::create_dir(&work).unwrap();
    let path = journal::journal_path(&work, "kaede-2026-11");
    for cut in from..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let r = journal::replay(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e:#}"));
        let complete = starts.iter().filter(|&&s| s < cut).count() as u64 - 1;
        let at_boundary = starts.contains(&cut);
        let expect_records = if at_boundary { complete } else { complete - 1 };
        assert_eq!(r.records, expect_records, "cut {cut}");
        assert_eq!(
            r.records,
            full_replay.records - (lines - 1 - expect_records)
        );
        match (&r.torn_tail, at_boundary) {
            (None, true) => {}
            (Some(t), false) => {
                assert_eq!(
                    t.offset as usize,
                    *starts.iter().rfind(|&&s| s < cut).unwrap()
                );
                assert_eq!(t.offset + t.len, cut as u64);
                assert_eq!(r.valid_len, t.offset);
            }
            (t, _) => panic!("cut {cut}: torn tail {t:?}"),
        }

        let w = JournalWriter::open_append(&path, &r).unwrap();
        w.outcome(&outcome(9, State::Failed, 1)).unwrap();
        w.close().unwrap();
        let again = journal::replay(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e:#}"));
        assert_eq!(again.torn_tail, None, "cut {cut}");
        assert_eq!(again.records, r.records + 1);
        assert_eq!(again.states.get(9), State::Failed);
    }
}

#[test]
fn garbage_tail_and_empty_last_line_are_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let good = std::fs::read(&path).unwrap();
    for tail in [
        &b"\n"[..],
        b"\0\0\0\0\0\0",
        b"{\"type\":\"outc\n",
        b"not json\n",
    ] {
        let mut bytes = good.clone();
        bytes.extend_from_slice(tail);
        std::fs::write(&path, &bytes).unwrap();
        let r = journal::replay(&path).unwrap();
        let t = r.torn_tail.expect("torn");
        assert_eq!(t.offset as usize, good.len());
        assert_eq!(r.records, 19);
    }
}

#[test]
fn corruption_in_the_middle_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // Line 5 (1-based) garbled: half of a record, as if a torn tail had been appended to.
    let half = &lines[4][..lines[4].len() / 2];
    let glued = format!("{half}{}", lines[5]);
    lines[4] = &glued;
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = journal::replay(&path).unwrap_err().to_string();
    assert!(
        err.contains("kaede-2026-11.journal.jsonl:5: corrupt record ("),
        "{err}"
    );

    // A record that parses but is impossible is also corruption: an outcome of a row outside
    // the list, and an outcome state that is not an outcome.
    for bad in [
        r#"{"type":"outcome","row":11,"id":"X","state":"sent","attempt":1,"at":"t"}"#,
        r#"{"type":"outcome","row":1,"id":"X","state":"pending","attempt":1,"at":"t"}"#,
        r#"{"type":"header","version":1,"campaign":"kaede-2026-11","created":"t","list_digest":"","list_rows":1,"templates_digest":"","config_digest":""}"#,
    ] {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(3, bad);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = journal::replay(&path).unwrap_err().to_string();
        assert!(err.contains(".jsonl:4: corrupt record"), "{err}");
    }
}

#[test]
fn header_must_be_there_and_match_the_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let other = journal::journal_path(dir.path(), "momiji-2026-12");
    std::fs::copy(&path, &other).unwrap();
    let err = journal::replay(&other).unwrap_err().to_string();
    assert!(
        err.contains("kaede-2026-11") && err.contains("momiji-2026-12"),
        "{err}"
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let headless: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, headless).unwrap();
    let err = journal::replay(&path).unwrap_err().to_string();
    assert!(err.contains(":1: journal header missing"), "{err}");

    std::fs::write(&path, "").unwrap();
    assert!(journal::replay(&path).is_err());

    // Header digests are checked by the caller with check_matches.
    let h = header("kaede-2026-11", 10);
    let mut changed = h.clone();
    changed.list_rows = 11;
    changed.config_digest = "d".into();
    let err = h.check_matches(&changed).unwrap_err().to_string();
    assert!(
        err.contains("list_rows") && err.contains("config_digest"),
        "{err}"
    );
    assert!(h.check_matches(&h).is_ok());
}

#[test]
fn impossible_last_record_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(
        b"{\"type\":\"outcome\",\"row\":99,\"id\":\"X\",\"state\":\"sent\",\"attempt\":1,\"at\":\"t\"}\n",
    );
    std::fs::write(&path, &bytes).unwrap();
    let err = journal::replay(&path).unwrap_err().to_string();
    assert!(
        err.contains(":21: corrupt record (row 99 outside the list"),
        "{err}"
    );
}
