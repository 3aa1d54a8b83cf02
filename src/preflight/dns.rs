//! The DNS lookups of the pre-flight, through hickory-resolver: the system's resolver, or one
//! given server (`--dns-server ADDR:PORT`, for a company's internal resolver or a test server).
//!
//! Every answer is one of three things, and the checks treat them differently: records were
//! found, the name has none of that type (NXDOMAIN or an empty answer — "publish one"), or the
//! lookup itself failed (timeout, SERVFAIL, refused — "could not check", never "missing").
//!
//! Bounds: each query times out after [`QUERY_TIMEOUT`] and is tried [`ATTEMPTS`] times; a TXT
//! string longer than [`MAX_TXT_LEN`] is dropped (no SPF, DKIM or DMARC record is that long),
//! and at most [`MAX_RECORDS`] records of a name are kept.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

/// How long one query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries per query.
pub const ATTEMPTS: usize = 2;
/// Longest TXT record (its strings joined) that is kept.
pub const MAX_TXT_LEN: usize = 8192;
/// Most records of one name and type that are kept.
pub const MAX_RECORDS: usize = 64;

/// The answer to one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Found(Vec<T>),
    /// NXDOMAIN, or the name exists without records of this type.
    NoRecords,
    /// The lookup failed; the text says why.
    Failed(String),
}

/// A resolver and a description of it for the report.
pub struct Dns {
    resolver: TokioResolver,
    description: String,
}

impl Dns {
    /// The system's resolver (`/etc/resolv.conf`).
    pub fn system() -> Result<Dns> {
        let mut builder = TokioResolver::builder_tokio()
            .context("cannot read the system's resolver configuration (/etc/resolv.conf)")?;
        set_options(builder.options_mut());
        Ok(Dns {
            resolver: builder.build().context("cannot start the DNS resolver")?,
            description: "system resolver".into(),
        })
    }

    /// One given server, over UDP with TCP for truncated answers.
    pub fn server(addr: SocketAddr) -> Result<Dns> {
        let mut server = NameServerConfig::udp_and_tcp(addr.ip());
        for connection in &mut server.connections {
            connection.port = addr.port();
        }
        let config = ResolverConfig::from_name_servers(vec![server]);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        set_options(builder.options_mut());
        Ok(Dns {
            resolver: builder
                .build()
                .with_context(|| format!("cannot start the DNS resolver for {addr}"))?,
            description: addr.to_string(),
        })
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The TXT records of `name`, each record's strings joined (as SPF, DKIM and DMARC read
    /// them).
    pub async fn txt(&self, name: &str) -> Answer<String> {
        self.lookup(name, RecordType::TXT, |rdata| match rdata {
            RData::TXT(txt) => {
                let joined: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                (joined.len() <= MAX_TXT_LEN).then(|| String::from_utf8_lossy(&joined).into_owned())
            }
            _ => None,
        })
        .await
    }

    /// The MX records of `name`: (preference, exchange without the final dot).
    pub async fn mx(&self, name: &str) -> Answer<(u16, String)> {
        self.lookup(name, RecordType::MX, |rdata| match rdata {
            RData::MX(mx) => Some((mx.preference, trim_dot(&mx.exchange.to_ascii()))),
            _ => None,
        })
        .await
    }

    /// The IPv4 (`v6 == false`) or IPv6 addresses of `name`.
    pub async fn ips(&self, name: &str, v6: bool) -> Answer<IpAddr> {
        let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
        self.lookup(name, rtype, |rdata| match rdata {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .await
    }

    async fn lookup<T>(
        &self,
        name: &str,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Answer<T> {
        let name = match fqdn(name) {
            Ok(n) => n,
            Err(e) => return Answer::Failed(e),
        };
        match self.resolver.lookup(name, rtype).await {
            Ok(lookup) => {
                let found: Vec<T> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .filter_map(|r| pick(&r.data))
                    .take(MAX_RECORDS)
                    .collect();
                if found.is_empty() {
                    Answer::NoRecords
                } else {
                    Answer::Found(found)
                }
            }
            Err(e) if e.is_no_records_found() => Answer::NoRecords,
            Err(e) => Answer::Failed(describe(&e)),
        }
    }
}

fn set_options(opts: &mut ResolverOpts) {
    opts.timeout = QUERY_TIMEOUT;
    opts.attempts = ATTEMPTS;
    // Names are looked up exactly as given: never with the host's search domains appended.
    opts.ndots = 0;
}

/// `name` as a fully qualified DNS name, or why it is not one.
fn fqdn(name: &str) -> std::result::Result<Name, String> {
    let mut n = Name::from_ascii(name).map_err(|_| format!("{name:?} is not a valid DNS name"))?;
    n.set_fqdn(true);
    Ok(n)
}

fn trim_dot(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn describe(e: &NetError) -> String {
    match e {
        NetError::Timeout => "no answer (timeout)".into(),
        other => other.to_string(),
    }
}
