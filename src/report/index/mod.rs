//! The lookup index: what makes `lookup` and `tsuchi serve` answer in milliseconds at
//! millions of recipients. Two files in the state directory, keys only (no personal data):
//!
//! - [`keys`]: the list's ids and reference numbers, hashed and sorted with their rows, and
//!   per row the brand and the fields listed in the notice — built once per list (and
//!   configuration), after the list was bound to the journals as a full `lookup` binds it;
//! - [`history`]: per journal, where each row's records are, kept current from the journal's
//!   tail while a `send` appends to it.
//!
//! A lookup is then two binary searches and a few positioned reads, plus at most
//! [`history::TAIL_MAX`] bytes of journal tail. When the index cannot answer for certain
//! (no journal yet, the list not at hand, journals of different lists) the caller answers by
//! the full pass, as before, with the same result.

mod file;
mod history;
mod keys;

pub(crate) use history::merge_in_background;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::ingest::{Encoding, FieldSet};
use crate::journal::{self, Header, Record};

/// A person found through the index, with the records of each journal about them.
pub(super) struct Hit {
    pub row: u64,
    pub id: String,
    /// Brand key and fields listed; `None` for an invalid row.
    pub notice: Option<(String, FieldSet)>,
    /// Per journal (in the order of the state directories): its records of the row, and
    /// whether a `send` holds that state directory now.
    pub journals: Vec<(Vec<Record>, bool)>,
}

/// The file of the list's keys, in the first state directory.
fn keys_path(state_dir: &Path, campaign: &str) -> PathBuf {
    state_dir.join(format!("{campaign}.lookup-keys"))
}

/// The file of a journal's row index, beside the journal.
fn history_path(state_dir: &Path, campaign: &str) -> PathBuf {
    state_dir.join(format!("{campaign}.lookup-journal"))
}

fn read_header(path: &Path) -> Result<Option<Header>> {
    use std::io::{BufRead, Read};
    let Some(f) =
        crate::util::fs::open_existing_state_file(path, std::fs::File::options().read(true))?
    else {
        return Ok(None);
    };
    let mut line = Vec::new();
    std::io::BufReader::new(f)
        .take(1 << 20)
        .read_until(b'\n', &mut line)?;
    Ok(match serde_json::from_slice::<Record>(&line) {
        Ok(Record::Header(h)) => Some(h),
        _ => None,
    })
}

/// The list's keys, current: opened, or built when they are missing or stale — only from a
/// list bound to the journals (a list that is not theirs is refused here exactly as by the
/// full pass). `journals`: the journals, if the caller has them open. `None`: the journals
/// cannot be opened, or the list changed while it was indexed.
fn open_keys(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    list_digest: &str,
    journals: Option<&super::journals::Journals>,
) -> Result<Option<keys::Keys>> {
    let stamp = keys::Stamp {
        list: file::stamp(recipients)?,
        list_digest,
        config_digest: &config.file_digest,
    };
    let path = keys_path(&state_dirs[0], &config.campaign.id);
    if let Some(k) = keys::Keys::open(&path, stamp)? {
        return Ok(Some(k));
    }
    let opened;
    let journals = match journals {
        Some(j) => j,
        None => match super::journals::Journals::open(state_dirs, &config.campaign.id)? {
            Some(j) => {
                opened = j;
                &opened
            }
            None => return Ok(None),
        },
    };
    if !journals.bind_list(recipients, config, encoding)? {
        return Ok(None);
    }
    if let Err(e) = keys::build(&path, config, recipients, encoding, stamp) {
        // A state directory that cannot be written (read-only, full): answered without the
        // index, by the full pass, which also reports anything wrong with the list itself.
        tracing::debug!("no index built in {}: {e:#}", state_dirs[0].display());
        return Ok(None);
    }
    keys::Keys::open(&path, stamp)
}

/// The list's keys for `status` (each row's group and domain, its id), when the list is at
/// hand: opened if current, else built after the list was bound to `journals`, as the first
/// `lookup` builds them. `None`: no list at hand, or no index could be written.
pub(super) fn status_keys(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    journals: &super::journals::Journals,
) -> Result<Option<keys::Keys>> {
    if recipients.symlink_metadata().is_err() {
        return Ok(None);
    }
    let digest = journals.journals[0].replay.header.list_digest.clone();
    open_keys(
        config,
        recipients,
        encoding,
        state_dirs,
        &digest,
        Some(journals),
    )
}

/// Where row `row` starts in the list file and its customer id, from the list's keys when
/// they are current (never built here: a name check follows a lookup, which built them).
pub(super) fn row_in_list(
    config: &Config,
    recipients: &Path,
    state_dirs: &[PathBuf],
    row: u64,
) -> Result<Option<(u64, String)>> {
    let Some(first) = state_dirs.first() else {
        return Ok(None);
    };
    let Some(header) = read_header(&journal::journal_path(first, &config.campaign.id))? else {
        return Ok(None);
    };
    let stamp = keys::Stamp {
        list: file::stamp(recipients)?,
        list_digest: &header.list_digest,
        config_digest: &config.file_digest,
    };
    let Some(keys) = keys::Keys::open(&keys_path(first, &config.campaign.id), stamp)? else {
        return Ok(None);
    };
    Ok(match keys.list_offset(row)? {
        Some(offset) => Some((offset, keys.id(row)?)),
        None => None,
    })
}

/// Looks `key` up through the index. `Ok(None)`: the index cannot answer here, use the full
/// pass; `Ok(Some(None))`: no such id or reference number on the list.
pub(super) fn find(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    key: &str,
    reference: Option<&str>,
) -> Result<Option<Option<Hit>>> {
    let campaign = &config.campaign.id;
    let mut headers = Vec::new();
    for dir in state_dirs {
        match read_header(&journal::journal_path(dir, campaign))? {
            Some(h) => headers.push(h),
            None => return Ok(None),
        }
    }
    let Some(first) = headers.first() else {
        return Ok(None);
    };
    if headers
        .iter()
        .any(|h| h.list_digest != first.list_digest || h.list_rows != first.list_rows)
        || recipients.symlink_metadata().is_err()
    {
        return Ok(None);
    }
    let Some(keys) = open_keys(
        config,
        recipients,
        encoding,
        state_dirs,
        &first.list_digest,
        None,
    )?
    else {
        return Ok(None);
    };
    let Some(found) = keys.find(key, reference, config)? else {
        return Ok(Some(None));
    };
    let mut journals = Vec::new();
    for dir in state_dirs {
        let records = history::records(
            &journal::journal_path(dir, campaign),
            &history_path(dir, campaign),
            found.row,
        )?;
        journals.push((records, journal::lock_holder(dir)?.is_some()));
    }
    Ok(Some(Some(Hit {
        row: found.row,
        id: found.id,
        notice: found.notice,
        journals,
    })))
}
