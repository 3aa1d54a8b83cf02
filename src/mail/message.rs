//! Building the MIME message for one notice: headers, charset, transfer encoding, DKIM
//! signature and the SMTP envelope. The dry run, the previews and the SMTP sender all use this
//! one builder, so legal reviews byte for byte what recipients receive.
//!
//! The encoding itself (RFC 2047 encoded-words, base64 bodies, strict ISO-2022-JP) lives in
//! [`crate::mail::mime`]; this module decides what goes into the message and what happens when
//! a message cannot be carried in the campaign's charset.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use lettre::Address;
use lettre::address::Envelope;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::mail::dkim::DkimSigner;
use crate::mail::mime::{self, Charset, Headers, MessageError, Part};
use crate::render::notice::Notice;

/// A message ready for a transport.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// SMTP envelope: MAIL FROM (the return path) and the one RCPT TO.
    pub envelope: Envelope,
    /// The RFC 5322 message, CRLF line endings.
    pub bytes: Vec<u8>,
    /// The Message-ID header value, angle brackets included.
    pub message_id: String,
    /// The charset the message was built in.
    pub charset: Charset,
    /// True when the campaign's charset could not carry this message and UTF-8 was used.
    pub fell_back: bool,
}

/// Why a notice could not become a message. Never carries the text itself (personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// ISO-2022-JP cannot carry the message and `mail.fallback = "error"`.
    #[error("the {0:?} cannot be written in ISO-2022-JP (mail.fallback = \"error\")")]
    Unencodable(Part),
    #[error("invalid {0:?}")]
    Invalid(Part),
    #[error("building the message: {0}")]
    Build(String),
}

/// Sender identity, charset policy and signer, prepared once per campaign.
#[derive(Debug)]
pub struct MessageBuilder {
    from_name: String,
    from_addr: String,
    return_path: String,
    reply_to: Option<String>,
    campaign_id: String,
    domain: String,
    charset: Charset,
    fallback_to_utf8: bool,
    verp: bool,
    signer: Option<DkimSigner>,
}

impl MessageBuilder {
    pub fn new(config: &Config) -> Result<MessageBuilder> {
        let return_path = config
            .sender
            .return_path
            .clone()
            .unwrap_or_else(|| config.sender.address.clone());
        let charset = config.mail.charset;
        let signer = match &config.dkim {
            None => None,
            Some(d) => {
                let key = crate::mail::dkim::resolve_key_path(d.key_file.as_deref()).ok_or_else(
                    || {
                        anyhow::anyhow!(
                            "[dkim] needs a key: set dkim.key_file or {}",
                            crate::mail::dkim::KEY_FILE_ENV
                        )
                    },
                )?;
                Some(
                    DkimSigner::from_key_file(&d.domain, &d.selector, &key)
                        .with_context(|| format!("DKIM key {}", key.display()))?,
                )
            }
        };
        if config.sender.address.parse::<Address>().is_err() {
            bail!("sender.address is not an e-mail address");
        }
        Ok(MessageBuilder {
            from_name: config.sender.name.clone(),
            from_addr: config.sender.address.clone(),
            return_path,
            reply_to: config.sender.reply_to.clone(),
            campaign_id: config.campaign.id.clone(),
            domain: config.sender_domain().to_string(),
            charset,
            fallback_to_utf8: config.mail.fallback == crate::config::Fallback::Utf8,
            verp: config.mail.verp,
            signer,
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

    /// The envelope sender of customer `id`'s message: the return path, or with `mail.verp`
    /// `bounce+<reference>@domain`, so a bounce names its recipient even when it quotes nothing.
    pub fn envelope_sender(&self, id: &str) -> String {
        if self.verp {
            let reference = crate::render::reference::reference(&self.campaign_id, id);
            super::verp::verp_address(&self.return_path, &reference)
        } else {
            self.return_path.clone()
        }
    }

    /// True when this notice needs the UTF-8 fallback (or would be refused) under the
    /// campaign's charset.
    pub fn needs_fallback(&self, notice: &Notice) -> bool {
        self.charset == Charset::Iso2022Jp
            && (crate::util::iso2022jp::encode_iso2022jp(&notice.subject).is_none()
                || crate::util::iso2022jp::encode_body_iso2022jp(&notice.body).is_none())
    }

    /// Whether a message ISO-2022-JP cannot carry goes out in UTF-8 (`mail.fallback`).
    pub fn falls_back(&self) -> bool {
        self.fallback_to_utf8
    }

    /// Builds customer `id`'s message of `notice` to `to` (an address in the form SMTP accepts,
    /// quoted local part included), dated `date`, signed when DKIM is configured.
    pub fn build(
        &self,
        notice: &Notice,
        id: &str,
        to: &str,
        date: SystemTime,
    ) -> Result<OutgoingMessage, BuildError> {
        let message_id = self.message_id(id);
        let return_path = self.envelope_sender(id);
        let headers = Headers {
            from_name: &self.from_name,
            from_addr: &self.from_addr,
            to,
            reply_to: self.reply_to.as_deref(),
            subject: &notice.subject,
            message_id: &message_id,
            date,
            return_path: Some(&return_path),
        };
        let (mut message, charset, fell_back) =
            match mime::build_message(&headers, &notice.body, self.charset) {
                Ok(m) => (m, self.charset, false),
                Err(MessageError::Unencodable(part)) if self.charset != Charset::Utf8 => {
                    if !self.fallback_to_utf8 {
                        return Err(BuildError::Unencodable(part));
                    }
                    let m = mime::build_message(&headers, &notice.body, Charset::Utf8)
                        .map_err(build_error)?;
                    (m, Charset::Utf8, true)
                }
                Err(e) => return Err(build_error(e)),
            };
        if let Some(signer) = &self.signer {
            signer.sign(&mut message);
        }
        Ok(OutgoingMessage {
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
            message_id,
            charset,
            fell_back,
        })
    }
}

fn build_error(e: MessageError) -> BuildError {
    match e {
        MessageError::Unencodable(p) => BuildError::Unencodable(p),
        MessageError::Invalid(p) => BuildError::Invalid(p),
        MessageError::Build(e) => BuildError::Build(e.to_string()),
    }
}
