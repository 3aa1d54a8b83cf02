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
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};

use crate::config::Config;
pub use crate::config::Encoding;
use crate::ingest::columns::{Columns, map_columns};
use crate::ingest::decode::{self, looks_like_utf8_read_as_sjis};
use crate::ingest::duplicates::{DuplicateFinder, Finding, Findings, MAX_BRANDS};
use crate::ingest::fields::{
    FLAG_HELP, check_email, check_id, check_text, is_private_use, parse_flag, resolve_brand,
    shorten, trim,
};
use crate::ingest::keys::id_key;
use crate::ingest::record::{self, cell, fatal, is_blank_record};
use crate::ingest::row::{FieldSet, MAX_NAME_CHARS, Recipient, Row, RowIssue};

// ---------------------------------------------------------------------------------------------
// Duplicate detection

/// The duplicates of a list, found by [`RecipientReader::find_duplicates`], to hand to the reader
/// of the second pass ([`RecipientReader::with_duplicates`]).
pub struct ListDuplicates {
    stamp: FileStamp,
    findings: Findings,
}

impl ListDuplicates {
    /// No row repeats an earlier row's id or address (not even under another brand).
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Size, modification time and inode of a file: if all three are unchanged, the duplicates
/// found in one pass still describe the file the next pass reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(file: &File) -> io::Result<FileStamp> {
        let meta = file.metadata()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The reader

/// Streaming reader of a recipients CSV; an iterator of [`Row`]s.
pub struct RecipientReader {
    path: PathBuf,
    csv: csv::Reader<decode::Source>,
    detected: &'static str,
    encoding_name: &'static str,
    columns: Columns,
    /// Header names as written (trimmed), for `column_indices`.
    header: Vec<String>,
    record: csv::ByteRecord,
    next_row: u64,
    done: bool,
    brands: Vec<String>,
    only_brand: Option<usize>,
    locales: Vec<String>,
    default_locale: String,
    /// `campaign.case_sensitive_local_part`: whether `Taro@` and `taro@` are two mailboxes.
    case_sensitive_local: bool,
    /// The file as it was when opened, to tell that duplicates found earlier still apply.
    stamp: FileStamp,
    /// Duplicate ids and addresses, by line (none unless found first).
    findings: Findings,
    found: Vec<Finding>,
    /// Ids and addresses collected while validating ([`RecipientReader::collecting_duplicates`]).
    collecting: Option<DuplicateFinder>,
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

    /// Opens the list like [`RecipientReader::open_without_duplicates`], after a first pass
    /// over the whole file that finds every row repeating an earlier row's id, or its address
    /// within a brand ([`RecipientReader::find_duplicates`]); those rows come out invalid.
    /// A file that cannot be read to its end fails here, before any row is handed out.
    pub fn open(path: &Path, config: &Config, encoding: Encoding) -> Result<RecipientReader> {
        let duplicates = RecipientReader::find_duplicates(path, config, encoding)?;
        RecipientReader::open_without_duplicates(path, config, encoding)?
            .with_duplicates(duplicates)
    }

    /// Reads the whole list once for its ids and addresses and finds the duplicates, in
    /// bounded memory (see [`crate::ingest::duplicates`]).
    pub fn find_duplicates(
        path: &Path,
        config: &Config,
        encoding: Encoding,
    ) -> Result<ListDuplicates> {
        let mut reader = RecipientReader::open_without_duplicates(path, config, encoding)?;
        let sort_error = |e: io::Error| {
            anyhow::anyhow!(
                "sorting the ids and addresses of {} {}: {e}",
                path.display(),
                crate::util::disk_sort::location()
            )
        };
        // This thread parses the CSV; a second one checks the ids and addresses, hashes them
        // and sorts: each has about half the work.
        let (full_tx, full_rx) = mpsc::sync_channel::<IdentityCells>(4);
        let (empty_tx, empty_rx) = mpsc::channel::<IdentityCells>();
        let (brands, only_brand) = (reader.brands.clone(), reader.only_brand);
        let case_sensitive_local = reader.case_sensitive_local;
        let (findings, read) = std::thread::scope(|scope| {
            let sorting = scope.spawn(move || -> io::Result<Findings> {
                let mut finder = DuplicateFinder::new();
                for mut cells in full_rx {
                    for row in &cells.rows {
                        let (id, email) = identity_keys(
                            cells.cell(&row.id),
                            cells.cell(&row.email),
                            row.brand.as_ref().map(|b| cells.cell(b)),
                            &brands,
                            only_brand,
                            row.bad_bytes,
                            case_sensitive_local,
                        );
                        if let Some(key) = id {
                            finder.id(row.line, key)?;
                        }
                        if let Some((key, brand)) = email {
                            finder.email(row.line, key, brand)?;
                        }
                    }
                    cells.clear();
                    let _ = empty_tx.send(cells);
                }
                finder.finish()
            });
            let read = (|| -> Result<()> {
                let mut cells = IdentityCells::default();
                while let Some(read) = reader.read_record() {
                    let (_, line, bad_bytes) = read?;
                    cells.push(line, bad_bytes, &reader.record, &reader.columns);
                    if cells.rows.len() == IdentityCells::ROWS {
                        let next = empty_rx.try_recv().unwrap_or_default();
                        if full_tx.send(std::mem::replace(&mut cells, next)).is_err() {
                            return Ok(()); // the sorting thread failed: its error tells why
                        }
                    }
                }
                let _ = full_tx.send(cells);
                Ok(())
            })();
            drop(full_tx);
            (sorting.join(), read)
        });
        read?;
        let findings = findings
            .map_err(|_| anyhow::anyhow!("finding the duplicates of {} failed", path.display()))?
            .map_err(sort_error)?;
        Ok(ListDuplicates {
            stamp: reader.stamp,
            findings,
        })
    }

    /// Collects the ids and addresses while validating, for [`RecipientReader::collected_duplicates`]:
    /// a caller that can wait until the end of the list to learn of duplicates (`check`) reads
    /// the list once when it has none, instead of making a first pass for them.
    pub fn collecting_duplicates(mut self) -> RecipientReader {
        self.collecting = Some(DuplicateFinder::new());
        self
    }

    /// After the whole list was read: the duplicates found in it, for a second reader.
    pub fn collected_duplicates(self) -> Result<ListDuplicates> {
        let finder = self
            .collecting
            .context("duplicates were not being collected")?;
        if !self.done {
            bail!("{}: the list was not read to its end", self.path.display());
        }
        let findings = finder.finish().with_context(|| {
            format!(
                "sorting the ids and addresses of {} {}",
                self.path.display(),
                crate::util::disk_sort::location()
            )
        })?;
        Ok(ListDuplicates {
            stamp: self.stamp,
            findings,
        })
    }

    /// Marks the rows that `duplicates` found (in a pass over this same file).
    pub fn with_duplicates(mut self, duplicates: ListDuplicates) -> Result<RecipientReader> {
        if duplicates.stamp != self.stamp {
            bail!(
                "{}: the file changed while it was being read; read it again once nothing \
                 writes to it",
                self.path.display()
            );
        }
        self.findings = duplicates.findings;
        Ok(self)
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

    fn issue(&self, line: u64, id: &Option<String>, problem: String) -> RowIssue {
        RowIssue {
            file: self.path.clone(),
            line,
            id: id.clone(),
            problem,
            value: None,
        }
    }

    /// The issues of a row: `errors`, each with its cell from `values` (by position in `errors`).
    fn issues(
        &self,
        line: u64,
        id: &Option<String>,
        errors: Vec<String>,
        mut values: Vec<(usize, String)>,
    ) -> Vec<RowIssue> {
        errors
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let mut issue = self.issue(line, id, e);
                if let Some(at) = values.iter().position(|(j, _)| *j == i) {
                    issue.value = Some(values.swap_remove(at).1);
                }
                issue
            })
            .collect()
    }

    fn validate(
        &mut self,
        row: u64,
        line: u64,
        rec: &csv::ByteRecord,
        bad_bytes: bool,
    ) -> Result<Row> {
        let mut errors: Vec<String> = Vec::new();
        // Cells quoted for the operator's terminal, by position in `errors` (never in `errors`).
        let mut values: Vec<(usize, String)> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        if bad_bytes {
            errors.push(format!("invalid {} byte sequence", self.encoding_name));
        }
        // Borrowed when the cell is valid UTF-8 (nearly always): no allocation per field.
        let field = |i: usize| -> std::borrow::Cow<'_, str> {
            cell(rec, i)
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
        };
        let cols = &self.columns;

        // id (even on a ragged row, if its column is there, so the error can name it)
        let id_raw = field(cols.id);
        let id_value = trim(&id_raw);
        let id = match check_id(id_value, bad_bytes) {
            Ok(()) => Some(id_value.to_string()),
            Err(e) => {
                if rec.len() == cols.count {
                    errors.push(e);
                }
                None
            }
        };
        if rec.len() != cols.count {
            errors.push(format!(
                "expected {} fields, found {}",
                cols.count,
                rec.len()
            ));
            let errors = errors
                .into_iter()
                .map(|e| self.issue(line, &id, e))
                .collect();
            return Ok(Row::Invalid {
                row,
                line,
                id,
                errors,
            });
        }

        let email = match check_email(
            trim(&field(cols.email)),
            bad_bytes,
            self.case_sensitive_local,
        ) {
            Ok(e) => Some(e),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if email.as_ref().is_some_and(|e| e.legacy) {
            warnings.push(
                "email: legacy address with dots outside RFC 5322; sent with a quoted local part"
                    .into(),
            );
        }

        let mut name = String::new();
        if let Some(c) = cols.name {
            let raw = field(c);
            let v = trim(&raw);
            let mixed = self.encoding_name != "UTF-8" && looks_like_utf8_read_as_sjis(v);
            match check_text("name", v, bad_bytes) {
                Err(e) => errors.push(e),
                Ok(()) if mixed => errors.push(
                    "name: looks like UTF-8 text in a file read as Shift_JIS (mixed encodings); \
                     save the whole file in one encoding"
                        .into(),
                ),
                Ok(()) if v.chars().count() > MAX_NAME_CHARS => {
                    errors.push(format!("name: longer than {MAX_NAME_CHARS} characters"))
                }
                Ok(()) => {
                    if let Some(c) = v.chars().find(|&c| is_private_use(c)) {
                        warnings.push(format!(
                            "name: contains a private-use character (U+{:04X}) that most devices \
                             cannot display",
                            c as u32
                        ));
                    }
                    name = v.to_string();
                }
            }
        }

        let brand_cell = cols.brand.map(|c| cell(rec, c).unwrap_or_default());
        let (brand, brand_problem) =
            resolve_brand(&self.brands, self.only_brand, brand_cell, bad_bytes);
        if let Some((problem, value)) = brand_problem {
            if let Some(v) = value {
                values.push((errors.len(), v));
            }
            errors.push(problem);
        }

        let mut locale = Some(self.default_locale.clone());
        if let Some(c) = cols.locale {
            let raw = field(c);
            let v = trim(&raw);
            match check_text("locale", v, bad_bytes) {
                Err(e) => {
                    errors.push(e);
                    locale = None;
                }
                Ok(()) if v.is_empty() => {}
                Ok(()) if self.locales.iter().any(|l| l == v) => locale = Some(v.to_string()),
                Ok(()) => {
                    values.push((errors.len(), shorten(v)));
                    errors.push(format!(
                        "locale: unknown locale (known: {})",
                        self.locales.join(", ")
                    ));
                    locale = None;
                }
            }
        }

        let mut leaked = FieldSet::default();
        for flag in &cols.flags {
            let raw = field(flag.column);
            if let Err(e) = check_text(&flag.header, &raw, bad_bytes) {
                errors.push(e);
                continue;
            }
            match parse_flag(&raw) {
                Some(true) => leaked.insert(flag.field),
                Some(false) => {}
                None => {
                    values.push((errors.len(), shorten(trim(&raw))));
                    errors.push(format!("{}: not a flag ({FLAG_HELP})", flag.header));
                }
            }
        }

        // Duplicates: collected for a later pass, or found by an earlier one.
        if let Some(finder) = &mut self.collecting {
            let path = &self.path;
            let sorted = |e: io::Error| {
                anyhow::anyhow!(
                    "sorting the ids and addresses of {} {}: {e}",
                    path.display(),
                    crate::util::disk_sort::location()
                )
            };
            if let Some(id) = &id {
                finder.id(line, id_key(id)).map_err(sorted)?;
            }
            if let (Some(e), Some(b)) = (&email, brand) {
                finder.email(line, e.key, b).map_err(sorted)?;
            }
        }
        let mut found = std::mem::take(&mut self.found);
        self.findings
            .take(line, &mut found)
            .with_context(|| format!("reading the duplicates of {}", self.path.display()))?;
        for finding in found.drain(..) {
            match finding {
                Finding::DuplicateId { first_line } => {
                    errors.push(format!("duplicate id, first seen on line {first_line}"))
                }
                Finding::DuplicateEmail { first_line } => errors.push(format!(
                    "email: duplicate address within brand {}, first seen on line {first_line} \
                     (two near-identical notices look like phishing)",
                    brand.map_or("?", |b| self.brands[b].as_str())
                )),
                Finding::EmailUnderOtherBrand { brand, first_line } => warnings.push(format!(
                    "email: also registered under brand {} on line {first_line}",
                    self.brands.get(brand).map_or("?", String::as_str)
                )),
            }
        }
        self.found = found;

        Ok(match (errors.is_empty(), id, email, brand, locale) {
            (true, Some(id), Some(email), Some(brand), Some(locale)) => {
                let warnings = warnings
                    .into_iter()
                    .map(|w| self.issue(line, &Some(id.clone()), w))
                    .collect();
                Row::Valid {
                    recipient: Recipient {
                        row,
                        line,
                        id,
                        email: email.address,
                        legacy_email: email.legacy,
                        name,
                        brand: self.brands[brand].clone(),
                        locale,
                        leaked,
                    },
                    warnings,
                }
            }
            (_, id, ..) => {
                let errors = self.issues(line, &id, errors, values);
                Row::Invalid {
                    row,
                    line,
                    id,
                    errors,
                }
            }
        })
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
    fn read_record(&mut self) -> Option<Result<(u64, u64, bool)>> {
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

/// The id, address and brand cells of a batch of records, for the duplicates pass.
#[derive(Default)]
struct IdentityCells {
    bytes: Vec<u8>,
    rows: Vec<IdentityRow>,
}

struct IdentityRow {
    line: u64,
    bad_bytes: bool,
    id: std::ops::Range<usize>,
    email: std::ops::Range<usize>,
    brand: Option<std::ops::Range<usize>>,
}

impl IdentityCells {
    const ROWS: usize = 4096;

    /// Copies the cells of `rec`; a row with the wrong number of fields has no id or address
    /// that `validate` accepts, so it is left out.
    fn push(&mut self, line: u64, bad_bytes: bool, rec: &csv::ByteRecord, cols: &Columns) {
        if rec.len() != cols.count {
            return;
        }
        let mut copy = |i: usize| {
            let start = self.bytes.len();
            self.bytes
                .extend_from_slice(cell(rec, i).unwrap_or_default());
            start..self.bytes.len()
        };
        let (id, email, brand) = (copy(cols.id), copy(cols.email), cols.brand.map(copy));
        self.rows.push(IdentityRow {
            line,
            bad_bytes,
            id,
            email,
            brand,
        });
    }

    fn cell(&self, range: &std::ops::Range<usize>) -> &[u8] {
        &self.bytes[range.clone()]
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.rows.clear();
    }
}

/// A record's id and address as duplicate-detection keys, exactly when `validate` would accept
/// each: the id when it is valid, the address when it is valid and the row's brand is known.
fn identity_keys(
    id: &[u8],
    email: &[u8],
    brand: Option<&[u8]>,
    brands: &[String],
    only_brand: Option<usize>,
    bad_bytes: bool,
    case_sensitive_local: bool,
) -> (Option<u64>, Option<(u64, usize)>) {
    let id = String::from_utf8_lossy(id);
    let id = trim(&id);
    let id = check_id(id, bad_bytes).ok().map(|()| id_key(id));
    let email = match (
        check_email(
            trim(&String::from_utf8_lossy(email)),
            bad_bytes,
            case_sensitive_local,
        ),
        resolve_brand(brands, only_brand, brand, bad_bytes).0,
    ) {
        (Ok(e), Some(brand)) => Some((e.key, brand)),
        _ => None,
    };
    (id, email)
}
