//! Shared by the benches: the repository's config and a generated list of fictional
//! recipients, the same rows as `tests/support/campaign.rs::row`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use tsuchi::config::Config;

pub const BRANDS: [&str; 3] = ["kaede", "hoshizora", "umineko"];

pub const HEADER: &str = "id,email,name,brand,locale,leaked_name,leaked_gender,leaked_birth_date,leaked_email,leaked_address,leaked_postal_code,leaked_phone,leaked_passport_number,leaked_passport_issue_date";

/// A generated recipient row (as `tests/support/campaign.rs::row`).
pub fn row(i: usize) -> String {
    let brand = BRANDS[i % 3];
    let locale = if i % 7 == 3 { "en" } else { "ja" };
    let flag = |bit: usize| if (i >> bit) & 1 == 1 { "1" } else { "0" };
    format!(
        "C{i:06},user{i}@example.jp,試験 太郎{i},{brand},{locale},1,{},{},1,{},{},{},{},{}",
        flag(0),
        flag(1),
        flag(2),
        flag(2),
        flag(3),
        flag(4),
        flag(4)
    )
}

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
