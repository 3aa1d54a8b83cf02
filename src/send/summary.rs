//! A run's summary: its counts as the workers keep them ([`Counters`]), as the run returns
//! them ([`RunReport`]), and as the operator reads them at the end ([`print_report`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;

use crate::config::DestinationGroups;
use crate::send::shutdown::StopReason;

/// How a run ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Messages accepted by the transport in this run.
    pub sent: u64,
    /// Permanent failures in this run.
    pub failed: u64,
    /// Recipients left deferred after their attempts in this run.
    pub deferred: u64,
    /// Rows refused by validation (never sent).
    pub refused: u64,
    /// Valid rows a follow-up campaign does not mail (their class is not in
    /// `campaign.follow_up.send_to`); journaled as skipped.
    pub skipped: u64,
    /// Recipients already done before this run (sent in an earlier run).
    pub already_done: u64,
    /// Recipients re-sent because an earlier run died mid-transaction with them.
    pub possible_duplicates: Vec<String>,
    /// Why the run stopped early (signal, outage, limit), if it did.
    pub stopped: Option<StopReason>,
    /// The relay refused the session itself (a 5xx to the greeting, EHLO, STARTTLS, AUTH or
    /// MAIL FROM): a relay error, not the recipients'. The run stopped; nobody was marked
    /// failed for it.
    pub relay_refused: Option<String>,
    /// Rows still needing a message when the run ended.
    pub remaining: u64,
    /// Recipients whose address was refused permanently, in this or earlier runs.
    pub failed_total: u64,
    /// A shard's run stopped before it had read the whole list (so `remaining` counts only the
    /// part it read; without a shard it counts the whole list).
    pub list_unfinished: bool,
    /// Where the journal is.
    pub journal: PathBuf,
    /// This run's outcomes per destination group that had any, in the groups' order.
    pub by_group: Vec<GroupReport>,
}

/// One destination group's outcomes in a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub name: String,
    pub sent: u64,
    pub failed: u64,
    pub deferred: u64,
}

impl RunReport {
    /// True when another `send` has something to do: recipients not yet sent or deferred, a
    /// list not read to its end, or a stop other than `--limit`.
    pub fn work_left(&self) -> bool {
        let interrupted = self
            .stopped
            .as_ref()
            .is_some_and(|r| *r != StopReason::LimitReached);
        self.remaining > 0 || self.deferred > 0 || self.list_unfinished || interrupted
    }
}

/// What the workers count as they go, read by the progress line and, at the end, the report.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) deferred: AtomicU64,
    pub(super) retries: AtomicU64,
    /// Rows refused when their message was built.
    pub(super) refused: AtomicU64,
    /// Recipients re-sent after an attempt whose outcome is unknown.
    pub(super) possible_duplicates: std::sync::Mutex<Vec<String>>,
    /// The first refusal of the session by the relay.
    pub(super) relay_refused: std::sync::Mutex<Option<String>>,
    /// The same outcomes by destination group (`DestinationGroups::index_of`).
    pub(super) groups: Vec<GroupCounter>,
    /// Sent, deferred and failed by destination group, and messages in flight, for metrics.
    pub(super) by_destination: super::metrics::ByDestination,
}

/// What a destination group's messages came to.
#[derive(Default)]
pub(super) struct GroupCounter {
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) deferred: AtomicU64,
}

/// An outcome counted by group.
#[derive(Clone, Copy)]
pub(super) enum Tally {
    Sent,
    Failed,
    Deferred,
}

impl Counters {
    /// Counters for the campaign's destination groups.
    pub(super) fn for_groups(groups: &DestinationGroups) -> Counters {
        Counters {
            groups: (0..groups.groups().len())
                .map(|_| GroupCounter::default())
                .collect(),
            by_destination: super::metrics::ByDestination::new(groups),
            ..Counters::default()
        }
    }

    /// Counts an outcome of a message to `group` through `relay` (the run's totals are
    /// counted apart): the summary's groups and the metrics' labels, from one call.
    pub(super) fn tally(&self, group: usize, tally: Tally, relay: Option<&str>) {
        self.by_destination.count(group, relay, tally);
        if let Some(g) = self.groups.get(group) {
            match tally {
                Tally::Sent => &g.sent,
                Tally::Failed => &g.failed,
                Tally::Deferred => &g.deferred,
            }
            .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Each group's outcomes so far, with its name, for groups that had any.
    pub(super) fn by_group(&self, names: &[String]) -> Vec<GroupReport> {
        self.per_group(names)
            .into_iter()
            .filter(|g| g.sent + g.failed + g.deferred > 0)
            .collect()
    }

    /// Every group's outcomes so far, in the groups' order.
    pub(super) fn per_group(&self, names: &[String]) -> Vec<GroupReport> {
        self.groups
            .iter()
            .zip(names)
            .map(|(g, name)| GroupReport {
                name: name.clone(),
                sent: g.sent.load(Ordering::Relaxed),
                failed: g.failed.load(Ordering::Relaxed),
                deferred: g.deferred.load(Ordering::Relaxed),
            })
            .collect()
    }
    pub(super) fn possible_duplicate(&self, id: &str) {
        let mut list = self
            .possible_duplicates
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|x| x == id) {
            list.push(id.to_string());
        }
    }
}

pub(super) fn counters_view(
    c: &Arc<Counters>,
) -> impl Fn() -> (u64, u64, u64) + Send + Sync + 'static {
    let c = c.clone();
    move || {
        (
            c.sent.load(Ordering::Relaxed),
            c.deferred.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
        )
    }
}

/// Prints the end-of-run summary and how to resume.
pub fn print_report(report: &RunReport, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    writeln!(out)?;
    let what = if dry_run {
        "written to the outbox"
    } else {
        "sent"
    };
    writeln!(out, "{:>10}  {what}", report.sent)?;
    writeln!(out, "{:>10}  failed permanently", report.failed)?;
    if report.failed_total > report.failed {
        writeln!(
            out,
            "{:>10}  failed permanently in earlier runs (not retried without --retry-failed)",
            report.failed_total - report.failed
        )?;
    }
    writeln!(
        out,
        "{:>10}  deferred (temporary failures; retried on the next run)",
        report.deferred
    )?;
    writeln!(
        out,
        "{:>10}  refused rows (see `tsuchi check`)",
        report.refused
    )?;
    if report.skipped > 0 {
        writeln!(
            out,
            "{:>10}  skipped by campaign.follow_up.send_to (see `tsuchi check`)",
            report.skipped
        )?;
    }
    writeln!(
        out,
        "{:>10}  already done in earlier runs",
        report.already_done
    )?;
    if !report.possible_duplicates.is_empty() {
        writeln!(
            out,
            "{:>10}  re-sent after a crash mid-transaction (possible duplicates): {}",
            report.possible_duplicates.len(),
            report.possible_duplicates.join(", ")
        )?;
    }
    // By group only when there is more than the default group to tell apart.
    if report
        .by_group
        .iter()
        .any(|g| g.name != crate::config::DEFAULT_GROUP)
    {
        writeln!(out, "by destination group:")?;
        let width = report
            .by_group
            .iter()
            .map(|g| g.name.len())
            .max()
            .unwrap_or(0);
        for g in &report.by_group {
            writeln!(
                out,
                "  {:<width$}  {:>10} {what} · {} failed · {} deferred",
                g.name, g.sent, g.failed, g.deferred
            )?;
        }
    }
    writeln!(out, "journal: {}", report.journal.display())?;
    if let Some(reason) = &report.stopped {
        writeln!(out, "stopped: {reason}")?;
    }
    if report.list_unfinished {
        writeln!(
            out,
            "the run stopped before the end of the list: run the same `tsuchi send` command \
             again to resume."
        )?;
    } else if report.remaining > 0 {
        writeln!(
            out,
            "{} recipients still need a message: run the same `tsuchi send` command again to resume.",
            report.remaining
        )?;
    }
    Ok(())
}
