//! CSV ingest: `RecipientReader` over a generated 100k-row list (validation included, no
//! rendering). Reports rows/s. `cargo bench --bench ingest`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tsuchi::ingest::{Encoding, RecipientReader, Row};

mod common;

const ROWS: usize = 100_000;

fn ingest(c: &mut Criterion) {
    let config = common::config();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.csv");
    common::write_list(&path, ROWS);

    let mut g = c.benchmark_group("ingest");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("recipient_reader_100k_rows", |b| {
        b.iter(|| {
            let mut valid = 0usize;
            for row in RecipientReader::open(&path, &config, Encoding::Auto).unwrap() {
                if let Row::Valid { .. } = row.unwrap() {
                    valid += 1;
                }
            }
            assert_eq!(valid, ROWS);
            valid
        })
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
