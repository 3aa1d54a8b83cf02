//! The writer: group commit, failures, the state-directory lock, replay speed.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tsuchi::journal::{self, Attempt, Header, JournalWriter, Outcome, State};

fn header(campaign: &str, rows: u64) -> Header {
    Header::new(
        campaign,
        &"a".repeat(64),
        rows,
        &"b".repeat(64),
        &"c".repeat(64),
    )
}

fn attempt(row: u64) -> Attempt {
    Attempt {
        row,
        id: format!("C{row:07}"),
        attempt: 1,
        message_id: format!("<{row}.1.kaede-2026-11@notice.example.jp>"),
    }
}

fn sent(row: u64) -> Outcome {
    Outcome {
        row,
        id: format!("C{row:07}"),
        state: State::Sent,
        attempt: 1,
        code: Some(250),
        enhanced: Some("2.0.0".into()),
        reply: Some("Ok: queued as 4Xk2Lq0v7Nz".into()),
        unknown: false,
        message_id: Some(format!("<{row}.1.kaede-2026-11@notice.example.jp>")),
        relay: None,
        at: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    let w = JournalWriter::create(&path, &header("kaede-2026-11", 200)).unwrap();
    let before = w.sync_count();
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (1..=200)
        .map(|row| {
            let w = w.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                w.attempt(&attempt(row)).await.unwrap();
                // Durable now: "send", then record the outcome (buffered).
                w.outcome(&sent(row)).unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let syncs = w.sync_count() - before;
    w.flush_async().await.unwrap();
    w.close().unwrap();
    eprintln!("200 durable attempts took {syncs} fsyncs");
    assert!(
        syncs < 50,
        "{syncs} fsyncs for 200 attempts: no group commit"
    );

    let r = journal::replay(&path).unwrap();
    assert_eq!(r.records, 400);
    assert_eq!(r.states.counts()[&State::Sent], 200);
    assert!(r.in_flight.is_empty());
}

#[tokio::test]
async fn outcomes_reach_disk_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    let w = JournalWriter::create(&path, &header("kaede-2026-11", 3)).unwrap();
    w.outcome(&sent(1)).unwrap();
    // The background commit happens within COMMIT_INTERVAL.
    tokio::time::sleep(journal::COMMIT_INTERVAL * 3).await;
    assert_eq!(w.sync_count(), 1);
    let r = journal::replay(&path).unwrap();
    assert_eq!(r.states.get(1), State::Sent);
    // Dropping the last handle without close still flushes.
    w.outcome(&sent(2)).unwrap();
    drop(w);
    assert_eq!(journal::replay(&path).unwrap().states.get(2), State::Sent);
}

/// A journal whose appends land on /dev/full: every write fails with ENOSPC. The attempt must
/// fail (so the caller does not send), later calls must fail with the same message, and
/// nothing panics.
#[tokio::test]
async fn full_disk_stops_the_journal() {
    if !Path::new("/dev/full").exists() {
        eprintln!("no /dev/full; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    JournalWriter::create(&path, &header("kaede-2026-11", 5))
        .unwrap()
        .close()
        .unwrap();
    let replay = journal::replay(&path).unwrap();
    // The device itself: a symbolic link to it in a state directory would be refused.
    let w = JournalWriter::open_append(Path::new("/dev/full"), &replay).unwrap();

    w.outcome(&sent(1)).unwrap(); // buffered: accepted, not yet known to fail
    let err = w.attempt(&attempt(2)).await.unwrap_err().to_string();
    assert!(err.contains("journal write failed"), "{err}");
    assert!(
        err.contains("nothing after this point is recorded"),
        "{err}"
    );
    assert_eq!(w.sync_count(), 0);

    let later = w.outcome(&sent(3)).unwrap_err().to_string();
    assert_eq!(later, err);
    assert_eq!(w.attempt(&attempt(4)).await.unwrap_err().to_string(), err);
    assert!(w.flush().is_err());
    assert_eq!(w.error().as_deref(), Some(err.as_str()));
    assert!(w.close().is_err());
}

#[tokio::test]
async fn closed_journal_refuses_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    let w = JournalWriter::create(&path, &header("kaede-2026-11", 5)).unwrap();
    let other = w.clone();
    w.close().unwrap();
    assert!(other.attempt(&attempt(1)).await.is_err());
    assert!(other.outcome(&sent(1)).is_err());
    assert_eq!(journal::replay(&path).unwrap().records, 0);
}

#[test]
fn open_append_refuses_a_journal_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    JournalWriter::create(&path, &header("kaede-2026-11", 5))
        .unwrap()
        .close()
        .unwrap();
    let replay = journal::replay(&path).unwrap();
    let w = JournalWriter::open_append(&path, &replay).unwrap();
    w.outcome(&sent(1)).unwrap();
    w.close().unwrap();
    let err = JournalWriter::open_append(&path, &replay).unwrap_err();
    assert!(
        err.to_string().contains("changed since it was replayed"),
        "{err}"
    );
}

#[test]
fn state_dir_lock_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let lock = journal::lock_state_dir(&state).unwrap();
    let err = journal::lock_state_dir(&state).unwrap_err().to_string();
    let expected = format!(
        "another tsuchi process (pid {}) holds {}",
        std::process::id(),
        state.join("lock").display()
    );
    assert_eq!(err, expected);
    drop(lock);
    let again = journal::lock_state_dir(&state).unwrap();
    assert_eq!(again.path(), state.join("lock"));
}

/// Replay speed on synthetic records: `cargo test --release --test journal_writer -- --ignored
/// --nocapture replay_speed`.
#[test]
#[ignore]
fn replay_speed() {
    let records: u64 = std::env::var("JOURNAL_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000_000);
    let rows = records / 2;
    let dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(dir.path(), "kaede-2026-11");
    let mut text =
        serde_json::to_string(&journal::Record::Header(header("kaede-2026-11", rows))).unwrap();
    text.push('\n');
    let at = journal::now_rfc3339();
    for row in 1..=rows {
        let a = attempt(row);
        text.push_str(
            &serde_json::to_string(&journal::Record::Attempt(journal::AttemptRecord {
                row,
                id: a.id,
                attempt: 1,
                message_id: a.message_id,
                at: at.clone(),
            }))
            .unwrap(),
        );
        text.push('\n');
        let mut o = sent(row);
        o.at = at.clone();
        text.push_str(&serde_json::to_string(&journal::Record::Outcome(o)).unwrap());
        text.push('\n');
    }
    std::fs::write(&path, &text).unwrap();
    let mb = text.len() as f64 / 1e6;
    drop(text);
    let _ = journal::replay(&path).unwrap(); // warm the page cache
    let start = Instant::now();
    let r = journal::replay(&path).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(r.records, rows * 2);
    assert_eq!(r.states.counts()[&State::Sent], rows);
    eprintln!(
        "replayed {} records ({mb:.0} MB) in {secs:.3} s: {:.0} records/s, {:.0} MB/s",
        r.records,
        r.records as f64 / secs,
        mb / secs
    );
}
