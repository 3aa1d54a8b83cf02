//! The relay pool (`[[send.relays]]`), end to end: the real binary against two scripted relays
//! on loopback. One relay killed mid-send and brought back (failover, probing, reuse; every
//! recipient once, possible duplicates named), weights over 2,000 messages, a relay that
//! throttles above 50 msg/s (the rate follows it), a quota that pauses a relay, a policy block
//! that stops the run resumable, and the error-ratio breaker holding one carrier.
//!
//! Every run is bounded in time; waits are on server events, never blind sleeps.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::campaign::{ConfigEdit, TestCampaign, copies, row, text, wait_bounded};
use crate::support::smtp_server::{Command, Script, SmtpServer};
use serde_json::Value;

const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The config with `relays` (name, url, weight) as `[[send.relays]]` and `extra` lines in
/// `[send]`.
fn with_relays(config: String, relays: &[(&str, String, u32)], extra: &str) -> String {
    let mut config = config.set(
        "outage_max_secs = 1800",
        &format!("outage_max_secs = 1800\n{extra}"),
    );
    for (name, url, weight) in relays {
        config.push_str(&format!(
            "\n[[send.relays]]\nname = \"{name}\"\nurl = \"{url}\"\nweight = {weight}\n"
        ));
    }
    config
}

/// `send` through the pool (no `--smtp`), quietly, then `extra`.
async fn send(c: &TestCampaign, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["send", "-q"];
    args.extend_from_slice(extra);
    wait_bounded(c.spawn(&args), RUN_LIMIT, "send").await
}

fn outcomes(c: &TestCampaign) -> Vec<Value> {
    std::fs::read_to_string(c.journal())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "outcome")
        .collect()
}

/// The ids the run's summary names as possible duplicates.
fn reported_duplicates(stdout: &str) -> BTreeSet<u64> {
    stdout
        .lines()
        .find_map(|l| l.split_once("(possible duplicates): ").map(|(_, ids)| ids))
        .map(|ids| {
            ids.split(", ")
                .map(|id| id.trim().trim_start_matches('C').parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_send_is_failed_over_probed_and_used_again() {
    // 40 s at 50 msg/s: long enough after the kill for the probes (1, 2, 4, 8, 16 s apart) to
    // find the primary back however long `status` takes on a loaded machine.
    let rows = 2000;
    let a = SmtpServer::start(Script::new()).await;
    let b = SmtpServer::start(Script::new()).await;
    let a_addr = a.addr();
    let c = TestCampaign::new(rows, |config| {
        with_relays(
            config,
            &[("primary", a.url(), 1), ("backup", b.url(), 1)],
            "",
        )
    });
    let child = c.spawn(&["send", "-q", "--rate", "50", "--concurrency", "4"]);
    let run = tokio::spawn(wait_bounded(child, RUN_LIMIT, "send"));
    assert!(a.wait_for_messages(60, Duration::from_secs(60)).await);
    // Killed: the listener and every connection gone, new connections refused.
    a.shutdown();
    let before_a = a.received();
    let b_at_kill = b.received_count();
    // The run goes on through the backup alone.
    assert!(
        b.wait_for_messages(b_at_kill + 100, Duration::from_secs(60))
            .await,
        "the backup took no traffic while the primary was dead"
    );
    // `status`, while the run goes on, shows the primary out.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = c.run(&["status"]);
        let status = String::from_utf8_lossy(&status.stdout).into_owned();
        if status
            .lines()
            .any(|l| l.trim_start().starts_with("primary") && l.contains("down ("))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed the primary down:\n{status}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Brought back on the same port: the pool probes it and uses it again.
    let a2 = SmtpServer::start_on(a_addr, Script::new()).await;
    assert!(
        a2.wait_for_messages(20, Duration::from_secs(60)).await,
        "the primary was not used again after it came back"
    );
    let out = run.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();

    // Every recipient at least once across the three lives of the two relays; more than once
    // only for those the run names as possible duplicates.
    let mut all = before_a.clone();
    all.extend(b.received());
    all.extend(a2.received());
    let copies = copies(&all);
    assert_eq!(copies.len(), rows, "{stdout}");
    let dupes = reported_duplicates(&stdout);
    for (row, n) in &copies {
        assert!(
            *n == 1 || dupes.contains(row),
            "row {row}: {n} copies, not reported"
        );
    }
    // The journal names the relay of every message sent.
    let sent: Vec<Value> = outcomes(&c)
        .into_iter()
        .filter(|o| o["state"] == "sent")
        .collect();
    assert!(sent.iter().any(|o| o["relay"] == "primary"));
    assert!(sent.iter().any(|o| o["relay"] == "backup"));
    assert!(
        sent.iter()
            .all(|o| o["relay"] == "primary" || o["relay"] == "backup")
    );
    // So does `report`, per recipient.
    let report = c.run(&["report", "--format", "json"]);
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    let lines: Vec<Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), rows);
    assert!(
        lines
            .iter()
            .all(|l| l["relay"] == "primary" || l["relay"] == "backup")
    );
    // `status` shows both relays.
    let status = c.run(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains("primary") && status.contains("backup"),
        "{status}"
    );
    eprintln!(
        "failover: primary {} + {} after its return, backup {}, duplicates {}",
        before_a.len(),
        a2.received_count(),
        b.received_count(),
        dupes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_relay_does_not_hold_the_run_back() {
    // A port nobody listens on: connection refused from the start.
    let dead = {
        let s = SmtpServer::start(Script::new()).await;
        let url = s.url();
        s.shutdown();
        url
    };
    let b = SmtpServer::start(Script::new()).await;
    let c = TestCampaign::new(120, |config| {
        with_relays(
            config,
            &[("dead", dead.clone(), 5), ("live", b.url(), 1)],
            "",
        )
    });
    let started = Instant::now();
    let out = send(&c, &["--rate", "0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(copies(&b.received()).len(), 120);
    assert!(copies(&b.received()).values().all(|&n| n == 1));
    // Not the outage pause (send.outage_max_secs is half an hour): the run did not wait.
    assert!(started.elapsed() < RUN_LIMIT);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("relay dead: 0 accepted, down"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_follows_the_weights_over_two_thousand_messages() {
    let rows = 2000;
    let a = SmtpServer::start(Script::new()).await;
    let b = SmtpServer::start(Script::new()).await;
    let c = TestCampaign::new(rows, |config| {
        with_relays(config, &[("heavy", a.url(), 3), ("light", b.url(), 1)], "")
    });
    let out = send(&c, &["--rate", "0", "--concurrency", "8"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (na, nb) = (a.received_count() as f64, b.received_count() as f64);
    assert_eq!((na + nb) as usize, rows);
    let share = na / (na + nb);
    assert!(
        (share - 0.75).abs() <= 0.075,
        "heavy took {share:.3} of the traffic"
    );
    eprintln!("weights 3:1 over {rows}: heavy {na}, light {nb}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_follows_a_relay_that_throttles() {
    // A provider account of 50 msg/s: SES's reply above it.
    const ACCOUNT: f64 = 50.0;
    let rows = 1100;
    let relay = SmtpServer::start(Script::new().rate_limit(
        ACCOUNT,
        5,
        454,
        "Throttling failure: Maximum sending rate exceeded.",
    ))
    .await;
    let c = TestCampaign::new(rows, |config| {
        with_relays(config, &[("ses", relay.url(), 1)], "")
    });
    let started = Instant::now();
    let out = send(&c, &["--rate", "500", "--concurrency", "4"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let received = relay.received();
    assert_eq!(copies(&received).len(), rows);
    // Nobody failed or deferred for it.
    let o = outcomes(&c);
    assert!(
        o.iter().all(|o| o["state"] == "sent"),
        "{:?}",
        o.iter().find(|o| o["state"] != "sent")
    );
    // The accepted rate after the first 10 s, from the server's own times.
    let first = received.iter().map(|r| r.received_at).min().unwrap();
    let last = received.iter().map(|r| r.received_at).max().unwrap();
    let from = first + Duration::from_secs(10);
    let late = received.iter().filter(|r| r.received_at >= from).count();
    let rate = late as f64 / (last - from).as_secs_f64();
    // Throttle replies among all replies to MAIL after the first 10 s (the steady state),
    // and over the whole run (the first second, from 500 msg/s down, included).
    let throttled = relay.throttled();
    let late_throttled = throttled.iter().filter(|&&t| t >= from).count();
    let share = late_throttled as f64 / (late_throttled + late) as f64;
    let overall = throttled.len() as f64 / (throttled.len() + received.len()) as f64;
    eprintln!(
        "throttling relay: {rate:.1} msg/s after 10 s, throttle replies {late_throttled} after \
         10 s ({:.1} %), {} in all ({:.1} %), run {:?}",
        share * 100.0,
        throttled.len(),
        overall * 100.0,
        started.elapsed()
    );
    assert!(
        (rate - ACCOUNT).abs() <= ACCOUNT * 0.2,
        "accepted {rate:.1} msg/s"
    );
    assert!(
        share <= 0.05,
        "{late_throttled} throttle replies of {}",
        late_throttled + late
    );
    assert!(
        overall <= 0.05,
        "{} throttle replies of {}",
        throttled.len(),
        throttled.len() + received.len()
    );
    let status = c.run(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains("ses-rate"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_reply_rests_the_relay_and_the_last_one_stops_the_run_resumable() {
    let quota = "Throttling failure: Daily message quota exceeded.";
    let spent = SmtpServer::start(Script::new().reply_to(Command::Mail, 454, quota)).await;
    let b = SmtpServer::start(Script::new()).await;
    let c = TestCampaign::new(50, |config| {
        with_relays(
            config,
            &[("spent", spent.url(), 1), ("other", b.url(), 1)],
            "",
        )
    });
    let out = send(&c, &["--rate", "0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(copies(&b.received()).len(), 50);
    // Rested after its first reply: asked once, not once per message.
    let mails = spent
        .transcript()
        .iter()
        .filter(|(_, l)| l.starts_with("MAIL"))
        .count();
    assert!(mails <= 4, "the spent relay was asked {mails} times");
    let status = String::from_utf8_lossy(&c.run(&["status"]).stdout).into_owned();
    assert!(
        status.contains("ses-quota") && status.contains("paused until"),
        "{status}"
    );

    // Alone, the spent relay stops the run as resumable, saying when to resume.
    let c = TestCampaign::new(10, |config| {
        with_relays(config, &[("spent", spent.url(), 1)], "")
    });
    let out = send(&c, &["--rate", "0"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("every relay rests (quota spent): resume with `tsuchi send` after"),
        "{stdout}"
    );
    assert!(outcomes(&c).iter().all(|o| o["state"] != "failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_block_stops_the_run_at_once_resumable() {
    let blocked = SmtpServer::start(Script::new().reply_to(
        Command::Rcpt,
        554,
        "5.7.1 Service unavailable; Client host [127.0.0.1] blocked using a block list",
    ))
    .await;
    let c = TestCampaign::new(200, |config| {
        with_relays(config, &[("main", blocked.url(), 1)], "")
    });
    let out = send(&c, &["--rate", "0", "--concurrency", "2"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("stopped: relay main answered with a policy block (554 5.7.1"),
        "{stdout}"
    );
    // At once: a handful of recipients met the block, not the list.
    let rcpts = blocked
        .transcript()
        .iter()
        .filter(|(_, l)| l.starts_with("RCPT"))
        .count();
    assert!(
        rcpts <= 4,
        "{rcpts} recipients were tried against the block"
    );
    // Nobody is marked failed; the rest stays to be sent.
    assert!(outcomes(&c).iter().all(|o| o["state"] != "failed"));
    assert!(
        stdout.contains("recipients still need a message"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_stops_a_carrier_with_many_unknown_users_and_the_others_go_on() {
    // 400 recipients: even rows at docomo (every tenth of them unknown), odd rows elsewhere.
    let mut csv = String::from(crate::support::campaign::HEADER);
    csv.push('\n');
    for i in 1..=400 {
        let r = row(i);
        let r = if i % 2 == 0 {
            let local = if i % 20 == 0 { "gone" } else { "user" };
            r.replace(
                &format!("user{i}@example.jp"),
                &format!("{local}{i}@docomo.ne.jp"),
            )
        } else {
            r
        };
        csv.push_str(&r);
        csv.push('\n');
    }
    let relay =
        SmtpServer::start(Script::new().reject_recipient("gone", 550, "5.1.1", "Unknown user"))
            .await;
    let c = TestCampaign::with_list(&csv, |config| {
        with_relays(
            config.set("unknown_window = 200", "unknown_window = 50"),
            &[("main", relay.url(), 1)],
            "",
        )
    });
    let t = Instant::now();
    let out = send(&c, &["--rate", "0", "--concurrency", "1"]).await;
    let first_run = t.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("held: docomo: 5 of the last 50 messages went to unknown users (10.0 %"),
        "{stdout}"
    );
    let received = relay.received();
    let docomo = |r: &&crate::support::smtp_server::Received| {
        r.recipients.iter().any(|a| a.ends_with("@docomo.ne.jp"))
    };
    // The others all went; docomo stopped once its window showed the ratio.
    assert_eq!(received.iter().filter(|r| !docomo(r)).count(), 200);
    let to_docomo = received.iter().filter(docomo).count();
    assert!(to_docomo < 60, "{to_docomo} messages went to docomo");
    // The next run holds it still; --accept-error-ratio sends to it deliberately.
    let t = Instant::now();
    let again = send(&c, &["--rate", "0"]).await;
    // Held rows wait for no rate permit: docomo's 5 msg/s would make 150 of them take 30 s.
    eprintln!(
        "breaker: first run {first_run:?}, held run {:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(25), "{:?}", t.elapsed());
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    assert_eq!(relay.received().iter().filter(docomo).count(), to_docomo);
    let status = String::from_utf8_lossy(&c.run(&["status"]).stdout).into_owned();
    assert!(status.contains("held: docomo"), "{status}");
    let accepted = send(&c, &["--rate", "0", "--accept-error-ratio"]).await;
    assert!(
        relay.received().iter().filter(docomo).count() > to_docomo,
        "{}",
        text(&accepted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_relay_logs_in_with_its_own_credentials_or_the_unnamed_ones() {
    use base64::Engine;
    let a = SmtpServer::start(Script::new().offer_auth()).await;
    let b = SmtpServer::start(Script::new().offer_auth()).await;
    let c = TestCampaign::new(20, |config| {
        with_relays(
            // Credentials over plain SMTP: the test relays are loopback without TLS.
            config.set("allow_insecure = false", "allow_insecure = true"),
            &[("relay-a", a.url(), 1), ("b", b.url(), 1)],
            "",
        )
    });
    let mut cmd = c.command(&["send", "-q", "--rate", "0"]);
    cmd.env("TSUCHI_SMTP_USER_RELAY_A", "alice")
        .env("TSUCHI_SMTP_PASSWORD_RELAY_A", "pw-of-alice")
        .env("TSUCHI_SMTP_USER", "bob")
        .env("TSUCHI_SMTP_PASSWORD", "pw-of-bob");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let login = |server: &SmtpServer| -> BTreeSet<String> {
        server
            .transcript()
            .iter()
            .filter_map(|(_, l)| l.strip_prefix("AUTH PLAIN "))
            .map(|b64| {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .unwrap();
                String::from_utf8(raw).unwrap().replace('\0', " ")
            })
            .collect()
    };
    assert_eq!(
        login(&a),
        BTreeSet::from([" alice pw-of-alice".to_string()])
    );
    assert_eq!(login(&b), BTreeSet::from([" bob pw-of-bob".to_string()]));
    let all = text(&out);
    assert!(!all.contains("pw-of-"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greylisting_defers_the_recipient_without_pausing_the_run_as_an_outage() {
    // The first 40 RCPTs greylisted: twice `send.outage_threshold` (20) in a row. Counted as
    // relay failures, they would start the outage pause, whose probes (1, 2, 4 … 60 s apart)
    // would meet the other 20 and hold the run for many minutes.
    let relay = SmtpServer::start(
        Script::new()
            .reject_recipient(
                "user",
                451,
                "4.7.1",
                "Greylisting in action, please come back later",
            )
            .times(40),
    )
    .await;
    let c = TestCampaign::new(30, |config| {
        with_relays(config, &[("main", relay.url(), 1)], "")
    });
    let out = send(&c, &["--rate", "0", "--concurrency", "1"]).await;
    // Eight recipients met five greylistings each (max_attempts) and stay deferred; the
    // others were sent.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(copies(&relay.received()).len(), 22);
    let status = String::from_utf8_lossy(&c.run(&["status"]).stdout).into_owned();
    assert!(status.contains("greylisted"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_bounces_recorded_between_runs_trip_the_breaker() {
    // 20 recipients, all at docomo; the first run sends 10 of them.
    let mut csv = String::from(crate::support::campaign::HEADER);
    csv.push('\n');
    for i in 1..=20 {
        csv.push_str(&row(i).replace(
            &format!("user{i}@example.jp"),
            &format!("user{i}@docomo.ne.jp"),
        ));
        csv.push('\n');
    }
    let relay = SmtpServer::start(Script::new()).await;
    let c = TestCampaign::with_list(&csv, |config| {
        with_relays(
            config.set("unknown_window = 200", "unknown_window = 10"),
            &[("main", relay.url(), 1)],
            "",
        )
    });
    let out = send(&c, &["--rate", "0", "--limit", "10"]).await;
    let sent: Vec<String> = relay
        .received()
        .iter()
        .map(|r| r.recipients[0].clone())
        .collect();
    assert_eq!(sent.len(), 10, "{}", text(&out));

    // Two of them bounce as unknown users (5.1.1); a full mailbox (5.2.2) is not counted.
    use crate::bounces_e2e::{dsn, mbox};
    let to = "bounce@kaede-travel.example";
    let messages = [
        dsn(to, &sent[0], "failed", "5.1.1", None),
        dsn(to, &sent[1], "failed", "5.1.1", None),
        dsn(to, &sent[2], "failed", "5.2.2", None),
    ];
    std::fs::write(c.path("bounces.mbox"), mbox(&messages)).unwrap();
    let out = c.run(&["bounces", c.path("bounces.mbox").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains("3  bounced (recorded now)"), "{stdout}");
    assert!(
        stdout.contains(
            "held: docomo: 2 of the 10 messages sent so far bounced as unknown users (20.0 %"
        ),
        "{stdout}"
    );

    // The next run leaves docomo's recipients to be sent; status says why.
    let again = send(&c, &["--rate", "0"]).await;
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    assert_eq!(relay.received().len(), 10, "{}", text(&again));
    let status = String::from_utf8_lossy(&c.run(&["status"]).stdout).into_owned();
    assert!(status.contains("held: docomo"), "{status}");

    // Resumed deliberately, the rest go.
    let accepted = send(&c, &["--rate", "0", "--accept-error-ratio"]).await;
    assert_eq!(relay.received().len(), 20, "{}", text(&accepted));
}
