//! Hardening: `tsuchi send` (the real binary) against a relay that misbehaves — random 4xx
//! replies, connections cut mid-DATA, replies slower than the timeout, an outage in the middle
//! of a run, and a relay that takes the message and hangs up before its final reply.
//!
//! The property every test checks is what tsuchi can honestly promise:
//!
//! * a recipient whose every failed attempt got an SMTP *reply* (4xx) is delivered exactly once;
//! * when an attempt's outcome is *unknown* (no reply after the data was sent: a timeout, a
//!   connection lost), the relay may have kept the message, so a second copy is possible — but
//!   only for rows whose journal records such an outcome (a `deferred` line without a reply
//!   code), and every recipient gets at least one copy;
//! * the journal explains every retry: attempt n+1 of a row follows a `deferred` outcome of
//!   attempt n with the relay's reply (or what happened instead of one).
//!
//! Every run of the binary is bounded in time (killed and failed after [`RUN_LIMIT`]); the tests
//! wait on server events, never on blind sleeps. Each prints a summary line (faults injected,
//! messages, duplicates) — run with `--nocapture` to see them.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::campaign::{self, ConfigEdit, TestCampaign, copies, text, wait_bounded};
use crate::support::smtp_server::{Command, Received, Script, SmtpServer};
use serde_json::Value;

/// No single run of the binary may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Runs the binary with `args`, killing it (by its pid) and failing the test if it does not
/// finish within `limit`.
async fn run_bounded(c: &TestCampaign, args: &[String], limit: Duration) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    wait_bounded(c.spawn(&args), limit, &args.join(" ")).await
}

fn send_args(server: &SmtpServer, concurrency: usize) -> Vec<String> {
    campaign::send_args(&server.url(), &["--concurrency", &concurrency.to_string()])
}

/// Runs `send` until it exits 0 (resuming after exit 4), at most `max_runs` times. Returns
/// the number of runs.
async fn send_until_done(
    c: &TestCampaign,
    server: &SmtpServer,
    concurrency: usize,
    max_runs: usize,
) -> usize {
    for run in 1..=max_runs {
        let out = run_bounded(c, &send_args(server, concurrency), RUN_LIMIT).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{}", text(&out));
        match out.status.code() {
            Some(0) => return run,
            Some(4) => continue,
            _ => panic!("run {run}: unexpected exit: {}", text(&out)),
        }
    }
    panic!("not done after {max_runs} runs");
}

/// The journal as the tests need it.
struct Journal {
    /// `(row, attempt)` of every attempt line.
    attempts: Vec<(u64, u64)>,
    /// Every outcome line.
    outcomes: Vec<Value>,
}

impl Journal {
    fn read(c: &TestCampaign) -> Journal {
        let text = std::fs::read_to_string(c.journal()).unwrap();
        let mut j = Journal {
            attempts: Vec::new(),
            outcomes: Vec::new(),
        };
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            match v["type"].as_str() {
                Some("attempt") => j
                    .attempts
                    .push((v["row"].as_u64().unwrap(), v["attempt"].as_u64().unwrap())),
                Some("outcome") => j.outcomes.push(v),
                _ => {}
            }
        }
        j
    }

    fn in_state<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.outcomes.iter().filter(move |o| o["state"] == state)
    }

    /// Rows with an attempt whose outcome is unknown: a temporary failure without any SMTP
    /// reply code (a timeout or a lost connection), after which the relay may or may not
    /// have kept the message.
    fn unknown_rows(&self) -> BTreeSet<u64> {
        self.in_state("deferred")
            .filter(|o| o["code"].is_null())
            .map(|o| o["row"].as_u64().unwrap())
            .collect()
    }

    /// Every retry is explained: attempt n > 1 of a row follows a `deferred` outcome of
    /// attempt n - 1 of that row, which carries the relay's reply text (and its code, when
    /// `with_code`: every fault was a 4xx reply).
    fn assert_every_retry_explained(&self, with_code: bool) {
        let deferred: BTreeSet<(u64, u64)> = self
            .in_state("deferred")
            .map(|o| (o["row"].as_u64().unwrap(), o["attempt"].as_u64().unwrap()))
            .collect();
        for &(row, attempt) in &self.attempts {
            if attempt > 1 {
                assert!(
                    deferred.contains(&(row, attempt - 1)),
                    "row {row} attempt {attempt} has no deferred outcome for attempt {}",
                    attempt - 1
                );
            }
        }
        for o in self.in_state("deferred") {
            let reply = o["reply"].as_str().unwrap_or("");
            assert!(!reply.trim().is_empty(), "deferred without a reason: {o}");
            if with_code {
                let code = o["code"].as_u64();
                assert!(
                    code.is_some_and(|c| (400..500).contains(&c)),
                    "deferred without a 4xx code: {o}"
                );
            }
        }
    }
}

/// The rows `report --format json` marks as possible duplicates.
async fn reported_possible_duplicates(c: &TestCampaign) -> BTreeSet<u64> {
    let args: Vec<String> = ["report", "--format", "json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = run_bounded(c, &args, RUN_LIMIT).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["possible_duplicate"] == true)
        .map(|v| {
            v["id"].as_str().unwrap()[1..]
                .trim_start_matches('0')
                .parse()
                .unwrap()
        })
        .collect()
}

/// Asserts: every row of `1..=rows` has at least one copy among `copies`; a row with more than
/// one copy is in `allowed`. Returns the number of duplicated rows.
fn assert_at_least_once(
    rows: u64,
    copies: &BTreeMap<u64, usize>,
    allowed: &BTreeSet<u64>,
) -> usize {
    for row in 1..=rows {
        assert!(
            copies.get(&row).is_some_and(|&n| n >= 1),
            "row {row} never reached the relay: {copies:?}"
        );
    }
    assert_eq!(copies.len() as u64, rows, "unknown recipients: {copies:?}");
    let dups: Vec<u64> = copies
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&r, _)| r)
        .collect();
    for r in &dups {
        assert!(
            allowed.contains(r),
            "row {r} got {} copies without an unknown outcome in its journal (allowed: {allowed:?})",
            copies[r]
        );
    }
    dups.len()
}

fn with(edits: &'static [(&'static str, &'static str)]) -> impl FnOnce(String) -> String {
    move |mut c| {
        for (from, to) in edits {
            c = c.set(from, to);
        }
        c
    }
}

/// A high outage threshold: scattered faults are not an outage.
const NO_OUTAGE: (&str, &str) = ("outage_threshold = 20", "outage_threshold = 1000");

#[tokio::test(flavor = "multi_thread")]
async fn random_4xx_on_every_command_ends_with_exactly_one_message_each() {
    const ROWS: u64 = 60;
    let c = TestCampaign::new(ROWS as usize, with(&[NO_OUTAGE]));
    let server = SmtpServer::start(
        Script::new()
            .reply_to(Command::Mail, 451, "4.3.0 MAIL busy, try later")
            .probability(0.2, 11)
            .reply_to(Command::Rcpt, 450, "4.2.1 RCPT mailbox busy")
            .probability(0.2, 22)
            .reply_to(Command::Data, 451, "4.3.1 DATA insufficient resources")
            .probability(0.2, 33)
            .reply_to(Command::DataEnd, 452, "4.3.1 queue full after data")
            .probability(0.2, 44),
    )
    .await;
    let runs = send_until_done(&c, &server, 4, 5).await;

    let got = copies(&server.received());
    let dups = assert_at_least_once(ROWS, &got, &BTreeSet::new());
    assert_eq!(dups, 0);
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    let j = Journal::read(&c);
    j.assert_every_retry_explained(true);
    let faults = j.in_state("deferred").count();
    assert!(
        faults > 10,
        "p = 0.2 on four commands injects faults: {faults}"
    );
    assert_eq!(j.in_state("sent").count() as u64, ROWS);
    let by_code: BTreeMap<u64, usize> = j.in_state("deferred").fold(BTreeMap::new(), |mut m, o| {
        *m.entry(o["code"].as_u64().unwrap()).or_default() += 1;
        m
    });
    assert!(
        by_code.len() >= 3,
        "faults on several commands: {by_code:?}"
    );
    println!(
        "summary random_4xx: faults injected {faults} (by code {by_code:?}), messages {}, \
         attempts {}, runs {runs}, duplicates {dups}",
        server.received_count(),
        j.attempts.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnects_mid_data_end_with_exactly_one_message_each() {
    const ROWS: u64 = 50;
    let c = TestCampaign::new(ROWS as usize, with(&[NO_OUTAGE]));
    let server =
        SmtpServer::start(Script::new().disconnect_mid_data(300).probability(0.3, 7)).await;
    let runs = send_until_done(&c, &server, 4, 5).await;

    let got = copies(&server.received());
    // A message cut mid-DATA never ends with the final dot: the relay cannot have kept it.
    assert!(server.hung_up_messages().is_empty());
    let dups = assert_at_least_once(ROWS, &got, &BTreeSet::new());
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    let j = Journal::read(&c);
    j.assert_every_retry_explained(false);
    let faults = j.in_state("deferred").count();
    assert!(faults > 5, "p = 0.3 injects faults: {faults}");
    assert_eq!(j.in_state("sent").count() as u64, ROWS);
    println!(
        "summary disconnect_mid_data: faults injected {faults}, messages {}, runs {runs}, \
         duplicates {dups}",
        server.received_count()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_slower_than_the_timeout_are_retried_and_duplicates_only_follow_a_timeout() {
    const ROWS: u64 = 12;
    const SLOW: u64 = 3;
    let c = TestCampaign::new(
        ROWS as usize,
        with(&[NO_OUTAGE, ("timeout_secs = 30", "timeout_secs = 1")]),
    );
    // The first three final replies come after 2 s; the client gives up after 1 s. The server
    // records a message before it answers, so those three were in fact accepted: the outcome
    // the client saw is unknown, not a failure.
    let server = SmtpServer::start(
        Script::new()
            .delay(Command::DataEnd, Duration::from_secs(2))
            .times(SLOW),
    )
    .await;
    let started = Instant::now();
    let runs = send_until_done(&c, &server, 2, 3).await;
    let elapsed = started.elapsed();

    let j = Journal::read(&c);
    j.assert_every_retry_explained(false);
    let timeouts: Vec<u64> = j
        .in_state("deferred")
        .filter(|o| o["reply"].as_str().unwrap_or("").contains("timeout"))
        .map(|o| o["row"].as_u64().unwrap())
        .collect();
    // Every slow reply is one timeout (a retry may meet a slow reply again).
    assert_eq!(timeouts.len() as u64, SLOW, "{timeouts:?}");
    let timed_out: BTreeSet<u64> = timeouts.iter().copied().collect();
    assert!(timed_out.is_subset(&j.unknown_rows()));
    let got = copies(&server.received());
    let dups = assert_at_least_once(ROWS, &got, &timed_out);
    // Everyone else exactly once.
    for (row, n) in &got {
        if !timed_out.contains(row) {
            assert_eq!(*n, 1, "row {row}");
        }
    }
    let reported = reported_possible_duplicates(&c).await;
    println!(
        "summary timeout: faults injected {SLOW} (DataEnd +2 s > timeout 1 s), messages {}, \
         runs {runs}, duplicates {dups} (rows {:?}), reported as possible duplicates {}, {elapsed:?}",
        server.received_count(),
        got.iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(r, _)| r)
            .collect::<Vec<_>>(),
        reported.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_mid_run_pauses_probes_and_resumes_by_itself() {
    const ROWS: u64 = 40;
    let c = TestCampaign::new(
        ROWS as usize,
        with(&[
            ("outage_threshold = 20", "outage_threshold = 3"),
            ("outage_max_secs = 1800", "outage_max_secs = 120"),
        ]),
    );
    let server = SmtpServer::start(Script::new()).await;
    let mut args = send_args(&server, 3);
    // Slow enough that the outage starts in the middle of the list.
    args[4] = "20".into();
    let child = c.spawn(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let pid = child.id();
    let waiter = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());

    assert!(
        server.wait_for_messages(10, Duration::from_secs(30)).await,
        "the run started"
    );
    server.set_outage(true);
    let before = server.connections();
    let at_outage = server.received_count();
    // The relay is down until tsuchi has noticed (threshold 3) and probed for a while.
    assert!(
        server
            .wait_for_connections(before + 3, Duration::from_secs(30))
            .await,
        "tsuchi noticed the outage"
    );
    let outage_started = Instant::now();
    // The outage lasts three seconds: this is the fault, not a synchronization.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = server.connections() - before;
    server.set_outage(false);
    let outage = outage_started.elapsed();

    let out = match tokio::time::timeout(RUN_LIMIT, waiter).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
            panic!("send did not finish after the outage ended");
        }
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run resumes by itself: {}",
        text(&out)
    );
    let got = copies(&server.received());
    let dups = assert_at_least_once(ROWS, &got, &BTreeSet::new());
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    // Probing, not burning the list: 30 rows were left when the relay went down.
    assert!(
        during <= 12,
        "{during} connection attempts during a {outage:?} outage"
    );
    let j = Journal::read(&c);
    j.assert_every_retry_explained(false);
    let faults = j.in_state("deferred").count();
    println!(
        "summary outage: outage {outage:?} after {at_outage} messages, connection attempts \
         during it {during}, deferred outcomes {faults}, messages {}, duplicates {dups}",
        server.received_count()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_hangs_up_after_the_data_causes_duplicates_only_after_unknown_outcomes() {
    const ROWS: u64 = 50;
    let c = TestCampaign::new(ROWS as usize, with(&[NO_OUTAGE]));
    let server = SmtpServer::start(Script::new().accept_then_hang_up().probability(0.2, 5)).await;
    let runs = send_until_done(&c, &server, 4, 5).await;

    let hung = server.hung_up_messages();
    assert!(!hung.is_empty(), "p = 0.2 hangs up on some messages");
    let j = Journal::read(&c);
    j.assert_every_retry_explained(false);
    let unknown = j.unknown_rows();
    // Every hang-up is recorded as an outcome without a reply.
    let hung_rows: BTreeSet<u64> = copies(&hung).into_keys().collect();
    assert!(
        hung_rows.is_subset(&unknown),
        "hung up {hung_rows:?}, unknown in the journal {unknown:?}"
    );
    // What the relay acknowledged: exactly once each.
    let acked = copies(&server.received());
    assert_at_least_once(ROWS, &acked, &BTreeSet::new());
    // Counting a hung-up message as delivered (a real relay may have queued it): duplicates
    // only where the journal shows an unknown outcome.
    let all: Vec<Received> = server.received().into_iter().chain(hung.clone()).collect();
    let maybe = copies(&all);
    let dups = assert_at_least_once(ROWS, &maybe, &unknown);
    println!(
        "summary hang_up_after_data: faults injected {} (hang-ups), messages acknowledged {}, \
         runs {runs}, possible duplicates {dups}, reported as possible duplicates {}",
        hung.len(),
        server.received_count(),
        reported_possible_duplicates(&c).await.len()
    );
}

/// Five rows sent to the end through a relay that twice takes the data and hangs up without a
/// reply; the rows it hung up on (whose outcome was unknown).
async fn sent_after_two_hang_ups() -> (TestCampaign, BTreeSet<u64>) {
    let c = TestCampaign::new(5, with(&[NO_OUTAGE]));
    let server = SmtpServer::start(Script::new().accept_then_hang_up().times(2)).await;
    send_until_done(&c, &server, 1, 2).await;
    let hung: BTreeSet<u64> = copies(&server.hung_up_messages()).into_keys().collect();
    assert!(!hung.is_empty());
    (c, hung)
}

/// A message whose final reply never came (a timeout or a hang-up after the data) may have
/// been accepted; re-sending it may mail the person twice. The product promises that every
/// possible duplicate is reported by id — today only rows left mid-transaction by a dead
/// process are.
#[tokio::test(flavor = "multi_thread")]
async fn a_resend_after_an_unknown_outcome_is_reported_as_a_possible_duplicate() {
    let (c, hung) = sent_after_two_hang_ups().await;
    let reported = reported_possible_duplicates(&c).await;
    assert_eq!(reported, hung, "report --format json possible_duplicate");
}

/// An outcome that may have been delivered is a field of the journal record, and a journal
/// written before that field existed (version 1: only the reply's first words said so) is
/// still read the same way by `report`.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_outcome_is_a_journal_field_and_old_journals_still_read_as_unknown() {
    let (c, hung) = sent_after_two_hang_ups().await;
    let journal = std::fs::read_to_string(c.journal()).unwrap();
    let marked: BTreeSet<u64> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "outcome" && v["unknown"] == true)
        .map(|v| v["row"].as_u64().unwrap())
        .collect();
    assert_eq!(marked, hung, "outcomes journaled as unknown");
    assert!(
        journal.starts_with(r#"{"type":"header","version":2,"#),
        "{journal}"
    );
    assert_eq!(reported_possible_duplicates(&c).await, hung);

    // The same journal as version 1 wrote it: no field, the words alone.
    let v1 = journal
        .replacen(r#""version":2,"#, r#""version":1,"#, 1)
        .replace(r#""unknown":true,"#, "");
    assert!(!v1.contains("unknown\""), "{v1}");
    std::fs::write(c.journal(), v1).unwrap();
    assert_eq!(
        reported_possible_duplicates(&c).await,
        hung,
        "a version-1 journal's unknown outcomes"
    );
}

/// A relay that takes the data and then never answers: the send times out after
/// `timeout_secs`, and the run must go on. tsuchi drops the connection with lettre's
/// `abort()`, which sends QUIT and waits for its reply with no timeout at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_never_answers_after_the_data_does_not_hang_the_run() {
    let c = TestCampaign::new(
        3,
        with(&[NO_OUTAGE, ("timeout_secs = 30", "timeout_secs = 1")]),
    );
    let server = SmtpServer::start(
        Script::new()
            .delay(Command::DataEnd, Duration::from_secs(600))
            .times(1),
    )
    .await;
    let started = Instant::now();
    let out = run_bounded(&c, &send_args(&server, 1), Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// A relay that never answers QUIT: every message is sent, and the run must still end.
/// `SmtpSession::close` and the recycling after `messages_per_connection` await
/// `quit()` without a timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_never_answers_quit_does_not_hang_the_run() {
    let c = TestCampaign::new(
        3,
        with(&[NO_OUTAGE, ("timeout_secs = 30", "timeout_secs = 1")]),
    );
    let server =
        SmtpServer::start(Script::new().delay(Command::Quit, Duration::from_secs(600))).await;
    let out = run_bounded(&c, &send_args(&server, 1), Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(server.received_count(), 3);
}

/// A hostile relay's reply text reaches the journal, and `lookup` prints it to the hotline
/// operator's terminal as it came: escape sequences included (retitle the window, clear the
/// screen, fake lines). The journal itself is JSON, which escapes them; the printers do not.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_reply_text_is_not_printed_raw() {
    let c = TestCampaign::new(2, with(&[NO_OUTAGE]));
    let server = SmtpServer::start(Script::new().reject_recipient(
        "user2@",
        550,
        "5.1.1",
        "\x1b]0;pwned\x07\x1b[2J\x1b[1;1Hsent OK",
    ))
    .await;
    let out = run_bounded(&c, &send_args(&server, 1), RUN_LIMIT).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    for args in [
        &["lookup", "C000002"][..],
        &["status"][..],
        &["report", "--format", "csv"][..],
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let o = run_bounded(&c, &args, RUN_LIMIT).await;
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            !stdout.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{args:?} printed control characters: {stdout:?}"
        );
    }
}
