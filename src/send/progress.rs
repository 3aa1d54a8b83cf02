//! Progress while sending: an indicatif bar on a terminal (sent / deferred / failed, msg/s,
//! ETA, and what each destination group has sent at what rate), a plain line every few
//! seconds when the output is a log file. While the relay is
//! down, both say so instead of a rate and an ETA that mean nothing then.
//!
//! Nothing here may stop a run: a write to a closed stderr (`tsuchi send 2>&1 | tee log` after
//! `tee` died) is ignored, and the bar stays where the run stopped (a stopped run has not sent
//! to everyone).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::send::shutdown::{Shutdown, StopReason};
use crate::util::format::format_duration;

/// One line for the operator beside the progress (a wait, a stop for the day), on stderr
/// like the progress itself.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Shutdown,
}

impl Progress {
    /// Starts reporting. `counts` returns (sent, deferred, failed) so far in this run; `total`
    /// is the number of messages this run expects to send, when known; `outage` says, while
    /// the relay is down, what to show instead of the rate (`relay down (…), probing; …`).
    pub fn start(
        enabled: bool,
        total: Option<u64>,
        counts: impl Fn() -> (u64, u64, u64) + Send + Sync + 'static,
        outage: impl Fn() -> Option<String> + Send + Sync + 'static,
        groups: impl Fn() -> Vec<GroupProgress> + Send + Sync + 'static,
    ) -> Progress {
        let stop = Shutdown::default();
        if !enabled {
            return Progress { task: None, stop };
        }
        let done = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let terminal = std::io::stderr().is_terminal();
            let style = |template: &str| {
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
            };
            let moving = style("{bar:30} {pos}/{len} {msg} · {per_sec} · ETA {eta}");
            let stalled = style("{bar:30} {pos}/{len} {msg}");
            let bar = terminal.then(|| {
                let bar = match total {
                    Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                    None => ProgressBar::new_spinner(),
                };
                bar.set_style(moving.clone());
                bar
            });
            let mut was_down = false;
            let interval = if terminal {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            };
            loop {
                let stopped = !done.sleep(interval).await;
                let (sent, deferred, failed) = counts();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = (sent + failed) as f64 / secs;
                let down = outage();
                let by_group = group_line(&groups(), secs);
                match &bar {
                    Some(bar) => {
                        if down.is_some() != was_down {
                            was_down = down.is_some();
                            bar.set_style(if was_down {
                                stalled.clone()
                            } else {
                                moving.clone()
                            });
                        }
                        bar.set_position(sent + deferred + failed);
                        let counts = format!("sent {sent} · deferred {deferred} · failed {failed}");
                        let counts = match &by_group {
                            Some(groups) => format!("{counts} · {groups}"),
                            None => counts,
                        };
                        bar.set_message(match &down {
                            Some(line) => format!("{counts} · {line}"),
                            None => counts,
                        });
                    }
                    None if down.is_some() => {
                        let line = down.unwrap_or_default();
                        let _ = writeln!(
                            std::io::stderr(),
                            "progress: sent {sent}, deferred {deferred}, failed {failed}; {line}"
                        );
                    }
                    None => {
                        let eta = total
                            .filter(|_| rate > 0.0)
                            .map(|t| {
                                let left = t.saturating_sub(sent + deferred + failed) as f64 / rate;
                                format!(", ETA {}", format_duration(left))
                            })
                            .unwrap_or_default();
                        let _ = writeln!(
                            std::io::stderr(),
                            "progress: sent {sent}, deferred {deferred}, failed {failed}, {rate:.1} msg/s{eta}"
                        );
                        if let Some(groups) = &by_group {
                            let _ = writeln!(std::io::stderr(), "progress by group: {groups}");
                        }
                    }
                }
                if stopped {
                    if let Some(bar) = &bar {
                        // Not `finish()`, which moves the bar to its end: a run stopped by
                        // Ctrl-C or an outage has not sent to everyone.
                        bar.abandon();
                    }
                    return;
                }
            }
        });
        Progress {
            task: Some(task),
            stop,
        }
    }

    /// Stops reporting (after one last update).
    pub async fn finish(self) {
        self.stop.trigger(StopReason::Finished);
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }
}

/// One destination group's progress.
pub struct GroupProgress {
    pub name: String,
    pub sent: u64,
    /// Recipients of the group still to send in this run, as far as the list has been read.
    pub left: u64,
    /// The whole list has been read: `left` is the group's own, not a lower bound.
    pub complete: bool,
}

/// `docomo 120 at 5.0/s, 3,880 left, ETA 12m 56s · default … · ETA (slowest group) 12m 56s`:
/// each group with work, when there is more than the default group to tell apart. Until the
/// list has been read to its end, what is left is a lower bound (`≥`).
fn group_line(groups: &[GroupProgress], secs: f64) -> Option<String> {
    if !groups
        .iter()
        .any(|g| g.name != crate::config::DEFAULT_GROUP)
    {
        return None;
    }
    let at_least = if groups.iter().all(|g| g.complete) {
        ""
    } else {
        "≥ "
    };
    let mut slowest: Option<f64> = None;
    let mut parts: Vec<String> = groups
        .iter()
        .map(|g| {
            let rate = g.sent as f64 / secs;
            let mut part = format!(
                "{} {} at {rate:.1}/s, {at_least}{} left",
                g.name,
                crate::util::format::group_digits(g.sent),
                crate::util::format::group_digits(g.left)
            );
            if rate > 0.0 && g.left > 0 {
                let eta = g.left as f64 / rate;
                slowest = Some(slowest.map_or(eta, |s: f64| s.max(eta)));
                part.push_str(&format!(", ETA {at_least}{}", format_duration(eta)));
            }
            part
        })
        .collect();
    if let Some(eta) = slowest {
        parts.push(format!(
            "ETA (slowest group) {at_least}{}",
            format_duration(eta)
        ));
    }
    Some(parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, sent: u64, left: u64, complete: bool) -> GroupProgress {
        GroupProgress {
            name: name.into(),
            sent,
            left,
            complete,
        }
    }

    #[test]
    fn groups_are_shown_only_beside_the_default_one_and_the_eta_is_the_slowest_groups() {
        assert!(group_line(&[group("default", 10, 5, true)], 1.0).is_none());
        assert_eq!(
            group_line(
                &[
                    group("default", 3000, 3000, true),
                    group("docomo", 50, 500, true)
                ],
                10.0
            )
            .as_deref(),
            Some(
                "default 3,000 at 300.0/s, 3,000 left, ETA 10s · \
                 docomo 50 at 5.0/s, 500 left, ETA 1m 40s · ETA (slowest group) 1m 40s"
            )
        );
        let partial = group_line(
            &[group("default", 10, 0, false), group("docomo", 0, 7, false)],
            1.0,
        )
        .unwrap();
        assert_eq!(
            partial,
            "default 10 at 10.0/s, ≥ 0 left · docomo 0 at 0.0/s, ≥ 7 left"
        );
    }
}
