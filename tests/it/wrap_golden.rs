//! Golden tests: notice-like paragraphs wrapped at 70 and 40 columns.
//! Regenerate the expected files with `UPDATE_GOLDEN=1 cargo test --test it -- wrap_golden`, then read
//! them and check them by eye before committing.

use std::path::{Path, PathBuf};

use tsuchi::render::wrap_body;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wrap")
}

#[test]
fn golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.ends_with(".txt") && !name.contains(".w")
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "golden inputs missing");
    let mut failures = Vec::new();
    for input in &inputs {
        let text = std::fs::read_to_string(input).unwrap();
        for width in [70, 40] {
            let got = wrap_body(&text, width);
            let expected_path = input.with_extension(format!("w{width}.txt"));
            if update {
                std::fs::write(&expected_path, &got).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            if got != expected {
                failures.push(format!(
                    "{}:\n--- expected\n{expected}\n--- got\n{got}",
                    expected_path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
