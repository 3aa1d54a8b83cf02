//! `tsuchi send --rate`: the global limit (rate with an initial burst) and the per-domain
//! limits of `[send.domain_rates]`, measured on the real binary from the times the SMTP server
//! accepted each message.
//!
//! These tests run on a loaded machine (two cores shared by several builds), so they assert
//! only what load cannot break:
//!
//! * **The limiter's upper bound, exactly.** Load can only *delay* a message — the limiter's
//!   permit, the build, the fsync, the SMTP round trips and the server's timestamp all come
//!   after one another — never advance it. So the k-th message (0-based) accepted by the server
//!   can never arrive before `burst` permits plus `k + 1 − burst` periods have passed since the
//!   binary was started: `arrival_k − spawn ≥ (k + 1 − burst) / rate`. A limiter that is off
//!   by a tenth breaks that for the last messages (by ~0.4 s of 4.5), however busy the
//!   machine. (A sliding-window count on arrival times is *not* load-proof: messages delayed
//!   by a stall arrive bunched with later ones, which is how "33 messages within one second"
//!   came to be reported for a limiter that had granted at most 30.)
//! * **A lower bound on speed, generously.** How fast a loaded machine goes is not ours to
//!   promise; the runs must only end within twice their paced duration plus a few seconds, which
//!   still catches a limiter stuck far below its rate.
//!
//! The limiter's exact arithmetic (burst, then one permit per period) is tested on a clock the
//! test controls, in `src/throttle.rs` (governor's `FakeRelativeClock`).

use std::time::Duration;

use crate::support::campaign::{ConfigEdit, TestCampaign, text};
use crate::support::smtp_server::{Script, SmtpServer};
use tokio::time::Instant;

/// Timers and the two clocks (governor's and the server's) may disagree by a little.
const CLOCK_SLACK: Duration = Duration::from_millis(5);

/// Acceptance times, sorted.
fn times(server: &SmtpServer) -> Vec<Instant> {
    let mut t: Vec<Instant> = server.received().iter().map(|r| r.received_at).collect();
    t.sort();
    t
}

/// Fails if any message arrived before a limiter of `rate` per second with bursts of `burst`,
/// started no earlier than `spawned`, could have let it go.
fn assert_never_early(t: &[Instant], spawned: Instant, rate: f64, burst: usize) {
    for (k, &arrival) in t.iter().enumerate() {
        let periods = (k + 1).saturating_sub(burst);
        let earliest = spawned + Duration::from_secs_f64(periods as f64 / rate);
        assert!(
            arrival + CLOCK_SLACK >= earliest,
            "message {} arrived {:?} after the start, {:?} before a limiter of {rate}/s with a \
             burst of {burst} allows it",
            k + 1,
            arrival - spawned,
            earliest - arrival
        );
    }
}

/// Fails if the run took more than twice its paced duration plus five seconds.
fn assert_not_stuck(t: &[Instant], spawned: Instant, paced: Duration) {
    let took = t[t.len() - 1] - spawned;
    let limit = paced * 2 + Duration::from_secs(5);
    assert!(
        took <= limit,
        "{} messages took {took:?}, paced they take {paced:?}",
        t.len()
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
            "-q",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = times(&server);
    assert_eq!(t.len(), N);
    assert_never_early(&t, spawned, RATE, BURST);
    // The burst goes at once, the rest is paced: (N − burst) / rate seconds in all.
    let paced = Duration::from_secs_f64((N - BURST) as f64 / RATE);
    assert_not_stuck(&t, spawned, paced);
    eprintln!(
        "rate {RATE}/s burst {BURST}: {N} messages {:?} after the start (paced: {paced:?})",
        t[N - 1] - spawned
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
    let spawned = Instant::now();
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
    // Domain limits have a burst of 1: one message every 1/rate seconds from the start.
    assert_never_early(&t, spawned, DOMAIN_RATE, 1);
    let paced = Duration::from_secs_f64((N - 1) as f64 / DOMAIN_RATE);
    assert_not_stuck(&t, spawned, paced);
    eprintln!(
        "domain rate {DOMAIN_RATE}/s: {N} messages {:?} after the start (paced: {paced:?})",
        t[N - 1] - spawned
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unlimited_session_is_not_held_back_by_the_network_stack() {
    // One session, no rate limit. lettre writes a message and its final dot in two writes;
    // with Nagle's algorithm on, the dot waits for the relay's delayed ACK (40 ms on Linux),
    // capping a session at ~20 msg/s. What the server sees inside one message's data is
    // immune to load: a busy server finds every line already there (a pause of ~0), while a
    // held-back dot cannot arrive before the ACK timer fires. The time *between* messages,
    // on the other hand, is the sender's own work and grows with load: it is not asserted.
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
    let mut gaps: Vec<Duration> = server.received().iter().map(|r| r.data_gap).collect();
    assert_eq!(gaps.len(), N);
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median < Duration::from_millis(30),
        "median pause inside a message's data: {median:?} (a final dot held back by Nagle's \
         algorithm waits 40 ms for the delayed ACK)"
    );
}
