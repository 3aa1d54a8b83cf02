//! Follow-up campaigns (second waves, 第2報): a campaign that follows an earlier one compares
//! each person, by customer id, with what the earlier campaign told them — the fields its
//! notice listed and whether it reached them — and mails only the classes
//! `campaign.follow_up.send_to` names.
//!
//! The earlier campaign is read from its journal (bound to its list by digest and by the ids
//! of every row, as `report` binds them) and its list, read with this campaign's field
//! catalogue. It sits between `journal` and `send`: `review` (check, preview) and `send` use
//! it; the renderer only sees the [`FollowUps`] answer it gives.
//!
//! ```no_run
//! let config = tsuchi::config::Config::load("wave2/config.toml".as_ref()).unwrap();
//! let renderer = tsuchi::waves::renderer(&config).unwrap();
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::ingest::{FieldSet, Recipient, RecipientReader, Row};
use crate::journal::{self, Record};
use crate::render::{FollowUp, FollowUps, Renderer};

/// What the earlier campaign told one person.
#[derive(Clone, Copy)]
struct Told {
    /// The fields its notice listed (none for a row it refused).
    leaked: FieldSet,
    /// Its row in the earlier list.
    row: u32,
}

/// The earlier campaign as a follow-up compares with it: every customer id of its list, the
/// fields its notice listed, and each row's final state and delivery date.
///
/// Memory: about 40 bytes per person of the earlier list (a 128-bit digest of the id, the
/// fields and the row) plus 5 bytes per row; ids are not kept.
pub struct EarlierWave {
    pub campaign: String,
    pub journal: PathBuf,
    told: HashMap<u128, Told>,
    /// Per row (index = row − 1): delivered and not bounced since.
    reached: Vec<bool>,
    /// Per row: the day (days since 1970-01-01 in Japan) the notice was accepted, or `i32::MIN`.
    sent_day: Vec<i32>,
}

fn id_key(id: &str) -> u128 {
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

impl EarlierWave {
    /// Reads the campaign `config` follows, or `None` if it follows none.
    pub fn load(config: &Config) -> Result<Option<EarlierWave>> {
        let Some(follows) = &config.campaign.follows else {
            return Ok(None);
        };
        let path = journal::journal_path(&follows.state_dir, &follows.campaign);
        if !path.exists() {
            bail!(
                "campaign.follows: no journal of campaign {:?} at {}: a follow-up compares with \
                 what the earlier campaign sent, so its state directory must be there",
                follows.campaign,
                path.display()
            );
        }
        let replay = journal::replay(&path)
            .with_context(|| format!("campaign.follows: reading {}", path.display()))?;
        let list = &follows.recipients;
        let (digest, rows) = crate::ingest::list_identity(list)
            .with_context(|| format!("campaign.follows: reading {}", list.display()))?;
        journal::check_list(
            &path,
            &replay.header,
            list,
            (&digest, rows),
            journal::Purpose::Answer,
        )?;
        journal::verify_ids(&[(&path, &replay)], list, config, follows.encoding)?;
        let rows = usize::try_from(rows).context("earlier list too long")?;
        if rows > u32::MAX as usize {
            bail!("{}: more than {} rows", list.display(), u32::MAX);
        }
        let reached: Vec<bool> = (1..=rows as u64)
            .map(|row| replay.states.get(row).is_delivered())
            .collect();
        let sent_day = sent_days(&path, rows)?;
        let mut told = HashMap::with_capacity(rows);
        let mut reader =
            RecipientReader::open_without_duplicates(list, config, follows.encoding)
                .with_context(|| format!("campaign.follows: reading {}", list.display()))?;
        for row in reader.by_ref() {
            let (id, entry) = match row? {
                Row::Valid { recipient, .. } => (
                    recipient.id,
                    Told {
                        leaked: recipient.leaked,
                        row: recipient.row as u32,
                    },
                ),
                // Sent by the earlier campaign, refused under this one's config (a brand or a
                // field column since removed): what it told the person cannot be read back.
                Row::Invalid { row, errors, .. }
                    if EarlierWave::reached_in(&reached, row as u32) =>
                {
                    let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
                    bail!(
                        "campaign.follows: {first} — campaign {} sent this row, but this \
                         campaign's config refuses it, so what its notice said cannot be \
                         compared; keep the earlier brands and fields in this config",
                        follows.campaign
                    );
                }
                Row::Invalid {
                    row, id: Some(id), ..
                } => (
                    id,
                    Told {
                        leaked: FieldSet::default(),
                        row: row as u32,
                    },
                ),
                Row::Invalid { id: None, .. } => continue,
            };
            let wave = EarlierWave::reached_in(&reached, entry.row);
            // An id twice in the earlier list (the later row was refused): the row that
            // reached the person is what they were told.
            told.entry(id_key(&id))
                .and_modify(|t: &mut Told| {
                    if !EarlierWave::reached_in(&reached, t.row) && wave {
                        *t = entry;
                    }
                })
                .or_insert(entry);
        }
        Ok(Some(EarlierWave {
            campaign: follows.campaign.clone(),
            journal: path,
            told,
            reached,
            sent_day,
        }))
    }

    fn reached_in(reached: &[bool], row: u32) -> bool {
        reached
            .get((row as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(false)
    }

    /// People (distinct ids) in the earlier list.
    pub fn people(&self) -> usize {
        self.told.len()
    }
}

impl FollowUps for EarlierWave {
    fn follow_up(&self, id: &str, leaked: FieldSet) -> FollowUp {
        let earlier = self.told.get(&id_key(id)).map(|t| {
            let index = (t.row as usize).wrapping_sub(1);
            let reached = self.reached.get(index).copied().unwrap_or(false);
            let day = self.sent_day.get(index).copied().unwrap_or(i32::MIN);
            (
                t.leaked,
                reached,
                (day != i32::MIN).then(|| date_of_day(day)),
            )
        });
        FollowUp::classify(leaked, earlier)
    }

    fn sample_sent_at(&self) -> Option<String> {
        self.sent_day
            .iter()
            .copied()
            .filter(|&d| d != i32::MIN)
            .min()
            .map(date_of_day)
    }
}

/// The day in Japan each row's notice was last accepted (`sent` or `delayed`), from the
/// journal's outcome records.
fn sent_days(path: &Path, rows: usize) -> Result<Vec<i32>> {
    let mut days = vec![i32::MIN; rows];
    for line in journal::read_journal(path)? {
        if let Record::Outcome(o) = line?.record
            && o.state.is_delivered()
            && let Some(slot) = (o.row as usize)
                .checked_sub(1)
                .and_then(|i| days.get_mut(i))
            && let Some(day) = day_in_japan(&o.at)
        {
            *slot = day;
        }
    }
    Ok(days)
}

/// Days since 1970-01-01 of a journal timestamp's date in Japan.
pub(crate) fn day_in_japan(at: &str) -> Option<i32> {
    let t = journal::parse_rfc3339(at)?;
    let offset = time::UtcOffset::from_hms(9, 0, 0).ok()?;
    let date = t.to_offset(offset).date();
    Some(date.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day())
}

/// `2026-11-20` for a day of [`day_in_japan`].
pub(crate) fn date_of_day(day: i32) -> String {
    let epoch = time::macros::date!(1970 - 01 - 01).to_julian_day();
    match time::Date::from_julian_day(epoch + day) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()),
        Err(_) => String::new(),
    }
}

/// The campaign's renderer: for a follow-up campaign, with the earlier campaign attached, so
/// every notice gets its `follow_up` data. Every command that renders notices builds it here.
pub fn renderer(config: &Config) -> Result<Renderer> {
    let renderer = Renderer::new(config)?;
    Ok(match EarlierWave::load(config)? {
        Some(earlier) => renderer.with_follow_ups(Arc::new(earlier)),
        None => renderer,
    })
}

/// How the journaled reason of a row skipped by `campaign.follow_up.send_to` starts (so that
/// `report --summary` tells it from a row refused as invalid).
pub const SKIP_REASON_PREFIX: &str = "follow-up: ";

/// Whether `send` mails this valid row: `None` to send it, or why it is skipped (journaled as
/// the skipped outcome's reason). The one decision the producer asks for per row; the reason
/// names the class and the setting, never the person's data.
pub fn skip_reason(config: &Config, renderer: &Renderer, recipient: &Recipient) -> Option<String> {
    let follow_up = renderer.follow_up(&recipient.id, recipient.leaked)?;
    let kind = follow_up.kind.as_str();
    if config.campaign.follow_up.send_to.iter().any(|k| k == kind) {
        return None;
    }
    Some(format!(
        "{SKIP_REASON_PREFIX}{kind} since campaign {}, not in campaign.follow_up.send_to",
        config
            .campaign
            .follows
            .as_ref()
            .map_or("", |f| f.campaign.as_str())
    ))
}

/// The class of a row `send` skipped by `campaign.follow_up.send_to`, read back from the
/// skipped outcome's reason (`None` for any other reason: an invalid row).
pub fn skipped_class(reason: &str) -> Option<crate::render::FollowUpKind> {
    let rest = reason.strip_prefix(SKIP_REASON_PREFIX)?;
    let name = rest.split(' ').next()?;
    crate::render::FollowUpKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
}

/// Whether a follow-up sends to the class `kind` (for `check`'s counts).
pub fn sends_to(config: &Config, kind: crate::render::FollowUpKind) -> bool {
    config
        .campaign
        .follow_up
        .send_to
        .iter()
        .any(|k| k == kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_reason_names_its_class() {
        let reason = format!("{SKIP_REASON_PREFIX}unchanged since campaign k, not in …");
        assert_eq!(
            skipped_class(&reason),
            Some(crate::render::FollowUpKind::Unchanged)
        );
        assert_eq!(skipped_class("invalid row: email: not an address"), None);
    }

    #[test]
    fn dates_are_days_in_japan() {
        // 15:30 UTC is 00:30 the next day in Japan.
        let day = day_in_japan("2026-11-20T15:30:00Z").unwrap();
        assert_eq!(date_of_day(day), "2026-11-21");
        assert_eq!(
            date_of_day(day_in_japan("2026-11-20T14:59:59Z").unwrap()),
            "2026-11-20"
        );
    }
}
