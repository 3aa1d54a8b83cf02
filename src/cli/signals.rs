//! Ctrl-C and SIGTERM: the first asks the run to stop safely (no new messages, in-flight ones
//! finish, the journal is flushed); the second exits at once — the journal is still
//! consistent, because every attempt was made durable before its message was sent.
//!
//! The stop comes before any word about it, and the words are written without `eprintln!`:
//! with stderr a closed pipe (`tsuchi send 2>&1 | tee log` after `tee` died) `eprintln!`
//! panics, and a panic here would leave the run unstoppable but by SIGKILL.

use std::io::Write;

use crate::send::shutdown::{Shutdown, StopReason};

/// Installs the handlers on the current tokio runtime.
pub fn install(shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            signals += 1;
            if signals == 1 {
                shutdown.trigger(StopReason::Interrupted);
                let _ = writeln!(
                    std::io::stderr(),
                    "\nstopping: finishing messages in flight and flushing the journal \
                     (press Ctrl-C again to exit at once)"
                );
            } else {
                shutdown.run_exit_hooks();
                let _ = writeln!(
                    std::io::stderr(),
                    "exiting at once; run `tsuchi send` again to resume"
                );
                std::process::exit(crate::cli::EXIT_RESUMABLE);
            }
        }
    });
}
