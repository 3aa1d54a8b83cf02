//! Duplicate detection found two ways gives the same rows: a first pass over the list before
//! validating it (`RecipientReader::open`, what `send` and `preview` use), and ids and addresses
//! collected while validating, applied by a second reader (`check`). Lists are drawn from small
//! pools of ids, addresses and brands, valid and not, so that repeats are frequent.

use std::path::Path;
use std::sync::LazyLock;

use proptest::prelude::*;
use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, RecipientReader, Row};

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    let mut config =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap();
    // The lists here carry only some flag columns: the others' fields may be absent.
    for f in &mut config.fields {
        f.optional = true;
    }
    config
});

const HEADER: &str = "id,email,name,brand,locale,leaked_name,leaked_phone";

fn rows(reader: RecipientReader) -> Vec<Row> {
    reader.map(|r| r.unwrap()).collect()
}

/// The rows with duplicates found before validating, and found while validating.
fn both_ways(csv: &str) -> (Vec<Row>, Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.csv");
    std::fs::write(&path, csv).unwrap();
    let first_pass = rows(RecipientReader::open(&path, &CONFIG, Encoding::Auto).unwrap());

    let mut collecting = RecipientReader::open_without_duplicates(&path, &CONFIG, Encoding::Auto)
        .unwrap()
        .collecting_duplicates();
    for row in collecting.by_ref() {
        row.unwrap();
    }
    let found = collecting.collected_duplicates().unwrap();
    let second = RecipientReader::open_without_duplicates(&path, &CONFIG, Encoding::Auto)
        .unwrap()
        .with_duplicates(found)
        .unwrap();
    (first_pass, rows(second))
}

fn row() -> impl Strategy<Value = String> {
    let id = prop::sample::select(vec!["A", "B", " A ", "a", "", "C\u{200B}", "D"]);
    let email = prop::sample::select(vec![
        "taro@x.example",
        "taro@X.EXAMPLE",
        "Taro@x.example",
        "hana@y.example",
        "no-at-sign",
        "a..b@x.example",
        "",
    ]);
    let brand = prop::sample::select(vec!["kaede", "hoshizora", "umineko", "", "nope"]);
    let flag = prop::sample::select(vec!["1", "0", "maybe"]);
    let shape = prop::sample::select(vec!["row", "row", "row", "ragged", "blank"]);
    (id, email, brand, flag, shape).prop_map(|(id, email, brand, flag, shape)| match shape {
        "ragged" => format!("{id},{email},{brand}"),
        "blank" => ",,,,,,".to_string(),
        _ => format!("{id},{email},試験 太郎,{brand},,1,{flag}"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn finding_duplicates_before_or_while_validating_agrees(list in prop::collection::vec(row(), 0..40)) {
        let csv = format!("{HEADER}\n{}\n", list.join("\n"));
        let (first_pass, collected) = both_ways(&csv);
        prop_assert_eq!(first_pass, collected);
    }
}

#[test]
fn the_pools_do_produce_duplicates() {
    let csv = format!(
        "{HEADER}\nA,taro@x.example,試験 太郎,kaede,,1,1\nB,taro@X.EXAMPLE,試験 太郎,hoshizora,,1,1\n\
         A,hana@y.example,試験 花子,kaede,,1,1\nC,taro@x.example,試験 太郎,kaede,,1,1\n"
    );
    let (first_pass, collected) = both_ways(&csv);
    assert_eq!(first_pass, collected);
    let problems: Vec<String> = first_pass
        .iter()
        .flat_map(|r| match r {
            Row::Invalid { errors, .. } => errors.clone(),
            Row::Valid { warnings, .. } => warnings.clone(),
        })
        .map(|issue| issue.problem)
        .collect();
    assert_eq!(
        problems,
        [
            "email: also registered under brand kaede on line 2",
            "duplicate id, first seen on line 2",
            "email: duplicate address within brand kaede, first seen on line 2 (two \
             near-identical notices look like phishing)"
        ]
    );
}
