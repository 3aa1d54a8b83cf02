//! Shared by the benches: the repository's config and a generated list of fictional
//! recipients, the rows of `tests/support/rows.rs`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use tsuchi::config::Config;

#[path = "../../tests/support/rows.rs"]
mod rows;
#[allow(unused_imports)] // each bench uses some of them
pub use rows::{BRANDS, HEADER, row};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn config() -> Config {
    Config::load(&repo().join("config.toml")).expect("config.toml")
}

/// Writes a list of `rows` recipients to `path`.
pub fn write_list(path: &Path, rows: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "{HEADER}").unwrap();
    for i in 1..=rows {
        writeln!(out, "{}", row(i)).unwrap();
    }
    out.flush().unwrap();
}
