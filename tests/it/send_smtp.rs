//! `tsuchi send` against a scriptable SMTP server on loopback: delivery, replies, retries,
//! connection recycling, outages, resume, refusal of a changed list, and the state lock.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use crate::support::campaign::{ConfigEdit, TestCampaign, send_args, text};
use crate::support::smtp_server::{Command, Script, SmtpServer};

async fn send(c: &TestCampaign, server: &SmtpServer, extra: &[&str]) -> Output {
    let args = send_args(&server.url(), extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.run_async(&args).await
}

/// Messages received per envelope recipient.
fn per_recipient(server: &SmtpServer) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in server.received() {
        for rcpt in r.recipients {
            *m.entry(rcpt).or_default() += 1;
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn every_recipient_gets_exactly_one_message() {
    let c = TestCampaign::new(40, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c, &server, &["--concurrency", "4"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = per_recipient(&server);
    assert_eq!(got.len(), 40);
    assert!(got.values().all(|&n| n == 1));
    for i in 1..=40 {
        assert!(got.contains_key(&format!("user{i}@example.jp")));
    }
    // Every message has its own deterministic Message-ID in the sender's domain.
    let ids: std::collections::BTreeSet<_> = server
        .received()
        .into_iter()
        .map(|r| r.message_id.unwrap())
        .collect();
    assert_eq!(ids.len(), 40);
    assert!(ids.iter().all(|id| id.ends_with("@kaede-travel.example")));
    // The envelope sender is the configured return path.
    assert!(
        server
            .received()
            .iter()
            .all(|r| r.envelope_from == "bounce@kaede-travel.example")
    );

    // A second run finds nothing left to do and sends nothing.
    let again = send(&c, &server, &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(server.received_count(), 40);
    assert!(String::from_utf8_lossy(&again.stdout).contains("40  already done"));
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_refusals_are_failed_and_not_retried() {
    let c = TestCampaign::new(10, |c| c);
    let server =
        SmtpServer::start(Script::new().reject_recipient("user3@", 550, "5.1.1", "no such user"))
            .await;
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(server.received_count(), 9);
    let rcpts = server
        .transcript()
        .into_iter()
        .filter(|(_, l)| l.contains("user3@"))
        .count();
    assert_eq!(rcpts, 1, "a 5xx recipient is tried once");

    let status = c.run_async(&["status"]).await;
    let s = String::from_utf8_lossy(&status.stdout);
    assert!(s.contains("failed 550 5.1.1"), "{s}");
    assert!(s.contains("example.jp"), "{s}");

    // Not retried on the next run either, unless asked.
    let again = send(&c, &server, &[]).await;
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert_eq!(server.received_count(), 9);
    server.set_script(Script::new());
    let retried = send(&c, &server, &["--retry-failed"]).await;
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried));
    assert_eq!(per_recipient(&server)["user3@example.jp"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_failures_are_retried_and_explained_in_the_journal() {
    let c = TestCampaign::new(6, |c| c);
    let server = SmtpServer::start(
        Script::new()
            .reply_to(Command::DataEnd, 451, "4.3.0 try later")
            .times(3),
    )
    .await;
    let out = send(&c, &server, &["--concurrency", "1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(per_recipient(&server).values().all(|&n| n == 1));
    assert_eq!(server.received_count(), 6);
    let journal = std::fs::read_to_string(c.journal()).unwrap();
    let deferred = journal
        .lines()
        .filter(|l| l.contains("\"state\":\"deferred\""))
        .count();
    assert_eq!(deferred, 3, "each retry is journaled with its reply");
    assert!(journal.contains("4.3.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn recipients_left_deferred_are_sent_on_the_next_run() {
    let c = TestCampaign::new(4, |c| c.set("max_attempts = 5", "max_attempts = 2"));
    let server =
        SmtpServer::start(Script::new().reject_recipient("user2@", 450, "4.2.1", "mailbox busy"))
            .await;
    let out = send(&c, &server, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "deferred work is resumable: {}",
        text(&out)
    );
    assert_eq!(server.received_count(), 3);
    server.set_script(Script::new());
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(per_recipient(&server)["user2@example.jp"], 1);
    assert_eq!(server.received_count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_carries_at_most_the_configured_number_of_messages() {
    let c = TestCampaign::new(23, |c| {
        c.set(
            "messages_per_connection = 100",
            "messages_per_connection = 5",
        )
    });
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c, &server, &["--concurrency", "2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let per_conn = server.messages_per_connection();
    assert!(per_conn.iter().all(|&n| n <= 5), "{per_conn:?}");
    assert!(
        per_conn.iter().filter(|&&n| n == 5).count() >= 3,
        "connections are reused: {per_conn:?}"
    );
    let quits = server
        .transcript()
        .into_iter()
        .filter(|(_, l)| l.eq_ignore_ascii_case("QUIT"))
        .count();
    assert!(quits >= 4, "recycled sessions end with QUIT");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_relay_outage_stops_the_run_as_resumable() {
    let c = TestCampaign::new(12, |c| {
        c.set("outage_threshold = 20", "outage_threshold = 3")
            .set("outage_max_secs = 1800", "outage_max_secs = 2")
    });
    let server = SmtpServer::start(Script::new()).await;
    server.set_outage(true);
    let out = send(&c, &server, &["--concurrency", "2"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("relay outage"),
        "{}",
        text(&out)
    );
    assert_eq!(server.received_count(), 0);
    // Probing, not burning through the list: far fewer connection attempts than recipients × attempts.
    assert!(
        server.connections() < 40,
        "{} connections",
        server.connections()
    );

    server.set_outage(false);
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = per_recipient(&server);
    assert_eq!(got.len(), 12);
    assert!(got.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_list_or_template_under_a_journal_is_refused() {
    let c = TestCampaign::new(3, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    assert_eq!(send(&c, &server, &[]).await.status.code(), Some(0));
    let original = std::fs::read_to_string(c.path("list.csv")).unwrap();
    let mut list = original.clone();
    list.push_str(&crate::support::campaign::row(4));
    list.push('\n');
    std::fs::write(c.path("list.csv"), list).unwrap();
    for extra in [&[][..], &["--accept-changes"][..]] {
        let out = send(&c, &server, extra).await;
        assert_eq!(out.status.code(), Some(5), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("recipients list changed"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(server.received_count(), 3);

    // A changed notice setting is refused unless deliberately accepted.
    std::fs::write(c.path("list.csv"), original).unwrap();
    let config = std::fs::read_to_string(c.path("config.toml")).unwrap();
    std::fs::write(
        c.path("config.toml"),
        config.set("0120-000-101", "0120-000-109"),
    )
    .unwrap();
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("config_digest"),
        "{}",
        text(&out)
    );
    let out = send(&c, &server, &["--accept-changes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(server.received_count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_rows_are_skipped_and_the_rest_is_sent() {
    let csv = format!(
        "{}\n{}\nC000002,not-an-address,試験,kaede,ja,1,0,0,1,0,0,0,0,0\nC000003,evil@example.jp,ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ,kaede,ja,1,0,0,1,0,0,0,0,0\n",
        crate::support::campaign::HEADER,
        crate::support::campaign::row(1)
    );
    let c = TestCampaign::with_list(&csv, |c| c);
    let server = SmtpServer::start(Script::new()).await;
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(server.received_count(), 1);
    assert_eq!(
        server.received()[0].recipients,
        vec!["user1@example.jp".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_send_on_the_same_state_directory_is_refused() {
    let c = TestCampaign::new(30, |c| c);
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_millis(200))).await;
    let mut first = c.spawn(&[
        "send",
        "--smtp",
        &server.url(),
        "--rate",
        "0",
        "-q",
        "--concurrency",
        "1",
    ]);
    assert!(server.wait_for_messages(1, Duration::from_secs(20)).await);
    let second = send(&c, &server, &[]).await;
    assert_eq!(second.status.code(), Some(5), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("lock"),
        "{}",
        text(&second)
    );
    let status = tokio::task::spawn_blocking(move || first.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(server.received_count(), 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_safely_and_the_next_run_completes() {
    let c = TestCampaign::new(40, |c| c);
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_millis(50))).await;
    let child = c.spawn(&[
        "send",
        "--smtp",
        &server.url(),
        "--rate",
        "0",
        "-q",
        "--concurrency",
        "2",
    ]);
    assert!(server.wait_for_messages(5, Duration::from_secs(20)).await);
    let pid = child.id() as i32;
    // SIGINT, as Ctrl-C sends.
    assert_eq!(unsafe_kill(pid, 2), 0);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("run the same `tsuchi send` command again")
    );
    let first = server.received_count();
    assert!(first < 40);
    let out = send(&c, &server, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = per_recipient(&server);
    assert_eq!(got.len(), 40);
    assert!(
        got.values().all(|&n| n == 1),
        "a clean stop leaves no duplicates: {got:?}"
    );
}

fn unsafe_kill(pid: i32, signal: i32) -> i32 {
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| if s.success() { 0 } else { 1 })
        .unwrap_or(1)
}
