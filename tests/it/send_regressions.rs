//! `tsuchi send` (the real binary) where it used to give wrong answers or lose control:
//!
//! * a relay that refuses the session itself (greeting, EHLO, AUTH, MAIL FROM) stops the run as
//!   a relay error, and nobody is journaled `failed` for it;
//! * a relay whose replies are out of step never makes a message count as sent unless the
//!   reply to its end of data was a 2xx;
//! * a reply line that never ends is cut off after a bounded number of bytes;
//! * after Ctrl-C the summary's "N recipients still need a message" is what `status` says,
//!   and the progress bar stays where the run stopped;
//! * a closed stderr does not stop Ctrl-C/SIGTERM, and a closed stdout does not turn a failed
//!   run into exit 0;
//! * while the relay is down the progress output says so, and when the run will give up.
//!
//! Every run of the binary is bounded in time; the tests wait on server events, not on sleeps.

use std::collections::BTreeMap;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use crate::support::campaign::{TestCampaign, copies, send_args, text, wait_bounded};
use crate::support::smtp_server::{Command, Script, SmtpServer};
use serde_json::Value;

/// No single run of the binary may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Every outcome line of the journal.
fn outcomes(c: &TestCampaign) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(c.journal()) else {
        return Vec::new();
    };
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "outcome")
        .collect()
}

/// The counts `tsuchi status` prints, by label.
fn status_counts(c: &TestCampaign) -> BTreeMap<String, u64> {
    let out = c.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim();
        if let Some((label, n)) = line.rsplit_once(' ')
            && let Ok(n) = n.trim().parse::<u64>()
        {
            let label = label.trim();
            let label = label.split(" (").next().unwrap_or(label);
            m.insert(label.to_string(), n);
        }
    }
    m
}

/// Rows `status` says still need a message (pending, deferred, in flight).
fn still_to_send(c: &TestCampaign) -> u64 {
    let s = status_counts(c);
    ["pending", "deferred", "attempting"]
        .iter()
        .map(|k| s.get(*k).copied().unwrap_or(0))
        .sum()
}

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A loopback port where nothing listens.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Item 3: a refusal of the session is the relay's problem, not the recipients'.

async fn refused_session(script: Script, credentials: bool, what: &str) {
    refused_session_at(script, credentials, "", what).await;
}

/// `url_suffix` goes after the relay's URL (`?tls=required`).
async fn refused_session_at(script: Script, credentials: bool, url_suffix: &str, what: &str) {
    const N: usize = 40;
    let c = TestCampaign::new(N, |cfg| {
        cfg.replace("allow_insecure = false", "allow_insecure = true")
    });
    let server = SmtpServer::start(script).await;
    let url = format!("{}{url_suffix}", server.url());
    let args = send_args(&url, &["--concurrency", "4"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = c.command(&args);
    if credentials {
        cmd.env("TSUCHI_SMTP_USER", "kaede")
            .env("TSUCHI_SMTP_PASSWORD", "mistyped-pw");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, RUN_LIMIT, what).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{what}: a relay error\n{all}");
    assert!(all.contains("relay refused"), "{what}: says why\n{all}");
    assert!(
        !all.contains("mistyped-pw"),
        "{what}: no secret shown\n{all}"
    );
    let failed: Vec<Value> = outcomes(&c)
        .into_iter()
        .filter(|o| o["state"] == "failed")
        .collect();
    assert!(failed.is_empty(), "{what}: journaled failed: {failed:?}");
    let s = status_counts(&c);
    assert_eq!(s.get("failed").copied(), Some(0), "{what}: {s:?}");
    assert_eq!(
        still_to_send(&c),
        N as u64,
        "{what}: everyone still to send"
    );
    assert_eq!(server.received_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_greeting_refused_with_554_stops_the_run_and_fails_nobody() {
    let script = Script::new().reply_to(Command::Greeting, 554, "5.3.2 no service for you");
    refused_session(script, false, "greeting 554").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ehlo_refused_with_550_stops_the_run_and_fails_nobody() {
    let script = Script::new().reply_to(Command::Ehlo, 550, "5.7.1 client host rejected");
    refused_session(script, false, "EHLO 550").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_password_refused_with_535_stops_the_run_and_fails_nobody() {
    let script =
        Script::new()
            .offer_auth()
            .reply_to(Command::Auth, 535, "5.7.8 authentication failed");
    refused_session(script, true, "AUTH 535").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_offers_no_auth_stops_the_run_and_fails_nobody() {
    // Credentials are set but the relay offers no mechanism: asking again will not help.
    refused_session(Script::new(), true, "no AUTH offered").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_without_the_starttls_the_url_requires_stops_the_run_and_fails_nobody() {
    refused_session_at(Script::new(), false, "?tls=required", "no STARTTLS").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_runs_over_the_bounded_socket_and_fails_cleanly_on_a_plain_relay() {
    // smtps:// to a relay that speaks plain SMTP: the TLS handshake (through tsuchi's own
    // socket, see `smtp::Bounded`) fails; that is a temporary failure, retried until the
    // outage limit, never a panic and never a failed recipient.
    let c = TestCampaign::new(2, |cfg| {
        cfg.replace("outage_threshold = 20", "outage_threshold = 2")
            .replace("outage_max_secs = 1800", "outage_max_secs = 1")
    });
    let server = SmtpServer::start(Script::new()).await;
    let url = format!("smtps://{}", server.addr());
    let args = send_args(&url, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = wait_bounded(c.spawn(&args), RUN_LIMIT, "send over smtps").await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert!(server.connections() >= 1);
    let outcomes = outcomes(&c);
    assert!(!outcomes.is_empty());
    for o in &outcomes {
        assert_eq!(o["state"], "deferred", "{o}");
        let reply = o["reply"].as_str().unwrap_or("");
        assert!(reply.contains("TLS"), "says the handshake failed: {o}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_required_at_mail_stops_the_run_and_fails_nobody() {
    let script = Script::new().reply_to(Command::Mail, 530, "5.7.0 Authentication required");
    refused_session(script, false, "MAIL 530").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_refused_at_mail_stops_the_run_and_fails_nobody() {
    // The sender is the same for every recipient: a 5xx to MAIL FROM concerns them all.
    let script = Script::new().reply_to(Command::Mail, 553, "5.7.1 sender address rejected");
    refused_session(script, false, "MAIL 553").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recipient_still_fails_alone() {
    // The rule above must not swallow what is the recipient's: 550 at RCPT.
    let c = TestCampaign::new(5, |cfg| cfg);
    let server =
        SmtpServer::start(Script::new().reject_recipient("user3@", 550, "5.1.1", "no such user"))
            .await;
    let args = send_args(&server.url(), &["--concurrency", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = wait_bounded(c.spawn(&args), RUN_LIMIT, "send").await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let failed: Vec<u64> = outcomes(&c)
        .iter()
        .filter(|o| o["state"] == "failed")
        .map(|o| o["row"].as_u64().unwrap())
        .collect();
    assert_eq!(failed, vec![3]);
    assert_eq!(server.received_count(), 4);
}

// ---------------------------------------------------------------------------------------------
// Item 4: a reply out of step is never taken for a delivery.

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_out_of_step_never_makes_a_message_count_as_sent() {
    const N: usize = 6;
    let c = TestCampaign::new(N, |cfg| cfg);
    // After the first message the relay sends one line too many: from then on, each reply
    // answers the command before.
    let script = Script::new()
        .reply_with_extra_line(
            Command::DataEnd,
            250,
            "2.0.0 Ok: queued as 0A1B2C3D",
            "250 2.0.0 and one more",
        )
        .times(1)
        .reject_recipient("user4@", 550, "5.1.1", "no such user");
    let server = SmtpServer::start(script).await;
    let args = send_args(&server.url(), &["--concurrency", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = wait_bounded(c.spawn(&args), RUN_LIMIT, "send").await;
    let all = text(&out);
    for o in outcomes(&c) {
        if o["state"] == "sent" {
            let code = o["code"].as_u64().unwrap_or(0);
            assert!(
                (200..300).contains(&code),
                "sent with a reply that is not a 2xx to the end of data: {o}\n{all}"
            );
        }
    }
    // The journal's last word on each row agrees with the relay.
    let mut last: BTreeMap<u64, String> = BTreeMap::new();
    for o in outcomes(&c) {
        last.insert(
            o["row"].as_u64().unwrap(),
            o["state"].as_str().unwrap().to_string(),
        );
    }
    let received = copies(&server.received());
    for row in 1..=N as u64 {
        let want = if row == 4 { "failed" } else { "sent" };
        assert_eq!(
            last.get(&row).map(String::as_str),
            Some(want),
            "row {row}\n{all}"
        );
        let got = received.get(&row).copied().unwrap_or(0);
        assert_eq!(got, usize::from(row != 4), "copies of row {row}\n{all}");
    }
    assert_eq!(out.status.code(), Some(3), "{all}");
}

// ---------------------------------------------------------------------------------------------
// Item 15: a reply line without end is bounded.

async fn flood_at(cmd: Command) {
    const FLOOD: usize = 128 << 20;
    let c = TestCampaign::new(3, |cfg| cfg);
    let server = SmtpServer::start(Script::new().flood(cmd, FLOOD).times(1)).await;
    let args = send_args(&server.url(), &["--concurrency", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = wait_bounded(c.spawn(&args), RUN_LIMIT, "send").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The server notices the closed connection at its next write.
    assert!(
        server
            .wait_until(Duration::from_secs(30), |s| s.flood_written().1 == 1)
            .await,
        "the flood never ended"
    );
    let (written, _) = server.flood_written();
    // What the client read, plus what the loopback socket buffers held when it closed
    // (a few MiB): far below the flood.
    assert!(
        written < 32 << 20,
        "{cmd:?}: the client read {written} bytes of a reply line without end"
    );
    let deferred: Vec<String> = outcomes(&c)
        .iter()
        .filter(|o| o["state"] == "deferred")
        .map(|o| o["reply"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(deferred.len(), 1, "{deferred:?}");
    assert!(
        deferred[0].contains("without a line end"),
        "a clear reason: {deferred:?}"
    );
    assert_eq!(server.received_count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_greeting_without_end_is_cut_off() {
    flood_at(Command::Greeting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_reply_without_end_is_cut_off() {
    flood_at(Command::DataEnd).await;
}

// ---------------------------------------------------------------------------------------------
// Item 6: the summary after Ctrl-C counts everyone who still needs a message.

#[tokio::test(flavor = "multi_thread")]
async fn after_ctrl_c_the_summary_counts_everyone_still_to_send() {
    const N: usize = 400;
    let c = TestCampaign::new(N, |cfg| cfg);
    let server = SmtpServer::start(Script::new()).await;
    let child = c.spawn(&[
        "send",
        "--smtp",
        &server.url(),
        "--rate",
        "10",
        "--concurrency",
        "2",
        "-q",
    ]);
    assert!(
        server.wait_for_messages(5, RUN_LIMIT).await,
        "no message arrived"
    );
    signal(&child, "INT");
    let out = wait_bounded(child, RUN_LIMIT, "send, interrupted").await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said: u64 = stdout
        .lines()
        .find_map(|l| {
            l.split_once(" recipients still need a message")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no count of recipients still to send\n{}", text(&out)));
    let truth = still_to_send(&c);
    assert_eq!(said, truth, "summary vs status\n{}", text(&out));
    assert_eq!(truth, (N - server.received_count()) as u64);
}

/// The progress bar on a terminal (through `script`, which gives the binary a pty) stays at
/// the count where the run stopped: it does not jump to the total.
#[tokio::test(flavor = "multi_thread")]
async fn after_ctrl_c_the_progress_bar_stays_where_the_run_stopped() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to give the binary a terminal");
        return;
    }
    const N: usize = 400;
    let c = TestCampaign::new(N, |cfg| cfg);
    let server = SmtpServer::start(Script::new()).await;
    let line = format!(
        "exec '{}' --config '{}' --state-dir '{}' send --smtp {} --rate 10 --concurrency 2",
        env!("CARGO_BIN_EXE_tsuchi"),
        c.path("config.toml").display(),
        c.state_dir().display(),
        server.url()
    );
    let child = std::process::Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(c.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_messages(8, RUN_LIMIT).await,
        "no message arrived"
    );
    // The binary is the child of `script`.
    let children =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .unwrap();
    let pid = children.split_whitespace().next().expect("tsuchi runs");
    std::process::Command::new("kill")
        .args(["-INT", pid])
        .status()
        .unwrap();
    let out = wait_bounded(child, RUN_LIMIT, "send on a terminal, interrupted").await;
    let screen = String::from_utf8_lossy(&out.stdout);
    let last = screen
        .match_indices(&format!("/{N} "))
        .last()
        .map(|(i, _)| {
            let digits: String = screen[..i]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            digits.chars().rev().collect::<String>()
        })
        .unwrap_or_else(|| panic!("no progress bar drawn\n{screen}"));
    let last: usize = last.parse().unwrap();
    assert!(
        last < N,
        "the bar ended at {last}/{N} although {} were sent",
        server.received_count()
    );
}

// ---------------------------------------------------------------------------------------------
// Item 14: no write stops a shutdown; a broken pipe never turns a failure into success.

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_send_whose_stderr_is_a_closed_pipe() {
    for sig in ["TERM", "INT"] {
        let c = TestCampaign::new(1000, |cfg| cfg);
        let server = SmtpServer::start(Script::new()).await;
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // `2>&1 | tee log` after tee died
        let child = c
            .command(&["send", "--smtp", &server.url(), "--rate", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(writer)
            .spawn()
            .unwrap();
        assert!(
            server.wait_for_messages(2, RUN_LIMIT).await,
            "no message arrived"
        );
        signal(&child, sig);
        // 1000 messages at 5/s would take minutes; a stop takes a moment.
        let out = wait_bounded(child, Duration::from_secs(30), "send with a closed stderr").await;
        assert_eq!(out.status.code(), Some(4), "SIG{sig}: {}", text(&out));
        assert!(server.received_count() < 1000);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_whose_stdout_is_a_closed_pipe_does_not_exit_0_when_the_relay_was_down() {
    let c = TestCampaign::new(3, |cfg| {
        cfg.replace("outage_threshold = 20", "outage_threshold = 2")
            .replace("outage_max_secs = 1800", "outage_max_secs = 1")
    });
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let url = format!("smtp://127.0.0.1:{}", dead_port());
    let child = c
        .command(&["send", "--smtp", &url, "--rate", "0"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out: Output = wait_bounded(child, RUN_LIMIT, "send with a closed stdout").await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Item 16: the screen says the relay is down.

#[tokio::test(flavor = "multi_thread")]
async fn while_the_relay_is_down_the_progress_line_says_so() {
    let c = TestCampaign::new(3, |cfg| {
        cfg.replace("outage_threshold = 20", "outage_threshold = 2")
            .replace("outage_max_secs = 1800", "outage_max_secs = 7")
    });
    let url = format!("smtp://127.0.0.1:{}", dead_port());
    // stderr is a pipe: the progress comes as plain lines every few seconds.
    let out = wait_bounded(
        c.spawn(&["send", "--smtp", &url, "--rate", "0"]),
        RUN_LIMIT,
        "send to a relay that is down",
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("relay down"))
        .unwrap_or_else(|| panic!("nothing says the relay is down\n{}", text(&out)));
    assert!(line.contains("connection refused"), "{line}");
    assert!(line.contains("probing; giving up at "), "{line}");
    assert!(!line.contains("ETA"), "no ETA while nothing moves: {line}");
}
