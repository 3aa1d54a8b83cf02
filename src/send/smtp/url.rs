//! The relay's address: a URL such as `smtp://127.0.0.1:2525`, parsed into host, port and
//! how the connection is protected, without ever quoting what may be a credential.

use std::net::IpAddr;

use anyhow::{Result, bail};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain SMTP: only for a relay on loopback (or with `allow_insecure`).
    Plain,
    /// STARTTLS, refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (`smtps://`, usually port 465).
    Tls,
}

/// Where and how to reach the relay, parsed from a URL such as `smtp://127.0.0.1:2525`,
/// `smtp://relay.example.jp:587?tls=required` or `smtps://relay.example.jp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl RelayUrl {
    /// Parses a relay URL. No error quotes the URL or any part of it: a mistyped URL may carry a
    /// password (after a full-width `＠`, percent-encoded, in the port, the path or a parameter),
    /// and whatever is accepted as the host is later shown in connection errors, so the host
    /// must be a plain DNS name or IP address.
    pub fn parse(url: &str) -> Result<RelayUrl> {
        const CREDENTIALS: &str = "the relay URL must not carry credentials; set \
             TSUCHI_SMTP_USER and TSUCHI_SMTP_PASSWORD (or TSUCHI_SMTP_PASSWORD_FILE) instead";
        if url.contains(['@', '\u{FF20}', '\u{FE6B}']) {
            bail!(CREDENTIALS);
        }
        if url.contains('%') {
            bail!("the relay URL must not be percent-encoded (and must not carry credentials)");
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| anyhow::anyhow!("the relay URL needs a scheme: smtp:// or smtps://"))?;
        if rest.contains('#') {
            bail!("the relay URL must not have a fragment (#…)");
        }
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, p),
            None => (before_query, ""),
        };
        if !path.trim_matches('/').is_empty() {
            bail!("the relay URL must not have a path: smtp://host:port");
        }
        let mut tls = None;
        for param in query.into_iter().flat_map(|q| q.split('&')) {
            match param.split_once('=') {
                Some(("tls", "required")) => tls = Some(Security::StartTls),
                Some(("tls", _)) => bail!("relay URL: only tls=required is supported"),
                _ => bail!(
                    "relay URL: the only parameter is tls=required (and credentials go in \
                     TSUCHI_SMTP_USER and TSUCHI_SMTP_PASSWORD)"
                ),
            }
        }
        let (security, default_port) = match (scheme, tls) {
            ("smtp", None) => (Security::Plain, 25),
            ("smtp", Some(s)) => (s, 587),
            ("smtps", None) => (Security::Tls, 465),
            _ => bail!("the relay URL's scheme must be smtp or smtps"),
        };
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            bail!("the relay URL has no host");
        }
        Ok(RelayUrl {
            host,
            port: port.unwrap_or(default_port),
            security,
        })
    }

    /// True when the relay is this machine (127.0.0.0/8, ::1 or `localhost`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("unclosed [ in relay URL"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            bail!("the relay URL's host in [ ] is not an IPv6 address");
        }
        let port =
            match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| {
                    anyhow::anyhow!("the relay URL has text after its IPv6 address")
                })?),
            };
        (host, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let dns_name = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !dns_name {
            bail!(
                "the relay URL's host must be a DNS name or an IP address in ASCII (an \
                 internationalized name in its xn-- form)"
            );
        }
        (host, port)
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0 && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    anyhow::anyhow!("the relay URL's port must be a number from 1 to 65535")
                })?,
        ),
        None => None,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relay_urls() {
        let u = RelayUrl::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("127.0.0.1", 2525, Security::Plain)
        );
        assert!(u.is_loopback());
        let u = RelayUrl::parse("smtp://relay.example.jp?tls=required").unwrap();
        assert_eq!((u.port, u.security), (587, Security::StartTls));
        let u = RelayUrl::parse("smtps://relay.example.jp").unwrap();
        assert_eq!((u.port, u.security), (465, Security::Tls));
        assert!(!u.is_loopback());
        let u = RelayUrl::parse("smtp://[::1]:25").unwrap();
        assert!(u.is_loopback());
        assert!(
            RelayUrl::parse("smtp://user:pw@relay:25")
                .unwrap_err()
                .to_string()
                .contains("TSUCHI_SMTP_USER")
        );
        assert!(RelayUrl::parse("http://x").is_err());
        assert!(RelayUrl::parse("smtp://x?tls=opportunistic").is_err());
    }

    /// Whatever may be a credential in a mistyped relay URL never reaches an error message, and
    /// such a URL is never accepted (its host would be shown in connection errors).
    #[test]
    fn relay_url_errors_never_echo_credentials() {
        let secret = "s3cr3t-PW";
        for url in [
            format!("smtp://u:{secret}\u{FF20}relay.example.jp:587"),
            format!("smtp://u:{secret}\u{FE6B}relay.example.jp:587"),
            format!("smtp://u%3A{secret}%40relay.example.jp:587"),
            format!("smtp://u:{secret}%40relay.example.jp"),
            format!("smtp://relay.example.jp:{secret}"),
            format!("smtp://relay.example.jp:587?password={secret}"),
            format!("smtp://relay.example.jp:587?tls={secret}"),
            format!("smtp://relay.example.jp:587?tls=required&password={secret}"),
            format!("smtp://relay.example.jp:587/{secret}"),
            format!("smtp://relay.example.jp/{secret}?tls=required"),
            format!("smtp://relay.example.jp:587#{secret}"),
            format!("smtp://u:{secret}@relay.example.jp:587"),
            format!("smtp:/u:{secret}@relay.example.jp:587"),
            format!("smtp//u:{secret}relay.example.jp"),
            format!("{secret}://relay.example.jp"),
            format!("smtp://[{secret}]:25"),
            format!("smtp://[::1]{secret}"),
            format!("smtp://u {secret} relay.example.jp"),
        ] {
            match RelayUrl::parse(&url) {
                Ok(u) => panic!("accepted {url:?} as {u:?}"),
                Err(e) => {
                    let message = format!("{e:#}");
                    assert!(!message.contains(secret), "{url:?}: {message}");
                }
            }
        }
    }
}
