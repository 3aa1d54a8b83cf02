//! Building the MIME message for one notice: headers, charset, transfer encoding and the
//! SMTP envelope. The dry run, the previews and the SMTP sender all use this one builder, so
//! legal reviews byte for byte what recipients receive.
//!
//! MIME encoding (RFC 2047 encoded-words, base64 or quoted-printable bodies, CRLF) is lettre's;
//! this module decides what goes into the message.

use std::time::SystemTime;

use anyhow::{Context, Result};
use lettre::Address;
use lettre::address::Envelope;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::message::{Mailbox, Message};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::notice::Notice;

/// A message ready for a transport.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// SMTP envelope: MAIL FROM (the return path) and the one RCPT TO.
    pub envelope: Envelope,
    /// The RFC 5322 message, CRLF line endings.
    pub bytes: Vec<u8>,
    /// The Message-ID header value, angle brackets included.
    pub message_id: String,
}

/// Sender identity, parsed once per campaign.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    from: Mailbox,
    return_path: Address,
    reply_to: Option<Mailbox>,
    campaign_id: String,
    domain: String,
}

impl MessageBuilder {
    pub fn new(config: &Config) -> Result<MessageBuilder> {
        let address: Address = config.sender.address.parse().context("sender.address")?;
        let return_path = match &config.sender.return_path {
            Some(a) => a.parse().context("sender.return_path")?,
            None => address.clone(),
        };
        let reply_to = match &config.sender.reply_to {
            Some(a) => Some(Mailbox::new(None, a.parse().context("sender.reply_to")?)),
            None => None,
        };
        Ok(MessageBuilder {
            from: Mailbox::new(Some(config.sender.name.clone()), address),
            return_path,
            reply_to,
            campaign_id: config.campaign.id.clone(),
            domain: config.sender_domain().to_string(),
        })
    }

    /// The Message-ID of customer `id`'s notice: the same on every attempt and every run, so
    /// a re-sent message after a crash is recognisably the same message.
    pub fn message_id(&self, id: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"tsuchi-message-id\0");
        hasher.update(self.campaign_id.as_bytes());
        hasher.update(b"\0");
        hasher.update(id.as_bytes());
        let digest = hex::encode(&hasher.finalize()[..12]);
        format!("<{}.{}@{}>", self.campaign_id, digest, self.domain)
    }

    /// Builds the message of `notice` to `to` (an address in the form SMTP accepts, quoted
    /// local part included), dated `date`.
    pub fn build(
        &self,
        notice: &Notice,
        to: &str,
        message_id: &str,
        date: SystemTime,
    ) -> Result<OutgoingMessage> {
        let to: Address = to.parse().context("recipient address")?;
        let envelope =
            Envelope::new(Some(self.return_path.clone()), vec![to.clone()]).context("envelope")?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(notice.subject.clone())
            .message_id(Some(message_id.to_string()))
            .date(date)
            .envelope(envelope.clone());
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder
            .header(MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            .body(notice.body.clone())
            .context("building the message")?;
        Ok(OutgoingMessage {
            envelope,
            bytes: message.formatted(),
            message_id: message_id.to_string(),
        })
    }
}
