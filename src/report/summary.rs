//! `report --summary`: the figures an incident report needs (PPC 速報/確報, 本人への対応の実施状況),
//! across every wave of a campaign — the campaign itself and the one it follows
//! (`campaign.follows`) — counting both records (rows of the lists) and persons.
//!
//! A person is a [`PersonKey`]: by default the e-mail address as receivers compare mailboxes
//! (the one rule of `ingest::mailbox_key`, also used for duplicates and bounces), so one person
//! under two brands, or in two waves, counts once. Each person takes the best outcome any of
//! their records had: notified by e-mail, else exported for a letter, else not sent yet, else
//! not reachable by any channel (→ public announcement, 公表) with the reason of their most
//! telling record (bounced, refused, invalid row, not mailed by choice).
//!
//! Memory: about 24 bytes per person (a 128-bit digest of the key and the outcome).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::journals::Journals;
use crate::config::{Config, PersonKey};
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::{Record, State};

/// Where one record of the lists ended, best first: a person takes the best of their records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Standing {
    /// A follow-up class the campaign chose not to mail (`campaign.follow_up.send_to`).
    NotSelected = 1,
    /// Refused by validation (an invalid row, a duplicate): never sent.
    Invalid = 2,
    /// Refused permanently by the receiving server at SMTP time.
    Failed = 3,
    /// Accepted, then bounced.
    Bounced = 4,
    /// Not sent yet, or deferred and to be retried.
    Pending = 5,
    /// Not reached by e-mail, exported for a printed letter.
    Letter = 6,
    /// Accepted, then reported delayed.
    Delayed = 7,
    /// Accepted by the relay.
    Sent = 8,
}

/// Counts per standing.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
struct Tally {
    total: u64,
    notified_by_email: u64,
    of_which_delayed: u64,
    exported_for_letter: u64,
    not_sent_yet: u64,
    not_reachable: u64,
    bounced: u64,
    refused_by_server: u64,
    invalid_row: u64,
    not_mailed_by_choice: u64,
}

impl Tally {
    fn add(&mut self, s: Standing) {
        self.total += 1;
        match s {
            Standing::Sent => self.notified_by_email += 1,
            Standing::Delayed => {
                self.notified_by_email += 1;
                self.of_which_delayed += 1;
            }
            Standing::Letter => self.exported_for_letter += 1,
            Standing::Pending => self.not_sent_yet += 1,
            Standing::Bounced => self.bounced += 1,
            Standing::Failed => self.refused_by_server += 1,
            Standing::Invalid => self.invalid_row += 1,
            Standing::NotSelected => self.not_mailed_by_choice += 1,
        }
        if matches!(s, Standing::Invalid | Standing::Failed | Standing::Bounced) {
            self.not_reachable += 1;
        }
    }

    /// Mailed but not reached, or never mailable: exported for a letter or not reachable.
    fn not_reached_by_email(&self) -> u64 {
        self.exported_for_letter + self.not_reachable
    }

    /// Whether every record or person is in exactly one of the top-level categories.
    fn adds_up(&self) -> bool {
        self.total
            == self.notified_by_email
                + self.not_reached_by_email()
                + self.not_sent_yet
                + self.not_mailed_by_choice
    }
}

/// One wave's figures.
#[derive(Debug, Serialize)]
struct Wave {
    wave: usize,
    campaign: String,
    records: Tally,
    /// First and last time a notice of this wave was accepted for delivery (RFC 3339 UTC).
    first_notified_at: Option<String>,
    last_notified_at: Option<String>,
    /// Records of this wave whose letter's batch the print vendor confirmed posted.
    letters_posted: u64,
}

/// The figures of the PPC report form under 本人への対応の実施状況, in persons.
#[derive(Debug, Serialize)]
struct PpcFigures {
    persons_concerned: u64,
    notified: u64,
    notified_by_email: u64,
    notified_by_letter: u64,
    not_yet_notified: u64,
    not_reachable_public_announcement: u64,
    email_first_notified_at: Option<String>,
    email_last_notified_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    campaign: String,
    as_of: String,
    person_key: &'static str,
    waves: Vec<Wave>,
    records: Tally,
    persons: Tally,
    ppc: PpcFigures,
}

/// A campaign whose journals and list are counted.
struct Source {
    campaign: String,
    state_dirs: Vec<PathBuf>,
    list: PathBuf,
    encoding: Encoding,
}

/// The figures for the incident report across the waves of the campaign, as text (Japanese
/// and English labels) or, with `json`, as one JSON object.
pub fn summary(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut sources = Vec::new();
    if let Some(f) = &config.campaign.follows {
        sources.push(Source {
            campaign: f.campaign.clone(),
            state_dirs: vec![f.state_dir.clone()],
            list: f.recipients.clone(),
            encoding: f.encoding,
        });
    }
    sources.push(Source {
        campaign: config.campaign.id.clone(),
        state_dirs: state_dirs.to_vec(),
        list: recipients.to_path_buf(),
        encoding,
    });
    let mut persons = Persons {
        best: HashMap::new(),
        refused_ids: refused_ids(config, &sources)?,
        key_of_refused: HashMap::new(),
        refused: Vec::new(),
    };
    let mut waves = Vec::new();
    let mut records = Tally::default();
    for (i, source) in sources.iter().enumerate() {
        let wave = count_wave(config, i + 1, source, &mut persons)?;
        for s in wave.1 {
            records.add(s);
        }
        waves.push(wave.0);
    }
    // A row refused by validation has no usable address: it is the person whose valid row
    // (in any wave) has its id, else a person of its own.
    for (id, standing) in std::mem::take(&mut persons.refused) {
        let key = persons
            .key_of_refused
            .get(&id)
            .copied()
            .unwrap_or_else(|| person_digest(&format!("id\0{id}")));
        persons.add(key, standing);
    }
    let persons = persons.best;
    let mut person_tally = Tally::default();
    for s in persons.values() {
        person_tally.add(*s);
    }
    let email_first = waves
        .iter()
        .filter_map(|w| w.first_notified_at.clone())
        .min();
    let email_last = waves
        .iter()
        .filter_map(|w| w.last_notified_at.clone())
        .max();
    let summary = Summary {
        campaign: config.campaign.id.clone(),
        as_of: crate::util::time::now_rfc3339_seconds(),
        person_key: match config.summary.person_key {
            PersonKey::Email => "email",
            PersonKey::Id => "id",
        },
        ppc: PpcFigures {
            persons_concerned: person_tally.total,
            notified: person_tally.notified_by_email + person_tally.exported_for_letter,
            notified_by_email: person_tally.notified_by_email,
            notified_by_letter: person_tally.exported_for_letter,
            not_yet_notified: person_tally.not_sent_yet + person_tally.not_mailed_by_choice,
            not_reachable_public_announcement: person_tally.not_reachable,
            email_first_notified_at: email_first,
            email_last_notified_at: email_last,
        },
        waves,
        records,
        persons: person_tally,
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &summary)?;
        writeln!(out)?;
        return Ok(());
    }
    write_text(&summary, out)
}

/// The persons counted so far.
struct Persons {
    /// Each person's best standing, by the digest of their key.
    best: HashMap<u128, Standing>,
    /// The ids of rows refused by validation, in any wave (few).
    refused_ids: std::collections::HashSet<String>,
    /// The person of a valid row whose id is among `refused_ids`.
    key_of_refused: HashMap<String, u128>,
    /// Refused rows, counted once every valid row has been seen.
    refused: Vec<(String, Standing)>,
}

impl Persons {
    fn add(&mut self, key: u128, standing: Standing) {
        let best = self.best.entry(key).or_insert(standing);
        if standing > *best {
            *best = standing;
        }
    }
}

/// The ids of every row refused by validation in the lists of `sources`.
fn refused_ids(config: &Config, sources: &[Source]) -> Result<std::collections::HashSet<String>> {
    let mut ids = std::collections::HashSet::new();
    for source in sources {
        if source.list.symlink_metadata().is_err() {
            continue; // reported by the count
        }
        let reader =
            RecipientReader::open_without_duplicates(&source.list, config, source.encoding)
                .with_context(|| format!("reading {}", source.list.display()))?;
        for row in reader {
            if let Row::Invalid { id: Some(id), .. } = row? {
                ids.insert(id);
            }
        }
    }
    Ok(ids)
}

/// The digest a person is counted under.
fn person_digest(key: &str) -> u128 {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// Counts one wave: each record's standing (returned, for the record totals) and, into
/// `persons`, the best standing of each person so far.
fn count_wave(
    config: &Config,
    number: usize,
    source: &Source,
    persons: &mut Persons,
) -> Result<(Wave, Vec<Standing>)> {
    let mut journals = Journals::open(&source.state_dirs, &source.campaign)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no journal for campaign {} in {}: nothing has been sent yet",
            source.campaign,
            source
                .state_dirs
                .first()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )
    })?;
    if !journals.bind_list(&source.list, config, source.encoding)? {
        bail!(
            "{}: not found; report --summary counts persons, so it needs the list campaign {} \
             was sent from",
            source.list.display(),
            source.campaign
        );
    }
    let letters = journals.letters()?;
    let (mut first, mut last) = (None::<String>, None::<String>);
    for j in &journals.journals {
        for line in crate::journal::read_journal(&j.path)? {
            if let Record::Outcome(o) = line?.record
                && o.state.is_delivered()
                && crate::journal::parse_rfc3339(&o.at).is_some()
            {
                if first.as_ref().is_none_or(|f| o.at < *f) {
                    first = Some(o.at.clone());
                }
                if last.as_ref().is_none_or(|l| o.at > *l) {
                    last = Some(o.at.clone());
                }
            }
        }
    }
    let case_sensitive = config.campaign.case_sensitive_local_part;
    let mut reader =
        RecipientReader::open_without_duplicates(&source.list, config, source.encoding)
            .with_context(|| format!("reading {}", source.list.display()))?;
    let mut standings = Vec::new();
    let mut records = Tally::default();
    for row in reader.by_ref() {
        // The person's key, or for a refused row its id (resolved at the end).
        let (row, key, refused_id) = match row? {
            Row::Valid { recipient, .. } => {
                let key = person_digest(&match config.summary.person_key {
                    PersonKey::Email => format!(
                        "email\0{}",
                        crate::ingest::mailbox_key(&recipient.email, case_sensitive)
                    ),
                    PersonKey::Id => format!("id\0{}", recipient.id),
                });
                if persons.refused_ids.contains(&recipient.id) {
                    persons.key_of_refused.insert(recipient.id, key);
                }
                (recipient.row, key, None)
            }
            Row::Invalid {
                row, id: Some(id), ..
            } => (row, 0, Some(id)),
            Row::Invalid { row, id: None, .. } => (
                row,
                person_digest(&format!("row\0{}\0{row}", source.campaign)),
                None,
            ),
        };
        let state = journals.state(row);
        let standing = match state {
            State::Sent => Standing::Sent,
            State::Delayed => Standing::Delayed,
            _ if letters.by_row.contains_key(&row) => Standing::Letter,
            State::Pending | State::Attempting | State::Deferred => Standing::Pending,
            State::Bounced => Standing::Bounced,
            State::Failed => Standing::Failed,
            State::Skipped => {
                let chosen = journals.last_outcome(row)?.is_some_and(|o| {
                    o.reply
                        .as_deref()
                        .and_then(crate::waves::skipped_class)
                        .is_some()
                });
                if chosen {
                    Standing::NotSelected
                } else {
                    Standing::Invalid
                }
            }
        };
        records.add(standing);
        standings.push(standing);
        match refused_id {
            Some(id) => persons.refused.push((id, standing)),
            None => persons.add(key, standing),
        }
    }
    Ok((
        Wave {
            wave: number,
            campaign: source.campaign.clone(),
            records,
            first_notified_at: first,
            last_notified_at: last,
            letters_posted: letters.people_posted(),
        },
        standings,
    ))
}

/// `text` followed by spaces up to `width` display columns (a full-width character counts two).
fn pad(text: &str, width: usize) -> String {
    let w = crate::render::display_width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

/// Spaces up to `width` display columns, then `text`.
fn pad_left(text: &str, width: usize) -> String {
    let w = crate::render::display_width(text);
    format!("{}{text}", " ".repeat(width.saturating_sub(w)))
}

fn write_text(s: &Summary, out: &mut dyn Write) -> Result<()> {
    let g = crate::util::format::group_digits;
    let shown = |at: &Option<String>| {
        at.as_deref()
            .map(crate::util::time::shown_time)
            .unwrap_or_else(|| "—".into())
    };
    writeln!(
        out,
        "通知状況の集計 / Notification summary — campaign {} ({} wave{})",
        s.campaign,
        s.waves.len(),
        if s.waves.len() == 1 { "" } else { "s" }
    )?;
    writeln!(
        out,
        "時点 (as of): {}",
        crate::util::time::shown_time(&s.as_of)
    )?;
    writeln!(
        out,
        "人数 (persons): {} — 件数 (records): rows of the lists, a person in two waves or under two brands is two records",
        match s.person_key {
            "id" => "one per customer id",
            _ => "one per e-mail address, compared as receivers compare mailboxes",
        }
    )?;
    writeln!(
        out,
        "{}{}{}",
        pad("", 68),
        pad_left("件数 records", 14),
        pad_left("人数 persons", 14)
    )?;
    let (r, p) = (&s.records, &s.persons);
    let line = |out: &mut dyn Write, label: &str, rec: u64, per: u64| -> Result<()> {
        writeln!(out, "  {}{:>14}{:>14}", pad(label, 66), g(rec), g(per))?;
        Ok(())
    };
    line(out, "対象者 (people in the list)", r.total, p.total)?;
    line(
        out,
        "電子メールで通知済み (notified by e-mail)",
        r.notified_by_email,
        p.notified_by_email,
    )?;
    line(
        out,
        "  うち配信遅延の報告あり (of which delivery delayed)",
        r.of_which_delayed,
        p.of_which_delayed,
    )?;
    line(
        out,
        "電子メールで通知できなかった (not reachable by e-mail)",
        r.not_reached_by_email(),
        p.not_reached_by_email(),
    )?;
    line(
        out,
        "  書面の送付対象として出力 (letters exported for printing: `tsuchi letters`)",
        r.exported_for_letter,
        p.exported_for_letter,
    )?;
    writeln!(
        out,
        "  {}{:>14}",
        pad(
            "  うち投函済み (records, of which posted, as the print vendor confirmed)",
            66
        ),
        g(s.waves.iter().map(|w| w.letters_posted).sum())
    )?;
    line(
        out,
        "  いずれの手段でも通知できない (not reachable by any channel: 公表)",
        r.not_reachable,
        p.not_reachable,
    )?;
    line(out, "    不達通知 (bounced)", r.bounced, p.bounced)?;
    line(
        out,
        "    送信拒否 (refused by the receiving server)",
        r.refused_by_server,
        p.refused_by_server,
    )?;
    line(
        out,
        "    宛先データ不備 (invalid row in the list)",
        r.invalid_row,
        p.invalid_row,
    )?;
    line(
        out,
        "未送信・再送待ち (not sent yet or to be retried)",
        r.not_sent_yet,
        p.not_sent_yet,
    )?;
    line(
        out,
        "続報の対象外 (not mailed: follow-up class not in send_to)",
        r.not_mailed_by_choice,
        p.not_mailed_by_choice,
    )?;
    if !r.adds_up() || !p.adds_up() {
        writeln!(out, "  warning: the categories do not add up")?;
    }
    writeln!(out)?;
    for w in &s.waves {
        writeln!(
            out,
            "第{}報 (wave {}): campaign {} — {} records, notified by e-mail {}, first {}, last {}",
            w.wave,
            w.wave,
            w.campaign,
            g(w.records.total),
            g(w.records.notified_by_email),
            shown(&w.first_notified_at),
            shown(&w.last_notified_at)
        )?;
        writeln!(
            out,
            "  bounced {}, refused {}, invalid {}, not mailed by choice {}, letters {}, not sent yet {}",
            g(w.records.bounced),
            g(w.records.refused_by_server),
            g(w.records.invalid_row),
            g(w.records.not_mailed_by_choice),
            g(w.records.exported_for_letter),
            g(w.records.not_sent_yet)
        )?;
    }
    writeln!(out)?;
    let ppc = &s.ppc;
    writeln!(
        out,
        "本人への対応の実施状況 (response to the persons concerned, as the PPC report form asks), in persons:"
    )?;
    let item = |out: &mut dyn Write, label: &str, n: u64| -> Result<()> {
        writeln!(out, "  {}{:>12}", pad(label, 78), g(n))?;
        Ok(())
    };
    item(out, "本人数 (persons concerned)", ppc.persons_concerned)?;
    item(out, "本人へ通知済み (persons notified)", ppc.notified)?;
    item(out, "  電子メール (by e-mail)", ppc.notified_by_email)?;
    item(
        out,
        "  書面 (by letter: exported for printing and posting)",
        ppc.notified_by_letter,
    )?;
    item(
        out,
        "通知未了 (notification not yet completed)",
        ppc.not_yet_notified,
    )?;
    item(
        out,
        "本人への通知が困難な者、公表により対応 (not reachable: public announcement)",
        ppc.not_reachable_public_announcement,
    )?;
    writeln!(
        out,
        "  電子メールによる通知の実施期間 (e-mail notices sent): {} 〜 {}",
        shown(&ppc.email_first_notified_at),
        shown(&ppc.email_last_notified_at)
    )?;
    Ok(())
}
