//! The journal: appending outcome records through `JournalWriter` (buffered, group commit on
//! the writer thread), the send pattern (durable `attempt` then `outcome`, from 8 concurrent
//! tasks as `--concurrency 8` does), and `journal::replay` over a generated journal of
//! 1,000,000 records. `cargo bench --bench journal`.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tsuchi::journal::{
    self, AttemptRecord, Header, JournalWriter, Outcome, Record, RunMarker, State,
};

const CAMPAIGN: &str = "kaede-2026-11";
const APPEND: u64 = 100_000;
const SEND_ROWS: u64 = 4_000;
const REPLAY_ROWS: u64 = 500_000; // an attempt and an outcome each: 1,000,000 records

fn header(rows: u64) -> Header {
    Header::new(
        CAMPAIGN,
        &"ab".repeat(32),
        rows,
        &"cd".repeat(32),
        &"ef".repeat(32),
    )
}

fn message_id(row: u64) -> String {
    format!("<{row:08x}.3f9a1c2b7d4e@kaede-travel.example>")
}

fn sent(row: u64) -> Outcome {
    Outcome {
        row,
        id: format!("C{row:06}"),
        state: State::Sent,
        attempt: 1,
        code: Some(250),
        enhanced: Some("2.0.0".into()),
        reply: Some("2.0.0 Ok: queued as 4XyZ1abCdE".into()),
        unknown: false,
        message_id: Some(message_id(row)),
        relay: None,
        at: String::new(),
    }
}

/// A journal as a send of `rows` recipients leaves it: header, run start, then an attempt and
/// a `sent` outcome per row, written directly (fast) in the writer's line format.
pub fn write_journal(path: &Path, rows: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&Record::Header(header(rows)).to_line())
        .unwrap();
    let mut start = RunMarker::start();
    start.at = journal::now_rfc3339();
    out.write_all(&Record::Run(start).to_line()).unwrap();
    let at = journal::now_rfc3339();
    for row in 1..=rows {
        let a = AttemptRecord {
            row,
            id: format!("C{row:06}"),
            attempt: 1,
            message_id: message_id(row),
            at: at.clone(),
        };
        out.write_all(&Record::Attempt(a).to_line()).unwrap();
        let mut o = sent(row);
        o.at = at.clone();
        out.write_all(&Record::Outcome(o).to_line()).unwrap();
    }
    out.flush().unwrap();
}

fn journal(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let counter = AtomicUsize::new(0);
    let fresh = || {
        let sub = dir
            .path()
            .join(format!("j{}", counter.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&sub).unwrap();
        journal::journal_path(&sub, CAMPAIGN)
    };
    let outcomes: Vec<Outcome> = (1..=APPEND).map(sent).collect();

    let mut g = c.benchmark_group("journal");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(APPEND));
    g.bench_function("append_outcomes_100k", |b| {
        b.iter_batched(
            || JournalWriter::create(&fresh(), &header(APPEND)).unwrap(),
            |w| {
                for o in &outcomes {
                    w.outcome(o).unwrap();
                }
                w.close().unwrap(); // everything written and fsynced
            },
            BatchSize::PerIteration,
        )
    });

    // The send pattern: each of 8 tasks journals a durable attempt (group-committed fsync),
    // then the outcome. Elements are rows (2 records each).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    g.throughput(Throughput::Elements(SEND_ROWS));
    g.bench_function("attempt_then_outcome_8_tasks_4k_rows", |b| {
        b.iter_batched(
            || JournalWriter::create(&fresh(), &header(SEND_ROWS)).unwrap(),
            |w| {
                rt.block_on(async {
                    let mut tasks = Vec::new();
                    for t in 0..8u64 {
                        let w = w.clone();
                        tasks.push(tokio::spawn(async move {
                            let mut row = t + 1;
                            while row <= SEND_ROWS {
                                w.attempt(&journal::Attempt {
                                    row,
                                    id: format!("C{row:06}"),
                                    attempt: 1,
                                    message_id: message_id(row),
                                })
                                .await
                                .unwrap();
                                w.outcome(&sent(row)).unwrap();
                                row += 8;
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                w.close().unwrap();
            },
            BatchSize::PerIteration,
        )
    });

    let replay_dir = tempfile::tempdir().unwrap();
    let path = journal::journal_path(replay_dir.path(), CAMPAIGN);
    write_journal(&path, REPLAY_ROWS);
    let records = journal::replay(&path).unwrap().records;
    assert!(records >= 2 * REPLAY_ROWS, "{records}");
    g.throughput(Throughput::Elements(records));
    g.bench_function("replay_1m_records", |b| {
        b.iter(|| {
            let r = journal::replay(black_box(&path)).unwrap();
            assert_eq!(r.states.get(REPLAY_ROWS), State::Sent);
            r.records
        })
    });
    g.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
