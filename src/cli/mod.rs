//! The command line: clap definitions, dispatch to the library, and exit codes.
//!
//! Exit codes (stable; scripts rely on them):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: everything checked clean / every recipient sent |
//! | 1 | unexpected error (I/O, journal, relay misconfiguration, a relay that refuses the session: 5xx to the greeting, EHLO, AUTH or MAIL FROM) |
//! | 2 | usage or configuration error |
//! | 3 | finished, but some rows are invalid or some recipients failed permanently; `preflight` found DNS errors |
//! | 4 | stopped with work left (interrupted, deferred, relay outage): run `send` again to resume |
//! | 5 | refused to start: no matching approval, or the list/templates changed under the journal |

mod exit;
pub(crate) mod signals;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::ingest::reader::Encoding;

pub use exit::{
    EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, EXIT_REFUSED, EXIT_RESUMABLE, EXIT_USAGE, Failure,
    exit_code,
};

#[derive(Parser, Debug)]
#[command(
    name = "tsuchi",
    version,
    about = "Data-breach notification campaigns by e-mail (通知)"
)]
pub struct Cli {
    /// Campaign configuration file.
    #[arg(long, global = true, default_value = "config.toml")]
    pub config: PathBuf,
    /// Recipients CSV (default: campaign.recipients in the config).
    #[arg(long, global = true)]
    pub recipients: Option<PathBuf>,
    /// Journal, approvals and lock. Give it several times to status, report and lookup to merge
    /// the journals of a sharded campaign.
    #[arg(long, global = true, default_value = "state")]
    pub state_dir: Vec<PathBuf>,
    /// Take only shard K of N of the list (by a stable hash of the id): N hosts, each with its
    /// own relay and state directory, cover the list exactly once. For check, preview and send.
    #[arg(long, global = true, value_name = "K/N")]
    pub shard: Option<crate::ingest::shard::Shard>,
    /// Encoding of the recipients file: auto, utf-8 or shift_jis (default: campaign.encoding).
    #[arg(long, global = true)]
    pub encoding: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate config, templates and the list; counts, variants, row errors with line numbers.
    Check {
        /// Also run `tsuchi preflight` (DNS lookups) and print its one-line summary.
        #[arg(long)]
        preflight: bool,
        /// With --preflight: ask this DNS server (ADDR:PORT) instead of the system resolver.
        #[arg(long, value_name = "ADDR:PORT", requires = "preflight")]
        dns_server: Option<std::net::SocketAddr>,
    },
    /// Render one sample notice per review group (or --id ID…) to .eml files and the review page.
    Preview {
        /// Output directory.
        #[arg(long, default_value = "preview")]
        out: PathBuf,
        /// Render these customers' real notices instead of one sample per group.
        #[arg(long = "id", num_args = 1.., conflicts_with_all = ["all", "variants"])]
        ids: Vec<String>,
        /// Also write one .eml per field combination (every variant), linked from the page.
        #[arg(long)]
        all: bool,
        /// Also write the .eml of these variants (codes as the page shows them, e.g.
        /// kaede-ja-0007f).
        #[arg(long = "variant", num_args = 1.., value_name = "CODE")]
        variants: Vec<String>,
        /// Also send each written preview (subject prefixed [確認用 n/N]) to these reviewers'
        /// own mailboxes through the relay, to be read in the mail clients recipients use.
        #[arg(long = "mail-to", num_args = 1..)]
        mail_to: Vec<String>,
        /// Relay for --mail-to (default: send.smtp).
        #[arg(long)]
        smtp: Option<String>,
    },
    /// Record the reviewer's approval of the current templates and notice settings.
    Approve {
        /// Who approves (name and role, as it should stand in the record).
        #[arg(long)]
        reviewer: String,
        /// A note kept with the approval.
        #[arg(long)]
        note: Option<String>,
    },
    /// Send the campaign (resumes where the journal stopped).
    Send(SendArgs),
    /// Progress and outcome counts from the journal.
    Status,
    /// Per-recipient outcome from the journal, one line per recipient of the list.
    Report {
        /// csv: a UTF-8 CSV with a BOM (for Excel), formula-like cells prefixed with `'`.
        /// json: JSON Lines — one JSON object per line, one line per recipient (stream it
        /// line by line; it is not one JSON array).
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::report::Format,
        /// Only recipients not reached by e-mail (invalid, refused, deferred, bounced, not sent).
        #[arg(long)]
        unreached: bool,
        /// With --unreached: copy these columns of the list into the export (e.g. a postal
        /// address for a letter). The export then holds personal data.
        #[arg(long, value_delimiter = ',', requires = "unreached")]
        columns: Vec<String>,
        /// The figures for the incident report, in Japanese and English.
        #[arg(long, conflicts_with_all = ["unreached", "columns"])]
        summary: bool,
        /// Write to this file (owner-only) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Record bounces (delivery status notifications) from mbox files, Maildir folders or
    /// single messages in the campaign journal.
    Bounces {
        /// mbox files, Maildir folders or .eml files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Was this person notified? By reference number (as printed in the notice) or customer id.
    Lookup {
        /// Reference number or customer id.
        key: String,
    },
    /// The sender domain's DNS: DMARC policy, DKIM key (matches the private key?), SPF (permits
    /// send.relay_ips?), MX for bounces, and alignment of From, Return-Path and DKIM d=.
    Preflight {
        /// Ask this DNS server (ADDR:PORT) instead of the system resolver.
        #[arg(long, value_name = "ADDR:PORT")]
        dns_server: Option<std::net::SocketAddr>,
        #[arg(long, value_enum, default_value = "table")]
        format: PreflightFormat,
    },
}

/// Output of `tsuchi preflight`.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum PreflightFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SendArgs {
    /// Render and journal into `<state-dir>/outbox` instead of sending; nothing leaves the machine.
    #[arg(long)]
    pub dry_run: bool,
    /// Relay URL, e.g. smtp://127.0.0.1:2525 (default: send.smtp).
    #[arg(long)]
    pub smtp: Option<String>,
    /// Messages per second, 0 for unlimited (default: send.rate).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Parallel SMTP sessions (default: send.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Stop after this many messages in this run.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Also send again to recipients that failed permanently in earlier runs.
    #[arg(long)]
    pub retry_failed: bool,
    /// Continue a journal although the templates or notice settings changed since it began.
    #[arg(long)]
    pub accept_changes: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Cli {
    /// The one state directory of a command that writes there (several are only for merging
    /// the shards' journals in `status` and `report`).
    pub fn one_state_dir(&self) -> Result<&std::path::Path> {
        match self.state_dir.as_slice() {
            [one] => Ok(one),
            _ => Err(Failure::new(
                EXIT_USAGE,
                "this command takes one --state-dir (several are for status, report and lookup)",
            )
            .into()),
        }
    }
}

/// Parses arguments, runs the command, prints errors, and returns the exit code.
pub fn main() -> i32 {
    // A panic's message may quote the data it was working on (a bounce's Subject, a cell):
    // say where it happened, never what it said. Writing to a closed stderr must not panic.
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write as _;
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "internal error{place} (a bug in tsuchi; its message is not shown because it may \
             quote personal data)"
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    // Only for commands whose exit code says nothing but "it ran" may a reader that went away
    // count as success; elsewhere a broken pipe never turns a failure into success.
    let output_only = matches!(cli.command, Command::Report { .. } | Command::Status);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `tsuchi report | head`: the reader went away; that is not an error of ours.
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe && output_only {
                return EXIT_OK;
            }
            let code = exit_code(&e);
            // Not `eprintln!`, which panics when stderr is a closed pipe.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            code
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config> {
    Config::load(&cli.config).map_err(|e| Failure::new(EXIT_USAGE, format!("{e:#}")).into())
}

fn encoding(cli: &Cli, config: &Config) -> Result<Encoding> {
    match cli.encoding.as_deref() {
        None => Ok(config.campaign.encoding),
        Some(name) => name
            .parse::<Encoding>()
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--encoding {name}: {e:#}")).into()),
    }
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let config = load_config(&cli)?;
    let recipients = cli
        .recipients
        .clone()
        .unwrap_or_else(|| config.campaign.recipients.clone());
    let encoding = encoding(&cli, &config)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &cli.command {
        Command::Check {
            preflight,
            dns_server,
        } => {
            let summary =
                crate::review::check::run(&config, &recipients, encoding, cli.shard, &mut out)?;
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
            let dns_errors = check_preflight(&config, *preflight, *dns_server, &mut out)?;
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
        Command::Preflight { dns_server, format } => {
            let report = preflight(&config, *dns_server)?;
            match format {
                PreflightFormat::Table => report.write_table(&mut out)?,
                PreflightFormat::Json => report.write_json(&mut out)?,
            }
            Ok(preflight_exit(&report))
        }
        Command::Preview {
            out: dir,
            ids,
            all,
            variants,
            mail_to,
            smtp,
        } => {
            if ids.is_empty() {
                let wanted: std::collections::BTreeSet<&str> =
                    variants.iter().map(String::as_str).collect();
                let (previews, refused) = crate::review::preview::preview_variants(
                    &config,
                    &recipients,
                    encoding,
                    cli.shard,
                    dir,
                    &|v| *all || wanted.contains(v.code().as_str()),
                )?;
                let groups = crate::review::group_preview::preview_groups(&config, &previews, dir)?;
                let page = crate::review::group_preview::write_review_page(
                    &config, dir, &groups, &previews, refused,
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
                    let relay = smtp_relay(&config, &settings)?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let sent = runtime.block_on(crate::review::preview::mail_previews(
                        &config,
                        &previews,
                        mail_to,
                        relay,
                        cli.one_state_dir()?,
                        &mut out,
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
                let (written, missing) = crate::review::preview::preview_ids(
                    &config,
                    &recipients,
                    encoding,
                    dir,
                    ids,
                    &mut out,
                )?;
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
        Command::Approve { reviewer, note } => {
            use crate::review::approval::{Approval, Pinned, record, validate_reviewer};
            validate_reviewer(reviewer)
                .map_err(|e| Failure::new(EXIT_USAGE, format!("--reviewer: {e:#}")))?;
            // The templates must at least parse and lint clean before anyone can approve them.
            crate::render::notice::Renderer::new(&config)?;
            let pinned = Pinned::of_config(&config)?;
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
        Command::Status => {
            print_approval(&config, &cli.state_dir[0], &mut out)?;
            crate::report::status(&config, &recipients, encoding, &cli.state_dir, &mut out)?;
            Ok(EXIT_OK)
        }
        Command::Report {
            format,
            output,
            unreached,
            columns,
            summary,
        } => {
            if *summary {
                crate::report::summary(&config, &cli.state_dir, &mut out)?;
                return Ok(EXIT_OK);
            }
            let personal = !columns.is_empty();
            let write = |w: &mut dyn Write| -> Result<u64> {
                if *unreached {
                    crate::report::unreached(
                        &config,
                        &recipients,
                        encoding,
                        &cli.state_dir,
                        *format,
                        columns,
                        w,
                    )
                } else {
                    crate::report::report(
                        &config,
                        &recipients,
                        encoding,
                        &cli.state_dir,
                        *format,
                        w,
                    )
                }
            };
            match output {
                Some(path) => {
                    let mut file = crate::review::preview::create_private_file(path)?;
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
                    write(&mut out)?;
                }
            }
            Ok(EXIT_OK)
        }
        Command::Bounces { paths } => {
            let summary = crate::report::bounce::record::run(
                &config,
                &recipients,
                encoding,
                cli.one_state_dir()?,
                paths,
                &mut out,
            )?;
            // A path or message that could not be read is work not done.
            Ok(if summary.unreadable > 0 {
                EXIT_INCOMPLETE
            } else {
                EXIT_OK
            })
        }
        Command::Lookup { key } => {
            let found = crate::report::lookup(
                &config,
                &recipients,
                encoding,
                &cli.state_dir,
                key,
                &mut out,
            )?;
            Ok(if found { EXIT_OK } else { EXIT_INCOMPLETE })
        }
        Command::Send(args) => {
            drop(out);
            send(&config, &cli, args, recipients, encoding)
        }
    }
}

fn send(
    config: &Config,
    cli: &Cli,
    args: &SendArgs,
    recipients: PathBuf,
    encoding: Encoding,
) -> Result<i32> {
    use crate::send::run::{SendOptions, print_report};
    let mut settings = config.send.clone();
    if let Some(url) = &args.smtp {
        settings.smtp = url.clone();
    }
    if let Some(rate) = args.rate {
        if !(rate >= 0.0 && rate.is_finite()) {
            return Err(
                Failure::new(EXIT_USAGE, "--rate must be zero (unlimited) or positive").into(),
            );
        }
        settings.rate = rate;
    }
    if let Some(c) = args.concurrency {
        if c == 0 || c > 256 {
            return Err(Failure::new(EXIT_USAGE, "--concurrency must be between 1 and 256").into());
        }
        settings.concurrency = c;
    }
    if args.limit == Some(0) {
        return Err(Failure::new(EXIT_USAGE, "--limit must be at least 1").into());
    }
    // A dry run keeps its own journal beside its outbox, so it never counts as a real send.
    let state_dir = if args.dry_run {
        cli.one_state_dir()?.join("outbox")
    } else {
        cli.one_state_dir()?.to_path_buf()
    };
    if args.dry_run {
        // Nothing is sent: no rate limit is needed to protect anyone's deliverability.
        settings.rate = 0.0;
        settings.domain_rates.clear();
    }
    let opts = SendOptions {
        recipients,
        encoding,
        state_dir: state_dir.clone(),
        settings: settings.clone(),
        limit: args.limit,
        retry_failed: args.retry_failed,
        accept_changes: args.accept_changes,
        progress: !args.quiet,
        shard: cli.shard,
    };
    if !args.dry_run {
        check_approval(config, cli.one_state_dir()?)?;
    }
    let _lock = crate::journal::lock_state_dir(&state_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        let shutdown = crate::send::shutdown::Shutdown::default();
        crate::cli::signals::install(shutdown.clone());
        let mut out = std::io::stdout();
        if args.dry_run {
            let outbox = crate::send::transport::Outbox::create(&state_dir)?;
            crate::send::run::send(config, &opts, outbox, shutdown, &mut out).await
        } else {
            let relay = smtp_relay(config, &settings)?;
            crate::send::run::send(config, &opts, relay, shutdown, &mut out).await
        }
    })?;
    // The summary is for the operator: a closed stdout (`tsuchi send | head`) must not change
    // the exit code, which is the run's.
    let mut out = std::io::stdout().lock();
    let _ = print_report(&report, args.dry_run, &mut out).and_then(|()| Ok(out.flush()?));
    if let Some(refusal) = &report.relay_refused {
        let _ = writeln!(
            std::io::stderr(),
            "error: {refusal}\nThe relay refused the session before any recipient was named \
             (check send.smtp, the credentials in TSUCHI_SMTP_USER / TSUCHI_SMTP_PASSWORD and \
             the sender address); nobody was marked failed for it: run `tsuchi send` again \
             once the relay accepts us."
        );
        return Ok(EXIT_ERROR);
    }
    Ok(if report.work_left() {
        EXIT_RESUMABLE
    } else if report.failed_total > 0 || report.refused > 0 {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    })
}

/// Another run holding the state directory is a refusal (exit 5), for every command that
/// takes the lock.
fn smtp_relay(
    config: &Config,
    settings: &crate::config::SendSettings,
) -> Result<crate::send::smtp::SmtpRelay> {
    use crate::send::smtp::{RelayUrl, Secret, SmtpRelay, SmtpSettings};
    let usage =
        |e: anyhow::Error| -> anyhow::Error { Failure::new(EXIT_USAGE, format!("{e:#}")).into() };
    let url = RelayUrl::parse(&settings.smtp).map_err(usage)?;
    let credentials = Secret::from_env().map_err(usage)?;
    SmtpRelay::new(SmtpSettings {
        url,
        timeout: std::time::Duration::from_secs(settings.timeout_secs),
        messages_per_connection: settings.messages_per_connection,
        credentials,
        allow_insecure: settings.allow_insecure,
        hello_name: config.sender_domain().to_string(),
    })
    .map_err(usage)
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
fn check_preflight(
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

/// A real send needs the latest approval to cover exactly the templates and notice settings in
/// force; the refusal names what changed.
fn check_approval(config: &Config, state_dir: &std::path::Path) -> Result<()> {
    if !config.campaign.require_approval {
        let _ = writeln!(
            std::io::stderr(),
            "warning: campaign.require_approval is false: sending without legal's approval"
        );
        return Ok(());
    }
    let pinned = crate::review::approval::Pinned::of_config(config)?;
    crate::review::approval::verify(state_dir, &config.campaign.id, &pinned)
        .map(|_| ())
        .map_err(|m| Failure::new(EXIT_REFUSED, format!("refusing to send: {m}")).into())
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
