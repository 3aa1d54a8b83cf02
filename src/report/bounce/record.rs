//! `tsuchi bounces`: delivery status notifications read from mailboxes, matched to the
//! campaign's recipients and recorded in the campaign journal as `bounced` or `delayed`
//! outcomes, so the journal stays the one record of who was reached.
//!
//! A DSN is matched, in order, by the VERP envelope address it was delivered to, by the
//! original Message-ID it quotes, and by its `Final-Recipient`/`Original-Recipient` address.
//! Matching needs the list, so the bounces are read first (memory grows with the number of
//! bounces, not with the list) and the list is then streamed once. Reading the same mailbox
//! twice records nothing new.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::{self, JournalWriter, Outcome, State};
use crate::mail::message::MessageBuilder;
use crate::render::reference;
use crate::report::bounce::{self, Classification, Dsn};
use crate::util::redact::redact_reply;

/// What one `bounces` run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BounceSummary {
    pub messages: u64,
    pub bounced: u64,
    pub delayed: u64,
    pub already_recorded: u64,
    /// DSNs that match no recipient of this campaign (or a recipient never sent to).
    pub unmatched: u64,
    /// Messages that are not bounces, by reason.
    pub ignored: BTreeMap<String, u64>,
    pub unreadable: u64,
}

struct Candidate {
    failed: bool,
    dsn: Dsn,
    /// Matched row, how (0 = VERP, 1 = Message-ID, 2 = address) and the customer id.
    row: Option<(u64, u8, String)>,
    /// The error-ratio breaker's destination of the matched row.
    destination: Option<String>,
}

/// Reads `paths` (mbox files, Maildir folders, single messages) and records what they say.
pub fn run(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dir: &Path,
    paths: &[PathBuf],
    out: &mut dyn Write,
) -> Result<BounceSummary> {
    let journal_path = journal::journal_path(state_dir, &config.campaign.id);
    if !journal_path.exists() {
        bail!(
            "no journal at {}: nothing has been sent in this campaign",
            journal_path.display()
        );
    }
    let _lock = journal::lock_state_dir(state_dir)?;
    let mut summary = BounceSummary::default();

    // 1. Classify every message; keep only DSNs and the keys that can match them.
    let mut candidates = Vec::new();
    for item in bounce::read_messages(paths) {
        let (source, raw) = match item {
            Ok(m) => m,
            Err(e) => {
                summary.unreadable += 1;
                writeln!(out, "warning: {e:#}")?;
                continue;
            }
        };
        summary.messages += 1;
        for class in bounce::classify(&raw) {
            match class {
                Classification::Failed(dsn) => candidates.push(Candidate {
                    failed: true,
                    dsn,
                    row: None,
                    destination: None,
                }),
                Classification::Delayed(dsn) => candidates.push(Candidate {
                    failed: false,
                    dsn,
                    row: None,
                    destination: None,
                }),
                Classification::Ignored(reason) => {
                    let key = reason.split(" (").next().unwrap_or(&reason).to_string();
                    *summary.ignored.entry(key).or_default() += 1;
                    let _ = &source;
                }
            }
        }
    }

    // 2. Stream the list once, matching each row's VERP reference, Message-ID and address.
    let return_path = config
        .sender
        .return_path
        .clone()
        .unwrap_or_else(|| config.sender.address.clone());
    let mut by_reference: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_message_id: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_address: HashMap<String, Vec<usize>> = HashMap::new();
    let case_sensitive_local = config.campaign.case_sensitive_local_part;
    for (i, c) in candidates.iter().enumerate() {
        if let Some(r) = c
            .dsn
            .envelope_to
            .as_deref()
            .and_then(|a| crate::mail::verp_reference(&return_path, a))
            .and_then(|r| reference::normalize(&r))
        {
            by_reference.entry(r).or_default().push(i);
        }
        if let Some(m) = &c.dsn.original_message_id {
            by_message_id
                .entry(m.trim().to_ascii_lowercase())
                .or_default()
                .push(i);
        }
        for a in [&c.dsn.final_recipient, &c.dsn.original_recipient]
            .into_iter()
            .flatten()
        {
            by_address
                .entry(normalize_address(a, case_sensitive_local))
                .or_default()
                .push(i);
        }
    }
    let replay = journal::replay(&journal_path)?;
    // Messages sent so far by the breaker's destination, for unknown-user bounces to count
    // against (`send::relay::Breaker::count_bounces`).
    let groups = config.send.destination_groups();
    let mut sent_by_destination: BTreeMap<String, u64> = BTreeMap::new();
    if !candidates.is_empty() {
        let builder = MessageBuilder::new(config)?;
        for row in RecipientReader::open_without_duplicates(recipients, config, encoding)? {
            let Row::Valid { recipient, .. } = row? else {
                continue;
            };
            let domain = recipient.email.rsplit_once('@').map_or("", |(_, d)| d);
            let destination = crate::send::relay::destination_key(&groups, domain);
            if matches!(
                replay.states.get(recipient.row),
                State::Sent | State::Delayed | State::Bounced | State::Failed
            ) {
                *sent_by_destination.entry(destination.clone()).or_default() += 1;
            }
            let mut claim = |list: Option<&Vec<usize>>, how: u8| {
                for &i in list.into_iter().flatten() {
                    let c = &mut candidates[i];
                    if c.row.as_ref().is_none_or(|(_, h, _)| how < *h) {
                        c.row = Some((recipient.row, how, recipient.id.clone()));
                        c.destination = Some(destination.clone());
                    }
                }
            };
            if !by_reference.is_empty() {
                claim(
                    by_reference.get(&reference::reference(&config.campaign.id, &recipient.id)),
                    0,
                );
            }
            if !by_message_id.is_empty() {
                claim(
                    by_message_id.get(&builder.message_id(&recipient.id).to_ascii_lowercase()),
                    1,
                );
            }
            if !by_address.is_empty() {
                claim(
                    by_address.get(&normalize_address(&recipient.email, case_sensitive_local)),
                    2,
                );
            }
        }
    }

    // 3. Record what is new.
    let mut unknown_by_destination: BTreeMap<String, u64> = BTreeMap::new();
    let writer = JournalWriter::open_append(&journal_path, &replay)?;
    let mut states: HashMap<u64, State> = HashMap::new();
    for c in &candidates {
        let Some((row, _, id)) = &c.row else {
            summary.unmatched += 1;
            continue;
        };
        let row = *row;
        let current = *states.entry(row).or_insert_with(|| replay.states.get(row));
        let was_sent = matches!(
            current,
            State::Sent | State::Delayed | State::Attempting | State::Deferred
        );
        let new_state = if c.failed {
            State::Bounced
        } else {
            State::Delayed
        };
        if current == State::Bounced || (current == new_state) {
            summary.already_recorded += 1;
            continue;
        }
        if !was_sent {
            summary.unmatched += 1;
            continue;
        }
        let outcome = Outcome {
            code: c.dsn.diagnostic.as_deref().and_then(smtp_code),
            enhanced: (!c.dsn.status.is_empty()).then(|| c.dsn.status.clone()),
            reply: Some(format!(
                "{}: {}",
                if c.failed { "bounce" } else { "delayed" },
                c.dsn
                    .diagnostic
                    .as_deref()
                    .map(redact_reply)
                    .unwrap_or_default()
            )),
            message_id: c.dsn.original_message_id.clone(),
            ..Outcome::new(row, id.clone(), new_state, replay.attempts.get(row))
        };
        writer.outcome(&outcome)?;
        states.insert(row, new_state);
        if c.failed
            && c.dsn.status.starts_with("5.1.")
            && let Some(d) = &c.destination
        {
            // 5.1.x: the address does not exist (bad mailbox, bad domain).
            *unknown_by_destination.entry(d.clone()).or_default() += 1;
        }
        if c.failed {
            summary.bounced += 1;
        } else {
            summary.delayed += 1;
        }
    }
    writer.close().context("recording bounces in the journal")?;
    print_summary(&summary, out)?;
    for trip in crate::send::relay::Breaker::count_bounces(
        state_dir,
        &unknown_by_destination,
        &sent_by_destination,
        config.send.max_unknown_ratio,
        config.send.unknown_window,
    )? {
        writeln!(
            out,
            "held: {trip}. The next `tsuchi send` leaves its recipients to be sent: check the \
             list, then resume with `tsuchi send --accept-error-ratio`."
        )?;
    }
    Ok(summary)
}

fn print_summary(s: &BounceSummary, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "{:>10}  messages read", s.messages)?;
    writeln!(out, "{:>10}  bounced (recorded now)", s.bounced)?;
    writeln!(
        out,
        "{:>10}  delayed (recorded now; still counted as sent)",
        s.delayed
    )?;
    writeln!(
        out,
        "{:>10}  already recorded by an earlier run",
        s.already_recorded
    )?;
    writeln!(
        out,
        "{:>10}  DSNs for no recipient of this campaign",
        s.unmatched
    )?;
    for (reason, n) in &s.ignored {
        writeln!(out, "{n:>10}  ignored: {reason}")?;
    }
    if s.unreadable > 0 {
        writeln!(
            out,
            "{:>10}  unreadable paths or messages (see warnings)",
            s.unreadable
        )?;
    }
    Ok(())
}

/// `User@Example.JP`, `<user@example.jp>` and `USER@example.jp` match: mailboxes compare as
/// they do for duplicates in the list ([`crate::ingest::mailbox_key`]; the local part keeps
/// its case only under `campaign.case_sensitive_local_part`), quotes of legacy addresses removed.
fn normalize_address(a: &str, case_sensitive_local: bool) -> String {
    crate::ingest::mailbox_key(a, case_sensitive_local)
}

/// The SMTP code in a diagnostic such as `smtp; 550 5.1.1 <…>: Recipient address rejected`.
fn smtp_code(diagnostic: &str) -> Option<u16> {
    diagnostic
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 3 && matches!(w.as_bytes()[0], b'4' | b'5'))
        .and_then(|w| w.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_lose_their_addresses() {
        let d = "smtp; 550 5.1.1 <taro@example.jp>: Recipient address rejected: User unknown";
        assert_eq!(
            redact_reply(d),
            "smtp; 550 5.1.1 <address> Recipient address rejected: User unknown"
        );
        assert_eq!(smtp_code(d), Some(550));
        assert_eq!(
            smtp_code("X-Postfix; host said: 452 4.2.2 mailbox full"),
            Some(452)
        );
    }

    #[test]
    fn addresses_match_as_mailboxes_do() {
        assert_eq!(
            normalize_address("<Taro@Example.JP>", false),
            "taro@example.jp"
        );
        assert_eq!(
            normalize_address("<Taro@Example.JP>", true),
            "Taro@example.jp"
        );
        assert_eq!(
            normalize_address("\"Taro..y\"@docomo.ne.jp", false),
            normalize_address("taro..Y@DOCOMO.ne.jp", false)
        );
        assert_eq!(
            normalize_address("\"taro..y\"@docomo.ne.jp", true),
            "taro..y@docomo.ne.jp"
        );
    }
}
