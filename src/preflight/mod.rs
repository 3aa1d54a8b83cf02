//! `tsuchi preflight`: is the sender's domain set up so that receivers accept the notices and
//! bounces come back? Carriers and large receivers (and the Anti-Phishing Council of Japan's
//! guidance for legitimate senders) want SPF, DKIM and DMARC, aligned with the From address.
//!
//! Five checks, each a [`Finding`] (ok / warning / error, with what to publish):
//!
//! - [`dmarc`]: the From domain's DMARC record and its policy;
//! - [`dkim_key`]: the key record of `[dkim]`, and whether it is the configured private key's;
//! - [`spf`]: the return-path domain's SPF record, and whether it permits `send.relay_ips`;
//! - [`bounce_mx`]: an MX (or address) for the return-path domain, so bounces can arrive;
//! - [`alignment`]: From, Return-Path and DKIM `d=` in the same organizational domain.
//!
//! Lookups go to the system's resolver or to one server ([`dns`]); the four DNS checks run
//! concurrently, each query bounded in time, so a dead resolver costs seconds, not minutes.
//!
//! ```no_run
//! let config = tsuchi::config::Config::load("config.toml".as_ref()).unwrap();
//! let report = tsuchi::preflight::run(&config, None).unwrap();
//! println!("{}", report.counts_line());
//! ```

mod alignment;
mod bounce_mx;
mod dkim_key;
mod dmarc;
mod dns;
mod findings;
mod spf;

use std::net::SocketAddr;

use anyhow::Result;

pub use findings::{Check, Finding, Level, Report};

use crate::config::Config;

/// Runs every check against the system's resolver or `dns_server`, on a runtime of its own.
pub fn run(config: &Config, dns_server: Option<SocketAddr>) -> Result<Report> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dns = match dns_server {
            Some(addr) => dns::Dns::server(addr)?,
            None => dns::Dns::system()?,
        };
        Ok(check(config, &dns).await)
    })
}

/// The domain of an address, lowercase.
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(address)
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

async fn check(config: &Config, dns: &dns::Dns) -> Report {
    let from_domain = domain_of(&config.sender.address);
    let return_path = config
        .sender
        .return_path
        .as_deref()
        .unwrap_or(&config.sender.address);
    // With VERP the local part changes per message; the domain, which SPF checks, does not.
    let return_path_domain = domain_of(return_path);
    let dkim = config.dkim.as_ref();
    let key_file = crate::mail::dkim::resolve_key_path(dkim.and_then(|d| d.key_file.as_deref()));
    let ((dmarc_finding, dmarc_record), dkim_finding, spf_finding, mx_finding) = tokio::join!(
        dmarc::finding(dns, &from_domain),
        dkim_key::finding(dns, dkim, key_file.as_deref(), &from_domain),
        spf::finding(dns, &return_path_domain, &config.send.relay_ips),
        bounce_mx::finding(dns, &return_path_domain),
    );
    let alignment_finding = alignment::finding(
        &from_domain,
        &return_path_domain,
        dkim.map(|d| d.domain.as_str()),
        dmarc_record.as_ref(),
    );
    Report {
        from_domain,
        return_path_domain,
        dns: dns.description().to_string(),
        findings: vec![
            dmarc_finding,
            dkim_finding,
            spf_finding,
            mx_finding,
            alignment_finding,
        ],
    }
}
