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
//! the relay sends is bounded (see [`Bounded`]). Credentials come from the environment, never
//! from the config file or the command line, and are never printed.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Result, bail};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::mail::message::OutgoingMessage;
use crate::send::transport::{Delivery, FailureKind, SendFailure, Session, Transport};

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

/// What a message may show of text that may hold credentials: a URL, a config line, an
/// environment assignment. The one redaction every message that shows such text goes through.
///
/// Hidden: everything after `scheme://` up to the next space or quote; any word with an `@`
/// (also full-width `＠` or small `﹫`), which may be `user:password@host`; and the rest of a
/// line after a key that names a secret (`password`, `passwd`, `secret`, `token`) and its `=` or
/// `:`. Messages without such text come out unchanged.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&redact_line(line));
    }
    out
}

fn redact_line(line: &str) -> String {
    const HIDDEN: &str = "<hidden>";
    let lower = line.to_lowercase();
    // A key naming a secret: keep the line up to its separator.
    if lower.len() == line.len() {
        let key = ["password", "passwd", "secret", "token"]
            .iter()
            .filter_map(|k| lower.find(k).map(|i| i + k.len()))
            .min();
        if let Some(cut) = key.and_then(|k| line[k..].find(['=', ':']).map(|sep| k + sep + 1)) {
            return format!("{} {HIDDEN}", redact_words(&line[..cut]).trim_end());
        }
    }
    redact_words(line)
}

fn redact_words(line: &str) -> String {
    const HIDDEN: &str = "<hidden>";
    let is_break = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>');
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let word_len = rest.find(is_break).unwrap_or(rest.len());
        if word_len == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..word_len];
        if let Some(i) = word.find("://") {
            out.push_str(&word[..i + 3]);
            out.push_str(HIDDEN);
        } else if word.contains(['@', '\u{FF20}', '\u{FE6B}']) {
            out.push_str(HIDDEN);
        } else {
            out.push_str(word);
        }
        rest = &rest[word_len..];
    }
    out
}

/// SMTP credentials, from `TSUCHI_SMTP_USER` and `TSUCHI_SMTP_PASSWORD` or
/// `TSUCHI_SMTP_PASSWORD_FILE`. `Debug` never shows the password.
#[derive(Clone)]
pub struct Secret {
    user: String,
    password: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret {{ user: {:?}, password: <hidden> }}", self.user)
    }
}

impl Secret {
    /// Reads credentials from the environment; `None` when no user is set.
    pub fn from_env() -> Result<Option<Secret>> {
        let Ok(user) = std::env::var("TSUCHI_SMTP_USER") else {
            return Ok(None);
        };
        let password = match (
            std::env::var("TSUCHI_SMTP_PASSWORD"),
            std::env::var("TSUCHI_SMTP_PASSWORD_FILE"),
        ) {
            (Ok(p), _) => p,
            (Err(_), Ok(file)) => std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read TSUCHI_SMTP_PASSWORD_FILE {file}: {e}"))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            _ => bail!(
                "TSUCHI_SMTP_USER is set but neither TSUCHI_SMTP_PASSWORD nor TSUCHI_SMTP_PASSWORD_FILE is"
            ),
        };
        Ok(Some(Secret { user, password }))
    }
}

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
        SmtpSession {
            settings: self.settings.clone(),
            connection: None,
            sent_on_connection: 0,
        }
    }
}

/// One worker's SMTP connection.
pub struct SmtpSession {
    settings: Arc<SmtpSettings>,
    connection: Option<AsyncSmtpConnection>,
    sent_on_connection: usize,
}

fn temporary(text: String) -> SendFailure {
    SendFailure {
        maybe_delivered: false,
        kind: FailureKind::Temporary,
        code: None,
        enhanced: None,
        text,
    }
}

/// The most the relay may send between two of our writes. An SMTP reply is at most a few
/// kilobytes (lettre refuses lines over 1,000 bytes and replies over 100,000, but only once a
/// line has ended); a TLS handshake's certificates some tens. Without this cap a relay that
/// sends a line without end grows the reply buffer until memory runs out.
pub const MAX_UNASKED_BYTES: usize = 256 * 1024;

/// A socket that refuses to read more than [`MAX_UNASKED_BYTES`] since our last write, with a
/// clear error. It sits under TLS too, so it counts the bytes on the wire.
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    since_write: usize,
}

impl<S> Bounded<S> {
    pub fn new(inner: S) -> Bounded<S> {
        Bounded {
            inner,
            since_write: 0,
        }
    }
}

fn too_long() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "reply too long: the relay sent more than {} KiB without a line end, or without \
             waiting for our next command",
            MAX_UNASKED_BYTES / 1024
        ),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.since_write >= MAX_UNASKED_BYTES {
            return Poll::Ready(Err(too_long()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = buf.filled().len() - before;
            self.since_write = self.since_write.saturating_add(n);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.since_write = 0;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Bounded<tokio::net::TcpStream> {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

/// lettre's TLS stream (a futures-io stream) as a tokio stream, so that implicit TLS runs over
/// a [`Bounded`] socket too: lettre only wraps sockets it opened itself.
#[allow(deprecated)] // lettre's `AsyncNetworkStream` is public but deprecated
#[derive(Debug)]
struct TlsOverBounded(lettre::transport::smtp::client::AsyncNetworkStream);

#[allow(deprecated)]
impl AsyncRead for TlsOverBounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[allow(deprecated)]
impl AsyncWrite for TlsOverBounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for TlsOverBounded {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

/// How a failed transaction leaves the connection.
enum Leave {
    /// The dialogue is still in step: say QUIT (as lettre does after a negative reply).
    Quit,
    /// The replies are out of step, or the connection broke: drop it without a word.
    Drop,
}

/// A reply that does not answer the command it follows: the relay is out of step, so no later
/// reply on this connection can be trusted. After the data was sent the outcome is unknown.
fn out_of_step(step: &str, expected: &str, response: &Response, after_data: bool) -> SendFailure {
    let text: Vec<&str> = response.message().collect();
    SendFailure {
        kind: FailureKind::Temporary,
        maybe_delivered: after_data,
        code: Some(u16::from(response.code())),
        enhanced: None,
        text: format!(
            "relay out of step: {} {} to {step} (expected {expected}); session closed",
            u16::from(response.code()),
            text.join(" ")
        ),
    }
}

fn is_2xx(response: &Response) -> bool {
    (200..300).contains(&u16::from(response.code()))
}

/// One message through MAIL, RCPT, DATA and the end of data, every reply checked against the
/// command it answers.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    message: &OutgoingMessage,
) -> Result<Response, (SendFailure, Leave)> {
    let envelope = &message.envelope;
    // A negative reply keeps the dialogue in step; anything else (a broken connection, a
    // reply that cannot be parsed) does not.
    let leave = |e: &lettre::transport::smtp::Error| {
        if e.status().is_some() {
            Leave::Quit
        } else {
            Leave::Drop
        }
    };
    let mut options = vec![];
    let non_ascii = envelope
        .from()
        .is_some_and(|a| !AsRef::<str>::as_ref(a).is_ascii())
        || envelope
            .to()
            .iter()
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    if non_ascii {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err((
                temporary("send: the relay does not offer SMTPUTF8 for a non-ASCII address".into()),
                Leave::Quit,
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.bytes.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err((
                temporary("send: the relay does not offer 8BITMIME for a non-ASCII message".into()),
                Leave::Quit,
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    // MAIL FROM: the sender is the same for every recipient, so a 5xx here refuses them all.
    match conn
        .command(Mail::new(envelope.from().cloned(), options))
        .await
    {
        Ok(r) if is_2xx(&r) => {}
        Ok(r) => return Err((out_of_step("MAIL FROM", "2xx", &r, false), Leave::Drop)),
        Err(e) => {
            let mut f = classify(&e, "MAIL FROM");
            if f.kind == FailureKind::Permanent {
                f.kind = FailureKind::Relay;
            }
            return Err((f, leave(&e)));
        }
    }
    for to in envelope.to() {
        match conn.command(Rcpt::new(to.clone(), vec![])).await {
            Ok(r) if is_2xx(&r) => {}
            Ok(r) => return Err((out_of_step("RCPT TO", "2xx", &r, false), Leave::Drop)),
            Err(e) => return Err((classify(&e, "RCPT TO"), leave(&e))),
        }
    }
    match conn.command(Data).await {
        Ok(r) if u16::from(r.code()) == 354 => {}
        Ok(r) => return Err((out_of_step("DATA", "354", &r, false), Leave::Drop)),
        Err(e) => return Err((classify(&e, "DATA"), leave(&e))),
    }
    match conn.message(&message.bytes).await {
        Ok(r) if is_2xx(&r) => Ok(r),
        Ok(r) => Err((out_of_step("the end of data", "2xx", &r, true), Leave::Drop)),
        Err(e) => Err((classify(&e, "send"), leave(&e))),
    }
}

impl SmtpSession {
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        let s = &self.settings;
        let hello = ClientId::Domain(s.hello_name.clone());
        let tls = || {
            TlsParameters::new(s.url.host.clone())
                .map_err(|e| temporary(format!("TLS setup for {}: {e}", s.url.host)))
        };
        // lettre's timeout covers the TCP connect only; the whole dialogue gets ours.
        let connecting = async {
            // The socket is opened here, for every kind of security: to turn Nagle's algorithm
            // off (lettre writes a message and its final dot separately; with Nagle the dot
            // waits for the relay's delayed ACK, 40 ms, capping a session at ~20 msg/s) and to
            // bound what the relay may send (`Bounded`).
            let stream = tokio::net::TcpStream::connect((s.url.host.as_str(), s.url.port))
                .await
                .map_err(|e| temporary(format!("connect to {}:{}: {e}", s.url.host, s.url.port)))?;
            let _ = stream.set_nodelay(true);
            let stream = Bounded::new(stream);
            let transport: Box<dyn AsyncTokioStream> = match s.url.security {
                // Implicit TLS: the handshake first, over the bounded socket.
                Security::Tls => {
                    #[allow(deprecated)]
                    let mut tls_stream =
                        lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(
                            Box::new(stream),
                        );
                    tls_stream
                        .upgrade_tls(tls()?)
                        .await
                        .map_err(|e| classify(&e, "TLS"))?;
                    Box::new(TlsOverBounded(tls_stream))
                }
                Security::Plain | Security::StartTls => Box::new(stream),
            };
            // The greeting and EHLO: a 5xx to either refuses the session.
            AsyncSmtpConnection::connect_with_transport(transport, &hello)
                .await
                .map_err(|e| refuses_session(classify(&e, "connect")))
        };
        let mut conn = tokio::time::timeout(s.timeout, connecting)
            .await
            .map_err(|_| {
                temporary(format!(
                    "connect to {}:{}: timed out",
                    s.url.host, s.url.port
                ))
            })??;
        if s.url.security == Security::StartTls {
            if !conn.can_starttls() {
                drop(conn);
                // The settings require TLS: asking again will not make the relay offer it.
                let mut f = temporary(format!("{} does not offer STARTTLS", s.url.host));
                f.kind = FailureKind::Relay;
                return Err(f);
            }
            conn.starttls(tls()?, &hello)
                .await
                .map_err(|e| refuses_session(classify(&e, "STARTTLS")))?;
        }
        if let Some(secret) = &s.credentials {
            let credentials = Credentials::new(secret.user.clone(), secret.password.clone());
            if let Err(e) = conn
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
            {
                drop(conn);
                // Never echo what was sent: the error text is the server's. A 5xx (535: a
                // mistyped password) or no mechanism in common refuses the session.
                let mut f = refuses_session(classify(&e, "AUTH"));
                if e.is_client() {
                    f.kind = FailureKind::Relay;
                }
                return Err(f);
            }
        }
        Ok(conn)
    }

    /// Forgets a connection that failed or timed out. It is dropped, not closed politely:
    /// a relay that stopped answering would not answer QUIT either.
    async fn drop_connection(&mut self) {
        drop(self.connection.take());
        self.sent_on_connection = 0;
    }

    /// Ends a healthy connection with QUIT, waiting at most the SMTP timeout for the reply.
    async fn quit(&mut self) {
        if let Some(mut c) = self.connection.take() {
            let _ = tokio::time::timeout(self.settings.timeout, c.quit()).await;
        }
        self.sent_on_connection = 0;
    }
}

impl Session for SmtpSession {
    async fn send(
        &mut self,
        message: &OutgoingMessage,
        _name: &str,
    ) -> Result<Delivery, SendFailure> {
        if self.connection.as_ref().is_some_and(|c| c.has_broken()) {
            self.drop_connection().await;
        }
        if self.connection.is_none() {
            self.connection = Some(self.connect().await?);
            self.sent_on_connection = 0;
        }
        let conn = self.connection.as_mut().expect("connected above");
        // lettre does not time out waiting for replies: a relay that stops answering would
        // hold this worker forever.
        let result = tokio::time::timeout(self.settings.timeout, transaction(conn, message)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                self.drop_connection().await;
                let mut failure =
                    temporary("send: no reply from the relay within the timeout".into());
                failure.maybe_delivered = true;
                return Err(failure);
            }
        };
        match result {
            Ok(response) => {
                self.sent_on_connection += 1;
                let text: Vec<&str> = response.message().collect();
                let reply = text.join(" ");
                let delivery = Delivery {
                    code: u16::from(response.code()),
                    queue_id: queue_id(&reply),
                    reply,
                };
                if self.sent_on_connection >= self.settings.messages_per_connection {
                    self.quit().await;
                }
                Ok(delivery)
            }
            Err((failure, leave)) => {
                // As lettre does after a failed transaction: end the session (politely when
                // the dialogue is still in step); the next message opens a new one.
                match leave {
                    Leave::Quit => self.quit().await,
                    Leave::Drop => self.drop_connection().await,
                }
                Err(failure)
            }
        }
    }

    async fn close(&mut self) {
        self.quit().await;
    }
}

/// A permanent failure before any recipient was named refuses the session, not a recipient.
fn refuses_session(mut f: SendFailure) -> SendFailure {
    if f.kind == FailureKind::Permanent {
        f.kind = FailureKind::Relay;
    }
    f
}

/// Classifies a lettre error by its typed code: 5xx permanent, everything else temporary.
fn classify(e: &lettre::transport::smtp::Error, stage: &str) -> SendFailure {
    let code = e.status().map(u16::from);
    let text = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let enhanced = text
        .split_whitespace()
        .next()
        .filter(|w| is_enhanced_status(w))
        .map(str::to_string);
    let kind = if e.is_permanent() {
        FailureKind::Permanent
    } else {
        FailureKind::Temporary
    };
    let text = if code.is_some() {
        text
    } else if e.is_timeout() {
        format!("{stage}: timed out")
    } else {
        format!("{stage}: {e}")
    };
    SendFailure {
        kind,
        // Without a reply, a failure during the transaction leaves its outcome unknown.
        maybe_delivered: code.is_none() && stage == "send",
        code,
        enhanced,
        text,
    }
}

fn is_enhanced_status(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The queue id in a relay's reply: Postfix says `queued as 4F2A1B3C`, others `id=…`.
fn queue_id(reply: &str) -> Option<String> {
    if let Some(pos) = reply.find("queued as ") {
        let id: String = reply[pos + 10..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        if !id.is_empty() {
            return Some(id);
        }
    }
    None
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

    #[test]
    fn redaction_hides_what_may_be_credentials() {
        for text in [
            "smtp://user:pw-123@relay.example.jp:587",
            "line 3: smtp = \"smtps://pw-123@relay\"",
            "SMTP://u:pw-123@x",
            "password = \"pw-123\"",
            "TSUCHI_SMTP_PASSWORD=pw-123",
            "u:pw-123@relay.example.jp",
            "u:pw-123\u{FF20}relay.example.jp",
        ] {
            let shown = redact(text);
            assert!(!shown.contains("pw-123"), "{text} -> {shown}");
        }
        assert_eq!(
            redact("TOML parse error: invalid basic string"),
            "TOML parse error: invalid basic string"
        );
        assert_eq!(
            redact("connect to 127.0.0.1:2525: refused"),
            "connect to 127.0.0.1:2525: refused"
        );
    }

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

    #[tokio::test]
    async fn a_reply_line_without_end_is_cut_off_and_a_write_resets_the_budget() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (client, mut relay) = tokio::io::duplex(64 * 1024);
        let feeder = tokio::spawn(async move {
            // Twice the budget in one line, then stop.
            let chunk = vec![b'x'; 16 * 1024];
            for _ in 0..(2 * MAX_UNASKED_BYTES / chunk.len()) {
                if relay.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let mut reader = BufReader::new(Bounded::new(client));
        let mut line = String::new();
        let e = reader.read_line(&mut line).await.unwrap_err();
        assert!(e.to_string().contains("without a line end"), "{e}");
        assert!(line.len() <= MAX_UNASKED_BYTES + 16 * 1024);
        feeder.abort();

        // Replies that end, with our writes in between, may add up to any size.
        let (client, mut relay) = tokio::io::duplex(64 * 1024);
        let mut bounded = BufReader::new(Bounded::new(client));
        for _ in 0..(3 * MAX_UNASKED_BYTES / 1000) {
            relay.write_all(&[b'2'; 999]).await.unwrap();
            relay.write_all(b"\n").await.unwrap();
            let mut line = String::new();
            bounded.read_line(&mut line).await.unwrap();
            assert_eq!(line.len(), 1000);
            bounded.get_mut().write_all(b"NOOP\r\n").await.unwrap();
        }
    }

    #[test]
    fn reads_queue_ids_and_enhanced_codes() {
        assert_eq!(
            queue_id("2.0.0 Ok: queued as 4F2A1B3C").as_deref(),
            Some("4F2A1B3C")
        );
        assert_eq!(queue_id("Ok"), None);
        assert!(is_enhanced_status("5.1.1"));
        assert!(!is_enhanced_status("5.1"));
        assert!(!is_enhanced_status("user"));
    }
}
