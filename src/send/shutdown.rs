//! A stop signal every task of a run holds: set once (first Ctrl-C or SIGTERM, a relay outage
//! past its limit, a journal that can no longer be written), observed by the producer (which
//! stops taking rows) and by the workers (which finish the message in hand, then stop).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

type Hook = Box<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
    reason: Arc<Mutex<Option<String>>>,
    exit_hooks: Arc<Mutex<Vec<Hook>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: Arc::new(tx),
            rx,
            reason: Arc::new(Mutex::new(None)),
            exit_hooks: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl Shutdown {
    /// Asks every task to stop; the first reason given is kept.
    pub fn trigger(&self, reason: impl Into<String>) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason.into());
        }
        let _ = self.tx.send(true);
    }

    /// Registers what must happen even on an immediate exit (flushing the journal).
    pub fn on_immediate_exit(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.exit_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
    }

    /// Runs the immediate-exit hooks; the caller exits right after.
    pub fn run_exit_hooks(&self) {
        for hook in self
            .exit_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            hook();
        }
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves once a stop has been asked for.
    pub async fn triggered(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `d` unless a stop comes first; returns false when interrupted.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.triggered() => false,
        }
    }
}
