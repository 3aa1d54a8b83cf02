//! The run's structured events, for operators who ship logs to their SIEM: `send --log-format
//! json` writes them as JSON lines on stderr (the subscriber is the CLI's); without it they go
//! nowhere. Each carries `event`, the run id and counts — never a name, an address or a
//! customer id. The run id is also in the journal's start marker, so a log line leads to its
//! run in the journal.
//!
//! ```text
//! {"timestamp":"…","level":"INFO","event":"run_start","run":"4f1c…","campaign":"kaede-2026-11","expected":7930000,…}
//! {"timestamp":"…","level":"INFO","event":"run_stop","run":"4f1c…","reason":"finished","sent":7930000,…}
//! ```

use crate::config::SendSettings;

use super::summary::RunReport;

/// A new run's id: 16 random hex digits.
pub(super) fn run_id() -> String {
    use rand::RngExt;
    format!("{:016x}", rand::rng().random::<u64>())
}

/// The run started: what it expects to do and at what pace.
pub(super) fn started(run: &str, campaign: &str, expected: Option<u64>, s: &SendSettings) {
    tracing::info!(
        event = "run_start",
        run,
        campaign,
        expected = expected.map(|n| n as i64).unwrap_or(-1),
        rate = s.rate,
        concurrency = s.concurrency as u64,
    );
}

/// The run ended: why, and its counts; at level ERROR when the relay refused the session.
pub(super) fn stopped(run: &str, campaign: &str, report: &RunReport, retries: u64) {
    let reason = report
        .stopped
        .as_ref()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "finished".to_string());
    let duplicates = report.possible_duplicates.len() as u64;
    macro_rules! stop_event {
        ($level:expr) => {
            tracing::event!(
                $level,
                event = "run_stop",
                run,
                campaign,
                reason,
                relay_refused = report.relay_refused.is_some(),
                sent = report.sent,
                failed = report.failed,
                deferred = report.deferred,
                refused = report.refused,
                already_done = report.already_done,
                remaining = report.remaining,
                possible_duplicates = duplicates,
                retries,
            )
        };
    }
    if report.relay_refused.is_some() {
        stop_event!(tracing::Level::ERROR);
    } else {
        stop_event!(tracing::Level::INFO);
    }
}
