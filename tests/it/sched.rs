//! The scheduler: a queue per destination group, send windows and the daily cap, on the real
//! binary against the scripted relay.
//!
//! Timing is asserted only in the forms a loaded machine cannot break (see `send_rate`): a
//! limiter's upper bound, exactly (load only delays a message, so the k-th message of a group
//! can never arrive before the group's limiter could have let it go), and orders of arrival
//! whose margins are seconds, not milliseconds.

use std::time::Duration;

use crate::support::campaign::{ConfigEdit, HEADER, TestCampaign, row, text};
use crate::support::smtp_server::{Script, SmtpServer};
use tokio::time::Instant;

/// Timers and the two clocks (governor's and the server's) may disagree by a little.
const CLOCK_SLACK: Duration = Duration::from_millis(5);

/// The sample config's docomo group.
const DOCOMO: &str = "name = \"docomo\"\ndomains = [\"docomo.ne.jp\"]\nrate = 5\nburst = 5\n";

/// A list of `n` generated rows; those for which `docomo(i)` holds are docomo addresses.
fn list(n: usize, docomo: impl Fn(usize) -> bool) -> String {
    let mut csv = format!("{HEADER}\n");
    for i in 1..=n {
        let r = row(i);
        if docomo(i) {
            csv.push_str(&r.replace("@example.jp", "@docomo.ne.jp"));
        } else {
            csv.push_str(&r);
        }
        csv.push('\n');
    }
    csv
}

/// Fails if any of `t` (sorted) arrived before a limiter of `rate`/s with bursts of `burst`,
/// started no earlier than `spawned`, could have let it go.
fn assert_never_early(what: &str, t: &[Instant], spawned: Instant, rate: f64, burst: usize) {
    for (k, &arrival) in t.iter().enumerate() {
        let periods = (k + 1).saturating_sub(burst);
        let earliest = spawned + Duration::from_secs_f64(periods as f64 / rate);
        assert!(
            arrival + CLOCK_SLACK >= earliest,
            "{what}: message {} arrived {:?} after the start, {:?} before {rate}/s with a burst \
             of {burst} allows it",
            k + 1,
            arrival - spawned,
            earliest - arrival
        );
    }
}

/// Arrival times of the messages to docomo and to everyone else, each sorted.
fn arrivals(server: &SmtpServer) -> (Vec<Instant>, Vec<Instant>) {
    let (mut docomo, mut others) = (Vec::new(), Vec::new());
    for r in server.received() {
        if r.recipients.iter().any(|a| a.ends_with("@docomo.ne.jp")) {
            docomo.push(r.received_at);
        } else {
            others.push(r.received_at);
        }
    }
    docomo.sort();
    others.sort();
    (docomo, others)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_at_its_limit_holds_back_only_its_own_rows() {
    // One row in five is docomo, limited to 1/s; the others go at the global 20/s.
    const N: usize = 50;
    let c = TestCampaign::with_list(&list(N, |i| i % 5 == 0), |cfg| {
        cfg.set(
            DOCOMO,
            "name = \"docomo\"\ndomains = [\"docomo.ne.jp\"]\nrate = 1\nburst = 1\n",
        )
    });
    let server = SmtpServer::start(Script::new()).await;
    let spawned = Instant::now();
    let out = c
        .run_async(&[
            "send",
            "--smtp",
            &server.url(),
            "--rate",
            "20",
            "--concurrency",
            "4",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (docomo, others) = arrivals(&server);
    assert_eq!((docomo.len(), others.len()), (10, 40), "{}", text(&out));
    // No group above its rate and burst, and the whole run within the global limit.
    assert_never_early("docomo", &docomo, spawned, 1.0, 1);
    let mut all = [docomo.clone(), others.clone()].concat();
    all.sort();
    assert_never_early("global", &all, spawned, 20.0, 10);
    // The limiter holds docomo's 6th message to at least 5 s after the start; the 40 others
    // need 1.5 s at the global rate. Queued behind docomo (one queue in list order) a third
    // of them would still be waiting then.
    let last_other = others[others.len() - 1];
    assert!(
        last_other < docomo[5],
        "the last of the others arrived {:?} after the start, after docomo's 6th ({:?}): \
         docomo's limit held them back",
        last_other - spawned,
        docomo[5] - spawned
    );
    // The summary tells the groups apart.
    let summary = String::from_utf8_lossy(&out.stdout);
    let line = |group: &str| {
        summary
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{group} ")))
            .unwrap_or_else(|| panic!("no line for {group}\n{}", text(&out)))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(summary.contains("by destination group:"), "{}", text(&out));
    assert_eq!(line("docomo"), "docomo 10 sent · 0 failed · 0 deferred");
    assert_eq!(line("default"), "default 40 sent · 0 failed · 0 deferred");
    // The progress (plain lines when stderr is not a terminal; always one at the end) tells
    // each group's count, rate and what is left, and the slowest group's ETA.
    let progress = String::from_utf8_lossy(&out.stderr);
    let by_group = progress
        .lines()
        .rfind(|l| l.starts_with("progress by group: "))
        .unwrap_or_else(|| panic!("no progress by group\n{}", text(&out)));
    assert!(
        by_group.contains("docomo 10 at ") && by_group.contains("default 40 at "),
        "{by_group}"
    );
    // And so does `status`, from the journal.
    let status = c.run(&["status"]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("by destination group:"), "{}", text(&status));
    for (group, sent) in [("docomo", 10), ("default", 40)] {
        assert!(
            shown
                .lines()
                .any(|l| l.trim_start().starts_with(group) && l.ends_with(&format!("sent {sent}"))),
            "{group}: {}",
            text(&status)
        );
    }
    eprintln!(
        "others done {:?} after the start; docomo's 6th at {:?}, its 10th at {:?}",
        last_other - spawned,
        docomo[5] - spawned,
        docomo[9] - spawned
    );
}

// ---- send windows and the daily cap ----
//
// Windows are chosen relative to the real time in Tokyo, with margins of an hour, so that the
// code path is the one an operator runs and no fake clock is needed.

const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The hour it is now in Tokyo.
fn tokyo_hour() -> u32 {
    let now =
        jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
    now.hour() as u32
}

/// `[send.window]` in Tokyo with these hours, every day, added to the sample config.
fn with_window(cfg: String, hours: &str) -> String {
    cfg.set(
        "[[send.destinations]]\nname = \"docomo\"",
        &format!(
            "[send.window]\ntimezone = \"Asia/Tokyo\"\nhours = \"{hours}\"\ndays = \"mon-sun\"\n\n\
             [[send.destinations]]\nname = \"docomo\""
        ),
    )
}

/// Hours that exclude now by at least an hour on either side.
fn hours_excluding_now() -> String {
    let h = tokyo_hour();
    format!("{:02}:00-{:02}:00", (h + 2) % 24, (h + 3) % 24)
}

/// Runs `send` in the background, collecting its stderr line by line.
fn spawn_send(
    c: &TestCampaign,
    url: &str,
) -> (
    std::process::Child,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::io::BufRead;
    let mut child = c.spawn(&["send", "--smtp", url, "--rate", "0", "-q"]);
    let stderr = child.stderr.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    (child, seen)
}

/// Waits (bounded) until `seen` contains `words`.
async fn wait_for_line(seen: &std::sync::Mutex<String>, words: &str) -> String {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let s = seen.lock().unwrap().clone();
        if s.contains(words) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "no {words:?} within {RUN_LIMIT:?}; stderr:\n{s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_the_window_nothing_goes_the_wait_is_said_and_ctrl_c_leaves_it_resumable() {
    let hours = hours_excluding_now();
    let c = TestCampaign::new(6, |cfg| with_window(cfg, &hours));
    let server = SmtpServer::start(Script::new()).await;
    let (child, seen) = spawn_send(&c, &server.url());
    let said = wait_for_line(&seen, "waiting for the send window: ").await;
    // `HH:00 JST, in 1h 59m` or so: the opening in Tokyo time and how long until it.
    let opening = &hours[..5];
    assert!(said.contains(&format!("{opening} JST, in ")), "{said}");
    interrupt(&child);
    let out = crate::support::campaign::wait_bounded(child, RUN_LIMIT, "send").await;
    assert_eq!(out.status.code(), Some(4), "resumable\n{}", text(&out));
    assert_eq!(
        server.received_count(),
        0,
        "nothing is sent outside the window"
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("interrupted by signal"), "{}", text(&out));
    assert!(
        summary.contains("6 recipients still need a message"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn within_the_window_everyone_is_sent_to() {
    let h = tokyo_hour();
    let hours = format!("{:02}:00-{:02}:00", (h + 23) % 24, (h + 2) % 24);
    let c = TestCampaign::new(6, |cfg| with_window(cfg, &hours));
    let server = SmtpServer::start(Script::new()).await;
    let out = c
        .run_async(&["send", "--smtp", &server.url(), "--rate", "0", "-q"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{hours}\n{}", text(&out));
    assert_eq!(server.received_count(), 6);
    assert!(
        !text(&out).contains("waiting for the send window"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_across_midnight_that_includes_now_sends() {
    // Afternoon: a window from an hour ago to 06:00 tomorrow; morning: from 20:00 yesterday to
    // an hour from now. Either way the end is before the start.
    let h = tokyo_hour();
    let hours = if h >= 12 {
        format!("{:02}:00-06:00", h - 1)
    } else {
        format!("20:00-{:02}:00", h + 1)
    };
    let c = TestCampaign::new(4, |cfg| with_window(cfg, &hours));
    let server = SmtpServer::start(Script::new()).await;
    let out = c
        .run_async(&["send", "--smtp", &server.url(), "--rate", "0", "-q"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{hours}\n{}", text(&out));
    assert_eq!(server.received_count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brand_outside_its_window_waits_while_the_others_go() {
    // Rows cycle through kaede, hoshizora, umineko (row i: BRANDS[i % 3]); hoshizora's window
    // excludes now.
    const N: usize = 12;
    let hours = hours_excluding_now();
    let c = TestCampaign::new(N, |cfg| {
        cfg.set(
            "[brands.hoshizora.hotline]",
            &format!(
                "[brands.hoshizora.send_window]\nhours = \"{hours}\"\n[brands.hoshizora.hotline]"
            ),
        )
    });
    let server = SmtpServer::start(Script::new()).await;
    let (child, seen) = spawn_send(&c, &server.url());
    let hoshizora = (1..=N).filter(|i| i % 3 == 1).count();
    assert!(
        server.wait_for_messages(N - hoshizora, RUN_LIMIT).await,
        "the other brands' recipients were not all sent"
    );
    wait_for_line(&seen, "waiting for the send window: ").await;
    interrupt(&child);
    let out = crate::support::campaign::wait_bounded(child, RUN_LIMIT, "send").await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let received = server.received();
    assert_eq!(received.len(), N - hoshizora);
    for r in &received {
        let row = crate::support::campaign::row_of(&r.recipients[0]) as usize;
        assert_ne!(
            row % 3,
            1,
            "a hoshizora recipient (row {row}) was sent outside its window"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("{hoshizora} recipients still need a message")),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_limit_counts_across_runs_and_stops_resumable() {
    // Not across midnight in Tokyo, where the day's count starts afresh.
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let now = jiff::Timestamp::now().to_zoned_datetime(tz);
    if now.hour() == 23 && now.minute() >= 58 {
        tokio::time::sleep(Duration::from_secs(180)).await;
    }
    let c = TestCampaign::new(8, |cfg| {
        cfg.set("# daily_limit = 200000", "daily_limit = 5")
    });
    let server = SmtpServer::start(Script::new()).await;
    let url = server.url();
    let first = c
        .run_async(&["send", "--smtp", &url, "--rate", "0", "-q", "--limit", "3"])
        .await;
    assert_eq!(first.status.code(), Some(4), "{}", text(&first));
    assert_eq!(server.received_count(), 3);
    let second = c
        .run_async(&["send", "--smtp", &url, "--rate", "0", "-q"])
        .await;
    assert_eq!(
        second.status.code(),
        Some(4),
        "resumable\n{}",
        text(&second)
    );
    assert_eq!(server.received_count(), 5, "3 + 2 more make the day's 5");
    let summary = String::from_utf8_lossy(&second.stdout);
    assert!(
        summary.contains(
            "daily limit of 5 notices reached (send.daily_limit); sending may go on from "
        ) && summary.contains("00:00 JST"),
        "{}",
        text(&second)
    );
    assert!(
        summary.contains("3 recipients still need a message"),
        "{}",
        text(&second)
    );
    // A third run the same day sends nothing more.
    let third = c
        .run_async(&["send", "--smtp", &url, "--rate", "0", "-q"])
        .await;
    assert_eq!(third.status.code(), Some(4), "{}", text(&third));
    assert_eq!(server.received_count(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_in_a_limited_group_is_refused_not_sent_twice() {
    // Rows 3 and 6 (both kaede) share a docomo address: the second is a duplicate, which only
    // the lead cursor knows; the docomo cursor must not send it.
    let mut csv = list(6, |i| i == 3);
    csv = csv.replace("C000006,user6@example.jp", "C000006,user3@docomo.ne.jp");
    let c = TestCampaign::with_list(&csv, |cfg| cfg);
    let server = SmtpServer::start(Script::new()).await;
    let out = c
        .run_async(&["send", "--smtp", &server.url(), "--rate", "0", "-q"])
        .await;
    let to_docomo = server
        .received()
        .iter()
        .filter(|r| r.recipients.iter().any(|a| a == "user3@docomo.ne.jp"))
        .count();
    assert_eq!(to_docomo, 1, "{}", text(&out));
    assert_eq!(server.received_count(), 5, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1  refused rows"),
        "{}",
        text(&out)
    );
}
