//! `preflight`, the sender domain's DNS, and its one-line summary in `check --preflight`.

use std::io::Write;

use anyhow::Result;

use super::args::PreflightFormat;
use super::exit::{EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, Failure};
use crate::config::Config;

/// `preflight`: the findings as a table or JSON; errors exit 3.
pub(super) fn run(
    config: &Config,
    dns_server: Option<std::net::SocketAddr>,
    format: PreflightFormat,
    out: &mut dyn Write,
) -> Result<i32> {
    let report = preflight(config, dns_server)?;
    match format {
        PreflightFormat::Table => report.write_table(out)?,
        PreflightFormat::Json => report.write_json(out)?,
    }
    Ok(preflight_exit(&report))
}

fn preflight(
    config: &Config,
    dns_server: Option<std::net::SocketAddr>,
) -> Result<crate::preflight::Report> {
    // Without a resolver nothing can be checked: that is an error of the run, not a finding.
    crate::preflight::run(config, dns_server)
        .map_err(|e| Failure::new(EXIT_ERROR, format!("preflight: {e:#}")).into())
}

/// Errors make `preflight` exit 3 (receivers will refuse or junk the notices); warnings alone
/// do not fail it.
fn preflight_exit(report: &crate::preflight::Report) -> i32 {
    if report.worst() == crate::preflight::Level::Error {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

/// `check` stays offline unless asked: with `--preflight` it prints the pre-flight's summary
/// line (and returns whether it found errors), without it a hint.
pub(super) fn check_preflight(
    config: &Config,
    asked: bool,
    dns_server: Option<std::net::SocketAddr>,
    out: &mut dyn Write,
) -> Result<bool> {
    if !asked {
        writeln!(
            out,
            "sender domain DNS (SPF, DKIM, DMARC) not checked: run `tsuchi preflight` or `tsuchi check --preflight`"
        )?;
        return Ok(false);
    }
    let report = preflight(config, dns_server)?;
    let worst: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.level == crate::preflight::Level::Error)
        .map(|f| f.check.name().to_string())
        .collect();
    if worst.is_empty() {
        writeln!(out, "preflight: {}", report.counts_line())?;
    } else {
        writeln!(
            out,
            "preflight: {} (errors: {}; see `tsuchi preflight`)",
            report.counts_line(),
            worst.join(", ")
        )?;
    }
    Ok(preflight_exit(&report) != EXIT_OK)
}
