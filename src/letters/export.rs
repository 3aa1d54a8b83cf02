//! The run of `tsuchi letters`: the list streamed once, the unreached selected as
//! `report --unreached` selects them, each letter typeset into the current batch, each batch
//! written (owner-only, atomically) and then journaled, the manifest and the announcement list
//! written at the end.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::address::{self, PostalAddress};
use super::manifest::{Entry, Manifest};
use super::pdf::{Batch, Typeface, WINDOW_LINES};
use super::template::LetterTemplates;
use crate::config::{Config, Letters};
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::{self, JournalWriter, LetterExported, LetterLog, LetterPosted, Record};
use crate::render::{Person, reference};
use crate::report::csv::{write_header, write_record};

/// What `letters` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    /// Letters per PDF file.
    pub batch: usize,
    /// Export again the people who already have a letter.
    pub again: bool,
}

/// What a run did, for the command's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub letters: u64,
    pub pages: u64,
    pub batches: Vec<String>,
    /// Unreached people whose letter was exported by an earlier run.
    pub already_exported: u64,
    /// Unreached people no letter can reach: listed for a public announcement.
    pub announcement: u64,
}

/// The `[letters]` section, or an error that says what to write.
fn section(config: &Config) -> Result<&Letters> {
    config.letters.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no [letters] section: letters need the list's postal columns \
             (postal_code, address = [...]), a Japanese font and the return address (see README, \
             \"Letters for those not reached\")",
            config.path.display()
        )
    })
}

/// The journal of the campaign in `state_dir`, which must exist: letters go to the people
/// e-mail did not reach, so the campaign has been sent (or dry-run) first.
fn journal_of(config: &Config, state_dir: &Path) -> Result<PathBuf> {
    let path = journal::journal_path(state_dir, &config.campaign.id);
    if !path.exists() {
        bail!(
            "no journal at {}: send the campaign first; letters go to those e-mail did not reach",
            path.display()
        );
    }
    Ok(path)
}

/// Exports the letters; see the module documentation.
pub fn export(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dir: &Path,
    options: &Options,
    out: &mut dyn Write,
) -> Result<ExportSummary> {
    let letters = section(config)?;
    if options.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let journal_path = journal_of(config, state_dir)?;
    let _lock = journal::lock_state_dir(state_dir)?;
    let replay = journal::replay(&journal_path)?;
    let (digest, rows) = crate::ingest::list_identity(recipients)?;
    journal::check_list(
        &journal_path,
        &replay.header,
        recipients,
        (&digest, rows),
        journal::Purpose::Answer,
    )?;
    journal::verify_ids(&[(&journal_path, &replay)], recipients, config, encoding)?;
    let templates = LetterTemplates::new(config, letters)?;
    let typeface = Typeface::load(&letters.font, letters.font_index)?;
    let log = LetterLog::read(&journal_path)?;
    let mut next_batch = next_batch_number(&log);

    crate::util::fs::create_private_dir(&options.out)?;
    let mut reader = RecipientReader::open(recipients, config, encoding)?;
    let mut columns = vec![letters.postal_code.clone(), letters.name.clone()];
    columns.extend(letters.address.iter().cloned());
    columns.extend(letters.prefecture.iter().cloned());
    let indices = reader
        .column_indices(&columns)
        .with_context(|| format!("{}: [letters] names a column", config.path.display()))?;

    let announcement_path = options.out.join("announcement.csv");
    let mut announcement = crate::util::fs::create_private_file(&announcement_path)?;
    write_header(
        &mut announcement,
        &["id", "reference", "reason"].map(String::from),
    )?;
    let writer = JournalWriter::open_append(&journal_path, &replay)?;
    let mut manifest = Manifest::new();
    let mut summary = ExportSummary::default();
    let mut current: Option<(String, Batch<'_>, Vec<LetterExported>)> = None;

    while let Some(row) = reader.next() {
        let row = row?;
        let values = reader.current_values(&indices);
        let recipient = match row {
            Row::Valid { recipient, .. } => recipient,
            Row::Invalid { id, .. } => {
                // Not reached (the row could not be sent), and its data cannot be trusted for
                // a letter either.
                let id = id.unwrap_or_default();
                announce(&mut announcement, config, &id, "invalid_row")?;
                summary.announcement += 1;
                continue;
            }
        };
        let state = replay.states.get(recipient.row);
        if crate::report::unreached_category(state).is_none() {
            continue;
        }
        if !options.again && log.by_row.contains_key(&recipient.row) {
            summary.already_exported += 1;
            continue;
        }
        let (postal, rest) = values.split_at(1);
        let (name, rest) = rest.split_at(1);
        let (lines, prefecture) = rest.split_at(letters.address.len());
        let prefecture = prefecture.first().map(String::as_str).unwrap_or("");
        let address: PostalAddress = match address::parse(&postal[0], lines, prefecture) {
            Ok(a) => a,
            Err(why) => {
                announce(&mut announcement, config, &recipient.id, why.as_str())?;
                summary.announcement += 1;
                continue;
            }
        };
        let person = Person {
            id: &recipient.id,
            name: &name[0],
            brand: &recipient.brand,
            locale: &recipient.locale,
            leaked: recipient.leaked,
        };
        let text = match templates.render(&person, &address) {
            Ok(t) if t.window.len() > WINDOW_LINES => {
                announce(
                    &mut announcement,
                    config,
                    &recipient.id,
                    "address_too_long_for_the_window",
                )?;
                summary.announcement += 1;
                continue;
            }
            Ok(t) => t,
            Err(e) => {
                writeln!(
                    out,
                    "{}:{}: {}: no letter: {e}",
                    recipients.display(),
                    recipient.line,
                    recipient.id
                )?;
                announce(&mut announcement, config, &recipient.id, "letter_refused")?;
                summary.announcement += 1;
                continue;
            }
        };
        let (batch_name, batch, events) = current.get_or_insert_with(|| {
            let name = batch_file_name(next_batch);
            next_batch += 1;
            (name, Batch::new(&typeface), Vec::new())
        });
        let reference = reference::reference(&config.campaign.id, &recipient.id);
        let (first, last) = batch.add(&text, &reference);
        manifest.push(Entry {
            postal_code: address.postal_code.clone(),
            batch: batch_name.clone(),
            first_page: first,
            last_page: last,
            reference,
            prefecture: address.prefecture.clone().unwrap_or_default(),
        })?;
        events.push(LetterExported {
            row: recipient.row,
            id: recipient.id.clone(),
            batch: batch_name.clone(),
            pages: format!("{first}-{last}"),
            at: String::new(),
        });
        if events.len() >= options.batch {
            let done = current.take().expect("a batch");
            finish_batch(&options.out, done, &writer, &mut summary)?;
        }
    }
    if let Some(done) = current.take() {
        finish_batch(&options.out, done, &writer, &mut summary)?;
    }
    writer.close()?;
    announcement.flush()?;
    let manifest_path = options.out.join("manifest.csv");
    let mut file = crate::util::fs::create_private_file(&manifest_path)?;
    manifest.write(&mut file)?;
    file.flush()?;
    Ok(summary)
}

/// Writes a finished batch file, then journals its letters: a letter is recorded only once
/// its file is on disk.
fn finish_batch(
    dir: &Path,
    (name, batch, events): (String, Batch<'_>, Vec<LetterExported>),
    writer: &JournalWriter,
    summary: &mut ExportSummary,
) -> Result<()> {
    summary.pages += u64::from(batch.pages());
    let bytes = batch.finish()?;
    crate::util::fs::write_atomic(&dir.join(&name), &bytes, 0o600)?;
    summary.letters += events.len() as u64;
    for e in events {
        writer.letter(Record::LetterExported(e))?;
    }
    writer.flush()?;
    summary.batches.push(name);
    Ok(())
}

fn announce(out: &mut dyn Write, config: &Config, id: &str, reason: &str) -> Result<()> {
    let reference = if id.is_empty() {
        String::new()
    } else {
        reference::reference(&config.campaign.id, id)
    };
    write_record(out, &[id.to_string(), reference, reason.to_string()])
}

/// `letters-0001.pdf`, …: numbered on from the batches the journal already holds, so a
/// second run never reuses a name the vendor has seen.
fn batch_file_name(n: u64) -> String {
    format!("letters-{n:04}.pdf")
}

fn next_batch_number(log: &LetterLog) -> u64 {
    log.batches
        .keys()
        .filter_map(|b| {
            b.strip_prefix("letters-")?
                .strip_suffix(".pdf")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
        + 1
}

/// `letters --mark-posted BATCH --date YYYY-MM-DD`: records the posting date the print
/// vendor confirmed for a batch file the journal knows. Returns the letters in the batch.
pub fn mark_posted(config: &Config, state_dir: &Path, batch: &str, date: &str) -> Result<u64> {
    let journal_path = journal_of(config, state_dir)?;
    if !is_date(date) {
        bail!("--date {date:?}: not a date in the form YYYY-MM-DD");
    }
    let _lock = journal::lock_state_dir(state_dir)?;
    let log = LetterLog::read(&journal_path)?;
    let batch = Path::new(batch)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(batch);
    let Some(&n) = log.batches.get(batch) else {
        bail!(
            "{}: no batch {batch:?} was exported in this campaign",
            journal_path.display()
        );
    };
    let replay = journal::replay(&journal_path)?;
    let writer = JournalWriter::open_append(&journal_path, &replay)?;
    writer.letter(Record::LetterPosted(LetterPosted {
        batch: batch.to_string(),
        date: date.to_string(),
        at: String::new(),
    }))?;
    writer.close()?;
    Ok(n)
}

/// `YYYY-MM-DD`, a real calendar date.
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u8>(), d.parse::<u8>()) else {
        return false;
    };
    time::Month::try_from(m)
        .and_then(|m| time::Date::from_calendar_date(y, m, d))
        .is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn posting_dates_are_calendar_dates() {
        assert!(super::is_date("2026-12-03"));
        for bad in ["2026-02-30", "2026-12-3", "03/12/2026", "2026-13-01", ""] {
            assert!(!super::is_date(bad), "{bad}");
        }
    }
}
