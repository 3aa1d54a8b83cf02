//! The commands before sending: `check`, `preview` and `approve`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::args::{Cli, PreviewArgs};
use super::exit::{EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, Failure};
use super::preflight::check_preflight;
use super::send::smtp_relay;
use crate::config::Config;
use crate::ingest::Encoding;

/// `check`: the list, the templates and the config, and with `--preflight` the DNS.
pub(super) fn check(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    preflight: bool,
    dns_server: Option<std::net::SocketAddr>,
    out: &mut dyn Write,
) -> Result<i32> {
    let summary = crate::review::check::run(config, recipients, encoding, cli.shard, out)?;
    // A list with no one in it is almost always the wrong file (an export that kept only
    // its header): not a clean check. One shard of a small list may be empty, though.
    if summary.rows == 0 && cli.shard.is_none() {
        writeln!(
            out,
            "\nerror: {} has a header but no data rows: nobody would be notified. \
             Is it the right file?",
            recipients.display()
        )?;
        return Ok(EXIT_INCOMPLETE);
    }
    let dns_errors = check_preflight(config, preflight, dns_server, out)?;
    if summary.refused > 0 {
        writeln!(
            out,
            "\n{} rows would not be sent; fix them or accept that they are skipped.",
            summary.refused
        )?;
        return Ok(EXIT_INCOMPLETE);
    }
    Ok(if dns_errors { EXIT_INCOMPLETE } else { EXIT_OK })
}

/// `preview`: one sample per review group and the review page, or the notices of `--id`s.
pub(super) fn preview(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    args: &PreviewArgs,
    out: &mut dyn Write,
) -> Result<i32> {
    let PreviewArgs {
        out: dir,
        ids,
        all,
        variants,
        mail_to,
        smtp,
    } = args;
    if ids.is_empty() {
        let wanted: std::collections::BTreeSet<&str> =
            variants.iter().map(String::as_str).collect();
        let (previews, refused) = crate::review::preview::preview_variants(
            config,
            recipients,
            encoding,
            cli.shard,
            dir,
            &|v| *all || wanted.contains(v.code().as_str()),
        )?;
        let groups = crate::review::group_preview::preview_groups(config, &previews, dir)?;
        let page = crate::review::group_preview::write_review_page(
            config, dir, &groups, &previews, refused,
        )?;
        for g in &groups {
            writeln!(
                out,
                "{:>10}  {:>5} combinations  {}",
                g.total,
                g.members.len(),
                g.file.as_deref().unwrap_or(dir).display()
            )?;
        }
        let mut combination_files = 0;
        for p in &previews {
            if let Some(file) = &p.file {
                combination_files += 1;
                writeln!(out, "{:>10}  {}", p.count, file.display())?;
            }
        }
        let unknown: Vec<&str> = wanted
            .iter()
            .filter(|code| !previews.iter().any(|p| p.variant.code() == **code))
            .copied()
            .collect();
        let previews = crate::review::group_preview::written(&groups, &previews);
        if !mail_to.is_empty() {
            let mut settings = config.send.clone();
            if let Some(url) = smtp {
                settings.smtp = url.clone();
            }
            let relay = smtp_relay(config, &settings)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let sent = runtime.block_on(crate::review::preview::mail_previews(
                config,
                &previews,
                mail_to,
                relay,
                cli.one_state_dir()?,
                out,
            ))?;
            if sent < previews.len() * mail_to.len() {
                return Ok(EXIT_INCOMPLETE);
            }
        }
        writeln!(
            out,
            "{} groups ({} field combinations; {} combination previews) written to {} \
             ({} rows refused; see `tsuchi check`)\n\
             review page: {}",
            groups.len(),
            groups.iter().map(|g| g.members.len()).sum::<usize>(),
            combination_files,
            dir.display(),
            refused,
            page.display()
        )?;
        if !unknown.is_empty() {
            writeln!(
                out,
                "not in the list (no such variant): {}",
                unknown.join(", ")
            )?;
            return Ok(EXIT_INCOMPLETE);
        }
        Ok(EXIT_OK)
    } else {
        let (written, missing) =
            crate::review::preview::preview_ids(config, recipients, encoding, dir, ids, out)?;
        for f in &written {
            writeln!(out, "{}", f.display())?;
        }
        writeln!(
            out,
            "{} previews written to {} (owner-only: they hold personal data)",
            written.len(),
            dir.display()
        )?;
        if !missing.is_empty() {
            writeln!(
                out,
                "not rendered (unknown id or refused row): {}",
                missing.join(", ")
            )?;
            return Ok(EXIT_INCOMPLETE);
        }
        Ok(EXIT_OK)
    }
}

/// `approve`: records the reviewer's approval of the templates and notice settings in force.
pub(super) fn approve(
    config: &Config,
    cli: &Cli,
    reviewer: &str,
    note: &Option<String>,
    out: &mut dyn Write,
) -> Result<i32> {
    use crate::review::approval::{Approval, Pinned, record, validate_reviewer};
    validate_reviewer(reviewer)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("--reviewer: {e:#}")))?;
    // The templates must at least parse and lint clean before anyone can approve them.
    crate::render::notice::Renderer::new(config)?;
    let pinned = Pinned::of_config(config)?;
    let approval = Approval::new(reviewer, note.as_deref(), &config.campaign.id, &pinned);
    record(cli.one_state_dir()?, &approval)?;
    writeln!(
        out,
        "approved by {} at {} for campaign {}",
        approval.reviewer, approval.at, approval.campaign
    )?;
    for (file, digest) in &approval.templates {
        writeln!(out, "  template {file:<24} {}", &digest[..16])?;
    }
    for (key, digest) in &approval.settings {
        writeln!(out, "  setting  {key:<24} {}", &digest[..16])?;
    }
    writeln!(
        out,
        "recorded in {}; any later change to these stops `tsuchi send` until approved again",
        crate::review::approval::approvals_path(cli.one_state_dir()?).display()
    )?;
    Ok(EXIT_OK)
}
