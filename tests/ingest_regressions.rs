//! Regressions of the list ingest: what a list says must be read the same way by every pass
//! over it, a missing flag column must not silently mean "not leaked", one mailbox written in
//! two cases is one person, a refusal never stores a cell's value, and a list with no one in it
//! is not a clean check.

mod support;

use std::path::{Path, PathBuf};

use support::campaign::{HEADER, TestCampaign, row, text};

const EXIT_OK: i32 = 0;

fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            eml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "eml") {
            out.push(path);
        }
    }
}

fn messages(c: &TestCampaign) -> usize {
    let mut files = Vec::new();
    eml_files(c.dir.path(), &mut files);
    files.len()
}

/// The binary run against the journal of the campaign's dry runs (beside their outbox).
fn run_on_dry_run(c: &TestCampaign, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"))
        .current_dir(c.dir.path())
        .arg("--config")
        .arg(c.path("config.toml"))
        .arg("--state-dir")
        .arg(c.state_dir().join("outbox"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn all(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// One rule for a blank record

#[test]
fn a_blank_line_of_bare_crs_takes_no_row_number_in_any_pass() {
    // A CRLF file converted to CRLF a second time: its empty line is `\r\r\n`.
    let csv = format!(
        "{HEADER}\r\n{}\r\n{}\r\n\r\r\n{}\r\n \r\t\r\n",
        row(1),
        row(2),
        row(3)
    );
    let c = TestCampaign::with_list(&csv, |c| c);
    let check = c.run(&["check"]);
    assert_eq!(check.status.code(), Some(EXIT_OK), "{}", text(&check));
    assert!(all(&check).contains("3 rows"), "{}", text(&check));

    let send = c.run(&["send", "--dry-run", "--quiet"]);
    assert_eq!(send.status.code(), Some(EXIT_OK), "{}", text(&send));
    assert_eq!(messages(&c), 3, "{}", text(&send));
    // Every later command reads the journal the send wrote.
    for args in [&["status"][..], &["report"], &["lookup", "C000003"]] {
        let o = run_on_dry_run(&c, args);
        assert_eq!(o.status.code(), Some(EXIT_OK), "{args:?}: {}", text(&o));
    }
    let again = c.run(&["send", "--dry-run", "--quiet"]);
    assert_eq!(again.status.code(), Some(EXIT_OK), "{}", text(&again));
    assert_eq!(messages(&c), 3, "nobody is mailed twice: {}", text(&again));
}

// ---------------------------------------------------------------------------------------------
// The list-identity pass of `send` is bounded

#[test]
fn the_list_identity_pass_refuses_an_overlong_record_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.csv");
    let mut csv = format!("{HEADER}\n{}\n\"", row(1)).into_bytes();
    csv.extend(std::iter::repeat_n(b'a', 3 << 20));
    csv.extend(b"\n");
    std::fs::write(&path, &csv).unwrap();
    let err = tsuchi::campaign::list_identity(&path)
        .expect_err("a 3 MiB record is refused, not read into memory");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("{}:3:", path.display())) && msg.contains("longer than 1 MiB"),
        "{msg}"
    );
}
