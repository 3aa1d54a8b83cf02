//! The MIME message of a notice in either charset: UTF-8 (default), or strict ISO-2022-JP
//! (RFC 1468, the codec in [`crate::util::iso2022jp`]) with every header and the body in 7 bits.
//!
//! [`build_iso2022jp_message`] returns a [`lettre::Message`] (pre-encoded headers and a 7-bit
//! body), so DKIM signing ([`crate::mail::dkim`]) works the same for both charsets.

use std::{fmt, time::SystemTime};

pub use crate::config::Charset;

use super::rfc2047::{PREFERRED_LINE, encode_header_value, is_header_safe, needs_encoding};

use crate::util::iso2022jp::encode_body_iso2022jp;
use lettre::{
    Address, Message,
    address::Envelope,
    message::{
        Body, Mailbox,
        header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0},
    },
};

/// An address field value (`From`, `To`, `Reply-To`) with its display name encoded in
/// `charset`; the address goes on its own folded line when the last line would pass 78.
fn encode_mailbox(field_name: &str, mailbox: &Mailbox, charset: Charset) -> Option<String> {
    let name = mailbox.name.as_deref().map(str::trim).unwrap_or("");
    let addr = mailbox.email.to_string();
    if name.is_empty() {
        return Some(addr);
    }
    if !is_header_safe(name) {
        return None;
    }
    if !needs_encoding(name) {
        // lettre quotes the phrase when it is not a sequence of atoms.
        return Some(mailbox.to_string());
    }
    let phrase = encode_header_value(field_name, name, charset)?;
    let last_line = phrase.rsplit("\r\n").next().unwrap_or("").len()
        + if phrase.contains("\r\n") {
            0
        } else {
            field_name.len() + 2
        };
    let sep = if last_line + 2 + addr.len() + 1 > PREFERRED_LINE {
        "\r\n "
    } else {
        " "
    };
    Some(format!("{phrase}{sep}<{addr}>"))
}

/// The parts of a notice a message may fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    From,
    To,
    ReplyTo,
    Subject,
    Body,
    MessageId,
    ReturnPath,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::From => "From",
            Part::To => "To",
            Part::ReplyTo => "Reply-To",
            Part::Subject => "Subject",
            Part::Body => "body",
            Part::MessageId => "Message-ID",
            Part::ReturnPath => "return path",
        })
    }
}

/// Why a notice message could not be built. Never carries the offending text (it may be
/// personal data).
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The part cannot be carried in the charset (ISO-2022-JP: a character outside strict
    /// JIS X 0208, or a body line over 998 octets). The caller falls back to UTF-8 or refuses.
    #[error("the {0} cannot be carried in ISO-2022-JP")]
    Unencodable(Part),
    /// The part is not a valid address / mailbox, or holds control characters.
    #[error("invalid {0}")]
    Invalid(Part),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// Header values of one notice. `to` and `reply_to` are `addr` or `Name <addr>`.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    pub from_name: &'a str,
    pub from_addr: &'a str,
    pub to: &'a str,
    pub reply_to: Option<&'a str>,
    pub subject: &'a str,
    /// With or without angle brackets.
    pub message_id: &'a str,
    pub date: SystemTime,
    /// Envelope sender (SMTP `MAIL FROM`, where bounces go); `None` = `from_addr`. Not a header.
    pub return_path: Option<&'a str>,
}

fn parse_mailbox(value: &str, part: Part) -> Result<Mailbox, MessageError> {
    if !is_header_safe(value) {
        return Err(MessageError::Invalid(part));
    }
    let value = value.trim();
    // A bare addr-spec first: it may have a quoted local part (`"taro..yamada"@docomo.ne.jp`),
    // which the mailbox parser would take for a display name.
    if let Ok(address) = value.parse::<Address>() {
        return Ok(Mailbox::new(None, address));
    }
    if let Ok(mailbox) = value.parse::<Mailbox>() {
        return Ok(mailbox);
    }
    // lettre refuses legacy Japanese mobile addresses (`taro..yamada@`, `taro.@`), which
    // carriers still deliver to: accept a local part of atext and dots, with a valid domain.
    let (name, addr) = match value.strip_suffix('>').and_then(|v| v.rsplit_once('<')) {
        Some((name, addr)) => {
            let name = name.trim();
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(name);
            ((!name.is_empty()).then(|| name.to_owned()), addr.trim())
        }
        None => (None, value),
    };
    legacy_address(addr)
        .map(|email| Mailbox::new(name, email))
        .ok_or(MessageError::Invalid(part))
}

/// An address whose local part is atext and dots only (consecutive, leading or trailing dots
/// allowed, as on old Japanese mobile addresses) and whose domain lettre accepts.
pub(crate) fn legacy_address(addr: &str) -> Option<Address> {
    let (local, domain) = addr.rsplit_once('@')?;
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b);
    if local.is_empty() || local.len() > 64 || !local.bytes().all(atext) {
        return None;
    }
    Address::new("x", domain).ok()?;
    Some(Address::new_dangerous(local, domain))
}

fn envelope(h: &Headers, from: &Mailbox, to: &Mailbox) -> Result<Envelope, MessageError> {
    let reverse = match h.return_path {
        Some(rp) => rp
            .trim()
            .parse::<Address>()
            .map_err(|_| MessageError::Invalid(Part::ReturnPath))?,
        None => from.email.clone(),
    };
    Envelope::new(Some(reverse), vec![to.email.clone()]).map_err(MessageError::Build)
}

fn message_id(id: &str) -> Result<String, MessageError> {
    let id = id.trim();
    if id.is_empty() || !id.is_ascii() || id.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(MessageError::Invalid(Part::MessageId));
    }
    Ok(if id.starts_with('<') {
        id.to_owned()
    } else {
        format!("<{id}>")
    })
}

fn pre_encoded(name: &'static str, raw: String, encoded: String) -> HeaderValue {
    HeaderValue::dangerous_new_pre_encoded(HeaderName::new_from_ascii_str(name), raw, encoded)
}

fn mailbox_header(
    field: &'static str,
    mailbox: &Mailbox,
    part: Part,
) -> Result<HeaderValue, MessageError> {
    let encoded = encode_mailbox(field, mailbox, Charset::Iso2022Jp)
        .ok_or(MessageError::Unencodable(part))?;
    Ok(pre_encoded(field, mailbox.to_string(), encoded))
}

/// The From mailbox: the sender's address with its display name (if any).
fn sender_mailbox(h: &Headers) -> Result<Mailbox, MessageError> {
    let from_addr: Address = h
        .from_addr
        .trim()
        .parse()
        .map_err(|_| MessageError::Invalid(Part::From))?;
    if !is_header_safe(h.from_name) {
        return Err(MessageError::Invalid(Part::From));
    }
    let from_name = h.from_name.trim();
    Ok(Mailbox::new(
        (!from_name.is_empty()).then(|| from_name.to_owned()),
        from_addr,
    ))
}

/// The full RFC 5322 message of a plain-text notice in ISO-2022-JP, as a [`lettre::Message`]
/// (so that [`crate::mail::dkim::DkimSigner::sign`] and the SMTP transport treat it like any other):
/// `From` (display name as ISO-2022-JP encoded-words), `To`, optional `Reply-To`, `Subject`
/// (encoded-words), `Date`, `Message-ID`, `MIME-Version: 1.0`,
/// `Content-Type: text/plain; charset=ISO-2022-JP`, `Content-Transfer-Encoding: 7bit`, and the
/// body from [`encode_body_iso2022jp`]. Every byte of `formatted()` is 7-bit, lines end in CRLF
/// and none passes 998 octets.
///
/// Fails with [`MessageError::Unencodable`] when the subject, the body or a display name cannot
/// be carried (the caller falls back to UTF-8 or refuses, per config).
pub fn build_iso2022jp_message(h: &Headers, body: &str) -> Result<Message, MessageError> {
    let from = sender_mailbox(h)?;
    let to = parse_mailbox(h.to, Part::To)?;
    let subject = encode_header_value("Subject", h.subject, Charset::Iso2022Jp).ok_or(
        if is_header_safe(h.subject) {
            MessageError::Unencodable(Part::Subject)
        } else {
            MessageError::Invalid(Part::Subject)
        },
    )?;
    let body = encode_body_iso2022jp(body).ok_or(MessageError::Unencodable(Part::Body))?;

    let mut builder = Message::builder()
        .envelope(envelope(h, &from, &to)?)
        .raw_header(mailbox_header("From", &from, Part::From)?)
        .raw_header(mailbox_header("To", &to, Part::To)?);
    if let Some(reply_to) = h.reply_to {
        let reply_to = parse_mailbox(reply_to, Part::ReplyTo)?;
        builder = builder.raw_header(mailbox_header("Reply-To", &reply_to, Part::ReplyTo)?);
    }
    Ok(builder
        .raw_header(pre_encoded("Subject", h.subject.to_owned(), subject))
        .date(h.date)
        .message_id(Some(message_id(h.message_id)?))
        .header(MIME_VERSION_1_0)
        .raw_header(pre_encoded(
            "Content-Type",
            "text/plain; charset=ISO-2022-JP".to_owned(),
            "text/plain; charset=ISO-2022-JP".to_owned(),
        ))
        .body(Body::dangerous_pre_encoded(
            body,
            ContentTransferEncoding::SevenBit,
        ))?)
}

/// The same notice in UTF-8 with lettre's own encoders (`Content-Type: text/plain;
/// charset=utf-8`, body in 7bit, quoted-printable or base64 as lettre chooses). Fails only on
/// invalid addresses, Message-ID or control characters in the subject / display name.
fn build_utf8_message(h: &Headers, body: &str) -> Result<Message, MessageError> {
    let from = sender_mailbox(h)?;
    if !is_header_safe(h.subject) {
        return Err(MessageError::Invalid(Part::Subject));
    }
    let to = parse_mailbox(h.to, Part::To)?;
    let mut builder = Message::builder()
        .envelope(envelope(h, &from, &to)?)
        .from(from)
        .to(to);
    if let Some(reply_to) = h.reply_to {
        builder = builder.reply_to(parse_mailbox(reply_to, Part::ReplyTo)?);
    }
    Ok(builder
        .subject(h.subject)
        .date(h.date)
        .message_id(Some(message_id(h.message_id)?))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())?)
}

/// Builds the notice in `charset` ([`build_utf8_message`] or [`build_iso2022jp_message`]).
pub fn build_message(h: &Headers, body: &str, charset: Charset) -> Result<Message, MessageError> {
    match charset {
        Charset::Utf8 => build_utf8_message(h, body),
        Charset::Iso2022Jp => build_iso2022jp_message(h, body),
    }
}
