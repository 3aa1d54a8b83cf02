//! The command line: parsing ([`args`]), dispatch to one function per command (grouped in
//! [`review`], [`preflight`], [`send`] and [`report`]), and exit codes ([`exit`]).
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

mod args;
mod exit;
mod letters;
mod preflight;
mod relay_pool;
mod report;
mod review;
mod send;
mod serve;
pub(crate) mod signals;

use std::io::Write;

use anyhow::Result;
use clap::Parser;

use crate::config::Config;
use crate::ingest::Encoding;
use args::{Cli, Command};

pub use exit::{
    EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, EXIT_REFUSED, EXIT_RESUMABLE, EXIT_USAGE, Failure,
    exit_code,
};

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
    let output_only = matches!(cli.command, Command::Report(_) | Command::Status);
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
fn run(cli: Cli) -> Result<i32> {
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
        } => review::check(
            &config,
            &cli,
            &recipients,
            encoding,
            *preflight,
            *dns_server,
            &mut out,
        ),
        Command::Preflight { dns_server, format } => {
            preflight::run(&config, *dns_server, *format, &mut out)
        }
        Command::Preview(args) => {
            review::preview(&config, &cli, &recipients, encoding, args, &mut out)
        }
        Command::Approve { reviewer, note } => {
            review::approve(&config, &cli, reviewer, note, &mut out)
        }
        Command::Status => report::status(&config, &cli, &recipients, encoding, &mut out),
        Command::Report(args) => {
            report::report(&config, &cli, &recipients, encoding, args, &mut out)
        }
        Command::Bounces { paths } => {
            report::bounces(&config, &cli, &recipients, encoding, paths, &mut out)
        }
        Command::Lookup { key } => {
            report::lookup(&config, &cli, &recipients, encoding, key, &mut out)
        }
        Command::Serve(args) => serve::serve(&config, &cli, &recipients, encoding, args, &mut out),
        Command::Letters(args) => {
            letters::letters(&config, &cli, &recipients, encoding, args, &mut out)
        }
        Command::Send(args) => {
            drop(out);
            send::send(&config, &cli, args, recipients, encoding)
        }
    }
}
