//! The relay pool of `[[send.relays]]` made from the settings (each relay's URL checked, its
//! credentials from the environment), and what the operator is shown of it: after a run and
//! in `status`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::exit::{EXIT_USAGE, Failure};
use crate::config::{Config, SendSettings};
use crate::send::relay::{Breaker, PoolTransport, ReplyRules, Shared};
use crate::send::shutdown::Shutdown;
use crate::send::smtp::{RelayUrl, Secret, SmtpRelay, SmtpSettings, TlsSettings};

/// The pool transport of a run; a URL or credentials it cannot use are a usage error.
pub(super) fn transport(
    config: &Config,
    settings: &SendSettings,
    state_dir: &Path,
    accept_error_ratio: bool,
    shutdown: Shutdown,
) -> Result<PoolTransport> {
    let usage = |name: &str, e: anyhow::Error| -> anyhow::Error {
        Failure::new(EXIT_USAGE, format!("send.relays ({name}): {e:#}")).into()
    };
    let mut relays = Vec::new();
    for r in &settings.relays {
        let url = RelayUrl::parse(&r.url).map_err(|e| usage(&r.name, e))?;
        let credentials = Secret::from_env_for(&r.name).map_err(|e| usage(&r.name, e))?;
        // A relay's own TLS files, else the run's.
        let tls = TlsSettings::load(
            r.tls_ca_file.as_deref().or(settings.tls_ca_file.as_deref()),
            r.tls_client_cert
                .as_deref()
                .or(settings.tls_client_cert.as_deref()),
            r.tls_client_key
                .as_deref()
                .or(settings.tls_client_key.as_deref()),
        )
        .map_err(|e| usage(&r.name, e))?;
        let relay = SmtpRelay::new(SmtpSettings {
            url,
            timeout: std::time::Duration::from_secs(settings.timeout_secs),
            messages_per_connection: settings.messages_per_connection,
            credentials,
            allow_insecure: settings.allow_insecure,
            hello_name: config.sender_domain().to_string(),
            tls,
        })
        .map_err(|e| usage(&r.name, e))?;
        // A relay without a rate of its own is paced at the run's rate once it throttles.
        let ceiling = r.rate.or(Some(settings.rate).filter(|r| *r > 0.0));
        relays.push((r.name.clone(), r.weight, ceiling, relay));
    }
    let rules = ReplyRules::new(&settings.reply_rules)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("send.reply_rules: {e:#}")))?;
    let breaker = Breaker::load(
        state_dir,
        settings.max_unknown_ratio,
        settings.unknown_window,
        accept_error_ratio,
    )?;
    Ok(PoolTransport::new(
        relays,
        rules,
        breaker,
        settings.destination_groups(),
        shutdown,
    ))
}

/// How often a run refreshes `relay-status.json` for `status`.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// While a run lasts: the pool's state written for `status` every few seconds. Abort the
/// handle when the run ends.
pub(super) fn keep_status(
    state_dir: std::path::PathBuf,
    shared: std::sync::Arc<Shared>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(STATUS_EVERY).await;
            let (dir, shared) = (state_dir.clone(), shared.clone());
            // The write fsyncs: off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                crate::send::relay::write_status(&dir, &shared)
            })
            .await;
        }
    })
}

/// After a run: the pool's state kept for `status`, and what the breaker holds, told.
pub(super) fn after_run(state_dir: &Path, shared: &Shared, out: &mut dyn Write) {
    if let Err(e) = crate::send::relay::write_status(state_dir, shared) {
        let _ = writeln!(std::io::stderr(), "warning: relay status not kept: {e:#}");
    }
    let _ = writeln!(out);
    for r in shared.views() {
        let _ = writeln!(
            out,
            "relay {}: {} accepted, {}",
            r.name, r.accepted, r.state
        );
    }
    for t in shared.breaker.trips() {
        let _ = writeln!(
            out,
            "held: {t}. Its recipients stay to be sent: check the list, then resume with \
             `tsuchi send --accept-error-ratio`."
        );
    }
}

/// `status`: the pool as the last run left it, when there is one.
pub(super) fn print_status(state_dirs: &[std::path::PathBuf], out: &mut dyn Write) -> Result<()> {
    for dir in state_dirs {
        if let Some(status) = crate::send::relay::read_status(dir)? {
            status.print(out)?;
        }
    }
    Ok(())
}
