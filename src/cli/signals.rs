//! Ctrl-C and SIGTERM: the first asks the run to stop safely (no new messages, in-flight ones
//! finish, the journal is flushed); the second exits at once — the journal is still
//! consistent, because every attempt was made durable before its message was sent.

use crate::send::shutdown::Shutdown;

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
                eprintln!(
                    "\nstopping: finishing messages in flight and flushing the journal \
                     (press Ctrl-C again to exit at once)"
                );
                shutdown.trigger("interrupted by signal");
            } else {
                shutdown.run_exit_hooks();
                eprintln!("exiting at once; run `tsuchi send` again to resume");
                std::process::exit(crate::cli::EXIT_RESUMABLE);
            }
        }
    });
}
