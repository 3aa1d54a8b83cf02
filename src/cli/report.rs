//! The commands that read the journals back: `status`, `report`, `lookup`, and `bounces`,
//! which records what it reads in the journal.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::args::{Cli, ReportArgs};
use super::exit::{EXIT_INCOMPLETE, EXIT_OK};
use crate::config::Config;
use crate::ingest::Encoding;

/// `status`: the approval in force, then the journals' counts.
pub(super) fn status(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    out: &mut dyn Write,
) -> Result<i32> {
    print_approval(config, &cli.state_dir[0], out)?;
    crate::report::status(config, recipients, encoding, &cli.state_dir, out)?;
    super::relay_pool::print_status(&cli.state_dir, out)?;
    Ok(EXIT_OK)
}

/// `report`: one line per recipient, the unreached, or the summary; to stdout or a file.
pub(super) fn report(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    args: &ReportArgs,
    out: &mut dyn Write,
) -> Result<i32> {
    let ReportArgs {
        format,
        output,
        unreached,
        columns,
        summary,
        hotline,
    } = args;
    if *hotline && let Some(path) = output {
        let mut file = crate::util::fs::create_private_file(path)?;
        let n =
            crate::report::hotline_export(config, recipients, encoding, &cli.state_dir, &mut file)?;
        file.flush()?;
        writeln!(
            out,
            "{n} {} written to {} (owner-only) for the hotline",
            if n == 1 { "recipient" } else { "recipients" },
            path.display()
        )?;
        return Ok(EXIT_OK);
    }
    if *summary {
        let json = matches!(format, crate::report::Format::Json);
        crate::report::summary(config, recipients, encoding, &cli.state_dir, json, out)?;
        return Ok(EXIT_OK);
    }
    let personal = !columns.is_empty();
    let write = |w: &mut dyn Write| -> Result<u64> {
        if *unreached {
            crate::report::unreached(
                config,
                recipients,
                encoding,
                &cli.state_dir,
                *format,
                columns,
                w,
            )
        } else {
            crate::report::report(config, recipients, encoding, &cli.state_dir, *format, w)
        }
    };
    match output {
        Some(path) => {
            let mut file = crate::util::fs::create_private_file(path)?;
            let n = write(&mut file)?;
            file.flush()?;
            writeln!(
                out,
                "{n} {} written to {} (owner-only)",
                if n == 1 { "recipient" } else { "recipients" },
                path.display()
            )?;
            if personal {
                writeln!(
                    out,
                    "the file holds personal data from the list ({}): keep it safe",
                    columns.join(", ")
                )?;
            }
        }
        None => {
            if personal {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: this output holds personal data from the list ({}); prefer --output FILE (owner-only)",
                    columns.join(", ")
                );
            }
            write(out)?;
        }
    }
    Ok(EXIT_OK)
}

/// `bounces`: reads the DSNs at `paths` and records them in the journal.
pub(super) fn bounces(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    paths: &[PathBuf],
    out: &mut dyn Write,
) -> Result<i32> {
    let summary = crate::report::bounce::record::run(
        config,
        recipients,
        encoding,
        cli.one_state_dir()?,
        paths,
        out,
    )?;
    // A path or message that could not be read is work not done.
    Ok(if summary.unreadable > 0 {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    })
}

/// `lookup`: one recipient's history; exit 3 when there is no such recipient.
pub(super) fn lookup(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    key: &str,
    out: &mut dyn Write,
) -> Result<i32> {
    let found = crate::report::lookup(config, recipients, encoding, &cli.state_dir, key, out)?;
    Ok(if found { EXIT_OK } else { EXIT_INCOMPLETE })
}

fn print_approval(config: &Config, state_dir: &std::path::Path, out: &mut dyn Write) -> Result<()> {
    let pinned = crate::review::approval::Pinned::of_config(config)?;
    match crate::review::approval::verify(state_dir, &config.campaign.id, &pinned) {
        Ok(a) => writeln!(
            out,
            "approval: {} at {} — covers the current templates and notice settings",
            a.reviewer, a.at
        )?,
        Err(m) => {
            let off = if config.campaign.require_approval {
                ""
            } else {
                " (not required: campaign.require_approval = false)"
            };
            writeln!(out, "approval: {m}{off}")?
        }
    }
    Ok(())
}
