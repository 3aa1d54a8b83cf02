//! Reads a recipients list with `RecipientReader` only (validation and duplicate detection,
//! no rendering) and prints the row counts: isolates the reader's time and memory from
//! `check`'s rendering. `bench/run.sh` runs it under `/usr/bin/time` on the largest list.
//!
//! ```sh
//! cargo run --release --example ingest_only -- CONFIG LIST
//! ```

use std::path::PathBuf;

use anyhow::{Result, bail};
use tsuchi::config::Config;
use tsuchi::recipients::{Encoding, RecipientReader, Row};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, list] = args.as_slice() else {
        bail!("usage: ingest_only CONFIG LIST");
    };
    let config = Config::load(&PathBuf::from(config))?;
    let (mut valid, mut invalid) = (0u64, 0u64);
    for row in RecipientReader::open(&PathBuf::from(list), &config, Encoding::Auto)? {
        match row? {
            Row::Valid { .. } => valid += 1,
            Row::Invalid { .. } => invalid += 1,
        }
    }
    println!("{valid} valid, {invalid} invalid");
    Ok(())
}
