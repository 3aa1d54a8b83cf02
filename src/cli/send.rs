//! `send`: the options checked, the approval verified, the state directory locked, the run
//! started on a tokio runtime with the signal handlers, and its report turned into an exit code.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use super::args::{Cli, SendArgs};
use super::exit::{
    EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, EXIT_REFUSED, EXIT_RESUMABLE, EXIT_USAGE, Failure,
};
use crate::config::Config;
use crate::ingest::Encoding;

/// `send`: checks the options, the approval and the lock, then runs the campaign.
pub(super) fn send(
    config: &Config,
    cli: &Cli,
    args: &SendArgs,
    recipients: PathBuf,
    encoding: Encoding,
) -> Result<i32> {
    use crate::send::SendOptions;
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
        metrics: args.metrics,
    };
    if !args.dry_run {
        check_approval(config, cli.one_state_dir()?)?;
    }
    let _lock = crate::journal::lock_state_dir(&state_dir)?;
    if args.log_format == super::args::LogFormat::Json {
        // Events only, as JSON lines on stderr; an already installed subscriber stays.
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        let shutdown = crate::send::shutdown::Shutdown::default();
        super::signals::install(shutdown.clone());
        let mut out = std::io::stdout();
        if args.dry_run {
            let outbox = crate::send::transport::Outbox::create(&state_dir)?;
            crate::send::send(config, &opts, outbox, shutdown, &mut out).await
        } else if !settings.relays.is_empty() && args.smtp.is_none() {
            let pool = super::relay_pool::transport(
                config,
                &settings,
                &state_dir,
                args.accept_error_ratio,
                shutdown.clone(),
            )?;
            let shared = pool.shared();
            let keeper = super::relay_pool::keep_status(state_dir.clone(), shared.clone());
            let report = crate::send::send(config, &opts, pool, shutdown, &mut out).await;
            keeper.abort();
            super::relay_pool::after_run(&state_dir, &shared, &mut out);
            report
        } else {
            let relay = smtp_relay(config, &settings)?;
            crate::send::send(config, &opts, relay, shutdown, &mut out).await
        }
    })?;
    Ok(exit_for(&report, args.dry_run))
}

/// Prints the run's report and says what its exit code is: everything about a finished run
/// that the operator and a script see.
fn exit_for(report: &crate::send::RunReport, dry_run: bool) -> i32 {
    use crate::send::print_report;
    // The summary is for the operator: a closed stdout (`tsuchi send | head`) must not change
    // the exit code, which is the run's.
    let mut out = std::io::stdout().lock();
    let _ = print_report(report, dry_run, &mut out).and_then(|()| Ok(out.flush()?));
    if let Some(refusal) = &report.relay_refused {
        let _ = writeln!(
            std::io::stderr(),
            "error: {refusal}\nThe relay refused the session before any recipient was named \
             (check send.smtp, send.tls_ca_file, the credentials in TSUCHI_SMTP_USER / \
             TSUCHI_SMTP_PASSWORD and the sender address); nobody was marked failed for it: run \
             `tsuchi send` again once the relay accepts us."
        );
        return EXIT_ERROR;
    }
    if report.work_left() {
        EXIT_RESUMABLE
    } else if report.failed_total > 0 || report.refused > 0 {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

/// The SMTP relay `settings` name, with the credentials from the environment; a URL or
/// credentials it cannot use are a usage error.
pub(super) fn smtp_relay(
    config: &Config,
    settings: &crate::config::SendSettings,
) -> Result<crate::send::smtp::SmtpRelay> {
    use crate::send::smtp::{RelayUrl, Secret, SmtpRelay, SmtpSettings, TlsSettings};
    let usage =
        |e: anyhow::Error| -> anyhow::Error { Failure::new(EXIT_USAGE, format!("{e:#}")).into() };
    let url = RelayUrl::parse(&settings.smtp).map_err(usage)?;
    let credentials = Secret::from_env().map_err(usage)?;
    let tls = TlsSettings::load(
        settings.tls_ca_file.as_deref(),
        settings.tls_client_cert.as_deref(),
        settings.tls_client_key.as_deref(),
    )
    .map_err(usage)?;
    SmtpRelay::new(SmtpSettings {
        url,
        timeout: std::time::Duration::from_secs(settings.timeout_secs),
        messages_per_connection: settings.messages_per_connection,
        credentials,
        allow_insecure: settings.allow_insecure,
        hello_name: config.sender_domain().to_string(),
        tls,
    })
    .map_err(usage)
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
