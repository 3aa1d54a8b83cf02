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
    let stamp = keys::Stamp {
        list: file::stamp(recipients)?,
        list_digest: &first.list_digest,
        config_digest: &config.file_digest,
    };
    let path = keys_path(&state_dirs[0], campaign);
    let keys = match keys::Keys::open(&path, stamp)? {
        Some(k) => k,
        None => {
            // Built only from a list bound to the journals (a list that is not theirs is
            // refused here exactly as by the full pass).
            let Some(journals) = super::journals::Journals::open(state_dirs, campaign)? else {
                return Ok(None);
            };
            if !journals.bind_list(recipients, config, encoding)? {
                return Ok(None);
            }
            keys::build(&path, config, recipients, encoding, stamp)?;
            match keys::Keys::open(&path, stamp)? {
                Some(k) => k,
                None => return Ok(None), // the list changed while it was indexed
            }
        }
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
