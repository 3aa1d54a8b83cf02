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
        groups: impl Fn() -> Vec<(String, u64)> + Send + Sync + 'static,
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

/// `docomo 120 at 5.0/s · default 2,000 at 150.0/s`: what each group with messages has sent
/// in `secs`, when there is more than the default group to tell apart.
fn group_line(groups: &[(String, u64)], secs: f64) -> Option<String> {
    if !groups
        .iter()
        .any(|(name, _)| name != crate::config::DEFAULT_GROUP)
    {
        return None;
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(name, sent)| {
            format!(
                "{name} {} at {:.1}/s",
                crate::util::format::group_digits(*sent),
                *sent as f64 / secs
            )
        })
        .collect();
    Some(parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_shown_only_beside_the_default_one() {
        assert_eq!(group_line(&[("default".into(), 10)], 1.0), None);
        assert_eq!(
            group_line(&[("default".into(), 3000), ("docomo".into(), 50)], 10.0).as_deref(),
            Some("default 3,000 at 300.0/s · docomo 50 at 5.0/s")
        );
    }
}
