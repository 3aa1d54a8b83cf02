//! The SMTP relay as a [`Transport`]: one connection per worker session, opened lazily,
//! reused for many messages and recycled (QUIT, reconnect) after a configured number of them —
//! Japanese carriers ask for about 100 messages per SMTP session.
//!
//! Replies are classified on lettre's typed codes: 2xx sent, 5xx permanent, 4xx, timeouts and
//! connection failures temporary — except that a 5xx before any recipient is named (greeting,
//! EHLO, STARTTLS, AUTH, MAIL FROM) refuses the session, not the recipient, and stops the run.
//! The transaction is driven step by step so that every reply is checked against the command
//! it answers: a relay out of step (a 250 where DATA wants 354, a 354 where the end of data
//! wants 2xx) ends the session, and only a 2xx to the end of data counts as sent. Whatever
//! the relay sends is bounded (see [`bounded`]). Credentials come from the environment, never
//! from the config file or the command line, and are never printed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::send::transport::Transport;

mod bounded;
mod classify;
mod secret;
mod session;
mod tls;
mod transaction;
mod url;

pub use secret::Secret;
use session::SmtpSession;
pub use tls::TlsSettings;
pub use url::{RelayUrl, Security};

/// Settings of the SMTP transport.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub url: RelayUrl,
    pub timeout: Duration,
    pub messages_per_connection: usize,
    pub credentials: Option<Secret>,
    pub allow_insecure: bool,
    /// Our name in EHLO: the sender's domain.
    pub hello_name: String,
    /// The CA bundle and client certificate for TLS to this relay.
    pub tls: TlsSettings,
}

/// The relay; hands out one session (one connection) per worker.
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    settings: Arc<SmtpSettings>,
}

impl SmtpRelay {
    /// Validates the security rules: no plain SMTP beyond loopback and no credentials over a
    /// plain connection, unless `allow_insecure`.
    pub fn new(settings: SmtpSettings) -> Result<SmtpRelay> {
        let plain = settings.url.security == Security::Plain;
        if plain && !settings.url.is_loopback() && !settings.allow_insecure {
            bail!(
                "refusing plain SMTP to {} (not loopback): use smtps:// or ?tls=required, \
                 or set send.allow_insecure = true",
                settings.url.host
            );
        }
        if plain && settings.credentials.is_some() && !settings.allow_insecure {
            bail!("refusing to send credentials over a connection without TLS");
        }
        Ok(SmtpRelay {
            settings: Arc::new(settings),
        })
    }
}

impl Transport for SmtpRelay {
    type Session = SmtpSession;
    fn session(&self) -> SmtpSession {
        SmtpSession::new(self.settings.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, credentials: bool) -> SmtpSettings {
        SmtpSettings {
            url: RelayUrl::parse(url).unwrap(),
            timeout: Duration::from_secs(5),
            messages_per_connection: 100,
            credentials: credentials.then(|| Secret {
                user: "u".into(),
                password: "hunter2".into(),
            }),
            allow_insecure: false,
            hello_name: "example.jp".into(),
            tls: TlsSettings::default(),
        }
    }

    #[test]
    fn refuses_plain_smtp_beyond_loopback_and_plain_credentials() {
        assert!(SmtpRelay::new(settings("smtp://127.0.0.1:25", false)).is_ok());
        assert!(SmtpRelay::new(settings("smtp://relay.example.jp:25", false)).is_err());
        assert!(SmtpRelay::new(settings("smtp://127.0.0.1:25", true)).is_err());
        assert!(SmtpRelay::new(settings("smtp://relay.example.jp:25?tls=required", true)).is_ok());
        let mut s = settings("smtp://relay.example.jp:25", true);
        s.allow_insecure = true;
        assert!(SmtpRelay::new(s).is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = settings("smtps://relay.example.jp", true);
        assert!(!format!("{s:?}").contains("hunter2"));
        let relay = SmtpRelay::new(s).unwrap();
        assert!(!format!("{relay:?}").contains("hunter2"));
    }
}
