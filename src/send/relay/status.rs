//! What `status` shows of the pool: each relay's state, rate and count, every rule that
//! fired (on which relay, how often, first and last time), and the breaker's trips. The run
//! writes it to `<state-dir>/relay-status.json` every few seconds and as it ends; it names
//! relays, rules and destinations, never a recipient.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::breaker::{Breaker, Trip};
use super::pool::{Fired, RelayView};
use super::session::Shared;

pub const FILE_NAME: &str = "relay-status.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayStatus {
    pub at: String,
    pub relays: Vec<RelayView>,
    pub fired: Vec<Fired>,
    #[serde(default)]
    pub tripped: Vec<Trip>,
}

pub fn write_status(state_dir: &Path, shared: &Shared) -> Result<()> {
    let status = RelayStatus {
        at: crate::util::time::now_rfc3339_seconds(),
        relays: shared.views(),
        fired: shared.pool.fired_rules(),
        tripped: shared.breaker.trips(),
    };
    let bytes = serde_json::to_vec_pretty(&status)?;
    crate::util::fs::write_atomic(&state_dir.join(FILE_NAME), &bytes, 0o600)
}

/// The last run's pool status, with the breaker's trips as they stand now.
pub fn read_status(state_dir: &Path) -> Result<Option<RelayStatus>> {
    let path = state_dir.join(FILE_NAME);
    let Some(bytes) = crate::util::fs::read_state_file(&path)? else {
        return Ok(None);
    };
    let mut status: RelayStatus =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))?;
    status.tripped = Breaker::read(state_dir)?;
    Ok(Some(status))
}

impl RelayStatus {
    /// The lines `status` prints.
    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "relays (as of {}):",
            crate::util::time::shown_time(&self.at)
        )?;
        for r in &self.relays {
            let rate = match r.rate {
                Some(rate) => format!("{rate:.1} msg/s"),
                None => "not paced".to_string(),
            };
            writeln!(
                out,
                "  {:<12} weight {:<3} {:>10} accepted   rate {rate} ({} cuts)   {}",
                r.name, r.weight, r.accepted, r.rate_cuts, r.state
            )?;
        }
        if !self.fired.is_empty() {
            writeln!(out, "reply rules that fired:")?;
            for f in &self.fired {
                writeln!(
                    out,
                    "  {:<22} {:<6} on {:<12} {:>6}×  first {}  last {}",
                    f.rule,
                    f.action,
                    f.relay,
                    f.count,
                    crate::util::time::shown_time(&f.first),
                    crate::util::time::shown_time(&f.last)
                )?;
            }
        }
        for t in &self.tripped {
            writeln!(
                out,
                "held: {t} (`tsuchi send --accept-error-ratio` resumes it)"
            )?;
        }
        Ok(())
    }
}
