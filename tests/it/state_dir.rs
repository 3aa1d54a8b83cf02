//! Hardening: what happens around the state directory — a disk that fills up under the
//! journal, a read-only state directory, `kill -9` in the middle of a run, and who may read
//! the files tsuchi leaves behind.
//!
//! The full-disk and read-only tests need to mount a small tmpfs (root or CAP_SYS_ADMIN); where
//! that is not possible they print a note and pass without checking anything.
//! Two `send` processes on one state directory are covered by
//! `send_smtp.rs::a_second_send_on_the_same_state_directory_is_refused`.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::campaign::{TestCampaign, copies, text, wait_bounded};
use crate::support::smtp_server::{Command, Script, SmtpServer};
use serde_json::Value;

const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Runs the binary, killing it (by pid) and failing the test after `RUN_LIMIT`.
async fn run_bounded(c: &TestCampaign, args: &[&str]) -> Output {
    wait_bounded(c.spawn(args), RUN_LIMIT, &args.join(" ")).await
}

fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
}

async fn send(c: &TestCampaign, server: &SmtpServer, extra: &[&str]) -> Output {
    let url = server.url();
    let mut args = vec!["send", "--smtp", &url, "--rate", "0", "-q"];
    args.extend_from_slice(extra);
    run_bounded(c, &args).await
}

/// The complete records of a journal (a torn last line is left out).
fn journal_records(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if line.last() != Some(&b'\n') {
            break; // torn tail
        }
        out.push(serde_json::from_slice(line).unwrap());
    }
    out
}

fn rows_with(records: &[Value], kind: &str, state: Option<&str>) -> BTreeSet<u64> {
    records
        .iter()
        .filter(|r| r["type"] == kind && state.is_none_or(|s| r["state"] == s))
        .map(|r| r["row"].as_u64().unwrap())
        .collect()
}

/// The ids a `send` summary lists as possible duplicates.
fn possible_duplicates(out: &Output) -> BTreeSet<u64> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|l| l.split_once("(possible duplicates): ").map(|(_, ids)| ids))
        .flat_map(|ids| ids.split(", "))
        .map(|id| id.trim()[1..].parse::<u64>().unwrap())
        .collect()
}

/// A tmpfs mounted over a directory for the duration of a test; unmounted when dropped.
struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (e.g. "1m") with mode 0700 at `path`; `None` (with the reason)
    /// when this machine does not let the tests mount.
    fn tmpfs(path: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Mount {
            path: path.to_path_buf(),
        })
    }

    /// Bind-mounts `path` onto itself, read-only.
    fn read_only_bind(path: &Path) -> Result<Mount, String> {
        let run = |args: &[&str]| -> Result<(), String> {
            let out = std::process::Command::new("mount")
                .args(args)
                .arg(path)
                .arg(path)
                .output()
                .map_err(|e| format!("mount: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
            }
        };
        run(&["--bind"])?;
        let mount = Mount {
            path: path.to_path_buf(),
        };
        // `remount,bind,ro` takes one path.
        let out = std::process::Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(path)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(mount)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .status();
        }
    }
}

/// Fills the filesystem of `dir` with `dir/filler`, then gives back `reserve` bytes.
fn fill(dir: &Path, reserve: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(reserve)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_the_run_with_a_clear_error_and_nothing_sent_goes_unrecorded() {
    const ROWS: u64 = 300;
    const CONCURRENCY: usize = 4;
    let c = TestCampaign::new(ROWS as usize, |c| c);
    let state = c.state_dir();
    let _mount = match Mount::tmpfs(&state, "1m") {
        Ok(m) => m,
        Err(e) => {
            println!("note: full-disk test skipped: cannot mount a tmpfs ({e})");
            return;
        }
    };
    // About 24 KiB left: the lock file, and a journal of some tens of messages.
    let filler = fill(&state, 6 * 4096);
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c, &server, &["--concurrency", "4"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!stderr.contains("panicked"), "{}", text(&out));
    assert!(
        stderr.contains("journal write failed") && stderr.contains("No space left on device"),
        "a clear error: {}",
        text(&out)
    );

    let records = journal_records(&c.journal());
    let journal_sent = rows_with(&records, "outcome", Some("sent"));
    let attempted = rows_with(&records, "attempt", None);
    let received = copies(&server.received());
    let received_rows: BTreeSet<u64> = received.keys().copied().collect();
    assert!(
        received.len() < ROWS as usize,
        "the disk filled up before the end"
    );
    assert!(received.values().all(|&n| n == 1));
    // Nothing is claimed sent that the relay did not get.
    assert!(
        journal_sent.is_subset(&received_rows),
        "journal says sent but the relay has nothing: {:?}",
        journal_sent.difference(&received_rows).collect::<Vec<_>>()
    );
    // What the relay got but the journal did not record: at most one message per worker, and
    // each has its attempt on disk, so the next run knows it was in flight.
    let unrecorded: BTreeSet<u64> = received_rows.difference(&journal_sent).copied().collect();
    assert!(
        unrecorded.len() <= CONCURRENCY,
        "{} received but unrecorded: {unrecorded:?}",
        unrecorded.len()
    );
    assert!(
        unrecorded.is_subset(&attempted),
        "a message left without a durable attempt: {:?}",
        unrecorded.difference(&attempted).collect::<Vec<_>>()
    );

    // Space again: the next run resumes, re-sends the unrecorded ones and says so.
    std::fs::remove_file(&filler).unwrap();
    let again = send(&c, &server, &["--concurrency", "4"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let reported = possible_duplicates(&again);
    let got = copies(&server.received());
    assert_eq!(got.len() as u64, ROWS);
    let dups: BTreeSet<u64> = got
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&r, _)| r)
        .collect();
    assert!(got.values().all(|&n| n <= 2));
    assert_eq!(
        dups, unrecorded,
        "duplicates are exactly the unrecorded ones"
    );
    assert!(
        dups.is_subset(&reported),
        "every duplicate is reported: {dups:?} ⊄ {reported:?}"
    );
    println!(
        "summary full_disk: messages before ENOSPC {}, journal sent {}, received-but-unrecorded \
         {}, duplicates after resume {} (reported as possible duplicates {})",
        received_rows.len(),
        journal_sent.len(),
        unrecorded.len(),
        dups.len(),
        reported.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_state_dir_refuses_to_send_and_still_reports() {
    let c = TestCampaign::new(10, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let first = send(&c, &server, &["--limit", "4", "--concurrency", "1"]).await;
    assert_eq!(first.status.code(), Some(4), "{}", text(&first));
    assert_eq!(server.received_count(), 4);
    let journal_before = std::fs::read(c.journal()).unwrap();

    let state = c.state_dir();
    let mount = match Mount::read_only_bind(&state) {
        Ok(m) => m,
        Err(e) => {
            println!("note: read-only test skipped: cannot remount read-only ({e})");
            return;
        }
    };
    let out = send(&c, &server, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1) | Some(5)),
        "{}",
        text(&out)
    );
    assert!(!stderr.contains("panicked"), "{}", text(&out));
    assert!(
        stderr.contains("Read-only file system") && stderr.contains(&*state.to_string_lossy()),
        "the error names the state directory and the cause: {}",
        text(&out)
    );
    assert_eq!(server.received_count(), 4, "nothing sent without a journal");
    assert_eq!(std::fs::read(c.journal()).unwrap(), journal_before);
    // Reading the journal needs no write access.
    let status = run_bounded(&c, &["status"]).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("sent"));
    let report = run_bounded(&c, &["report", "--format", "csv"]).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    assert_eq!(String::from_utf8_lossy(&report.stdout).lines().count(), 11);

    let refused_with = out.status.code();
    drop(mount);
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = copies(&server.received());
    assert_eq!(got.len(), 10);
    assert!(got.values().all(|&n| n == 1));
    println!("summary read_only: refused with exit {refused_with:?}, then resumed: 10 messages");
}

/// An I/O failure of the state directory (full, read-only) is exit 1, "unexpected error (I/O,
/// journal)", not exit 5 — which scripts read as "refused: approval, lock held, list changed".
#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_state_dir_is_an_io_error_not_a_refusal() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let state = c.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let _mount = match Mount::read_only_bind(&state) {
        Ok(m) => m,
        Err(e) => {
            println!("note: skipped: cannot remount read-only ({e})");
            return;
        }
    };
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_loses_no_one_and_duplicates_are_reported() {
    const ROWS: u64 = 60;
    const CONCURRENCY: usize = 4;
    let c = TestCampaign::new(ROWS as usize, |c| c);
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_millis(20))).await;
    let url = server.url();
    let args = [
        "send",
        "--smtp",
        &url,
        "--rate",
        "0",
        "-q",
        "--concurrency",
        "4",
    ];
    let mut reported = BTreeSet::new();
    let mut kills = 0;
    for at in [8, 25, 40] {
        let child = c.spawn(&args);
        let pid = child.id();
        assert!(
            server.wait_for_messages(at, Duration::from_secs(60)).await,
            "run reached {at} messages"
        );
        kill9(pid);
        kills += 1;
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), None, "killed by a signal");
        // The next run (or `status`) sees the journal as the kill left it.
        let status = run_bounded(&c, &["status"]).await;
        assert_eq!(status.status.code(), Some(0), "{}", text(&status));
        let s = String::from_utf8_lossy(&status.stdout);
        assert!(s.contains("ended without a clean stop"), "{s}");
    }
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 3);
        let out = run_bounded(&c, &args).await;
        let found = possible_duplicates(&out);
        assert!(
            found.len() <= CONCURRENCY,
            "at most one row per worker is in flight at a kill: {found:?}"
        );
        reported.extend(found);
        if out.status.code() == Some(0) {
            break;
        }
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    }
    // The runs that resumed after a kill were killed in turn, so their summaries are lost;
    // the journal keeps the record: `report` marks every row re-attempted after an attempt
    // without an outcome.
    let report = run_bounded(&c, &["report", "--format", "json"]).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let in_report: BTreeSet<u64> = String::from_utf8_lossy(&report.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["possible_duplicate"] == true)
        .map(|v| v["id"].as_str().unwrap()[1..].parse().unwrap())
        .collect();
    assert!(reported.is_subset(&in_report));
    assert!(in_report.len() <= kills * CONCURRENCY);
    let reported = in_report;
    let got = copies(&server.received());
    assert_eq!(got.len() as u64, ROWS, "no one skipped");
    let dups: BTreeSet<u64> = got
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&r, _)| r)
        .collect();
    assert!(
        dups.is_subset(&reported),
        "unreported duplicates: {:?}",
        dups.difference(&reported).collect::<Vec<_>>()
    );
    println!(
        "summary kill_9: kills {kills}, messages {}, duplicates {} (rows {dups:?}), reported as \
         possible duplicates {}",
        server.received_count(),
        dups.len(),
        reported.len()
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The binary run under `umask 000`, so that only tsuchi's own modes protect its files.
fn permissive(c: &TestCampaign, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(c.dir.path())
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_tsuchi"))
        .arg("--config")
        .arg(c.path("config.toml"))
        .arg("--state-dir")
        .arg(c.state_dir())
        .args(args)
        .env_remove("TSUCHI_SMTP_USER")
        .env_remove("TSUCHI_SMTP_PASSWORD")
        .env_remove("TSUCHI_SMTP_PASSWORD_FILE");
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn state_files_are_owner_only_even_under_a_permissive_umask() {
    let c = TestCampaign::new(5, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let url = server.url();
    let approve =
        tokio::task::block_in_place(|| permissive(&c, &["approve", "--reviewer", "佐藤 法務部"]));
    assert_eq!(approve.status.code(), Some(0), "{}", text(&approve));
    let state = c.state_dir();
    assert_eq!(mode(&state), 0o700, "state dir");
    assert_eq!(mode(&state.join("approvals.jsonl")), 0o600, "approvals");

    let sent = tokio::task::block_in_place(|| {
        permissive(&c, &["send", "--smtp", &url, "--rate", "0", "-q"])
    });
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent));
    assert_eq!(server.received_count(), 5);
    assert_eq!(mode(&state), 0o700, "state dir");
    assert_eq!(mode(&c.journal()), 0o600, "journal");
    assert_eq!(
        mode(&tsuchi::journal::hint_path(&c.journal())),
        0o600,
        "commit hint"
    );
    assert_eq!(mode(&state.join("lock")), 0o600, "lock");

    let report_path = c.path("report.csv");
    let report = tokio::task::block_in_place(|| {
        permissive(&c, &["report", "--output", report_path.to_str().unwrap()])
    });
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    assert_eq!(mode(&report_path), 0o600, "report --output");

    // A dry run's outbox holds every rendered message (names, addresses): the directory and
    // every file in it are the owner's only.
    let dry = tokio::task::block_in_place(|| permissive(&c, &["send", "--dry-run", "-q"]));
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let outbox = state.join("outbox");
    assert_eq!(mode(&outbox), 0o700, "outbox");
    let eml_modes: BTreeSet<u32> = std::fs::read_dir(&outbox)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| mode(&e.path()))
        .collect();
    assert_eq!(
        eml_modes,
        BTreeSet::from([0o600]),
        "every message in the outbox is owner-only"
    );
    assert_eq!(mode(&outbox.join("kaede-2026-11.journal.jsonl")), 0o600);

    // Previews of real people's notices.
    let preview = c.path("preview");
    let p = tokio::task::block_in_place(|| {
        permissive(
            &c,
            &[
                "preview",
                "--out",
                preview.to_str().unwrap(),
                "--id",
                "C000001",
            ],
        )
    });
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert_eq!(mode(&preview), 0o700, "preview dir");
    assert_eq!(mode(&preview.join("C000001.eml")), 0o600, "preview --id");
    println!(
        "summary permissions: state 0700, journal/lock/approvals/report 0600; outbox dir 0700 \
         with .eml files {:?}",
        eml_modes
            .iter()
            .map(|m| format!("{m:o}"))
            .collect::<Vec<_>>()
    );
}

/// `report --output FILE` promises an owner-only file ("written to FILE (owner-only)"), but a
/// file that already exists keeps its mode: `create_private_file` opens it with
/// `mode(0o600)`, which only applies when the file is created.
#[tokio::test(flavor = "multi_thread")]
async fn report_output_over_an_existing_file_is_made_owner_only() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    let path = c.path("report.csv");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_bounded(&c, &["report", "--output", path.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("owner-only"));
    assert_eq!(mode(&path), 0o600);
}
