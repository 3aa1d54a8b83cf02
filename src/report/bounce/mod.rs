//! Reading and classifying bounces: RFC 3464 delivery status notifications (DSNs) that arrive
//! after a relay has already said 250.
//!
//! This module is pure: it knows nothing of SMTP sending or of the journal. It
//!
//! * streams raw messages out of mbox files, Maildir folders and single `.eml` files
//!   ([`read_messages`]), one message in memory at a time;
//! * classifies one raw message ([`classify`]) into one [`Classification`] per failed or delayed
//!   recipient, or a single [`Classification::Ignored`] with a reason.
//!
//! Matching a DSN to a recipient (by [`Dsn::original_message_id`], by VERP reference from
//! [`Dsn::envelope_to`] — see [`crate::mail::verp_reference`] — or by [`Dsn::final_recipient`])
//! is the caller's job; [`record`] does it and writes the journal.

pub(crate) mod record;

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Reading mailboxes
// ---------------------------------------------------------------------------------------------

/// Where a message came from, for reporting: `bounces.mbox#1234` (1-based position in the
/// mbox file), `Maildir/cur/1700000000.x:2,S` (the message file), or `file.eml`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source(pub String);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Streams every message in `paths`, in order; see [`Messages`].
pub fn read_messages(paths: &[PathBuf]) -> Messages {
    Messages {
        pending: paths.iter().cloned().collect(),
        current: Current::None,
    }
}

/// Iterator over the messages of several mailboxes, returned by [`read_messages`].
///
/// Each path is auto-detected when the iterator reaches it:
///
/// * a directory with `cur/` and `new/` is a Maildir folder: the messages of `cur/` then `new/`
///   (subfolders such as `.Trash` are not visited; name them explicitly if wanted);
/// * a file whose first bytes are `From ` is an mbox file (mboxrd `>From ` unquoting);
/// * any other file is a single message (`.eml`), yielded as is, even when empty.
///
/// Only one message is held in memory at a time, and at most [`MAX_MESSAGE_BYTES`] of it: a
/// larger message yields an `Err` and the next one follows.
///
/// Errors are yielded as items and iteration goes on: a path that cannot be opened or is not a
/// mailbox yields one `Err` and the next path follows; an unreadable Maildir message yields an
/// `Err` and the folder goes on; a read error in the middle of an mbox file yields an `Err` and
/// the rest of that file is skipped (the error names the last good message).
pub struct Messages {
    pending: VecDeque<PathBuf>,
    current: Current,
}

/// Largest message read, in bytes: far above any real bounce (which quotes at most the
/// original headers), far below what would strain memory. A larger message is skipped with a
/// warning (counted as unreadable), so a hostile mailbox or `/dev/zero` never grows memory.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// How much of an mbox line is read at once: a line without a newline is read in pieces.
const MBOX_CHUNK: u64 = 64 * 1024;

enum Current {
    None,
    Mbox {
        name: String,
        reader: MboxReader,
        count: usize,
    },
    Maildir {
        files: VecDeque<PathBuf>,
    },
}

/// An mboxrd reader that holds at most [`MAX_MESSAGE_BYTES`] of a message and at most
/// [`MBOX_CHUNK`] of a line (mail-parser's reader holds whole messages and whole lines).
struct MboxReader {
    reader: BufReader<File>,
    /// A `From ` separator line has been read: a message is open.
    started: bool,
    done: bool,
}

enum MboxMessage {
    Complete(Vec<u8>),
    TooLarge,
}

impl MboxReader {
    fn next(&mut self) -> Option<std::io::Result<MboxMessage>> {
        if self.done {
            return None;
        }
        let finish = |contents: Vec<u8>, too_large: bool| {
            if too_large {
                MboxMessage::TooLarge
            } else {
                MboxMessage::Complete(contents)
            }
        };
        let mut contents = Vec::new();
        let mut too_large = false;
        let mut at_line_start = true;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = match (&mut self.reader)
                .take(MBOX_CHUNK)
                .read_until(b'\n', &mut line)
            {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if n == 0 {
                self.done = true;
                return self.started.then(|| Ok(finish(contents, too_large)));
            }
            let complete = line.ends_with(b"\n");
            if at_line_start && line.starts_with(b"From ") {
                // The separator: skip the rest of an overlong one.
                let mut rest_complete = complete;
                while !rest_complete {
                    line.clear();
                    match (&mut self.reader)
                        .take(MBOX_CHUNK)
                        .read_until(b'\n', &mut line)
                    {
                        Ok(0) => break,
                        Ok(_) => rest_complete = line.ends_with(b"\n"),
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
                if self.started {
                    return Some(Ok(finish(contents, too_large)));
                }
                self.started = true;
                continue;
            }
            let at_start = at_line_start;
            at_line_start = complete;
            if !self.started {
                continue;
            }
            let mut data: &[u8] = &line;
            if at_start && data.starts_with(b">") {
                // mboxrd: `>From ` (any number of `>`) loses one `>`.
                let i = data.iter().position(|&c| c != b'>').unwrap_or(data.len());
                if data[i..].starts_with(b"From ") {
                    data = &data[1..];
                }
            }
            if too_large {
                continue;
            }
            if contents.len() + data.len() > MAX_MESSAGE_BYTES {
                too_large = true;
                contents = Vec::new();
            } else {
                contents.extend_from_slice(data);
            }
        }
    }
}

/// The whole of a file of at most [`MAX_MESSAGE_BYTES`], after `head` (already read from it).
fn read_capped(mut file: impl Read, mut head: Vec<u8>, name: &str) -> Result<Vec<u8>> {
    (&mut file)
        .take((MAX_MESSAGE_BYTES + 1 - head.len().min(MAX_MESSAGE_BYTES)) as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    if head.len() > MAX_MESSAGE_BYTES {
        anyhow::bail!(
            "{name}: message larger than {} MiB; skipped",
            MAX_MESSAGE_BYTES >> 20
        );
    }
    Ok(head)
}

impl Iterator for Messages {
    type Item = Result<(Source, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match &mut self.current {
                Current::None => {
                    let path = self.pending.pop_front()?;
                    match open(&path) {
                        Ok(Opened::Single(item)) => return Some(Ok(item)),
                        Ok(Opened::Mailbox(current)) => self.current = current,
                        Err(e) => return Some(Err(e)),
                    }
                }
                Current::Mbox {
                    name,
                    reader,
                    count,
                } => match reader.next() {
                    Some(Ok(message)) => {
                        *count += 1;
                        let source = Source(format!("{name}#{count}"));
                        match message {
                            MboxMessage::Complete(raw) => return Some(Ok((source, raw))),
                            MboxMessage::TooLarge => {
                                return Some(Err(anyhow!(
                                    "{source}: message larger than {} MiB; skipped",
                                    MAX_MESSAGE_BYTES >> 20
                                )));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let err = anyhow!(e).context(format!(
                            "reading mbox {name} after message #{count}; rest of file skipped"
                        ));
                        self.current = Current::None;
                        return Some(Err(err));
                    }
                    None => self.current = Current::None,
                },
                Current::Maildir { files } => match files.pop_front() {
                    Some(path) => {
                        let name = path.display().to_string();
                        let read = File::open(&path)
                            .with_context(|| format!("opening Maildir message {name}"))
                            .and_then(|file| read_capped(file, Vec::new(), &name));
                        return Some(read.map(|raw| (Source(name), raw)));
                    }
                    None => self.current = Current::None,
                },
            }
        }
    }
}

/// The messages of a Maildir folder: the files of `cur/` then `new/`, each in name order
/// (names starting with `.` are not messages).
fn maildir_files(path: &Path) -> std::io::Result<VecDeque<PathBuf>> {
    let mut all = VecDeque::new();
    for sub in ["cur", "new"] {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path.join(sub))? {
            let entry = entry?;
            let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
            if !hidden && entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        all.extend(files);
    }
    Ok(all)
}

enum Opened {
    Single((Source, Vec<u8>)),
    Mailbox(Current),
}

fn open(path: &Path) -> Result<Opened> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).with_context(|| format!("opening {name}"))?;
    if meta.is_dir() {
        if !path.join("cur").is_dir() || !path.join("new").is_dir() {
            anyhow::bail!("{name} is a directory but not a Maildir folder (no cur/ and new/)");
        }
        let files = maildir_files(path).with_context(|| format!("opening Maildir {name}"))?;
        return Ok(Opened::Mailbox(Current::Maildir { files }));
    }
    let mut file = File::open(path).with_context(|| format!("opening {name}"))?;
    let mut head = Vec::with_capacity(5);
    (&mut file)
        .take(5)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    if head == b"From " {
        // Reopen rather than seek, so the mbox reader sees the file from its first byte.
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let reader = MboxReader {
            reader: BufReader::with_capacity(64 * 1024, file),
            started: false,
            done: false,
        };
        return Ok(Opened::Mailbox(Current::Mbox {
            name,
            reader,
            count: 0,
        }));
    }
    let raw = read_capped(file, head, &name)?;
    Ok(Opened::Single((Source(name), raw)))
}

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// A small header-block parser (for the top-level headers, the delivery-status blocks and
// text/rfc822-headers parts). Lenient: lines that are neither fields nor continuations are
// skipped.
// ---------------------------------------------------------------------------------------------

type Fields = Vec<(String, String)>;

/// Parses fields up to the first blank line. Returns the fields (lower-case names, unfolded
/// values with surrounding whitespace trimmed) and the offset just past the blank line.
fn parse_fields(bytes: &[u8]) -> (Fields, usize) {
    let mut fields: Fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(bytes.len(), |i| pos + i + 1);
        let line = &bytes[pos..end];
        pos = end;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|c| *c == b' ' || *c == b'\t') {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = fields.last_mut() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(text.trim());
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            let name = name.trim_end();
            if !name.is_empty() && name.bytes().all(|c| c.is_ascii_graphic()) {
                fields.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }
    (fields, pos)
}

/// All blank-line separated field blocks (the delivery-status body).
fn field_blocks(bytes: &[u8]) -> Vec<Fields> {
    let mut blocks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (block, used) = parse_fields(rest);
        if !block.is_empty() {
            blocks.push(block);
        }
        rest = &rest[used.max(1).min(rest.len())..];
    }
    blocks
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn fields<'a>(fields: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    fields
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
