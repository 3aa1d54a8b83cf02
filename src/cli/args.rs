//! The command line as clap reads it: the global options ([`Cli`]), the commands
//! ([`Command`]) and the options of `send` ([`SendArgs`]). The doc comments are the help texts.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use super::exit::{EXIT_USAGE, Failure};

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
    pub shard: Option<crate::ingest::Shard>,
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
    Preview(PreviewArgs),
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
    Report(ReportArgs),
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
    /// The read-only hotline service for call-centre agents: a sign-in page and a JSON API
    /// answering by reference number or customer id; named agents, rate limit, audit log.
    Serve(ServeArgs),
    /// Print-ready letters (A4 PDF) and the print vendor's manifest for the people e-mail did
    /// not reach; each letter is recorded in the journal.
    Letters(LettersArgs),
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

/// How `send` logs its events.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Only the progress line and the summary.
    Text,
    /// Also one JSON line per event on stderr.
    Json,
}

/// The options of `serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs --tls-cert/--tls-key, or
    /// --allow-insecure for a TLS-terminating proxy in front.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Serve over TLS with this certificate chain (PEM); with --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS of its own: only behind a proxy that
    /// terminates TLS. The session cookie is then marked Secure.
    #[arg(long, conflicts_with = "tls_cert")]
    pub allow_insecure: bool,
    /// Lookups and name checks each agent may make per minute.
    #[arg(long, default_value = "60")]
    pub rate_limit: std::num::NonZeroU32,
    /// Add an agent and print its token (once); then exit.
    #[arg(long, value_name = "NAME", conflicts_with = "remove_agent")]
    pub add_agent: Option<String>,
    /// Remove an agent (its token stops working at once); then exit.
    #[arg(long, value_name = "NAME")]
    pub remove_agent: Option<String>,
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
    /// Send again to destinations the error-ratio breaker stopped (send.max_unknown_ratio).
    #[arg(long)]
    pub accept_error_ratio: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// `json`: the run's events (start, stop, with run id and counts) as JSON lines on
    /// stderr, for log shippers.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at http://ADDR/metrics while the run lasts (e.g. 127.0.0.1:9184).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
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

/// The options of `preview`.
#[derive(clap::Args, Debug, Clone)]
pub struct PreviewArgs {
    /// Output directory.
    #[arg(long, default_value = "preview")]
    pub out: PathBuf,
    /// Render these customers' real notices instead of one sample per group.
    #[arg(long = "id", num_args = 1.., conflicts_with_all = ["all", "variants"])]
    pub ids: Vec<String>,
    /// Also write one .eml per field combination (every variant), linked from the page.
    #[arg(long)]
    pub all: bool,
    /// Also write the .eml of these variants (codes as the page shows them, e.g.
    /// kaede-ja-0007f).
    #[arg(long = "variant", num_args = 1.., value_name = "CODE")]
    pub variants: Vec<String>,
    /// Also send each written preview (subject prefixed [確認用 n/N]) to these reviewers'
    /// own mailboxes through the relay, to be read in the mail clients recipients use.
    #[arg(long = "mail-to", num_args = 1..)]
    pub mail_to: Vec<String>,
    /// Relay for --mail-to (default: send.smtp).
    #[arg(long)]
    pub smtp: Option<String>,
}

/// The options of `report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// csv: a UTF-8 CSV with a BOM (for Excel), formula-like cells prefixed with `'`.
    /// json: JSON Lines — one JSON object per line, one line per recipient (stream it
    /// line by line; it is not one JSON array).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: crate::report::Format,
    /// Only recipients not reached by e-mail (invalid, refused, deferred, bounced, not sent).
    #[arg(long)]
    pub unreached: bool,
    /// With --unreached: copy these columns of the list into the export (e.g. a postal
    /// address for a letter). The export then holds personal data.
    #[arg(long, value_delimiter = ',', requires = "unreached")]
    pub columns: Vec<String>,
    /// The figures for the incident report, in Japanese and English.
    #[arg(long, conflicts_with_all = ["unreached", "columns"])]
    pub summary: bool,
    /// The export for the call-centre vendor's CRM: reference, id, brand, the fields listed
    /// in each notice (labels), state, notified at. CSV with a BOM; needs --output FILE.
    #[arg(long, conflicts_with_all = ["unreached", "columns", "summary"], requires = "output")]
    pub hotline: bool,
    /// Write to this file (owner-only) instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// The options of `letters`.
#[derive(clap::Args, Debug, Clone)]
pub struct LettersArgs {
    /// Directory for the PDF batch files, manifest.csv and announcement.csv (owner-only: they
    /// hold personal data).
    #[arg(long, required_unless_present = "mark_posted")]
    pub out: Option<PathBuf>,
    /// Letters per PDF file (default: letters.batch, 500).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Export again the people whose letter an earlier run exported.
    #[arg(long)]
    pub again: bool,
    /// Record that the print vendor posted this batch file (e.g. letters-0001.pdf).
    #[arg(long, value_name = "BATCH", requires = "date", conflicts_with_all = ["out", "batch", "again"])]
    pub mark_posted: Option<String>,
    /// With --mark-posted: the posting date the vendor confirmed, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "mark_posted")]
    pub date: Option<String>,
}
