//! Reads a recipients list with `RecipientReader` only (the duplicates pass, then validation,
//! no rendering) and prints the row counts and the time of each pass: isolates the reader's
//! time and memory from `check`'s rendering. `bench/run.sh` runs it under `/usr/bin/time` on the largest list.
//!
//! ```sh
//! cargo run --release --example ingest_only -- CONFIG LIST
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, RecipientReader, Row};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, list] = args.as_slice() else {
        bail!("usage: ingest_only CONFIG LIST");
    };
    let config = Config::load(&PathBuf::from(config))?;
    let list = PathBuf::from(list);
    let start = Instant::now();
    let duplicates = RecipientReader::find_duplicates(&list, &config, Encoding::Auto)?;
    let first_pass = start.elapsed();
    let (mut valid, mut invalid) = (0u64, 0u64);
    let reader = RecipientReader::open_without_duplicates(&list, &config, Encoding::Auto)?
        .with_duplicates(duplicates)?;
    for row in reader {
        match row? {
            Row::Valid { .. } => valid += 1,
            Row::Invalid { .. } => invalid += 1,
        }
    }
    let second_pass = start.elapsed() - first_pass;
    println!(
        "{valid} valid, {invalid} invalid; duplicates pass {:.2} s, validation pass {:.2} s",
        first_pass.as_secs_f64(),
        second_pass.as_secs_f64()
    );
    Ok(())
}
