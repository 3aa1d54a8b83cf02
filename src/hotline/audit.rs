//! The audit log of the hotline service, `<state-dir>/hotline-audit.jsonl`: one JSON line per
//! lookup or name check — which agent, when, what was asked (a reference number or customer
//! id), and what the answer was (its kind and state). Never the name a caller gave, never any
//! cell of the list. Appended and fsynced before the answer is sent: an answer given is an
//! answer logged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::Serialize;

/// The audit log of a state directory.
pub fn audit_path(state_dir: &Path) -> PathBuf {
    state_dir.join("hotline-audit.jsonl")
}

/// One line of the audit log.
#[derive(Debug, Serialize)]
pub struct AuditEntry<'a> {
    pub at: String,
    pub agent: &'a str,
    /// `lookup` or `name_check`.
    pub action: &'static str,
    pub query: &'a str,
    /// `affected`, `not_found`, `unknown`, `rate_limited`; for a name check `matches`,
    /// `does_not_match` or `unknown`.
    pub answer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
}

/// The open audit log, shared by the request handlers.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens (creating, owner-only) the audit log for appending.
    pub fn open(state_dir: &Path) -> Result<AuditLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = audit_path(state_dir);
        let file = crate::util::fs::open_state_file(
            &path,
            std::fs::File::options()
                .append(true)
                .create(true)
                .mode(0o600),
        )?;
        Ok(AuditLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends `entry` durably (blocking: call it off the async workers).
    pub fn append(&self, entry: &AuditEntry<'_>) -> Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot append to {}", self.path.display()))
    }
}
