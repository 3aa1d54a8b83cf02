//! Throughput and flat memory on a large generated list. Ignored by default; run with
//! `cargo test --release --test recipients_scale -- --ignored --nocapture`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, RecipientReader, Row};

#[test]
#[ignore]
fn one_million_rows() {
    let mut config =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap();
    // The list carries two flag columns: the other fields may be absent.
    for f in &mut config.fields {
        f.optional = true;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        out,
        "id,email,name,brand,locale,leaked_name,leaked_phone,postal_address"
    )
    .unwrap();
    let brands = ["kaede", "hoshizora", "umineko"];
    let n = 1_000_000u64;
    for i in 0..n {
        writeln!(
            out,
            "C{i:08},user{i}@mail{}.example,山田 太郎{i},{},,1,{},\"東京都千代田区架空町{i}\"\r",
            i % 97,
            brands[(i % 3) as usize],
            i % 2
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let start = Instant::now();
    let mut valid = 0u64;
    for row in RecipientReader::open(&path, &config, Encoding::Auto).unwrap() {
        if let Row::Valid { .. } = row.unwrap() {
            valid += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(valid, n);
    eprintln!("{n} rows in {secs:.2}s ({:.0} rows/s)", n as f64 / secs);
}
