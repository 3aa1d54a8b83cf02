//! `lookup`: the hotline's "was this person notified?" — one recipient's history, found by
//! reference number or customer id, from the journals and the list (or the journals alone
//! when the list is not at hand). The answer is computed by [`super::answer`], which `tsuchi
//! serve` shares; this prints it for the operator.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::answer::answer;
use crate::config::Config;
use crate::ingest::Encoding;
use crate::util::time::shown_time;

/// The history of one recipient, found by reference number or customer id.
pub fn lookup(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    key: &str,
    out: &mut dyn Write,
) -> Result<bool> {
    let a = answer(config, recipients, encoding, state_dirs, key)?;
    match a.answer {
        "unknown" => {
            writeln!(
                out,
                "{key}: no record in the journal under this reference number or customer id; \
                 the list ({}) is not here, so whether {key} is on it cannot be told",
                recipients.display()
            )?;
            return Ok(false);
        }
        "not_found" => {
            writeln!(
                out,
                "{key}: no such reference number or customer id in this campaign"
            )?;
            return Ok(false);
        }
        _ => {}
    }
    writeln!(
        out,
        "customer {}, reference {}",
        a.id.as_deref().unwrap_or_default(),
        a.reference.as_deref().unwrap_or_default()
    )?;
    if !a.journal {
        writeln!(out, "  not notified yet (no journal)")?;
        return Ok(true);
    }
    writeln!(out, "  state: {}", a.state_text.unwrap_or_default())?;
    for e in &a.history {
        let batch = e.batch.as_deref().unwrap_or_default();
        if e.what == "letter_exported" {
            writeln!(
                out,
                "  {}  letter exported in {batch} (pages {})",
                shown_time(&e.at),
                e.pages.as_deref().unwrap_or_default()
            )?;
        } else if e.what == "letter_posted" {
            writeln!(
                out,
                "  letter in {batch} posted on {} (the print vendor's confirmation)",
                e.posted_on.as_deref().unwrap_or_default()
            )?;
        } else if e.what == "attempt" {
            writeln!(
                out,
                "  {}  attempt {} ({})",
                shown_time(&e.at),
                e.attempt,
                e.message_id.as_deref().unwrap_or_default()
            )?;
        } else {
            let code = e.code.map(|c| c.to_string()).unwrap_or_default();
            writeln!(
                out,
                "  {}  {} {} {}",
                shown_time(&e.at),
                e.what,
                code,
                e.reply.as_deref().unwrap_or_default()
            )?;
        }
    }
    Ok(true)
}
