//! What the journal answers, and to whom: `status`, `report` and `lookup` bound to the list
//! the journal was made from, a running send told from a dead one, journal lines whose row
//! and id disagree, journals damaged before their end, symbolic links in the state
//! directory, and the CSV files written for people (formula cells, BOM).

use std::os::unix::fs::symlink;
use std::process::Output;
use std::time::Duration;

use crate::support::campaign::{HEADER, TestCampaign, row, send_args, text, wait_bounded};
use crate::support::smtp_server::{Command, Script, SmtpServer};

const RUN_LIMIT: Duration = Duration::from_secs(90);

async fn run(c: &TestCampaign, args: &[&str]) -> Output {
    wait_bounded(c.spawn(args), RUN_LIMIT, &args.join(" ")).await
}

async fn send(c: &TestCampaign, server: &SmtpServer, extra: &[&str]) -> Output {
    let args = send_args(&server.url(), extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(c, &args).await
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A list of generated rows `from..=to` (ids `C{i:06}`).
fn list(from: usize, to: usize) -> String {
    let mut csv = format!("{HEADER}\n");
    for i in from..=to {
        csv.push_str(&row(i));
        csv.push('\n');
    }
    csv
}

// ---- item 1: the list must be the one the journal was made from ----

#[tokio::test]
async fn status_report_and_lookup_refuse_a_list_the_journal_was_not_made_from() {
    let c = TestCampaign::new(6, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Another list whose first rows carry ids the journal has never seen.
    std::fs::write(c.path("other.csv"), list(101, 130)).unwrap();
    for args in [
        vec!["lookup", "C000101", "--recipients", "other.csv"],
        vec!["report", "--recipients", "other.csv"],
        vec!["report", "--unreached", "--recipients", "other.csv"],
        vec!["status", "--recipients", "other.csv"],
    ] {
        let out = run(&c, &args).await;
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("other.csv") && err.contains("list.csv") && err.contains("6 rows"),
            "{args:?} must name the list given and the one the journal was made from: {err}"
        );
        assert!(!stdout(&out).contains("notified"), "{}", text(&out));
    }
}

#[tokio::test]
async fn without_the_list_status_report_and_lookup_answer_from_the_journal() {
    let c = TestCampaign::new(4, |c| c);
    let server =
        SmtpServer::start(Script::new().reject_recipient("user3@", 550, "5.1.1", "no such user"))
            .await;
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    std::fs::remove_file(c.path("list.csv")).unwrap();

    let status = run(&c, &["status"]).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(stdout(&status).contains("failed"), "{}", text(&status));

    let found = run(&c, &["lookup", "C000002"]).await;
    assert_eq!(found.status.code(), Some(0), "{}", text(&found));
    assert!(stdout(&found).contains("notified"), "{}", text(&found));
    let reference = stdout(&found)
        .lines()
        .find_map(|l| {
            l.split_once("reference ")
                .map(|(_, r)| r.trim().to_string())
        })
        .expect("lookup prints the reference");
    let by_reference = run(&c, &["lookup", &reference]).await;
    assert_eq!(
        by_reference.status.code(),
        Some(0),
        "{}",
        text(&by_reference)
    );
    assert!(stdout(&by_reference).contains("customer C000002"));

    let unknown = run(&c, &["lookup", "KT-000001"]).await;
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown));
    assert!(
        !stdout(&unknown).contains("notified:"),
        "{}",
        text(&unknown)
    );

    let report = run(&c, &["report", "--format", "json"]).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let rows: Vec<serde_json::Value> = stdout(&report)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["C000001", "C000002", "C000003", "C000004"]);
    assert_eq!(rows[2]["state"], "failed");
}

// ---- item 5: a running send is not a dead one ----

#[tokio::test]
async fn status_tells_a_running_send_from_one_that_died() {
    let c = TestCampaign::new(3, |c| c);
    // The relay holds the first message's DATA reply long enough for the test to look.
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_secs(60))).await;
    let args = send_args(&server.url(), &["--concurrency", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = c.spawn(&args);
    let pid = child.id();
    let journal = c.journal();
    let attempted = server
        .wait_until(RUN_LIMIT, |_| {
            std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"type\":\"attempt\""))
        })
        .await;
    assert!(attempted, "the send never journaled an attempt");

    let running = run(&c, &["status"]).await;
    let shown = stdout(&running);
    assert_eq!(running.status.code(), Some(0), "{}", text(&running));
    assert!(
        shown.contains(&format!("running now (pid {pid})")),
        "{}",
        text(&running)
    );
    assert!(!shown.contains("died"), "{}", text(&running));
    assert!(
        !shown.contains("without a clean stop"),
        "{}",
        text(&running)
    );
    assert!(!shown.contains("possible duplicates"), "{}", text(&running));

    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
    let _ = wait_bounded(child, RUN_LIMIT, "send").await;
    let dead = run(&c, &["status"]).await;
    let shown = stdout(&dead);
    assert!(!shown.contains("running now"), "{}", text(&dead));
    assert!(shown.contains("died"), "{}", text(&dead));
}

// ---- item 7: a journal line whose row and id disagree ----

fn append(c: &TestCampaign, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(c.journal())
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

#[tokio::test]
async fn a_journal_line_naming_another_customer_than_its_row_is_corruption() {
    let c = TestCampaign::new(6, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c, &server, &["--limit", "3"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    // Row 5 is C000005; a line claims row 5 was sent, naming C000006.
    append(
        &c,
        r#"{"type":"outcome","row":5,"id":"C000006","state":"sent","attempt":1,"code":250,"enhanced":"2.0.0","reply":"Ok","message_id":"<x@y>","at":"2026-11-25T08:00:00.000Z"}"#,
    );
    for args in [vec!["report"], vec!["lookup", "C000005"], vec!["status"]] {
        let out = run(&c, &args).await;
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("row 5") && err.contains("C000006") && err.contains("C000005"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let before = server.received_count();
    let out = send(&c, &server, &[]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("row 5"),
        "{}",
        text(&out)
    );
    assert_eq!(server.received_count(), before, "nothing may be sent");
}

#[tokio::test]
async fn records_of_one_row_under_two_ids_are_corruption() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    append(
        &c,
        r#"{"type":"outcome","row":2,"id":"C000003","state":"bounced","attempt":1,"code":null,"enhanced":null,"reply":null,"message_id":null,"at":"2026-11-25T08:00:00.000Z"}"#,
    );
    std::fs::remove_file(c.path("list.csv")).unwrap();
    let out = run(&c, &["status"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("row 2") && err.contains("C000003"),
        "{}",
        text(&out)
    );
}

// ---- item 22: records missing before the end ----

#[tokio::test]
async fn a_journal_cut_in_the_middle_says_records_are_missing_and_is_not_resent() {
    let c = TestCampaign::new(40, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    let sent = server.received_count();
    let bytes = std::fs::read(c.journal()).unwrap();
    let mut cut = bytes.len() / 2;
    if bytes[cut - 1] == b'\n' {
        cut -= 1;
    }
    std::fs::write(c.journal(), &bytes[..cut]).unwrap();

    let status = run(&c, &["status"]).await;
    let shown = stdout(&status);
    assert!(shown.contains("records are missing"), "{}", text(&status));
    assert!(!shown.contains("torn last line"), "{}", text(&status));

    let out = send(&c, &server, &[]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("records are missing"), "{all}");
    assert!(!all.contains("cut short by a crash"), "{all}");
    assert!(all.contains("rows"), "the refusal names the rows: {all}");
    assert_eq!(server.received_count(), sent, "nobody may be mailed again");
}

#[tokio::test]
async fn lines_removed_from_the_middle_of_a_journal_are_missing_records() {
    let c = TestCampaign::new(20, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    let sent = server.received_count();
    let journal = std::fs::read_to_string(c.journal()).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    let kept: Vec<&str> = lines[..10].iter().chain(&lines[20..]).copied().collect();
    std::fs::write(c.journal(), kept.join("\n") + "\n").unwrap();
    let out = send(&c, &server, &[]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("records are missing"), "{}", text(&out));
    assert_eq!(server.received_count(), sent);
}

#[tokio::test]
async fn a_commit_hint_behind_the_journal_is_a_crash_not_missing_records() {
    let c = TestCampaign::new(12, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(
        send(&c, &server, &["--limit", "5"]).await.status.code(),
        Some(4)
    );
    let hint = tsuchi::journal::hint_path(&c.journal());
    let behind = std::fs::read(&hint).unwrap();
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    let sent = server.received_count();
    assert_eq!(sent, 12);
    // As if the last run had died between the journal's fsync and the hint's write.
    std::fs::write(&hint, &behind).unwrap();

    let status = run(&c, &["status"]).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(
        !text(&status).contains("records are missing"),
        "{}",
        text(&status)
    );
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !text(&out).contains("records are missing"),
        "{}",
        text(&out)
    );
    assert_eq!(server.received_count(), sent, "nobody is mailed twice");
}

// ---- item 13: no symbolic links in the state directory ----

#[tokio::test]
async fn symbolic_links_in_the_state_directory_are_refused_not_followed() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let outside = c.path("precious.txt");
    std::fs::write(&outside, "keep me\n").unwrap();
    std::fs::create_dir_all(c.state_dir()).unwrap();

    // The lock.
    symlink(&outside, c.state_dir().join("lock")).unwrap();
    let out = send(&c, &server, &[]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("symbolic link") && err.contains("lock"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me\n");
    assert_eq!(server.received_count(), 0);
    std::fs::remove_file(c.state_dir().join("lock")).unwrap();

    // The journal, once it exists.
    assert_eq!(
        send(&c, &server, &["--limit", "1"]).await.status.code(),
        Some(4)
    );
    let real = c.path("moved.jsonl");
    std::fs::rename(c.journal(), &real).unwrap();
    symlink(&outside, c.journal()).unwrap();
    let before = std::fs::read(&outside).unwrap();
    for args in [vec!["status"], vec!["report"]] {
        let out = run(&c, &args).await;
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let out = send(&c, &server, &[]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
    assert_eq!(std::fs::read(&outside).unwrap(), before);

    // The approvals file.
    std::fs::remove_file(c.journal()).unwrap();
    std::fs::rename(&real, c.journal()).unwrap();
    symlink(&outside, c.state_dir().join("approvals.jsonl")).unwrap();
    let out = run(&c, &["approve", "--reviewer", "法務 佐藤"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&outside).unwrap(), before);
}

// ---- item 12: CSV written for people ----

#[tokio::test]
async fn csv_exports_neutralise_formula_cells_and_carry_a_bom() {
    let hostile = [
        ("=1+2", "=HYPERLINK(\"http://x\",\"y\")"),
        ("+81", "+81 90 1234 5678"),
        ("-5", "-2+3"),
        ("@SUM", "@SUM(A1:A9)"),
        ("T1", "\tcmd"),
        ("T2", "=cmd|' /C calc'!A0"),
    ];
    let mut csv = format!("{HEADER}\n");
    for (i, (id, name)) in hostile.iter().enumerate() {
        let generated = row(i + 1);
        let rest = generated.splitn(4, ',').nth(3).unwrap();
        let name = name.replace('"', "\"\"");
        csv.push_str(&format!(
            "{id},user{}@example.jp,\"{name}\",{rest}\n",
            i + 1
        ));
    }
    let c = TestCampaign::with_list(&csv, |c| c);
    // Nothing sent: everyone is unreached.
    let out = run(
        &c,
        &[
            "report",
            "--unreached",
            "--columns",
            "name",
            "--output",
            "unreached.csv",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let server = SmtpServer::start(Script::new()).await;
    let _ = send(&c, &server, &[]).await;
    let out = run(&c, &["report", "--output", "report.csv"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for file in ["unreached.csv", "report.csv"] {
        let bytes = std::fs::read(c.path(file)).unwrap();
        assert!(
            bytes.starts_with("\u{feff}".as_bytes()),
            "{file} has no BOM"
        );
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(&bytes[..]);
        let mut cells = 0;
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                cells += 1;
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{file}: a cell a spreadsheet would run as a formula: {cell:?}"
                );
            }
        }
        assert!(cells > 0);
        let shown = String::from_utf8_lossy(&bytes);
        assert!(shown.contains("'=1+2"), "{file}: {shown}");
    }
    let unreached = std::fs::read_to_string(c.path("unreached.csv")).unwrap();
    assert!(unreached.contains("'=HYPERLINK("), "{unreached}");
}

// ---- item 20: what people read ----

#[tokio::test]
async fn status_shows_times_in_the_campaigns_zone_and_counts_speak_singular() {
    let c = TestCampaign::new(1, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    let status = run(&c, &["status"]).await;
    let shown = stdout(&status);
    let last_run = shown
        .lines()
        .find(|l| l.starts_with("last run:"))
        .unwrap_or_else(|| panic!("{}", text(&status)));
    assert!(last_run.contains("+09:00"), "{last_run}");
    assert!(!last_run.contains('Z'), "{last_run}");

    let out = run(&c, &["report", "--output", "r.csv"]).await;
    assert!(
        stdout(&out).contains("1 recipient written"),
        "{}",
        text(&out)
    );

    let out = run(&c, &["preview", "--out", "pv"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let names: Vec<String> = std::fs::read_dir(c.path("pv"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with("-1person.eml")),
        "{names:?}"
    );
}

#[test]
fn report_help_says_json_means_json_lines() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsuchi"))
        .args(["report", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("JSON Lines"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_secrets_section_config_toml_points_to_exists() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    assert!(config.contains("see README, \"Secrets\""));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let section = readme
        .split("\n## Secrets\n")
        .nth(1)
        .expect("README has a \"## Secrets\" section");
    for needed in [
        "TSUCHI_SMTP_USER",
        "TSUCHI_SMTP_PASSWORD",
        "TSUCHI_SMTP_PASSWORD_FILE",
    ] {
        assert!(
            section.contains(needed),
            "the Secrets section names {needed}"
        );
    }
}

// ---- item 17: a journal begun with other templates names what changed ----

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_begun_with_other_templates_or_settings_names_what_changed() {
    let c = TestCampaign::new(4, |cfg| cfg);
    let out = run(&c, &["send", "--dry-run", "--limit", "2"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    let body = c.path("templates/ja/body.tera");
    let original = std::fs::read_to_string(&body).unwrap();
    std::fs::write(&body, format!("{original}\n")).unwrap();
    let config = std::fs::read_to_string(c.path("config.toml")).unwrap();
    std::fs::write(
        c.path("config.toml"),
        config.replacen("0120-000-101", "0120-000-109", 1),
    )
    .unwrap();
    let out = run(&c, &["send", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("template ja/body.tera changed"), "{err}");
    assert!(err.contains("config key brands.kaede changed"), "{err}");
    assert!(!err.contains("template en/body.tera"), "{err}");

    // The same journal goes on when the change is deliberate.
    let out = run(&c, &["send", "--dry-run", "--accept-changes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
