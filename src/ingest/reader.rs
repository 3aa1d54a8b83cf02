//! Streaming ingest and validation of the affected-customer CSV.
//!
//! The file is read record by record through a small decoding adapter (UTF-8 with or without
//! BOM, or Shift_JIS/CP932, auto-detected from the first 64 KiB), so memory stays flat however
//! long the list is. Duplicate ids and addresses are found by a first pass over the file
//! ([`RecipientReader::find_duplicates`], sorted on disk by [`crate::ingest::duplicates`]), so that memory
//! stays flat too; [`RecipientReader::open`] makes that pass before handing out the first row.
//!
//! Every data record becomes a [`Row`]: [`Row::Valid`] with the parsed [`Recipient`] and any
//! warnings, or [`Row::Invalid`] with every problem found in it. Problems point at the physical
//! line where the record starts (`file:line`) and never repeat personal data (names, e-mail
//! addresses); the customer id, which is the key the call centre searches for, may be named.
//! Only fatal conditions — an unreadable file, a header that does not fit the configuration —
//! are errors.
//!
//! ```no_run
//! use tsuchi::ingest::{Encoding, RecipientReader, Row};
//! let config = tsuchi::config::Config::load("config.toml".as_ref()).unwrap();
//! let reader =
//!     RecipientReader::open(&config.campaign.recipients, &config, Encoding::Auto).unwrap();
//! for row in reader {
//!     match row.unwrap() {
//!         Row::Valid { recipient, warnings } => { /* … */ }
//!         Row::Invalid { errors, .. } => errors.iter().for_each(|e| eprintln!("{e}")),
//!     }
//! }
//! ```

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::config::Encoding;
use crate::ingest::columns::{Columns, map_columns};
use crate::ingest::decode;
use crate::ingest::duplicates::{DuplicateFinder, Finding, Findings, MAX_BRANDS};
use crate::ingest::fields::trim;
use crate::ingest::list_duplicates::FileStamp;
use crate::ingest::record::{self, cell, fatal, is_blank_record};
use crate::ingest::row::{FieldSet, Row};

/// Streaming reader of a recipients CSV; an iterator of [`Row`]s.
pub struct RecipientReader {
    pub(super) path: PathBuf,
    pub(super) csv: csv::Reader<decode::Source>,
    pub(super) detected: &'static str,
    pub(super) encoding_name: &'static str,
    pub(super) columns: Columns,
    /// Header names as written (trimmed), for `column_indices`.
    pub(super) header: Vec<String>,
    pub(super) record: csv::ByteRecord,
    pub(super) next_row: u64,
    pub(super) done: bool,
    pub(super) brands: Vec<String>,
    pub(super) only_brand: Option<usize>,
    pub(super) locales: Vec<String>,
    pub(super) default_locale: String,
    /// `campaign.case_sensitive_local_part`: whether `Taro@` and `taro@` are two mailboxes.
    pub(super) case_sensitive_local: bool,
    /// The file as it was when opened, to tell that duplicates found earlier still apply.
    pub(super) stamp: FileStamp,
    /// Duplicate ids and addresses, by line (none unless found first).
    pub(super) findings: Findings,
    pub(super) found: Vec<Finding>,
    /// Ids and addresses collected while validating ([`RecipientReader::collecting_duplicates`]).
    pub(super) collecting: Option<DuplicateFinder>,
}

impl fmt::Debug for RecipientReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientReader")
            .field("path", &self.path)
            .field("encoding", &self.detected)
            .field("columns", &self.columns)
            .field("next_row", &self.next_row)
            .finish_non_exhaustive()
    }
}

impl RecipientReader {
    /// Opens the file, settles its encoding and reads the header, without looking for
    /// duplicates: for readers that only map rows to ids (`status`, `lookup`, `bounces`).
    ///
    /// Fails if the file cannot be read, is empty, lacks the `id` or `email` column (or
    /// `brand`, when the configuration has several brands), names a column twice, has a
    /// `leaked_*` column for a field that is not in the catalogue, or lacks the column of a
    /// catalogue field not marked `optional`. A header-only file is fine.
    pub fn open_without_duplicates(
        path: &Path,
        config: &Config,
        encoding: Encoding,
    ) -> Result<RecipientReader> {
        let file = File::open(path)
            .with_context(|| format!("cannot open recipients file {}", path.display()))?;
        let stamp = FileStamp::of(&file)
            .with_context(|| format!("cannot read recipients file {}", path.display()))?;
        let source = decode::open(path, file, encoding)?;
        let (detected, encoding_name) = (source.detected, source.encoding_name);
        let mut csv = record::csv_reader(source.reader);

        let mut header = csv::ByteRecord::new();
        let found = csv
            .read_byte_record(&mut header)
            .map_err(|e| fatal(path, 1, e))?;
        if !found {
            bail!("{}: the file is empty (no header line)", path.display());
        }
        let header_line = header.position().map_or(1, |p| p.line());
        let end = csv.position().byte();
        csv.get_mut().set_mark(end);
        if csv.get_mut().take_malformed(0, end) {
            bail!(
                "{}:{header_line}: the header line is not valid {encoding_name}; \
                 is the file in another encoding? (set the encoding explicitly)",
                path.display()
            );
        }
        let columns = map_columns(path, header_line, &header, config)?;
        let header_names = (0..header.len())
            .map(|i| {
                cell(&header, i)
                    .map(|b| {
                        String::from_utf8_lossy(b)
                            .trim()
                            .trim_start_matches('\u{feff}')
                            .to_string()
                    })
                    .unwrap_or_default()
            })
            .collect();

        let brands: Vec<String> = config.brands.keys().cloned().collect();
        if brands.len() > MAX_BRANDS {
            bail!("too many brands in the configuration");
        }
        let only_brand = (brands.len() == 1).then_some(0);
        Ok(RecipientReader {
            path: path.to_path_buf(),
            csv,
            detected,
            encoding_name,
            columns,
            header: header_names,
            record: csv::ByteRecord::new(),
            next_row: 1,
            done: false,
            brands,
            only_brand,
            locales: config.incident.keys().cloned().collect(),
            default_locale: config.campaign.default_locale.clone(),
            case_sensitive_local: config.campaign.case_sensitive_local_part,
            stamp,
            findings: Findings::none(),
            found: Vec::new(),
            collecting: None,
        })
    }

    /// Opens the list like [`RecipientReader::open_without_duplicates`], positioned at the
    /// record that starts at byte `offset` of the file ([`RowOffsets`](super::RowOffsets)),
    /// which is row `row`: to read that one row without the rows before it. Line numbers in
    /// its errors count from there; the caller checks the row is the one it expects.
    pub fn open_at(
        path: &Path,
        config: &Config,
        encoding: Encoding,
        offset: u64,
        row: u64,
    ) -> Result<RecipientReader> {
        let mut reader = RecipientReader::open_without_duplicates(path, config, encoding)?;
        let mut file = File::open(path)
            .with_context(|| format!("cannot open recipients file {}", path.display()))?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
            .with_context(|| format!("cannot read recipients file {}", path.display()))?;
        reader.csv = record::csv_reader(decode::resume(file, reader.detected));
        reader.next_row = row;
        Ok(reader)
    }

    /// Opens the list like [`RecipientReader::open_without_duplicates`], after a first pass
    /// over the whole file that finds every row repeating an earlier row's id, or its address
    /// within a brand ([`RecipientReader::find_duplicates`]); those rows come out invalid.
    /// A file that cannot be read to its end fails here, before any row is handed out.
    pub fn open(path: &Path, config: &Config, encoding: Encoding) -> Result<RecipientReader> {
        let duplicates = RecipientReader::find_duplicates(path, config, encoding)?;
        RecipientReader::open_without_duplicates(path, config, encoding)?
            .with_duplicates(duplicates)
    }

    /// `"utf-8"`, `"utf-8 (BOM)"` or `"shift_jis"`.
    pub fn detected_encoding(&self) -> &'static str {
        self.detected
    }

    /// Positions of the named columns (matched like the required ones: trimmed, any case),
    /// for copying other columns of the list into an export; an unknown name is an error.
    pub fn column_indices(&self, names: &[String]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|name| {
                self.header
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: no column {name:?} (columns: {})",
                            self.path.display(),
                            self.header.join(", ")
                        )
                    })
            })
            .collect()
    }

    /// The values of columns `indices` in the record last returned by `next`.
    pub fn current_values(&self, indices: &[usize]) -> Vec<String> {
        indices
            .iter()
            .map(|&i| {
                cell(&self.record, i)
                    .map(|b| String::from_utf8_lossy(b).trim().to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The id cell of the record last read (trimmed as validation trims it), even for a row
    /// passed over unvalidated by `next_unless_finished`; `None` when empty or missing.
    pub fn current_id(&self) -> Option<String> {
        let raw = cell(&self.record, self.columns.id)?;
        let id = trim(&String::from_utf8_lossy(raw)).to_string();
        (!id.is_empty()).then_some(id)
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The catalogue fields that have a `leaked_*` column in this file (the others, all marked
    /// `optional`, are "not leaked" for every row).
    pub fn flag_columns(&self) -> FieldSet {
        let mut set = FieldSet::default();
        for f in &self.columns.flags {
            set.insert(f.field);
        }
        set
    }
}

impl Iterator for RecipientReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        let (row, line, bad_bytes) = match self.read_record()? {
            Ok(read) => read,
            Err(e) => return Some(Err(e)),
        };
        Some(self.validate_record(row, line, bad_bytes))
    }
}

/// A row read by [`RecipientReader::next_unless_finished`].
#[derive(Debug)]
pub enum Next {
    /// A row validated as [`RecipientReader::next`] would return it.
    Row(Row),
    /// A row the caller had already finished with: numbered, not validated.
    Finished { row: u64 },
}

impl RecipientReader {
    /// Like `next`, but a row for which `finished(row)` holds is numbered and passed over
    /// without being validated: a resumed campaign need not check again the rows it has
    /// already sent.
    pub fn next_unless_finished(&mut self, finished: impl Fn(u64) -> bool) -> Option<Result<Next>> {
        let (row, line, bad_bytes) = match self.read_record()? {
            Ok(read) => read,
            Err(e) => return Some(Err(e)),
        };
        if finished(row) {
            return Some(Ok(Next::Finished { row }));
        }
        Some(self.validate_record(row, line, bad_bytes).map(Next::Row))
    }

    /// Validates the record `read_record` left in `self.record`.
    fn validate_record(&mut self, row: u64, line: u64, bad_bytes: bool) -> Result<Row> {
        let rec = std::mem::take(&mut self.record);
        let out = self.validate(row, line, &rec, bad_bytes);
        self.record = rec;
        out
    }

    /// Reads the next non-blank record into `self.record`: its row number, line, and whether
    /// it had bytes invalid in the file's encoding. `None` at the end of the file.
    pub(super) fn read_record(&mut self) -> Option<Result<(u64, u64, bool)>> {
        while !self.done {
            let resume_line = self.csv.position().line();
            match self.csv.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(fatal(&self.path, resume_line, e)));
                }
            }
            let rec = &self.record;
            let (start, _) = rec
                .position()
                .map_or((0, resume_line), |p| (p.byte(), p.line()));
            let end = self.csv.position().byte();
            let source = self.csv.get_mut();
            let line = source.line_at(start);
            source.set_mark(end);
            let bad_bytes = source.take_malformed(start, end);
            // Spreadsheets leave rows of empty cells at the end: nothing to send, nothing wrong.
            if !bad_bytes && is_blank_record(rec) {
                continue;
            }
            // Blank rows take no number: `count_rows` (the journal's row count) skips the same.
            let row = self.next_row;
            self.next_row += 1;
            return Some(Ok((row, line, bad_bytes)));
        }
        None
    }
}
