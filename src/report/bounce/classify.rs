//! Classifying one raw message: an RFC 3464 delivery status notification yields one
//! [`Classification::Failed`] or [`Classification::Delayed`] per recipient it reports, anything
//! else (auto-replies, legacy bounces, junk) one [`Classification::Ignored`] with the reason.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

use super::fields::{field, field_blocks, fields, parse_fields};

/// What one message means for the campaign. [`classify`] returns one per failed or delayed
/// recipient of a DSN, or exactly one `Ignored`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Classification {
    /// The DSN says delivery to this recipient failed (`Action: failed`). Normally the status is
    /// 5.x.x (permanent). `Action: failed` with a 4.x.x status is rare (an MTA that gave up
    /// on a temporary error after its queue lifetime); it is still `Failed`, since the MTA has
    /// stopped trying, and keeps its status so the caller can tell it apart with
    /// [`Dsn::is_permanent`].
    Failed(Dsn),
    /// `Action: delayed`: the MTA is still trying; the recipient stays "sent".
    Delayed(Dsn),
    /// Not a bounce we act on, with the reason. Reasons start with one of: `empty message`,
    /// `unparsable message`, `auto-reply (…)`, `not a delivery status notification`,
    /// `DSN without a delivery-status part`, `DSN action …` (only relayed, delivered or expanded
    /// recipients), `DSN without a failed or delayed recipient`.
    Ignored(String),
}

impl Classification {
    /// The DSN of a `Failed` or `Delayed` classification.
    pub fn dsn(&self) -> Option<&Dsn> {
        match self {
            Classification::Failed(d) | Classification::Delayed(d) => Some(d),
            Classification::Ignored(_) => None,
        }
    }
}

/// One recipient of a delivery status notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dsn {
    /// Enhanced status code, comments removed: `5.1.1`. When the `Status:` field is missing
    /// it is taken from `Diagnostic-Code` if one is there; otherwise empty.
    pub status: String,
    /// `failed` or `delayed`, lower case. When `Action:` is missing it is inferred from the
    /// status class (5 → failed, 4 → delayed).
    pub action: String,
    /// `Diagnostic-Code`, unfolded, otherwise as is: `smtp; 550 5.1.1 <x@y>: … User unknown`.
    /// It may contain the recipient's address; the caller decides what to store.
    pub diagnostic: Option<String>,
    /// Address part of `Final-Recipient: rfc822; x@y` (type and `<>` removed).
    pub final_recipient: Option<String>,
    /// Address part of `Original-Recipient:`.
    pub original_recipient: Option<String>,
    /// `Remote-MTA:` without its type: `mx.example.jp`.
    pub remote_mta: Option<String>,
    /// `Original-Envelope-Id:` of the per-message fields (the `ENVID` given at `MAIL FROM`).
    pub original_envelope_id: Option<String>,
    /// Message-ID of the returned message (`message/rfc822` or `text/rfc822-headers` part;
    /// failing that, an `X-Original-Message-ID:` per-message field), with angle brackets:
    /// `<abc@notice.example.jp>`.
    pub original_message_id: Option<String>,
    /// The address the bounce itself was delivered to, for VERP matching: the first of
    /// `X-Original-To`, `Delivered-To`, `Envelope-To`, `To` whose local part contains `+`,
    /// else the first of them present.
    pub envelope_to: Option<String>,
}

impl Dsn {
    /// True for a 5.x.x status: the address is dead, do not retry.
    pub fn is_permanent(&self) -> bool {
        self.status.starts_with('5')
    }
}

/// Classifies one raw message (RFC 5322 bytes, CRLF or LF). Never panics.
///
/// A DSN (a message with a `message/delivery-status` or `message/global-delivery-status` part,
/// normally inside `multipart/report; report-type=delivery-status`) yields one `Failed` or
/// `Delayed` per recipient block with that action, in the order of the report; recipients that
/// were relayed, delivered or expanded are left out. Everything else yields exactly one
/// `Ignored` with the reason. The result is never empty.
///
/// A DSN is recognised before auto-reply markers are looked at: Postfix and others put
/// `Auto-Submitted: auto-replied` on their bounces.
pub fn classify(raw: &[u8]) -> Vec<Classification> {
    // mail-parser promises not to panic; a batch over hundreds of thousands of messages from
    // the Internet should not die on the one message that proves otherwise.
    // The binary's panic hook (see `cli::main`) shows where a panic happened, never its
    // message, which could quote the message being classified (personal data).
    std::panic::catch_unwind(|| classify_inner(raw)).unwrap_or_else(|_| {
        vec![Classification::Ignored(
            "unparsable message (internal error while classifying it)".into(),
        )]
    })
}

fn ignored(reason: impl Into<String>) -> Vec<Classification> {
    vec![Classification::Ignored(reason.into())]
}

fn classify_inner(raw: &[u8]) -> Vec<Classification> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return ignored("empty message");
    }
    let top = parse_fields(raw).0;
    let Some(message) = MessageParser::new().parse(raw) else {
        return ignored("unparsable message");
    };
    if top.is_empty() || message.parts.is_empty() {
        return ignored("unparsable message");
    }

    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });

    // Outer parts only: a DSN quoted inside a returned message is not this message's report.
    let status_part = message
        .parts
        .iter()
        .find(|p| content_type_is(p, "message", &["delivery-status", "global-delivery-status"]));
    let Some(status_part) = status_part else {
        if is_report {
            return ignored("DSN without a delivery-status part (truncated?)");
        }
        // Before the auto-reply markers: Exim and qmail bounces carry Auto-Submitted too.
        if looks_like_legacy_bounce(&top) {
            return ignored(
                "not a delivery status notification (looks like a non-RFC 3464 bounce)",
            );
        }
        if let Some(reason) = auto_reply(&top) {
            return ignored(format!("auto-reply ({reason})"));
        }
        return ignored("not a delivery status notification");
    };

    let original_message_id = message
        .parts
        .iter()
        .find(|p| {
            content_type_is(p, "message", &["rfc822", "global", "global-headers"])
                || content_type_is(p, "text", &["rfc822-headers"])
        })
        .and_then(|p| match &p.body {
            PartType::Message(m) => m.message_id().and_then(normalize_message_id),
            other => {
                let bytes: &[u8] = match other {
                    PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
                    PartType::Binary(b) | PartType::InlineBinary(b) => b,
                    _ => b"",
                };
                field(&parse_fields(bytes).0, "message-id").and_then(normalize_message_id)
            }
        });

    let envelope_to = envelope_to(&top);

    let blocks = field_blocks(status_part.contents());
    let mut per_message: &[(String, String)] = &[];
    let mut recipients = blocks.as_slice();
    if let Some((first, rest)) = blocks.split_first()
        && field(first, "final-recipient").is_none()
        && field(first, "action").is_none()
    {
        per_message = first;
        recipients = rest;
    }
    let original_envelope_id = field(per_message, "original-envelope-id").map(str::to_string);
    // Gmail-style DSNs name the returned message in the per-message fields as well.
    let original_message_id = original_message_id
        .or_else(|| field(per_message, "x-original-message-id").and_then(normalize_message_id));

    let mut out = Vec::new();
    let mut other_actions: Vec<String> = Vec::new();
    for block in recipients {
        let diagnostic = field(block, "diagnostic-code").map(str::to_string);
        let mut status = field(block, "status").map(status_code).unwrap_or_default();
        if status.is_empty()
            && let Some(d) = &diagnostic
        {
            status = find_enhanced_status(d).unwrap_or_default();
        }
        let action = match field(block, "action") {
            Some(a) => strip_comments(a)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase(),
            None if status.starts_with('5') => "failed".into(),
            None if status.starts_with('4') => "delayed".into(),
            None => String::new(),
        };
        let dsn = Dsn {
            status,
            diagnostic,
            final_recipient: field(block, "final-recipient").and_then(typed_address),
            original_recipient: field(block, "original-recipient").and_then(typed_address),
            remote_mta: field(block, "remote-mta").and_then(typed_address),
            original_envelope_id: original_envelope_id.clone(),
            original_message_id: original_message_id.clone(),
            envelope_to: envelope_to.clone(),
            action,
        };
        match dsn.action.as_str() {
            "failed" => out.push(Classification::Failed(dsn)),
            "delayed" => out.push(Classification::Delayed(dsn)),
            "" => {}
            other => {
                if !other_actions.iter().any(|a| a == other) {
                    other_actions.push(other.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        if other_actions.is_empty() {
            return ignored("DSN without a failed or delayed recipient");
        }
        return ignored(format!("DSN action {}", other_actions.join("/")));
    }
    out
}

fn content_type_is(part: &mail_parser::MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|want| s.eq_ignore_ascii_case(want)))
    })
}

/// Why a message that is not a DSN is an auto-reply, if it is one.
fn auto_reply(top: &[(String, String)]) -> Option<String> {
    if let Some(v) = field(top, "auto-submitted") {
        let v = strip_comments(v);
        let v = v.split(';').next().unwrap_or("").trim();
        if !v.is_empty() && !v.eq_ignore_ascii_case("no") {
            return Some(format!("Auto-Submitted: {v}"));
        }
    }
    for name in ["x-autoreply", "x-autorespond", "x-autoresponder"] {
        if field(top, name).is_some() {
            return Some(canonical_name(name));
        }
    }
    if let Some(v) = field(top, "precedence")
        && v.trim().eq_ignore_ascii_case("auto_reply")
    {
        return Some("Precedence: auto_reply".into());
    }
    let subject = crate::mail::decode_encoded_words(field(top, "subject").unwrap_or(""));
    let lower = subject.to_lowercase();
    const KEYWORDS: &[&str] = &[
        "不在",
        "自動応答",
        "自動返信",
        "自動返答",
        "自動送信",
        "out of office",
        "out of the office",
        "auto reply",
        "auto-reply",
        "autoreply",
        "automatic reply",
        "auto response",
    ];
    KEYWORDS
        .iter()
        .find(|k| lower.contains(*k))
        .map(|k| format!("subject contains {k}"))
}

fn canonical_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Qmail ("failure notice"), Exim ("Mail delivery failed", `X-Failed-Recipients`) and other
/// bounces that are not RFC 3464. They are reported, not acted on.
fn looks_like_legacy_bounce(top: &[(String, String)]) -> bool {
    if field(top, "x-failed-recipients").is_some() {
        return true;
    }
    let from = field(top, "from")
        .and_then(bare_address)
        .unwrap_or_default();
    let from_local = from.rsplit_once('@').map_or(from.as_str(), |(l, _)| l);
    if from_local.eq_ignore_ascii_case("mailer-daemon") {
        return true;
    }
    let subject = field(top, "subject").unwrap_or("").to_ascii_lowercase();
    [
        "failure notice",
        "mail delivery failed",
        "undelivered mail",
        "undeliverable",
        "returned mail",
        "delivery status notification",
        "delivery failure",
    ]
    .iter()
    .any(|k| subject.contains(k))
}

fn envelope_to(top: &[(String, String)]) -> Option<String> {
    let candidates: Vec<String> = ["x-original-to", "delivered-to", "envelope-to", "to"]
        .iter()
        .flat_map(|name| fields(top, name))
        .filter_map(bare_address)
        .filter(|a| a.contains('@'))
        .collect();
    candidates
        .iter()
        .find(|a| {
            a.rsplit_once('@')
                .is_some_and(|(local, _)| local.contains('+'))
        })
        .or(candidates.first())
        .cloned()
}

/// The first address of an address header: inside `<>` if there are any, else the first
/// comma-separated item.
fn bare_address(value: &str) -> Option<String> {
    let value = value.trim();
    let addr = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(',').next().unwrap_or(""),
    };
    let addr = addr.trim();
    (!addr.is_empty()).then(|| addr.to_string())
}

/// `rfc822; <x@y>` → `x@y`; `dns; mx.example.jp` → `mx.example.jp`.
fn typed_address(value: &str) -> Option<String> {
    let rest = value.split_once(';').map_or(value, |(_, rest)| rest);
    let rest = rest.trim();
    let rest = rest
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(rest)
        .trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// `5.1.1 (bad destination mailbox address)` → `5.1.1`.
fn status_code(value: &str) -> String {
    strip_comments(value)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Removes RFC 5322 comments `( … )`, nested ones included.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first `c.d.d` enhanced status code (class 2, 4 or 5) in free text.
fn find_enhanced_status(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for start in 0..b.len() {
        if !matches!(b[start], b'2' | b'4' | b'5')
            || (start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'.'))
        {
            continue;
        }
        let mut i = start + 1;
        let mut ok = true;
        for _ in 0..2 {
            if b.get(i) != Some(&b'.') {
                ok = false;
                break;
            }
            i += 1;
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=3).contains(&digits) {
                ok = false;
                break;
            }
            i += digits;
        }
        if ok
            && !b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.')
        {
            return Some(text[start..i].to_string());
        }
    }
    None
}

/// `<abc@x>` from a raw or parsed Message-ID value (mail-parser removes the brackets).
fn normalize_message_id(value: &str) -> Option<String> {
    let value = value.trim();
    if let (Some(a), Some(b)) = (value.find('<'), value.rfind('>'))
        && a < b
    {
        let id: String = value[a + 1..b].split_whitespace().collect();
        return (!id.is_empty()).then(|| format!("<{id}>"));
    }
    let id = value.split_whitespace().next()?;
    Some(format!("<{id}>"))
}
