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
            "-q",
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
    eprintln!(
        "others done {:?} after the start; docomo's 6th at {:?}, its 10th at {:?}",
        last_other - spawned,
        docomo[5] - spawned,
        docomo[9] - spawned
    );
}
