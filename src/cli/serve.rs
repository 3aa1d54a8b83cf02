//! `serve`: the hotline service — agents added and removed, the address checked, the runtime
//! started, and the signals that stop it.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::args::{Cli, ServeArgs};
use super::exit::{EXIT_ERROR, EXIT_OK, EXIT_USAGE, Failure};
use crate::config::Config;
use crate::ingest::Encoding;

pub(super) fn serve(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    args: &ServeArgs,
    out: &mut dyn Write,
) -> Result<i32> {
    let home = &cli.state_dir[0];
    if let Some(name) = &args.add_agent {
        let token = crate::hotline::add_agent(home, name)?;
        writeln!(
            out,
            "agent {name} added; its token (shown this once, give it to the agent only):\n{token}"
        )?;
        return Ok(EXIT_OK);
    }
    if let Some(name) = &args.remove_agent {
        crate::hotline::remove_agent(home, name)?;
        writeln!(out, "agent {name} removed; its token no longer works")?;
        return Ok(EXIT_OK);
    }
    let loopback = args.listen.ip().is_loopback();
    let tls = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
    if !loopback && !args.allow_insecure && tls.is_none() {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "--listen {}: not a loopback address; give --tls-cert and --tls-key, or \
                 --allow-insecure behind a TLS-terminating proxy",
                args.listen
            ),
        )
        .into());
    }
    let agents = crate::hotline::agent_count(home)?;
    if agents == 0 {
        return Err(Failure::new(
            EXIT_USAGE,
            "no hotline agents yet: add one first with tsuchi serve --add-agent NAME",
        )
        .into());
    }
    let settings = crate::hotline::ServeSettings {
        config: config.clone(),
        recipients: recipients.to_path_buf(),
        encoding,
        state_dirs: cli.state_dir.clone(),
        per_minute: args.rate_limit,
        secure_cookie: !loopback || tls.is_some(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                Failure::new(EXIT_ERROR, format!("cannot listen on {}: {e}", args.listen))
            })?;
        let addr = listener.local_addr()?;
        // The certificate is read before the address is announced: a bad one is an error,
        // not a service that refuses every client.
        let (plain, secure) = match tls {
            Some((cert, key)) => (
                None,
                Some(
                    crate::hotline::TlsListener::new(listener, cert, key)
                        .map_err(|e| Failure::new(EXIT_USAGE, format!("{e:#}")))?,
                ),
            ),
            None => (Some(listener), None),
        };
        let scheme = if secure.is_some() { "https" } else { "http" };
        writeln!(
            out,
            "hotline for campaign {} listening on {scheme}://{addr}/ ({agents} agents); audit log {}",
            config.campaign.id,
            crate::hotline::audit_path(home).display()
        )?;
        out.flush()?;
        if let Some(listener) = secure {
            crate::hotline::serve(listener, settings, stopped()).await
        } else if let Some(listener) = plain {
            crate::hotline::serve(listener, settings, stopped()).await
        } else {
            Ok(())
        }
    })?;
    Ok(EXIT_OK)
}

/// Completes at the first SIGINT or SIGTERM.
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
