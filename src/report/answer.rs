//! The hotline's answer about one person, as data: what `lookup` prints and what `tsuchi
//! serve` shows an agent and returns as JSON, computed once so that the two can never
//! disagree.
//!
//! It holds keys and facts only — the customer id, the reference number, the brand and its
//! hotline, the *labels* of the fields listed in the person's notice, the notice's state with
//! times — never a name, an address, a phone number or an e-mail address. Whether a name the
//! caller gives is the one on the list is asked separately ([`name_matches`]), and answered
//! only "matches" or "does not match".

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use super::journals::Journals;
use crate::config::Config;
use crate::ingest::{Encoding, FieldSet, RecipientReader, Row};
use crate::journal::{Record, RecordKind, State, next_state, read_journal};
use crate::render::reference;

/// What the hotline can say about one reference number or customer id.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Answer {
    /// The reference number or customer id asked for, as typed.
    pub query: String,
    /// `affected`: on the list (or recorded in the journals); `not_found`: no such reference
    /// or id in this campaign; `unknown`: not in the journals, and the list is not at hand to
    /// tell.
    pub answer: &'static str,
    pub id: Option<String>,
    pub reference: Option<String>,
    /// The brand the person registered with (its name), and its hotline.
    pub brand: Option<String>,
    pub hotline: Option<HotlineInfo>,
    /// The labels of the fields listed in the person's notice (`氏名`, `住所`, …), never
    /// their values. Empty when the list is not at hand or the row is invalid.
    pub fields: Vec<String>,
    /// The notice's state in the journals (`pending`, `sent`, `deferred`, `failed`,
    /// `bounced`, …) and what it means, in words for the agent.
    pub state: Option<&'static str>,
    pub state_text: Option<&'static str>,
    /// When the relay first accepted the notice (RFC 3339 UTC), if it did.
    pub notified_at: Option<String>,
    /// Every attempt and outcome recorded for the person, oldest first.
    pub history: Vec<Event>,
    pub possible_duplicate: bool,
    /// A paper letter for the person (exported to the print vendor, posted): kept apart
    /// from the e-mail state. `None` until letters record their state.
    pub letter: Option<String>,
    /// The row of the list, for the name check; not shown.
    #[serde(skip)]
    pub row: Option<u64>,
    /// Whether a journal was found at all (none: nothing has been sent yet).
    #[serde(skip)]
    pub journal: bool,
}

/// A brand's hotline as the agent reads it out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HotlineInfo {
    pub number: String,
    pub hours: String,
    pub days: String,
}

/// One journal record of the person.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// RFC 3339 UTC.
    pub at: String,
    /// `attempt`, or the outcome's state (`sent`, `deferred`, …).
    pub what: String,
    pub attempt: u32,
    pub code: Option<u16>,
    /// The relay's reply, redacted (no addresses, no credentials).
    pub reply: Option<String>,
    /// The attempt's Message-ID, for the operator's `lookup` only (it names the sender's
    /// domain): the agent's page and the API leave it out.
    #[serde(skip)]
    pub message_id: Option<String>,
    /// A letter's batch file and its pages there (`letter_exported`), or the batch the print
    /// vendor confirmed posted (`letter_posted`, with the date in `posted_on`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posted_on: Option<String>,
}

/// The answer about `key` (a reference number or customer id): from the journals and the
/// list, or the journals alone when the list is not at hand.
pub fn answer(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    key: &str,
) -> Result<Answer> {
    let mut answer = Answer {
        query: key.to_string(),
        answer: "not_found",
        id: None,
        reference: None,
        brand: None,
        hotline: None,
        fields: Vec::new(),
        state: None,
        state_text: None,
        notified_at: None,
        history: Vec::new(),
        possible_duplicate: false,
        letter: None,
        row: None,
        journal: false,
    };
    let by_reference = reference::normalize(key);
    if let Some(hit) = super::index::find(
        config,
        recipients,
        encoding,
        state_dirs,
        key,
        by_reference.as_deref(),
    )? {
        let mut answer = match hit {
            Some(hit) => from_hit(answer, config, hit),
            None => return Ok(answer),
        };
        let paths: Vec<PathBuf> = state_dirs
            .iter()
            .map(|d| crate::journal::journal_path(d, &config.campaign.id))
            .collect();
        add_letters_posted(&mut answer, &paths)?;
        return Ok(answer);
    }
    let journals = Journals::open(state_dirs, &config.campaign.id)?;
    let bound = match &journals {
        Some(j) => j.bind_list(recipients, config, encoding)?,
        None => true, // nothing to bind to: the list alone answers "not notified yet"
    };
    let mut found = None;
    if !bound && let Some(j) = &journals {
        found = j.find_recorded(key, by_reference.as_deref(), &config.campaign.id)?;
        if found.is_none() {
            answer.answer = "unknown";
            return Ok(answer);
        }
    }
    let rows = if found.is_some() {
        None
    } else {
        Some(RecipientReader::open_without_duplicates(
            recipients, config, encoding,
        )?)
    };
    for row in rows.into_iter().flatten() {
        let (row, id, recipient) = match row? {
            Row::Valid { recipient, .. } => (recipient.row, recipient.id.clone(), Some(recipient)),
            Row::Invalid {
                row, id: Some(id), ..
            } => (row, id, None),
            Row::Invalid { .. } => continue,
        };
        let matches = id == key
            || by_reference.as_deref()
                == Some(reference::reference(&config.campaign.id, &id).as_str());
        if matches {
            if let Some(r) = recipient {
                fill_notice(&mut answer, config, &r.brand, r.leaked);
            }
            found = Some((row, id));
            break;
        }
    }
    let Some((row, id)) = found else {
        return Ok(answer);
    };
    answer.answer = "affected";
    answer.reference = Some(reference::reference(&config.campaign.id, &id));
    answer.id = Some(id);
    answer.row = Some(row);
    let Some(journals) = journals else {
        answer.state = Some(State::Pending.as_str());
        answer.state_text = Some("not notified yet (no journal)");
        return Ok(answer);
    };
    answer.journal = true;
    let state = journals.state(row);
    answer.state = Some(state.as_str());
    answer.state_text = Some(describe(state));
    answer.possible_duplicate = journals.possible_duplicate(row);
    for j in &journals.journals {
        for line in read_journal(&j.path)? {
            let record = line?.record;
            if matches!(&record, Record::Attempt(a) if a.row == row)
                || matches!(&record, Record::Outcome(o) if o.row == row)
                || matches!(&record, Record::LetterExported(l) if l.row == row)
            {
                push_event(&mut answer, record);
            }
        }
    }
    let paths: Vec<PathBuf> = journals.journals.iter().map(|j| j.path.clone()).collect();
    add_letters_posted(&mut answer, &paths)?;
    Ok(answer)
}

/// The brand, its hotline and the labels of the fields listed in the notice.
fn fill_notice(answer: &mut Answer, config: &Config, brand: &str, leaked: FieldSet) {
    answer.brand = config.brands.get(brand).map(|b| b.name.clone());
    answer.hotline = config.brands.get(brand).map(|b| HotlineInfo {
        number: b.hotline.number.clone(),
        hours: b.hotline.hours.clone(),
        days: b.hotline.days.clone(),
    });
    answer.fields = leaked
        .iter()
        .filter_map(|i| config.fields.get(i))
        .map(|f| f.label.clone())
        .collect();
}

/// Adds one attempt, outcome or letter record of the person to the history.
fn push_event(answer: &mut Answer, record: Record) {
    let event = |at: String, what: &str| Event {
        at,
        what: what.into(),
        attempt: 0,
        code: None,
        reply: None,
        message_id: None,
        batch: None,
        pages: None,
        posted_on: None,
    };
    match record {
        Record::Attempt(a) => answer.history.push(Event {
            attempt: a.attempt,
            message_id: Some(a.message_id),
            ..event(a.at, "attempt")
        }),
        Record::LetterExported(l) => {
            answer.letter = Some(format!("exported for printing in {}", l.batch));
            answer.history.push(Event {
                batch: Some(l.batch),
                pages: Some(l.pages),
                ..event(l.at, "letter_exported")
            })
        }
        Record::Outcome(o) => {
            if answer.notified_at.is_none() && o.state.is_delivered() {
                answer.notified_at = Some(o.at.clone());
            }
            answer.history.push(Event {
                attempt: o.attempt,
                code: o.code,
                reply: Some(crate::util::redact::redact_reply(
                    o.reply.as_deref().unwrap_or(""),
                )),
                ..event(o.at, o.state.as_str())
            })
        }
        _ => {}
    }
}

/// The answer from the index's hit: the same facts the full pass computes — the state in
/// the first journal that holds the row (replay's fold of its records), a possible
/// duplicate by the rule of [`super::journals`], the records of every journal in order.
fn from_hit(mut answer: Answer, config: &Config, hit: super::index::Hit) -> Answer {
    if let Some((brand, leaked)) = &hit.notice {
        fill_notice(&mut answer, config, brand, *leaked);
    }
    answer.answer = "affected";
    answer.reference = Some(reference::reference(&config.campaign.id, &hit.id));
    answer.id = Some(hit.id);
    answer.row = Some(hit.row);
    answer.journal = true;
    let mut state = State::Pending;
    if let Some((records, _)) = hit.journals.iter().find(|(r, _)| !r.is_empty()) {
        for r in records {
            let kind = match r {
                Record::Attempt(_) => RecordKind::Attempt,
                Record::Outcome(o) => RecordKind::Outcome(o.state),
                _ => continue,
            };
            state = next_state(state, &kind);
        }
    }
    answer.state = Some(state.as_str());
    answer.state_text = Some(describe(state));
    for (records, running) in &hit.journals {
        // 0 no transaction open, 1 an attempt without outcome, 2 an outcome unknown.
        let mut open = 0u8;
        for r in records {
            match r {
                Record::Attempt(_) => {
                    if open != 0 {
                        answer.possible_duplicate = true;
                    }
                    open = 1;
                }
                Record::Outcome(o) => open = if o.may_have_been_delivered() { 2 } else { 0 },
                _ => {}
            }
        }
        if open == 1 && !running {
            answer.possible_duplicate = true;
        }
    }
    for (records, _) in hit.journals {
        for r in records {
            push_event(&mut answer, r);
        }
    }
    answer
}

/// The posting dates the print vendor confirmed for the person's letters, if they have any:
/// `letter_posted` names a batch, not a row, so the journals are read for them — only for a
/// person with a letter, a small share of a campaign.
fn add_letters_posted(answer: &mut Answer, journals: &[PathBuf]) -> Result<()> {
    let batches: Vec<String> = answer
        .history
        .iter()
        .filter_map(|e| e.batch.clone())
        .collect();
    if batches.is_empty() {
        return Ok(());
    }
    let logs = journals
        .iter()
        .map(|path| crate::journal::LetterLog::read(path))
        .collect::<Result<Vec<_>>>()?;
    let log = crate::journal::LetterLog::merge(logs);
    for batch in batches {
        if let Some(date) = log.posted.get(&batch) {
            answer.letter = Some(format!("in {batch}, posted on {date}"));
            answer.history.push(Event {
                at: String::new(),
                what: "letter_posted".into(),
                attempt: 0,
                code: None,
                reply: None,
                message_id: None,
                batch: Some(batch),
                pages: None,
                posted_on: Some(date.clone()),
            });
        }
    }
    Ok(())
}

/// What a state means, for the person on the phone.
pub(super) fn describe(state: State) -> &'static str {
    match state {
        State::Pending => "not notified yet",
        State::Attempting => "a message was being sent when a run stopped; it will be re-sent",
        State::Sent => "notified: the relay accepted the message",
        State::Delayed => "notified, delivery delayed by the receiving side",
        State::Deferred => "not yet: temporary failures, will be retried",
        State::Failed => "not reachable by e-mail: the address was refused",
        State::Bounced => "not reachable by e-mail: the message bounced",
        State::Skipped => {
            "not sent: the row in the list is invalid, or (in a follow-up) its class is not mailed; \
             the reason is below"
        }
    }
}

/// Whether `given` (the name a caller gives) is the name in row `row` of the list, compared
/// after normalisation ([`normalize_name`]). `None`: the list is not at hand, the row has no
/// name, or it is invalid. Only that row's name is read — at its place in the file, which the
/// list's keys know, or else by reading the list up to it — and it leaves this function only
/// as the yes or no.
pub fn name_matches(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[std::path::PathBuf],
    row: u64,
    given: &str,
) -> Result<Option<bool>> {
    if recipients.symlink_metadata().is_err() {
        return Ok(None);
    }
    let given = normalize_name(given);
    let compare = |recipient: &crate::ingest::Recipient| {
        let on_list = normalize_name(&recipient.name);
        (!on_list.is_empty()).then(|| !given.is_empty() && given == on_list)
    };
    if let Some((offset, id)) = super::index::row_in_list(config, recipients, state_dirs, row)? {
        let mut at = RecipientReader::open_at(recipients, config, encoding, offset, row)?;
        match at.next().transpose() {
            // The row the keys say is there (same row, same id): answered from it.
            Ok(Some(Row::Valid { recipient, .. }))
                if recipient.row == row && recipient.id == id =>
            {
                return Ok(compare(&recipient));
            }
            Ok(Some(Row::Invalid {
                row: r,
                id: Some(i),
                ..
            })) if r == row && i == id => {
                return Ok(None);
            }
            // Anything else: the list is read up to the row, as without the keys.
            _ => {}
        }
    }
    for r in RecipientReader::open_without_duplicates(recipients, config, encoding)? {
        match r? {
            Row::Valid { recipient, .. } if recipient.row == row => return Ok(compare(&recipient)),
            r if r.row() >= row => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// A name as compared by the name check: NFKC (full-width and half-width forms fold
/// together), every kind of space removed, and a trailing 様 (or さま) dropped.
pub fn normalize_name(name: &str) -> String {
    let folded: String = name
        .nfkc()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}')
        .collect();
    let trimmed = folded
        .strip_suffix('様')
        .or_else(|| folded.strip_suffix("さま"))
        .unwrap_or(&folded);
    trimmed.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize_name;

    #[test]
    fn names_compare_across_width_spaces_and_honorific() {
        assert_eq!(normalize_name("山田　太郎 様"), normalize_name("山田太郎"));
        assert_eq!(normalize_name("ﾔﾏﾀﾞ ﾀﾛｳ"), normalize_name("ヤマダタロウ"));
        assert_eq!(
            normalize_name("ＹＡＭＡＤＡ Taro"),
            normalize_name("yamada taro")
        );
        assert_ne!(normalize_name("山田太郎"), normalize_name("山田次郎"));
        assert_eq!(normalize_name("  様"), "");
    }
}
