//! Regressions of the list ingest: what a list says must be read the same way by every pass
//! over it, a missing flag column must not silently mean "not leaked", one mailbox written in
//! two cases is one person, a refusal never stores a cell's value, and a list with no one in it
//! is not a clean check.

use std::path::{Path, PathBuf};

use crate::support::campaign::{HEADER, TestCampaign, row, text};

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
    let err = tsuchi::ingest::list_identity(&path)
        .expect_err("a 3 MiB record is refused, not read into memory");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("{}:3:", path.display())) && msg.contains("longer than 1 MiB"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusal reasons name the column and the problem, not the value

const EXIT_INCOMPLETE: i32 = 3;

fn dry_run_journal(c: &TestCampaign) -> PathBuf {
    c.state_dir()
        .join("outbox")
        .join("kaede-2026-11.journal.jsonl")
}

fn list(rows: &[String]) -> String {
    let mut csv = format!("{HEADER}\n");
    for r in rows {
        csv.push_str(r);
        csv.push('\n');
    }
    csv
}

/// Cell `i` of a generated row replaced by `value` (the row's columns shifted, say).
fn with_cell(r: String, i: usize, value: &str) -> String {
    let mut cells: Vec<String> = r.split(',').map(str::to_string).collect();
    cells[i] = value.to_string();
    cells.join(",")
}

#[test]
fn refusals_stored_and_reported_never_quote_a_cell() {
    // Row 2's columns are shifted: a phone number under leaked_name, a name under brand; row 3
    // has an address under locale.
    let phone = "090-5555-6666";
    let name = "佐藤 次郎";
    let address = "東京都港区芝公園";
    let csv = list(&[
        row(1),
        with_cell(with_cell(row(2), 5, phone), 3, name),
        with_cell(row(3), 4, address),
        row(4),
    ]);
    let c = TestCampaign::with_list(&csv, |c| c);
    let send = c.run(&["send", "--dry-run", "--quiet"]);
    assert_eq!(send.status.code(), Some(EXIT_INCOMPLETE), "{}", text(&send));
    let journal = std::fs::read_to_string(dry_run_journal(&c)).unwrap();
    assert!(
        journal.contains("leaked_name: not a flag") && journal.contains("brand: unknown brand"),
        "{journal}"
    );
    assert!(journal.contains("locale: unknown locale"), "{journal}");
    let mut outputs = vec![
        ("send".to_string(), all(&send)),
        ("journal".into(), journal),
    ];
    for args in [
        &["report"][..],
        &["report", "--format", "json"],
        &["report", "--unreached"],
        &["status"],
        &["lookup", "C000002"],
        &["lookup", "C000003"],
    ] {
        let o = run_on_dry_run(&c, args);
        assert!(o.status.code().is_some(), "{args:?}: {}", text(&o));
        outputs.push((format!("{args:?}"), all(&o)));
    }
    for (what, out) in &outputs {
        for value in [phone, name, address] {
            assert!(!out.contains(value), "{what} quotes {value:?}:\n{out}");
        }
    }
    // On the operator's terminal, `check` may show the cell, marked as such.
    let check = c.run(&["check"]);
    let out = all(&check);
    assert!(
        out.contains(&format!(
            "list.csv:3: C000002: leaked_name: not a flag (use 1/0, true/false, yes/no, Y/N, ○/×, 有/無) [cell in the list: \"{phone}\"]"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "list.csv:3: C000002: brand: unknown brand (known: hoshizora, kaede, umineko) [cell in the list: \"{name}\"]"
        )),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// One mailbox, two spellings

#[test]
fn one_mailbox_in_two_cases_is_a_duplicate() {
    // Rows 1 and 4 are under brand hoshizora, rows 2 and 5 under umineko.
    let csv = list(&[
        with_cell(row(1), 1, "Taro.Yamada@Example.JP"),
        with_cell(row(2), 1, "taro..yamada@docomo.ne.jp"),
        row(3),
        with_cell(row(4), 1, "taro.yamada@example.jp"),
        with_cell(row(5), 1, "TARO..Yamada@DoCoMo.ne.jp"),
        row(6),
    ]);
    let c = TestCampaign::with_list(&csv, |c| c);
    let check = c.run(&["check"]);
    let out = all(&check);
    assert_eq!(
        check.status.code(),
        Some(EXIT_INCOMPLETE),
        "{}",
        text(&check)
    );
    assert!(
        out.contains("list.csv:5: C000004: email: duplicate address within brand hoshizora, first seen on line 2"),
        "{out}"
    );
    // The legacy carrier form (dots outside RFC 5322) is compared the same way.
    assert!(
        out.contains("list.csv:6: C000005: email: duplicate address within brand umineko, first seen on line 3"),
        "{out}"
    );
    let send = c.run(&["send", "--dry-run", "--quiet"]);
    assert_eq!(send.status.code(), Some(EXIT_INCOMPLETE), "{}", text(&send));
    assert_eq!(messages(&c), 4, "{}", text(&send));
}

#[test]
fn a_case_sensitive_local_part_is_a_setting_the_domain_never_is() {
    let csv = list(&[
        with_cell(row(1), 1, "Taro@example.jp"),
        row(2),
        row(3),
        with_cell(row(4), 1, "taro@example.jp"),
        row(5),
        row(6),
        with_cell(row(7), 1, "Taro@EXAMPLE.JP"),
    ]);
    let c = TestCampaign::with_list(&csv, |c| {
        c.replace(
            "case_sensitive_local_part = false",
            "case_sensitive_local_part = true",
        )
    });
    let check = c.run(&["check"]);
    let out = all(&check);
    assert_eq!(
        check.status.code(),
        Some(EXIT_INCOMPLETE),
        "{}",
        text(&check)
    );
    assert!(!out.contains("list.csv:5: C000004"), "{out}");
    assert!(
        out.contains("list.csv:8: C000007: email: duplicate address within brand hoshizora, first seen on line 2"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// A list with no one in it

#[test]
fn a_list_with_a_header_and_no_rows_is_not_a_clean_check() {
    for csv in [
        format!("{HEADER}\n"),
        format!("{HEADER}\r\n\r\n \r\n,,\r\n"),
    ] {
        let c = TestCampaign::with_list(&csv, |c| c);
        let check = c.run(&["check"]);
        assert_eq!(
            check.status.code(),
            Some(EXIT_INCOMPLETE),
            "{}",
            text(&check)
        );
        assert!(
            all(&check)
                .contains("list.csv has a header but no data rows: nobody would be notified"),
            "{}",
            text(&check)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A missing flag column

const EXIT_ERROR: i32 = 1;

/// The list's text with column `name` removed from the header and every row.
fn without_column(csv: &str, name: &str) -> String {
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == name).unwrap();
    csv.lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(at);
            cells.join(",") + "\n"
        })
        .collect()
}

#[test]
fn a_missing_catalogue_column_is_refused_by_check_and_send() {
    let csv = without_column(&list(&[row(1), row(2), row(3)]), "leaked_phone");
    let c = TestCampaign::with_list_exact(&csv, |c| c);
    let check = c.run(&["check"]);
    assert_eq!(check.status.code(), Some(EXIT_ERROR), "{}", text(&check));
    assert!(
        all(&check).contains("list.csv:1: column `leaked_phone` is missing"),
        "{}",
        text(&check)
    );
    assert!(all(&check).contains("optional = true"), "{}", text(&check));
    let send = c.run(&["send", "--dry-run", "--quiet"]);
    assert_eq!(send.status.code(), Some(EXIT_ERROR), "{}", text(&send));
    assert!(
        all(&send).contains("column `leaked_phone` is missing"),
        "{}",
        text(&send)
    );
    assert_eq!(messages(&c), 0);
    assert!(
        !dry_run_journal(&c).exists(),
        "no journal for a refused list"
    );
}

#[test]
fn a_field_declared_optional_may_lack_its_column() {
    let csv = without_column(&list(&[row(1), row(2), row(3)]), "leaked_phone");
    let c = TestCampaign::with_list_exact(&csv, |c| {
        c.replace(
            "key = \"phone\"\n",
            "key = \"phone\"\n# not collected in this incident\noptional = true\n",
        )
    });
    let check = c.run(&["check"]);
    assert_eq!(check.status.code(), Some(EXIT_OK), "{}", text(&check));
    assert!(all(&check).contains("3 rows"), "{}", text(&check));
    // A present optional column is read as any other.
    let full = TestCampaign::with_list_exact(&list(&[row(1)]), |c| {
        c.replace("key = \"phone\"\n", "key = \"phone\"\noptional = true\n")
    });
    let check = full.run(&["check"]);
    assert_eq!(check.status.code(), Some(EXIT_OK), "{}", text(&check));
}
