//! Where messages go: one small trait with two implementations — the outbox directory of a dry
//! run (`.eml` files; nothing leaves the machine) and the SMTP relay. The campaign pipeline does
//! not care which one it talks to.
//!
//! Each sending worker opens its own [`Session`], so an SMTP session maps to one connection and
//! can be recycled after a number of messages.

use std::future::Future;
use std::path::{Path, PathBuf};

use crate::mail::message::OutgoingMessage;

/// What the receiving side said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub code: u16,
    pub reply: String,
    /// The relay's queue id, when its reply names one (`queued as 4F2A1B`).
    pub queue_id: Option<String>,
}

/// Whether a failure may succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 4xx replies, connection failures and timeouts: retry later.
    Temporary,
    /// 5xx replies: the address or message is refused; do not retry.
    Permanent,
    /// The relay refused the session itself, before any recipient was named: a 5xx to the
    /// greeting, EHLO, STARTTLS or AUTH (a mistyped password), a relay that does not offer
    /// what the settings require, or a 5xx to MAIL FROM (530 authentication required, 550
    /// sender rejected: the sender is the same for every recipient). Nothing is wrong with
    /// the recipient: the run stops as a relay error and the row stays to be sent.
    Relay,
    /// The relay pool held the message back without offering it to any relay (the
    /// error-ratio breaker holds its destination, a policy block stopped the run, every relay
    /// rests): nothing is wrong with the recipient, nothing is retried in this run, and the
    /// row stays to be sent.
    Held,
}

/// A failed attempt, classified from the typed SMTP reply (never from its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub kind: FailureKind,
    /// The connection broke or timed out after the message may have been handed over (no
    /// reply to the final dot): the relay may have queued it, so a retry may duplicate it.
    pub maybe_delivered: bool,
    pub code: Option<u16>,
    pub enhanced: Option<String>,
    pub text: String,
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(code) = self.code {
            write!(f, "{code} ")?;
        }
        if let Some(e) = &self.enhanced {
            write!(f, "{e} ")?;
        }
        f.write_str(&self.text)
    }
}

/// A source of sessions.
pub trait Transport: Send + Sync + 'static {
    type Session: Session;
    fn session(&self) -> Self::Session;
}

/// One worker's channel to the destination.
pub trait Session: Send + 'static {
    /// Sends one message. `name` is a file-name-safe label of the recipient (the outbox uses it).
    fn send(
        &mut self,
        message: &OutgoingMessage,
        name: &str,
    ) -> impl Future<Output = Result<Delivery, SendFailure>> + Send;
    /// Ends the session politely (SMTP QUIT).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
    /// The relay that took (or last refused) the message just sent, when there are several.
    fn relay(&self) -> Option<&str> {
        None
    }
    /// True when the last failure was the recipient's own temporary problem and the relay
    /// is up (a reply rule said `defer`): it does not count towards the relay outage.
    fn relay_answered(&self) -> bool {
        false
    }
    /// True when messages to `domain` are held back (the relay pool's error-ratio breaker):
    /// the worker leaves the row to a later run without waiting for a rate permit.
    fn holds(&self, _domain: &str) -> bool {
        false
    }
}

/// The dry run's destination: every message as `<dir>/<name>.eml`.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn create(dir: &Path) -> std::io::Result<Outbox> {
        std::fs::create_dir_all(dir)?;
        Ok(Outbox {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes `bytes` to `<dir>/<name>.eml` through a temporary file and a rename, so a crash
    /// never leaves a half-written message that looks complete.
    pub fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(format!("{name}.eml"));
        let tmp = self.dir.join(format!(".{name}.eml.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        file.write_all(bytes)?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

impl Transport for Outbox {
    type Session = Outbox;
    fn session(&self) -> Outbox {
        self.clone()
    }
}

impl Session for Outbox {
    async fn send(
        &mut self,
        message: &OutgoingMessage,
        name: &str,
    ) -> Result<Delivery, SendFailure> {
        let outbox = self.clone();
        let name = name.to_string();
        let bytes = message.bytes.clone();
        let written = tokio::task::spawn_blocking(move || outbox.write(&name, &bytes)).await;
        match written {
            Ok(Ok(path)) => Ok(Delivery {
                code: 250,
                reply: format!("written to {}", path.display()),
                queue_id: None,
            }),
            Ok(Err(e)) => Err(SendFailure {
                kind: FailureKind::Temporary,
                maybe_delivered: false,
                code: None,
                enhanced: None,
                text: format!("outbox write failed: {e}"),
            }),
            Err(e) => Err(SendFailure {
                kind: FailureKind::Temporary,
                maybe_delivered: false,
                code: None,
                enhanced: None,
                text: format!("outbox task failed: {e}"),
            }),
        }
    }

    async fn close(&mut self) {}
}

/// A file-name-safe, reversible form of a customer id: ASCII letters, digits, `-` and `_` kept,
/// every other byte as `%XX` (so `C/01` and `C_01` never collide).
pub fn file_name_for(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_reversible_and_safe() {
        assert_eq!(file_name_for("C/01"), "C%2F01");
        assert_eq!(file_name_for("C_01"), "C_01");
        assert_eq!(file_name_for("../x"), "%2E%2E%2Fx");
    }
}
