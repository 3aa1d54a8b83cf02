//! Whatever the bytes, the reader neither panics nor loops: it opens or refuses the file, then
//! yields rows (valid or invalid) and at most one fatal error.

use std::path::Path;

use proptest::prelude::*;
use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, RecipientReader, Row};

fn config() -> Config {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap()
}

fn exercise(config: &Config, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.csv");
    std::fs::write(&path, bytes).unwrap();
    for encoding in [Encoding::Auto, Encoding::Utf8, Encoding::ShiftJis] {
        let Ok(reader) = RecipientReader::open(&path, config, encoding) else {
            continue;
        };
        let mut fatal = 0;
        let mut last_row = None;
        for item in reader {
            match item {
                Ok(row) => {
                    assert!(last_row.is_none_or(|r| row.row() > r));
                    last_row = Some(row.row());
                    assert!(row.line() >= 2);
                    if let Row::Invalid { errors, .. } = &row {
                        assert!(!errors.is_empty());
                    }
                }
                Err(_) => fatal += 1,
            }
        }
        assert!(fatal <= 1);
    }
}

/// Bytes drawn from what CSV files are made of, so the parser gets past the header.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just(b",".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"1".to_vec()),
            Just(b"kaede".to_vec()),
            Just(b"a@b.example".to_vec()),
            Just(b"a..b@docomo.ne.jp".to_vec()),
            Just("山田\u{202E}".as_bytes().to_vec()),
            Just(b"\x82\xa0\x81".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            prop::collection::vec(any::<u8>(), 0..4),
        ],
        0..60,
    );
    pieces.prop_map(|ps| {
        let mut out = b"id,email,name,brand,locale,leaked_name,leaked_phone\n".to_vec();
        out.extend(ps.concat());
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&config(), &bytes);
    }

    #[test]
    fn csv_like_bytes_never_panic(bytes in csvish()) {
        exercise(&config(), &bytes);
    }
}
