//! The journal's line format, documented by its types.
//!
//! Every line of a journal file is one [`Record`], a JSON object tagged by `"type"`. The first
//! line is always a [`Header`]; the others are events. No record carries personal data: rows
//! are identified by their position in the list and the customer key (`id`), never by name,
//! address or phone number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format version written into every new header. Version 2 added [`Outcome::unknown`];
/// replay reads every version from [`OLDEST_VERSION`] to this one and refuses any other.
pub const VERSION: u32 = 2;

/// The oldest format version replay still reads (version 1 told an unknown outcome only by
/// the words its reply starts with, [`UNKNOWN_OUTCOME`]).
pub const OLDEST_VERSION: u32 = 1;

/// How the reply of an outcome whose message may have been delivered starts: words for the
/// operator. The signal is [`Outcome::unknown`]; in journals written before it existed these
/// words were the only sign, so [`Outcome::may_have_been_delivered`] still reads them.
pub const UNKNOWN_OUTCOME: &str = "outcome unknown, the message may have been delivered: ";

/// What the journal knows about one recipient row.
///
/// Stored as one byte per row during replay (see [`State::as_u8`]), so the order of the
/// variants is part of the in-memory representation, not of the file format (the file uses
/// the lowercase names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum State {
    /// Nothing recorded for the row yet.
    Pending = 0,
    /// An `attempt` was journaled and no outcome followed: the message may or may not have
    /// left (mid-transaction at a crash). Only ever derived, never written as an outcome.
    Attempting = 1,
    /// The relay accepted the message (2xx after DATA).
    Sent = 2,
    /// Temporary failure (4xx, connection lost before DATA, …); to be retried.
    Deferred = 3,
    /// Permanent failure at SMTP time (5xx); never retried.
    Failed = 4,
    /// Accepted, then bounced by a delivery status notification. Final.
    Bounced = 5,
    /// Accepted, then reported delayed by a DSN: counts as delivered so far.
    Delayed = 6,
    /// Deliberately not sent (invalid row, suppression list, …).
    Skipped = 7,
}

impl State {
    /// All states, in their numeric order.
    pub const ALL: [State; 8] = [
        State::Pending,
        State::Attempting,
        State::Sent,
        State::Deferred,
        State::Failed,
        State::Bounced,
        State::Delayed,
        State::Skipped,
    ];

    /// The one-byte in-memory code of the state.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The state of a one-byte code; unknown codes read as `Pending`.
    pub fn from_u8(code: u8) -> State {
        State::ALL
            .get(code as usize)
            .copied()
            .unwrap_or(State::Pending)
    }

    /// The name used in the file (`"sent"`, `"deferred"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Attempting => "attempting",
            State::Sent => "sent",
            State::Deferred => "deferred",
            State::Failed => "failed",
            State::Bounced => "bounced",
            State::Delayed => "delayed",
            State::Skipped => "skipped",
        }
    }

    /// Parses a state that may appear in an `outcome` record (`pending` and `attempting` may
    /// not: they are derived by replay, never reported).
    pub fn parse_outcome(name: &[u8]) -> Option<State> {
        Some(match name {
            b"sent" => State::Sent,
            b"deferred" => State::Deferred,
            b"failed" => State::Failed,
            b"bounced" => State::Bounced,
            b"delayed" => State::Delayed,
            b"skipped" => State::Skipped,
            _ => return None,
        })
    }

    /// True for the states that may be written in an `outcome` record.
    pub fn is_outcome(self) -> bool {
        !matches!(self, State::Pending | State::Attempting)
    }

    /// True when the relay accepted the message and nothing says it failed since
    /// (`sent`, or `delayed` which is sent-but-delayed).
    pub fn is_delivered(self) -> bool {
        matches!(self, State::Sent | State::Delayed)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// First line of every journal: what the journal is about. A resumed run checks these digests
/// against the list, templates and configuration it is about to use ([`Header::check_matches`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Campaign id; the journal's file name is `<campaign>.journal.jsonl`.
    pub campaign: String,
    /// RFC 3339 UTC creation time.
    pub created: String,
    /// SHA-256 (hex) of the recipients list.
    pub list_digest: String,
    /// Number of recipient rows in the list; rows are numbered `1..=list_rows`.
    pub list_rows: u64,
    pub templates_digest: String,
    pub config_digest: String,
    /// The recipients file the journal was made from, as it was given (for messages that
    /// must say which list the journal belongs to). Absent in journals of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_file: Option<String>,
    /// The digest of each template file (`ja/body.tera` → SHA-256) and of each notice setting
    /// (`brands.kaede` → SHA-256) the journal began with, so that a refusal to go on can name
    /// what changed. Absent in journals of earlier versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

impl Header {
    /// A header for a new journal, stamped with the current version and time.
    pub fn new(
        campaign: &str,
        list_digest: &str,
        list_rows: u64,
        templates_digest: &str,
        config_digest: &str,
    ) -> Header {
        Header {
            version: VERSION,
            campaign: campaign.to_owned(),
            created: crate::util::time::now_rfc3339(),
            list_digest: list_digest.to_owned(),
            list_rows,
            templates_digest: templates_digest.to_owned(),
            config_digest: config_digest.to_owned(),
            list_file: None,
            templates: BTreeMap::new(),
            settings: BTreeMap::new(),
        }
    }

    /// Checks that this (replayed) header describes the same campaign, list, templates and
    /// configuration as `expected`; the error lists every difference. `created` and
    /// `version` are not compared.
    pub fn check_matches(&self, expected: &Header) -> anyhow::Result<()> {
        let mut diffs = Vec::new();
        let mut cmp = |what: &str, have: &str, want: &str| {
            if have != want {
                diffs.push(format!("{what}: journal has {have}, now {want}"));
            }
        };
        cmp("campaign", &self.campaign, &expected.campaign);
        cmp("list_digest", &self.list_digest, &expected.list_digest);
        cmp(
            "list_rows",
            &self.list_rows.to_string(),
            &expected.list_rows.to_string(),
        );
        cmp(
            "templates_digest",
            &self.templates_digest,
            &expected.templates_digest,
        );
        cmp(
            "config_digest",
            &self.config_digest,
            &expected.config_digest,
        );
        if diffs.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "the journal was started with different inputs ({})",
                diffs.join("; ")
            )
        }
    }
}

/// A message about to be handed to the relay, as the sender reports it. The writer stamps the
/// time and writes an [`AttemptRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub row: u64,
    pub id: String,
    /// 1 for the first attempt, then 2, 3, … for retries.
    pub attempt: u32,
    /// The Message-ID header, angle brackets included; a retry reuses it.
    pub message_id: String,
}

/// An `attempt` line: written and fsynced before the message's DATA is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub row: u64,
    pub id: String,
    pub attempt: u32,
    pub message_id: String,
    pub at: String,
}

/// An `outcome` line: what happened to an attempt (or why a row was skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub row: u64,
    pub id: String,
    /// One of `sent`, `deferred`, `failed`, `bounced`, `delayed`, `skipped`.
    pub state: State,
    /// The attempt this outcome belongs to (0 for a row skipped without an attempt).
    pub attempt: u32,
    /// SMTP reply code, when there was one.
    #[serde(default)]
    pub code: Option<u16>,
    /// Enhanced status code (`"2.0.0"`), when the relay sent one.
    #[serde(default)]
    pub enhanced: Option<String>,
    /// The relay's reply text (no personal data: relays answer with queue ids).
    #[serde(default)]
    pub reply: Option<String>,
    /// The attempt failed where its message may still have been delivered (the connection
    /// broke or timed out with no reply to the final dot): `report` and `status` count a later
    /// attempt of the row as a possible duplicate. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
    #[serde(default)]
    pub message_id: Option<String>,
    /// The relay of `[[send.relays]]` that took (or refused) the message; absent with one
    /// relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// RFC 3339 UTC; the writer fills it in when empty.
    #[serde(default)]
    pub at: String,
}

impl Outcome {
    /// An outcome of `row` with nothing but its state: no code, reply or Message-ID yet, and
    /// no time (the writer stamps it).
    pub fn new(row: u64, id: impl Into<String>, state: State, attempt: u32) -> Outcome {
        Outcome {
            row,
            id: id.into(),
            state,
            attempt,
            code: None,
            enhanced: None,
            reply: None,
            unknown: false,
            message_id: None,
            relay: None,
            at: String::new(),
        }
    }

    /// A row deliberately not sent, with why (`reply`).
    pub fn skipped(row: u64, id: impl Into<String>, attempt: u32, reply: String) -> Outcome {
        Outcome {
            reply: Some(reply),
            ..Outcome::new(row, id, State::Skipped, attempt)
        }
    }

    /// True when this attempt's message may have been delivered although it failed: the
    /// field, or in a journal of version 1 the words the reply starts with.
    pub fn may_have_been_delivered(&self) -> bool {
        self.unknown
            || self
                .reply
                .as_deref()
                .is_some_and(|r| r.starts_with(UNKNOWN_OUTCOME))
    }
}

/// `start` or `stop` of a send run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunEvent {
    Start,
    Stop,
}

/// A `run` line: a send run started, or stopped cleanly (with the reason and any counters
/// the sender wants to keep, e.g. `"sent": 1200`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMarker {
    pub event: RunEvent,
    /// RFC 3339 UTC; the writer fills it in when empty.
    #[serde(default)]
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Free counters and notes, flattened into the line.
    #[serde(flatten)]
    pub counters: BTreeMap<String, serde_json::Value>,
}

impl RunMarker {
    pub fn start() -> RunMarker {
        RunMarker {
            event: RunEvent::Start,
            at: String::new(),
            reason: None,
            counters: BTreeMap::new(),
        }
    }

    pub fn stop(reason: &str) -> RunMarker {
        RunMarker {
            event: RunEvent::Stop,
            at: String::new(),
            reason: Some(reason.to_owned()),
            counters: BTreeMap::new(),
        }
    }

    /// Adds a counter (builder style).
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> RunMarker {
        self.counters.insert(key.to_owned(), value.into());
        self
    }
}

/// A `letter_exported` line: `tsuchi letters` wrote the row's letter into a batch file. It
/// leaves the row's e-mail state as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterExported {
    pub row: u64,
    pub id: String,
    /// The batch file's name (`letters-0003.pdf`), without its directory.
    pub batch: String,
    /// The letter's pages in the batch file, `first-last`.
    pub pages: String,
    /// RFC 3339 UTC; the writer fills it in when empty.
    #[serde(default)]
    pub at: String,
}

/// A `letter_posted` line: the print vendor confirmed that a batch file's letters were posted
/// on `date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterPosted {
    pub batch: String,
    /// The posting date the vendor confirmed, `YYYY-MM-DD`.
    pub date: String,
    /// RFC 3339 UTC; the writer fills it in when empty.
    #[serde(default)]
    pub at: String,
}

/// One line of a journal file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Header(Header),
    Attempt(AttemptRecord),
    Outcome(Outcome),
    Run(RunMarker),
    #[serde(rename = "letter_exported")]
    LetterExported(LetterExported),
    #[serde(rename = "letter_posted")]
    LetterPosted(LetterPosted),
}

impl Record {
    /// The record as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers cannot fail.
        let mut line = serde_json::to_vec(self).expect("journal record serializes");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 1 told an outcome that may have been delivered only by its reply's first
    /// words; version 2 writes the field, and only when it is true.
    #[test]
    fn an_unknown_outcome_is_told_by_its_field_and_in_old_journals_by_its_words() {
        let v1 = r#"{"type":"outcome","row":3,"id":"C0003","state":"deferred","attempt":1,"code":null,"enhanced":null,"reply":"outcome unknown, the message may have been delivered: send: timed out","message_id":"<3.1@x>","at":"2026-11-25T08:00:00.000Z"}"#;
        let Record::Outcome(old) = serde_json::from_str::<Record>(v1).unwrap() else {
            panic!("not an outcome")
        };
        assert!(!old.unknown);
        assert!(old.may_have_been_delivered());

        let mut new = Outcome::new(3, "C0003", State::Deferred, 1);
        assert!(!new.may_have_been_delivered());
        let line = String::from_utf8(Record::Outcome(new.clone()).to_line()).unwrap();
        assert!(!line.contains("unknown"), "{line}");
        new.unknown = true;
        new.reply = Some("send: timed out".into());
        let line = String::from_utf8(Record::Outcome(new.clone()).to_line()).unwrap();
        assert!(line.contains(r#""unknown":true"#), "{line}");
        let Record::Outcome(back) = serde_json::from_str::<Record>(&line).unwrap() else {
            panic!("not an outcome")
        };
        assert_eq!(back, new);
        assert!(back.may_have_been_delivered());

        let skipped = Outcome::skipped(4, "C0004", 0, "invalid row: no email".into());
        assert_eq!(
            (skipped.state, skipped.reply.as_deref(), skipped.unknown),
            (State::Skipped, Some("invalid row: no email"), false)
        );
    }

    #[test]
    fn record_lines_are_tagged() {
        let line = Record::Outcome(Outcome {
            row: 17,
            id: "C0017".into(),
            state: State::Sent,
            attempt: 1,
            code: Some(250),
            enhanced: Some("2.0.0".into()),
            reply: Some("Ok: queued as ABC123".into()),
            unknown: false,
            message_id: Some("<a@b>".into()),
            relay: None,
            at: "2026-11-25T08:00:00.000Z".into(),
        })
        .to_line();
        let text = String::from_utf8(line).unwrap();
        assert!(text.starts_with(r#"{"type":"outcome","row":17,"id":"C0017","state":"sent""#));
        let run = Record::Run(RunMarker::stop("interrupted").with("sent", 3)).to_line();
        let back: Record = serde_json::from_slice(&run).unwrap();
        assert_eq!(
            back,
            Record::Run(RunMarker::stop("interrupted").with("sent", 3))
        );
    }
}
