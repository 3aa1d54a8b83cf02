//! `kill -9` in the middle of `tsuchi send`, then resume: nobody is skipped, and the only
//! recipients who get a message twice are the ones the journal reports as possible
//! duplicates — each copy with the same Message-ID, at most `--concurrency` per kill.
//!
//! The scriptable SMTP server on loopback is the relay; the real binary is spawned and killed
//! with SIGKILL (`Child::kill`) once the server has accepted a given number of messages.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::campaign::{self, TestCampaign, text};
use crate::support::smtp_server::{Command, Script, SmtpServer};

/// Parallel SMTP sessions in every run.
const CONCURRENCY: usize = 4;
/// Generous: a run of a few hundred messages on loopback takes well under a second.
const WAIT: Duration = Duration::from_secs(30);

fn send_args(server: &SmtpServer) -> Vec<String> {
    campaign::send_args(&server.url(), &["--concurrency", &CONCURRENCY.to_string()])
}

/// Rows (1-based, as in the journal) that have an attempt without an outcome after it.
fn in_flight(c: &TestCampaign) -> BTreeSet<u64> {
    let replay = tsuchi::journal::replay(&c.journal()).expect("the journal replays after a kill");
    replay.in_flight.into_iter().collect()
}

/// The generated customer id of row `row`.
fn id_of(row: u64) -> String {
    format!("C{row:06}")
}

/// What `tsuchi status` and `tsuchi report --format json` say after the final run.
struct Reported {
    /// From the `possible duplicates (...): id, id` line of `status`.
    status_duplicates: BTreeSet<String>,
    /// Ids with `"possible_duplicate": true` in the report.
    report_duplicates: BTreeSet<String>,
    /// Id → (state, Message-ID without `<>`) from the report.
    rows: BTreeMap<String, (String, Option<String>)>,
}

async fn reported(c: &TestCampaign) -> Reported {
    let status = c.run_async(&["status"]).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let stdout = String::from_utf8_lossy(&status.stdout).into_owned();
    let status_duplicates = stdout
        .lines()
        .find_map(|l| l.strip_prefix("possible duplicates ("))
        .and_then(|l| l.split_once("): "))
        .map(|(_, ids)| ids.split(", ").map(str::to_string).collect())
        .unwrap_or_default();

    let report = c.run_async(&["report", "--format", "json"]).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let mut report_duplicates = BTreeSet::new();
    let mut rows = BTreeMap::new();
    for line in String::from_utf8_lossy(&report.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        let id = v["id"].as_str().unwrap().to_string();
        if v["possible_duplicate"] == serde_json::Value::Bool(true) {
            report_duplicates.insert(id.clone());
        }
        let mid = v["message_id"]
            .as_str()
            .map(|m| m.trim_start_matches('<').trim_end_matches('>').to_string());
        rows.insert(id, (v["state"].as_str().unwrap().to_string(), mid));
    }
    Reported {
        status_duplicates,
        report_duplicates,
        rows,
    }
}

/// Counts from one kill-and-resume scenario, for the test log (read through `Debug`).
#[allow(dead_code)]
#[derive(Debug)]
struct Summary {
    kills: usize,
    in_flight_per_kill: Vec<usize>,
    torn_tails: usize,
    reported_duplicates: usize,
    received_twice: usize,
    hung_up: usize,
    runs: usize,
    elapsed: Duration,
}

/// Sends a campaign of `n` recipients, killing the sender with SIGKILL each time the server
/// has accepted `points[i]` messages in total, resuming after every kill, then runs to
/// completion and checks every guarantee against what the server received.
async fn kill_and_resume(n: usize, script: Script, points: &[usize]) -> Summary {
    let started = Instant::now();
    let c = TestCampaign::new(n, |cfg| cfg);
    let server = SmtpServer::start(script).await;
    let args = send_args(&server);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // Every row that was in flight at some kill; the final report must flag exactly these.
    let mut ever_in_flight = BTreeSet::new();
    let mut in_flight_per_kill = Vec::new();
    let mut torn_tails = 0;
    for &point in points {
        let mut child = c.spawn(&args);
        assert!(
            server.wait_for_messages(point, WAIT).await,
            "the server never got {point} messages (it has {})",
            server.received_count()
        );
        child.kill().unwrap();
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "the run must die by SIGKILL at {point} messages, not finish: {}",
            text(&out)
        );

        // The journal replays, and what was in flight is bounded by the sessions.
        let before = ever_in_flight.clone();
        let now = in_flight(&c);
        let new: BTreeSet<u64> = now.difference(&before).copied().collect();
        assert!(
            new.len() <= CONCURRENCY,
            "at most --concurrency rows can be mid-transaction at a kill, got {new:?}"
        );
        in_flight_per_kill.push(new.len());
        ever_in_flight.extend(now);

        // `status` reads the killed journal cleanly and reports a torn tail if there is one.
        let replay = tsuchi::journal::replay(&c.journal()).unwrap();
        let status = c.run_async(&["status"]).await;
        assert_eq!(status.status.code(), Some(0), "{}", text(&status));
        let s = String::from_utf8_lossy(&status.stdout);
        assert!(
            s.contains("ended without a clean stop (crash or kill)"),
            "{s}"
        );
        if replay.torn_tail.is_some() {
            torn_tails += 1;
            assert!(s.contains("journal: torn last line set aside"), "{s}");
        }
    }

    let out = c.run_async(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        in_flight(&c).is_empty(),
        "nothing is left in flight after a complete run"
    );

    // What arrived, per recipient.
    let mut by_rcpt: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for r in server.received() {
        assert_eq!(r.recipients.len(), 1, "one recipient per message");
        by_rcpt
            .entry(r.recipients[0].clone())
            .or_default()
            .push(r.message_id.clone());
    }
    let rep = reported(&c).await;
    assert_eq!(rep.rows.len(), n, "the report has one line per recipient");

    for i in 1..=n {
        let id = id_of(i as u64);
        let ids = by_rcpt
            .get(&format!("user{i}@example.jp"))
            .unwrap_or_else(|| panic!("{id} never got a message"));
        let (state, journal_mid) = &rep.rows[&id];
        assert_eq!(state, "sent", "{id}");
        // Every copy carries the one Message-ID the journal recorded for this recipient.
        for mid in ids {
            assert_eq!(mid, journal_mid, "{id}: every copy has the same Message-ID");
        }
    }

    let received_twice: BTreeSet<String> = by_rcpt
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(rcpt, _)| {
            let i: u64 = rcpt
                .strip_prefix("user")
                .and_then(|r| r.strip_suffix("@example.jp"))
                .unwrap()
                .parse()
                .unwrap();
            id_of(i)
        })
        .collect();
    // Possible duplicates are the rows in flight at a kill plus those whose message the relay
    // read completely but never answered (re-sent with an unknown first outcome).
    let mut flagged: BTreeSet<String> = ever_in_flight.iter().map(|&r| id_of(r)).collect();
    for h in server.hung_up_messages() {
        let i: u64 = h.recipients[0]
            .strip_prefix("user")
            .and_then(|r| r.strip_suffix("@example.jp"))
            .unwrap()
            .parse()
            .unwrap();
        flagged.insert(id_of(i));
    }
    assert_eq!(
        rep.status_duplicates, rep.report_duplicates,
        "status and report agree"
    );
    assert_eq!(
        rep.report_duplicates, flagged,
        "exactly the rows in flight at a kill or hung up on after DATA are reported"
    );
    assert!(
        received_twice.is_subset(&rep.report_duplicates),
        "recipients mailed twice {received_twice:?} must be among the reported {:?}",
        rep.report_duplicates
    );
    assert!(
        rep.report_duplicates.len() <= points.len() * CONCURRENCY + server.hung_up_messages().len()
    );
    // A recipient is mailed at most once per kill that caught its message in flight.
    assert!(by_rcpt.values().all(|ids| ids.len() <= 1 + points.len()));

    // A message the relay read but never answered has the Message-ID of the one that was
    // finally accepted for that recipient.
    let hung_up = server.hung_up_messages();
    for h in &hung_up {
        let rcpt = &h.recipients[0];
        assert!(
            by_rcpt[rcpt].iter().all(|m| *m == h.message_id),
            "{rcpt}: the retry after a hang-up reuses the Message-ID"
        );
    }

    Summary {
        kills: points.len(),
        in_flight_per_kill,
        torn_tails,
        reported_duplicates: rep.report_duplicates.len(),
        received_twice: received_twice.len(),
        hung_up: hung_up.len(),
        runs: points.len() + 1,
        elapsed: started.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_resume_loses_nobody_and_reports_every_duplicate() {
    let script = Script::new().delay(Command::DataEnd, Duration::from_millis(5));
    let summary = kill_and_resume(200, script, &[10, 60, 100, 130, 165]).await;
    eprintln!("kill -9 and resume: {summary:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_the_relay_hangs_up_after_data() {
    // Some messages are read completely and answered by a hang-up: the sender cannot know
    // whether they were queued (the unknown-outcome path), journals them deferred and retries.
    let script = Script::new()
        .delay(Command::DataEnd, Duration::from_millis(5))
        .accept_then_hang_up()
        .probability(0.05, 0x7473_7563_6869);
    let summary = kill_and_resume(200, script, &[15, 70, 120, 170]).await;
    eprintln!("kill -9 with hang-ups: {summary:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_journal_replays_cleanly_after_fast_kills() {
    // No delay: the journal is written as fast as it can be, so a kill is likely to land
    // mid-write; whatever it leaves, `status`, `report` and the next `send` must cope.
    let n = 150;
    let c = TestCampaign::new(n, |cfg| cfg);
    let server = SmtpServer::start(Script::new()).await;
    let args = send_args(&server);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut torn = 0;
    // Whether the previous kill left a torn tail, which the next run must set aside.
    let mut torn_before = false;
    let set_aside = |out: &Output| {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("was cut short by a crash"),
            "the run after a torn tail says it set it aside: {}",
            text(out)
        );
    };
    for point in [3, 20, 45, 70, 95, 120] {
        let mut child = c.spawn(&args);
        assert!(server.wait_for_messages(point, WAIT).await);
        child.kill().unwrap();
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        if torn_before {
            set_aside(&out);
        }
        if out.status.signal() != Some(9) {
            // Finished before the kill landed: then it must have finished cleanly.
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        }
        let replay = tsuchi::journal::replay(&c.journal())
            .unwrap_or_else(|e| panic!("the journal must replay after a kill: {e:#}"));
        assert!(
            replay.in_flight.len() <= CONCURRENCY,
            "{:?}",
            replay.in_flight
        );

        let status = c.run_async(&["status"]).await;
        assert_eq!(status.status.code(), Some(0), "{}", text(&status));
        let s = String::from_utf8_lossy(&status.stdout);
        assert!(s.contains(&format!("list: {n} rows")), "{s}");
        match &replay.torn_tail {
            Some(t) => {
                torn += 1;
                assert!(
                    s.contains(&format!(
                        "journal: torn last line set aside (line {}",
                        t.line
                    )),
                    "{s}"
                );
            }
            None => assert!(!s.contains("torn"), "{s}"),
        }
        let report = c.run_async(&["report", "--format", "json"]).await;
        assert_eq!(report.status.code(), Some(0), "{}", text(&report));
        assert_eq!(String::from_utf8_lossy(&report.stdout).lines().count(), n);
        torn_before = replay.torn_tail.is_some();
    }
    let out = c.run_async(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    if torn_before {
        set_aside(&out);
    }
    assert!(
        tsuchi::journal::replay(&c.journal())
            .unwrap()
            .torn_tail
            .is_none()
    );
    let status = c.run_async(&["status"]).await;
    let s = String::from_utf8_lossy(&status.stdout);
    let sent = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("sent"))
        .map(|n| n.trim().parse::<usize>().unwrap());
    assert_eq!(sent, Some(n), "{s}");
    let got: BTreeSet<String> = server
        .received()
        .into_iter()
        .map(|r| r.recipients[0].clone())
        .collect();
    assert_eq!(got.len(), n, "everyone got at least one message");
    eprintln!("fast kills: {torn} torn tails seen");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hang_up_after_the_final_dot_is_reported_as_a_possible_duplicate() {
    // After the final dot the relay may already have queued the message (RFC 1047): an
    // answer that never comes is an unknown outcome, like a kill mid-transaction, and the
    // re-send is a possible duplicate that `status` and `report` must name.
    let c = TestCampaign::new(3, |cfg| cfg);
    let server = SmtpServer::start(Script::new().accept_then_hang_up().times(1)).await;
    let args = send_args(&server);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_async(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let hung = server.hung_up_messages();
    assert_eq!(hung.len(), 1);
    let rcpt = &hung[0].recipients[0];
    let i: u64 = rcpt
        .strip_prefix("user")
        .and_then(|r| r.strip_suffix("@example.jp"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(server.received().iter().any(|r| &r.recipients[0] == rcpt));
    let rep = reported(&c).await;
    assert!(
        rep.report_duplicates.contains(&id_of(i)),
        "{} was re-sent after an unanswered DATA: {:?}",
        id_of(i),
        rep.report_duplicates
    );
}
