//! `tsuchi send --rate`: the global limit (rate with an initial burst) and the per-domain
//! limits of `[send.domain_rates]`, measured from the times the SMTP server accepted each
//! message. governor runs on real time, so these tests take a few seconds by design; the
//! tolerances are wide enough for scheduling and fsync jitter (tens of milliseconds) and still
//! catch a limiter that is off by a tenth.

use std::time::Duration;

use crate::support::campaign::{ConfigEdit, TestCampaign, text};
use crate::support::smtp_server::{Script, SmtpServer};
use tokio::time::Instant;

/// Acceptance times, sorted.
fn times(server: &SmtpServer) -> Vec<Instant> {
    let mut t: Vec<Instant> = server.received().iter().map(|r| r.received_at).collect();
    t.sort();
    t
}

/// The most messages accepted within any window of length `window` (starting at a message).
fn max_in_window(t: &[Instant], window: Duration) -> usize {
    (0..t.len())
        .map(|i| t[i..].iter().take_while(|&&x| x - t[i] < window).count())
        .max()
        .unwrap_or(0)
}

/// Messages per second from the first to the last of `t` (intervals over elapsed time).
fn achieved_rate(t: &[Instant]) -> f64 {
    (t.len() - 1) as f64 / (t[t.len() - 1] - t[0]).as_secs_f64()
}

fn assert_within(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= want * tolerance,
        "{what}: {got:.3}, expected {want:.3} ± {:.0} %",
        tolerance * 100.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_global_rate_holds_after_the_initial_burst() {
    const N: usize = 100;
    const RATE: f64 = 20.0;
    const BURST: usize = 10; // config.toml's default
    let c = TestCampaign::new(N, |cfg| {
        assert!(cfg.contains(&format!("burst = {BURST}\n")));
        cfg
    });
    let server = SmtpServer::start(Script::new()).await;
    let out = c
        .run_async(&[
            "send",
            "--smtp",
            &server.url(),
            "--rate",
            "20",
            "--concurrency",
            "4",
            "-q",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = times(&server);
    assert_eq!(t.len(), N);

    // The burst goes at once; everything after it is paced: (N − burst) / rate seconds in all
    // (without the burst it would be (N − 1) / rate, 10 % more).
    let total = (t[N - 1] - t[0]).as_secs_f64();
    assert_within("whole run (s)", total, (N - BURST) as f64 / RATE, 0.05);
    // The achieved rate once the burst is spent (the limiter refills while the burst is under
    // way, so the first half second is left out): both ends of the window are paced messages.
    let settled: Vec<Instant> = t
        .iter()
        .copied()
        .filter(|&x| x - t[0] >= Duration::from_millis(500))
        .collect();
    let rate = achieved_rate(&settled);
    assert_within("rate after the burst (msg/s)", rate, RATE, 0.05);
    // The limiter grants at most rate + burst permits in any second. Arrival times at the
    // server carry a few milliseconds of scheduling jitter, which can pull one more message
    // into a window that ends exactly on a permit: allow that one, and no more.
    let peak = max_in_window(&t, Duration::from_secs(1));
    assert!(
        peak <= RATE as usize + BURST + 1,
        "{peak} messages within one second (limit {RATE} + burst {BURST}, + 1 for jitter)"
    );
    eprintln!(
        "rate {RATE}/s burst {BURST}: {N} messages in {total:.3} s, {rate:.2} msg/s after the burst, \
         peak {peak} per second"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_rate_holds_that_domain_to_its_limit() {
    // Every generated recipient is userN@example.jp; the global rate is unlimited.
    const N: usize = 21;
    const DOMAIN_RATE: f64 = 5.0;
    let c = TestCampaign::new(N, |cfg| {
        assert!(cfg.contains("[send.domain_rates]\n"));
        cfg.set(
            "[send.domain_rates]\n",
            "[send.domain_rates]\n\"example.jp\" = 5\n",
        )
    });
    let server = SmtpServer::start(Script::new()).await;
    let out = c
        .run_async(&[
            "send",
            "--smtp",
            &server.url(),
            "--rate",
            "0",
            "--concurrency",
            "4",
            "-q",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = times(&server);
    assert_eq!(t.len(), N);
    // Domain limits have a burst of 1: one message every 1/rate seconds from the start, so
    // (N − 1) / rate seconds in all.
    let total = (t[N - 1] - t[0]).as_secs_f64();
    let rate = achieved_rate(&t);
    assert_within("example.jp rate (msg/s)", rate, DOMAIN_RATE, 0.05);
    let peak = max_in_window(&t, Duration::from_secs(1));
    assert!(
        peak <= DOMAIN_RATE as usize + 1,
        "{peak} messages to example.jp within one second"
    );
    let min_gap = t.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    eprintln!(
        "domain rate {DOMAIN_RATE}/s: {N} messages in {total:.3} s, {rate:.2} msg/s, \
         peak {peak} per second, min gap {min_gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unlimited_session_is_not_held_back_by_the_network_stack() {
    // One session, no rate limit, a relay that answers at once: the time between two
    // messages on the connection is the sender's own work (render, fsync, SMTP round trips),
    // a few milliseconds. Linux delays an ACK by 40 ms; anything near that is a stall.
    const N: usize = 40;
    let c = TestCampaign::new(N, |cfg| cfg);
    let server = SmtpServer::start(Script::new()).await;
    let out = c
        .run_async(&[
            "send",
            "--smtp",
            &server.url(),
            "--rate",
            "0",
            "--concurrency",
            "1",
            "-q",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(server.connections(), 1, "one session carries every message");
    let t = times(&server);
    let mut gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median < Duration::from_millis(20),
        "median time between messages on one connection: {median:?} ({:.0} msg/s)",
        1.0 / median.as_secs_f64()
    );
}
