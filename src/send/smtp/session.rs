//! One worker's SMTP session: a connection opened lazily (TLS, STARTTLS, AUTH), reused for
//! many messages, recycled after a configured number of them, and dropped when the relay
//! gets out of step.

use std::sync::Arc;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;

use crate::mail::message::OutgoingMessage;
use crate::send::transport::{Delivery, FailureKind, SendFailure, Session};

use super::SmtpSettings;
use super::bounded::{Bounded, TlsOverBounded};
use super::classify::{classify, queue_id, refuses_session, temporary};
use super::tls::{CertificateProblem, certificate_problem};
use super::transaction::{Leave, transaction};
use super::url::Security;

/// A failed TLS handshake: a certificate that does not verify refuses the session (the run
/// stops before any message: asking again will not make it verify), with the reason in words;
/// anything else is classified like any other failure.
fn handshake_failure(
    s: &SmtpSettings,
    e: &lettre::transport::smtp::Error,
    stage: &str,
) -> SendFailure {
    if let Some(problem) = certificate_problem(e) {
        let text = if problem == CertificateProblem::ClientCertificateRefused {
            format!("{stage}: {} refused our certificate: {problem}", s.url.host)
        } else {
            format!(
                "{stage}: the certificate of {} was refused: {problem}{}",
                s.url.host,
                s.tls.hint(&problem)
            )
        };
        let mut f = temporary(text);
        f.kind = FailureKind::Relay;
        return f;
    }
    refuses_session(classify(e, stage))
}

/// One worker's SMTP connection.
pub struct SmtpSession {
    settings: Arc<SmtpSettings>,
    connection: Option<AsyncSmtpConnection>,
    sent_on_connection: usize,
}

impl SmtpSession {
    /// A session that connects on its first message.
    pub(super) fn new(settings: Arc<SmtpSettings>) -> SmtpSession {
        SmtpSession {
            settings,
            connection: None,
            sent_on_connection: 0,
        }
    }

    /// Opens a connection up to the point where it could authenticate: TCP, TLS (implicit or
    /// STARTTLS, the certificate verified), the greeting and EHLO.
    async fn open(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        let s = &self.settings;
        let hello = ClientId::Domain(s.hello_name.clone());
        let tls = || {
            s.tls
                .parameters(&s.url.host)
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
                        .map_err(|e| handshake_failure(s, &e, "TLS"))?;
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
                .map_err(|e| handshake_failure(s, &e, "STARTTLS"))?;
        }
        Ok(conn)
    }

    /// Opens a connection and authenticates: what the first message of a session needs.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        let s = &self.settings;
        let mut conn = self.open().await?;
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
