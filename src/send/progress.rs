//! Progress while sending: an indicatif bar on a terminal (sent / deferred / failed, msg/s,
//! ETA), a plain line every few seconds when the output is a log file.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::send::shutdown::Shutdown;
use crate::util::format::format_duration;

pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Shutdown,
}

impl Progress {
    /// Starts reporting. `counts` returns (sent, deferred, failed) so far in this run; `total`
    /// is the number of messages this run expects to send, when known.
    pub fn start(
        enabled: bool,
        total: Option<u64>,
        counts: impl Fn() -> (u64, u64, u64) + Send + Sync + 'static,
    ) -> Progress {
        let stop = Shutdown::default();
        if !enabled {
            return Progress { task: None, stop };
        }
        let done = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let terminal = std::io::stderr().is_terminal();
            let bar = terminal.then(|| {
                let bar = match total {
                    Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                    None => ProgressBar::new_spinner(),
                };
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} {msg} · {per_sec} · ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            });
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
                match &bar {
                    Some(bar) => {
                        bar.set_position(sent + deferred + failed);
                        bar.set_message(format!(
                            "sent {sent} · deferred {deferred} · failed {failed}"
                        ));
                    }
                    None => {
                        let eta = total
                            .filter(|_| rate > 0.0)
                            .map(|t| {
                                let left = t.saturating_sub(sent + deferred + failed) as f64 / rate;
                                format!(", ETA {}", format_duration(left))
                            })
                            .unwrap_or_default();
                        eprintln!(
                            "progress: sent {sent}, deferred {deferred}, failed {failed}, {rate:.1} msg/s{eta}"
                        );
                    }
                }
                if stopped {
                    if let Some(bar) = &bar {
                        bar.finish();
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
        self.stop.trigger("finished");
        if let Some(t) = self.task {
            let _ = t.await;
        }
    }
}
