//! Operations around a production relay: `send --metrics` scraped while a send runs against the
//! scripted SMTP server on loopback (slow enough that messages are seen in flight).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::support::campaign::{ConfigEdit, TestCampaign, send_args, text};
use crate::support::smtp_server::{Command, Script, SmtpServer};

/// Starts `tsuchi send … --metrics 127.0.0.1:0` and reads the port it says it listens on.
fn spawn_with_metrics(
    c: &TestCampaign,
    url: &str,
    extra: &[&str],
) -> (std::process::Child, u16, std::thread::JoinHandle<String>) {
    use std::io::BufRead;
    let mut extra: Vec<&str> = extra.to_vec();
    extra.extend(["--metrics", "127.0.0.1:0"]);
    let args = send_args(url, &extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = c.spawn(&args);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut port = None;
    let mut seen = String::new();
    let mut line = String::new();
    // The line comes before the first message; the read ends at the latest with the run.
    while port.is_none() && stdout.read_line(&mut line).unwrap_or(0) > 0 {
        port = line
            .trim()
            .strip_prefix("metrics: http://127.0.0.1:")
            .and_then(|r| r.strip_suffix("/metrics"))
            .and_then(|p| p.parse::<u16>().ok());
        seen.push_str(&line);
        line.clear();
    }
    let port = port.unwrap_or_else(|| panic!("no metrics address in stdout: {seen}"));
    // The rest of stdout, so the binary never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    (child, port, rest)
}

/// `GET path` over HTTP/1.0 on loopback: the status line and the body, or `None` when nothing
/// listens (yet). Bounded in time and size.
fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut raw = Vec::new();
    s.take(4 * 1024 * 1024).read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// The value of the sample `name` (with its labels, exactly as exposed), if present.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_during_a_send_by_group_without_personal_data() {
    const N: usize = 16;
    // All generated recipients are at example.jp: a send.domain_rates entry makes it a group.
    let c = TestCampaign::new(N, |cfg| {
        cfg.set(
            "[send.domain_rates]\n",
            "[send.domain_rates]\n\"example.jp\" = 1000\n",
        )
    });
    // Each message waits at the end of its data: with 4 sessions, 4 are in flight for a while.
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_millis(400))).await;
    let (child, port, _rest) = spawn_with_metrics(&c, &server.url(), &["--concurrency", "4"]);

    let scrapes = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let mut not_found = None;
        while Instant::now() < deadline {
            if let Some((status, body)) = get(port, "/metrics") {
                assert!(status.contains(" 200"), "{status}");
                let in_flight = sample(&body, "tsuchi_in_flight").unwrap_or(0.0);
                let done = body.contains("# EOF");
                seen.push(body);
                if not_found.is_none() {
                    not_found = get(port, "/").map(|(s, _)| s);
                }
                if in_flight >= 1.0 && done {
                    return (seen, not_found);
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        (seen, not_found)
    })
    .await
    .unwrap();
    let (seen, not_found) = scrapes;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!seen.is_empty(), "no scrape answered during the send");
    let in_flight = seen
        .iter()
        .find(|b| sample(b, "tsuchi_in_flight").unwrap_or(0.0) >= 1.0)
        .unwrap_or_else(|| panic!("never saw a message in flight: {seen:#?}"));
    let body = in_flight;
    assert!(
        sample(body, "tsuchi_in_flight").unwrap() <= 4.0,
        "at most one per session: {body}"
    );
    assert_eq!(
        sample(body, "tsuchi_send_rate_limit_messages_per_second"),
        Some(0.0),
        "--rate 0: {body}"
    );
    assert_eq!(sample(body, "tsuchi_relay_down"), Some(0.0), "{body}");
    let pending = sample(body, "tsuchi_pending").expect("pending");
    assert!((1.0..=N as f64).contains(&pending), "{body}");
    assert!(
        body.contains("tsuchi_approval_info{campaign=\"kaede-2026-11\",digest=\""),
        "{body}"
    );
    // Some scrape saw messages sent, counted under the configured group, never a domain of
    // its own; the counts only grow.
    let sent = |b: &String| {
        sample(
            b,
            "tsuchi_messages_sent_total{group=\"example.jp\",relay=\"default\"}",
        )
    };
    let counts: Vec<f64> = seen.iter().filter_map(sent).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(counts.iter().all(|&n| n <= N as f64), "{counts:?}");
    for b in &seen {
        assert!(!b.contains('@'), "an address in the metrics: {b}");
        assert!(!b.contains("user1"), "a recipient in the metrics: {b}");
        assert!(!b.contains("C0000"), "a customer id in the metrics: {b}");
    }
    assert!(
        not_found.is_some_and(|s| s.contains(" 404")),
        "only /metrics is served"
    );
    assert_eq!(server.received_count(), N);
    // The endpoint goes with the run.
    assert!(
        get(port, "/metrics").is_none(),
        "still listening after the run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_port_already_taken_stops_the_send_before_the_journal() {
    let c = TestCampaign::new(3, |cfg| cfg);
    let server = SmtpServer::start(Script::new()).await;
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let args = send_args(&server.url(), &["--metrics", &addr]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_async(&args).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--metrics"),
        "{}",
        text(&out)
    );
    assert!(!c.journal().exists(), "the journal was created");
    assert_eq!(server.received_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_the_run_id_event_and_counts_and_no_personal_data() {
    const N: usize = 7;
    let c = TestCampaign::new(N, |cfg| cfg);
    let server = SmtpServer::start(Script::new().reject_recipient(
        "user3@example.jp",
        550,
        "5.1.1",
        "user unknown",
    ))
    .await;
    let args = send_args(&server.url(), &["--log-format", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.run_async(&args).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in {stderr}"))
            .clone()
    };
    let start = find("run_start");
    let stop = find("run_stop");
    let run = start["run"].as_str().expect("a run id").to_string();
    assert_eq!(run.len(), 16, "{start}");
    assert_eq!(stop["run"], run.as_str(), "{stop}");
    assert_eq!(start["campaign"], "kaede-2026-11");
    assert_eq!(start["expected"], N as u64, "{start}");
    assert_eq!(stop["sent"], (N - 1) as u64, "{stop}");
    assert_eq!(stop["failed"], 1, "{stop}");
    assert_eq!(stop["reason"], "finished", "{stop}");
    assert!(stop["timestamp"].is_string(), "{stop}");
    for e in &events {
        let line = e.to_string();
        assert!(!line.contains('@') && !line.contains("C00000"), "{line}");
    }
    // The journal's start marker carries the same run id.
    let journal = std::fs::read_to_string(c.journal()).unwrap();
    let marker = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "run" && v["event"] == "start")
        .expect("a start marker");
    assert_eq!(marker["run"], run.as_str(), "{marker}");
}

/// Sends a request head of 8 MiB without end: whether the endpoint cut it off (a write
/// failed because it closed, or it answered 431) and what it answered.
fn flood(port: u16) -> (bool, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX-Long: ");
    let chunk = vec![b'a'; 16 * 1024];
    let mut write_failed = false;
    for _ in 0..(8 * 1024 * 1024 / chunk.len()) {
        if s.write_all(&chunk).is_err() {
            write_failed = true;
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    (write_failed || answer.starts_with("HTTP/1.1 431"), answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_that_floods_the_endpoint_is_cut_off_and_the_send_goes_on() {
    const N: usize = 8;
    let c = TestCampaign::new(N, |cfg| cfg);
    let server =
        SmtpServer::start(Script::new().delay(Command::DataEnd, Duration::from_millis(300))).await;
    let (child, port, _rest) = spawn_with_metrics(&c, &server.url(), &["--concurrency", "2"]);
    let ((cut_off, answer), after) = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(port, "/metrics").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let answer = flood(port);
        (answer, get(port, "/metrics"))
    })
    .await
    .unwrap();
    assert!(cut_off, "a header without end was read on: {answer:.200}");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(server.received_count(), N);
    if let Some((status, body)) = after {
        assert!(
            status.contains(" 200") && body.contains("# EOF"),
            "{status}"
        );
    }
}
