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

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use unicode_normalization::UnicodeNormalization;

use crate::config::Config;
pub use crate::config::Encoding;
use crate::ingest::decode::{self, looks_like_utf8_read_as_sjis};
use crate::ingest::duplicates::{DuplicateFinder, Finding, Findings, MAX_BRANDS};
use crate::ingest::record::{self, cell, fatal, is_blank_record};
use crate::ingest::row::{
    FieldSet, MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_LOCAL_PART, MAX_NAME_CHARS, Recipient, Row,
    RowIssue,
};

/// The accepted flag spellings, as said in error messages.
const FLAG_HELP: &str = "use 1/0, true/false, yes/no, Y/N, ○/×, 有/無";

// ---------------------------------------------------------------------------------------------
// Duplicate detection

/// A 64-bit key for duplicate detection: SipHash with keys chosen at random once per process,
/// fast on short strings and impossible to aim collisions at from a crafted list. The keys
/// never leave memory, so they need not be stable across runs.
fn key64(tag: &str, parts: &[&str]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static KEYS: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let mut h = KEYS.get_or_init(std::hash::RandomState::new).build_hasher();
    h.write(tag.as_bytes());
    for p in parts {
        h.write_u8(0);
        h.write(p.as_bytes());
    }
    h.finish()
}

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

#[derive(Debug)]
struct FlagColumn {
    column: usize,
    field: usize,
    header: String,
}

#[derive(Debug)]
struct Columns {
    count: usize,
    id: usize,
    email: usize,
    name: Option<usize>,
    brand: Option<usize>,
    locale: Option<usize>,
    flags: Vec<FlagColumn>,
}

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
                finder.id(line, key64("id", &[id])).map_err(sorted)?;
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

/// Counts the data records of a list read as raw bytes from `source` (delimiters and quotes are
/// ASCII in UTF-8 and Shift_JIS alike, so no decoding is needed), by the reader's rules: the first
/// record is the header, records end at LF, blank records ([`is_blank_record`]) take no number,
/// and a record longer than the reader accepts stops the count with an error naming `path` and
/// the line, before it is held in memory.
pub fn count_rows(source: impl Read, path: &Path) -> Result<u64> {
    let mut csv = record::csv_reader(RecordBound {
        inner: source,
        handed_out: 0,
        mark: 0,
    });
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    let mut header = true;
    loop {
        let line = csv.position().line();
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(rows),
            Err(e) => return Err(fatal(path, line, e)),
        }
        let end = csv.position().byte();
        csv.get_mut().mark = end;
        if std::mem::take(&mut header) {
            continue;
        }
        if !is_blank_record(&record) {
            rows += 1;
        }
    }
}

/// Hands bytes to the csv parser of [`count_rows`], refusing to hand out more than
/// [`record::MAX_RECORD_BYTES`] past the start of the current record (as the decoding adapter does for the reader).
struct RecordBound<R> {
    inner: R,
    handed_out: u64,
    /// Offset where the current record starts.
    mark: u64,
}

impl<R: Read> Read for RecordBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.handed_out.saturating_sub(self.mark) > record::MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                record::RecordTooLong,
            ));
        }
        let n = self.inner.read(buf)?;
        self.handed_out += n as u64;
        Ok(n)
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
    let id = check_id(id, bad_bytes).ok().map(|()| key64("id", &[id]));
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

/// The row's brand (an index into `brands`) from its brand cell (`None`: the list has no brand
/// column), and the problem with the cell, with the cell itself when the problem is its value.
fn resolve_brand(
    brands: &[String],
    only_brand: Option<usize>,
    cell: Option<&[u8]>,
    bad_bytes: bool,
) -> (Option<usize>, Option<(String, Option<String>)>) {
    let Some(cell) = cell else {
        return (only_brand, None);
    };
    let raw = String::from_utf8_lossy(cell);
    let v = trim(&raw);
    match check_text("brand", v, bad_bytes) {
        Err(e) => (None, Some((e, None))),
        Ok(()) if v.is_empty() => {
            let missing = only_brand.is_none().then(|| {
                (
                    format!("brand: missing (known: {})", brands.join(", ")),
                    None,
                )
            });
            (only_brand, missing)
        }
        Ok(()) => match brands.iter().position(|b| b == v) {
            Some(i) => (Some(i), None),
            None => (
                None,
                Some((
                    format!("brand: unknown brand (known: {})", brands.join(", ")),
                    Some(shorten(v)),
                )),
            ),
        },
    }
}

fn map_columns(
    path: &Path,
    line: u64,
    header: &csv::ByteRecord,
    config: &Config,
) -> Result<Columns> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cols = Columns {
        count: header.len(),
        id: usize::MAX,
        email: usize::MAX,
        name: None,
        brand: None,
        locale: None,
        flags: Vec::new(),
    };
    for (i, raw) in (0..header.len())
        .filter_map(|i| cell(header, i))
        .enumerate()
    {
        let text = String::from_utf8_lossy(raw);
        let name = text
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
            .to_lowercase();
        let known = matches!(name.as_str(), "id" | "email" | "name" | "brand" | "locale")
            || name.starts_with("leaked_");
        if !known {
            continue;
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            bail!(
                "{}:{line}: column `{name}` appears twice (columns {} and {})",
                path.display(),
                first + 1,
                i + 1
            );
        }
        match name.as_str() {
            "id" => cols.id = i,
            "email" => cols.email = i,
            "name" => cols.name = Some(i),
            "brand" => cols.brand = Some(i),
            "locale" => cols.locale = Some(i),
            _ => {
                let key = &name["leaked_".len()..];
                let Some(field) = config.field_index(key) else {
                    let known: Vec<String> = config
                        .fields
                        .iter()
                        .map(|f| format!("leaked_{}", f.key))
                        .collect();
                    bail!(
                        "{}:{line}: unknown column `{name}`: `{key}` is not in the field \
                         catalogue (known: {})",
                        path.display(),
                        known.join(", ")
                    );
                };
                cols.flags.push(FlagColumn {
                    column: i,
                    field,
                    header: name.clone(),
                });
            }
        }
    }
    for (col, what) in [(cols.id, "id"), (cols.email, "email")] {
        if col == usize::MAX {
            bail!(
                "{}:{line}: required column `{what}` is missing",
                path.display()
            );
        }
    }
    // A catalogue field without its column would be "not leaked" for every row, silently: refuse
    // it, unless the config says the field may be absent.
    let missing: Vec<String> = config
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| !f.optional && !cols.flags.iter().any(|c| c.field == *i))
        .map(|(_, f)| format!("`leaked_{}`", f.key))
        .collect();
    if !missing.is_empty() {
        let (what, verb) = if missing.len() == 1 {
            ("column", "is")
        } else {
            ("columns", "are")
        };
        bail!(
            "{}:{line}: {what} {} {verb} missing: every field of the catalogue needs its column, \
             or it would be taken as not leaked for everyone. Add the column (an empty cell means \
             not leaked), or, for a field that does not apply to this campaign, remove it from \
             [[fields]] or mark it `optional = true` in {}",
            path.display(),
            missing.join(", "),
            config.path.display()
        );
    }
    if cols.brand.is_none() && config.brands.len() != 1 {
        bail!(
            "{}:{line}: column `brand` is missing; it is required when the configuration has \
             several brands ({})",
            path.display(),
            config.brands.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(cols)
}

// ---------------------------------------------------------------------------------------------
// Field rules

/// Trims spaces, tabs and ideographic spaces at the edges (line breaks are kept, and refused).
fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t' || c == '\u{3000}')
}

/// Shortens a value quoted in a message.
fn shorten(s: &str) -> String {
    const MAX: usize = 20;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        s.chars().take(MAX).chain(std::iter::once('…')).collect()
    }
}

fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
}

/// Refuses characters that hide or rearrange text, break lines, or show mis-decoding.
/// `bad_bytes` means the row's decoding errors are already reported (as U+FFFD in the text).
fn check_text(column: &str, v: &str, bad_bytes: bool) -> std::result::Result<(), String> {
    // Printable ASCII (ids, addresses, flags, brand keys) holds none of the characters below.
    if v.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Ok(());
    }
    for c in v.chars() {
        let what = match c {
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => "a line break".to_string(),
            '\t' => "a tab".to_string(),
            c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => {
                format!("a bidirectional control character (U+{:04X})", c as u32)
            }
            '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' => {
                format!("a zero-width character (U+{:04X})", c as u32)
            }
            // Invisible format characters that can hide what a reader sees (`example.\u{AD}com`
            // displays as a domain). Variation selectors stay allowed: 渡邉 + IVS is a real name.
            '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180D}'
            | '\u{180F}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{206A}'..='\u{206F}'
            | '\u{E0000}'..='\u{E007F}' => {
                format!("an invisible formatting character (U+{:04X})", c as u32)
            }
            '\u{FFFD}' if !bad_bytes => "a replacement character (U+FFFD); the file was \
                                         probably converted with the wrong encoding"
                .to_string(),
            _ => continue,
        };
        return Err(format!("{column}: contains {what}"));
    }
    Ok(())
}

fn check_id(v: &str, bad_bytes: bool) -> std::result::Result<(), String> {
    if v.is_empty() {
        return Err("id: missing".into());
    }
    check_text("id", v, bad_bytes)?;
    if bad_bytes && v.contains('\u{FFFD}') {
        return Err("id: contains bytes that could not be decoded".into());
    }
    if v.chars().count() > MAX_ID_CHARS {
        return Err(format!("id: longer than {MAX_ID_CHARS} characters"));
    }
    Ok(())
}

/// Parses a leaked-field flag as people write them.
pub fn parse_flag(v: &str) -> Option<bool> {
    // The spellings of nearly every row, without normalizing or allocating.
    match v.trim() {
        "" | "0" => return Some(false),
        "1" => return Some(true),
        _ => {}
    }
    let n: String = v.nfkc().collect();
    match n.trim().to_lowercase().as_str() {
        "" => Some(false),
        "1" | "true" | "yes" | "y" | "○" | "〇" | "◯" | "有" | "有り" | "あり" => {
            Some(true)
        }
        "0" | "false" | "no" | "n" | "×" | "✕" | "✖" | "無" | "無し" | "なし" => {
            Some(false)
        }
        _ => None,
    }
}

#[derive(Debug)]
struct Email {
    /// As given to SMTP.
    address: String,
    legacy: bool,
    /// Duplicate-detection key of the mailbox ([`email_key`]).
    key: u64,
}

/// The local part and domain of an address as receivers compare mailboxes: the domain in
/// lowercase always (host names are case-insensitive); the local part in lowercase too, unless
/// `case_sensitive_local_part` (RFC 5321 lets a server tell `Taro@` from `taro@`, but Japanese
/// carriers and the large providers do not, and two notices to one mailbox look like phishing).
/// Quotes around a legacy carrier local part are dropped: `"taro..yamada"@docomo.ne.jp` is
/// `taro..yamada@docomo.ne.jp`. The one rule for duplicates in a list and for matching bounces.
pub fn mailbox_parts<'a>(
    local: &'a str,
    domain: &'a str,
    case_sensitive_local_part: bool,
) -> (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>) {
    use std::borrow::Cow;
    let fold = |s: &'a str| -> Cow<'a, str> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    };
    let local = local
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or(local);
    let local = if case_sensitive_local_part {
        Cow::Borrowed(local)
    } else {
        fold(local)
    };
    (local, fold(domain))
}

/// An address (`Taro@Example.JP`, `<taro@example.jp>`, `"taro..y"@docomo.ne.jp`) in the form
/// in which two spellings of one mailbox are equal ([`mailbox_parts`]).
pub fn mailbox_key(address: &str, case_sensitive_local_part: bool) -> String {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            let (local, domain) = mailbox_parts(local, domain, case_sensitive_local_part);
            format!("{local}@{domain}")
        }
        None => a.to_string(),
    }
}

/// The duplicate-detection key of an address: its mailbox as receivers compare it
/// ([`mailbox_parts`]).
fn email_key(local: &str, domain: &str, case_sensitive_local_part: bool) -> u64 {
    let (local, domain) = mailbox_parts(local, domain, case_sensitive_local_part);
    key64("email", &[&local, &domain])
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn check_email(
    v: &str,
    bad_bytes: bool,
    case_sensitive_local: bool,
) -> std::result::Result<Email, String> {
    if v.is_empty() {
        return Err("email: missing".into());
    }
    check_text("email", v, bad_bytes)?;
    if v.contains(['<', '>']) {
        return Err("email: must be a bare address, not a display name".into());
    }
    if v.starts_with('"') {
        return Err("email: quoted local parts are not accepted".into());
    }
    if v.contains([',', ';']) {
        return Err("email: must be a single address (found ',' or ';')".into());
    }
    if v.chars().any(char::is_whitespace) {
        return Err(if v.matches('@').count() > 1 {
            "email: must be a single address (found several)".into()
        } else {
            "email: contains whitespace".into()
        });
    }
    if v.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("email: longer than {MAX_EMAIL_CHARS} characters"));
    }
    let Some((local, domain)) = v.rsplit_once('@') else {
        return Err(if v.contains('＠') {
            "email: has no '@' (a full-width '＠' is not accepted)".into()
        } else {
            "email: has no '@'".into()
        });
    };
    if local.starts_with('"') || local.ends_with('"') {
        return Err("email: quoted local parts are not accepted".into());
    }
    if local.contains('@') {
        return Err("email: must be a single address (more than one '@')".into());
    }
    if local.is_empty() {
        return Err("email: the part before '@' is empty".into());
    }
    if domain.is_empty() {
        return Err("email: the domain after '@' is empty".into());
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(format!(
            "email: the part before '@' is longer than {MAX_LOCAL_PART} characters"
        ));
    }
    if !domain.is_ascii() {
        return Err(
            "email: internationalized domain (non-ASCII) not supported; give the \
                    punycode form (xn--…)"
                .into(),
        );
    }
    if domain.starts_with('[') {
        return Err("email: an address literal ([…]) is not supported as a domain".into());
    }
    if !domain.contains('.') {
        return Err("email: the domain has no dot".into());
    }
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("email: an IP address is not supported as a domain".into());
    }
    if !local.is_ascii() {
        return Err("email: non-ASCII characters before '@' are not supported".into());
    }
    let key = email_key(local, domain, case_sensitive_local);
    if v.parse::<lettre::Address>().is_ok() {
        return Ok(Email {
            address: v.to_string(),
            legacy: false,
            key,
        });
    }
    if lettre::Address::new("x", domain).is_err() {
        return Err("email: the domain is not a valid host name".into());
    }
    let atoms_ok = local.split('.').all(|a| a.chars().all(is_atext))
        && local.split('.').any(|a| !a.is_empty());
    let odd_dots = local.starts_with('.') || local.ends_with('.') || local.contains("..");
    if !(atoms_ok && odd_dots) {
        return Err("email: invalid character before '@'".into());
    }
    let quoted = format!("\"{local}\"@{domain}");
    if quoted.parse::<lettre::Address>().is_err() {
        return Err(
            "email: legacy address with dots outside RFC 5322 that cannot be sent even \
                    quoted (too long?)"
                .into(),
        );
    }
    Ok(Email {
        address: quoted,
        legacy: true,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        for t in [
            "1",
            "true",
            "TRUE",
            "yes",
            "Y",
            "y",
            "○",
            "〇",
            "◯",
            "有",
            " 1 ",
            "１",
            "ＹＥＳ",
            "ｙ",
            "Ｔｒｕｅ",
        ] {
            assert_eq!(parse_flag(t), Some(true), "{t:?}");
        }
        for f in [
            "", "0", "false", "No", "N", "×", "✕", "無", "０", "ｎｏ", "　",
        ] {
            assert_eq!(parse_flag(f), Some(false), "{f:?}");
        }
        for bad in ["maybe", "2", "x", "-", "yesno"] {
            assert_eq!(parse_flag(bad), None, "{bad:?}");
        }
    }

    fn email_err(v: &str) -> String {
        check_email(v, false, false).unwrap_err()
    }

    #[test]
    fn email_rules() {
        let ok = check_email("Taro.Yamada@Example.JP", false, false).unwrap();
        assert!(!ok.legacy);
        assert_eq!(ok.address, "Taro.Yamada@Example.JP");
        assert_eq!(ok.key, email_key("taro.yamada", "example.jp", false));
        assert_eq!(ok.key, email_key("TARO.YAMADA", "EXAMPLE.JP", false));
        let exact = check_email("Taro.Yamada@Example.JP", false, true).unwrap();
        assert_eq!(exact.key, email_key("Taro.Yamada", "example.jp", true));
        assert_ne!(exact.key, email_key("taro.yamada", "example.jp", true));

        assert!(email_err("\"Bob\" <bob@example.jp>").contains("not a display name"));
        assert!(email_err("a@example.jp,b@example.jp").contains("single address"));
        assert!(email_err("a@example.jp; b@example.jp").contains("single address"));
        assert!(email_err("a@example.jp b@example.jp").contains("single address"));
        assert!(email_err("a b@example.jp").contains("whitespace"));
        assert!(email_err("taro@例え.jp").contains("internationalized domain"));
        assert!(email_err("taro@localhost").contains("no dot"));
        assert!(email_err("taro@1.2.3.4").contains("IP address"));
        assert!(email_err("taro@[1.2.3.4]").contains("address literal"));
        assert!(email_err("\"a b\"@x.jp").contains("quoted"));
        assert!(email_err("\"ab\"@x.jp").contains("quoted"));
        assert!(email_err("taro.example.jp").contains("no '@'"));
        assert!(email_err("taro＠example.jp").contains("full-width"));
        assert!(email_err(&format!("{}@x.jp", "a".repeat(65))).contains("longer than 64"));
        assert!(email_err(&format!("a@{}.jp", "b".repeat(260))).contains("longer than 254"));
        assert!(email_err("tarō@example.jp").contains("non-ASCII"));
        assert!(email_err("ta(ro@example.jp").contains("invalid character"));
        assert!(email_err("taro@-x.jp").contains("domain"));
        assert!(email_err("...@docomo.ne.jp").contains("invalid character"));
        // Messages never repeat the address.
        assert!(!email_err("a b@example.jp").contains("example"));
    }

    #[test]
    fn legacy_addresses_are_quoted() {
        for (input, quoted) in [
            ("taro..yamada@docomo.ne.jp", "\"taro..yamada\"@docomo.ne.jp"),
            ("taro.@ezweb.ne.jp", "\"taro.\"@ezweb.ne.jp"),
            (".taro@docomo.ne.jp", "\".taro\"@docomo.ne.jp"),
        ] {
            let e = check_email(input, false, false).unwrap();
            assert!(e.legacy);
            assert_eq!(e.address, quoted);
            assert!(e.address.parse::<lettre::Address>().is_ok());
            let (local, domain) = input.rsplit_once('@').unwrap();
            assert_eq!(e.key, email_key(local, domain, false));
            assert_eq!(e.key, email_key(&local.to_uppercase(), domain, false));
        }
        // Quoting adds two characters: a 63-character legacy local part no longer fits.
        let long = format!("{}..@docomo.ne.jp", "a".repeat(61));
        assert!(email_err(&long).contains("cannot be sent even quoted"));
    }

    #[test]
    fn text_hygiene() {
        let e = |v: &str| check_text("name", v, false).unwrap_err();
        assert_eq!(e("山田\n太郎"), "name: contains a line break");
        assert_eq!(e("山田\r太郎"), "name: contains a line break");
        assert_eq!(e("山田\u{2028}"), "name: contains a line break");
        assert_eq!(e("山田\t太郎"), "name: contains a tab");
        assert_eq!(e("a\u{7}"), "name: contains a control character (U+0007)");
        assert_eq!(e("a\u{7f}"), "name: contains a control character (U+007F)");
        assert_eq!(e("a\u{9b}"), "name: contains a control character (U+009B)");
        assert_eq!(
            e("a\u{202E}b"),
            "name: contains a bidirectional control character (U+202E)"
        );
        assert_eq!(
            e("a\u{2067}b"),
            "name: contains a bidirectional control character (U+2067)"
        );
        assert_eq!(
            e("a\u{200F}b"),
            "name: contains a bidirectional control character (U+200F)"
        );
        assert_eq!(
            e("a\u{061C}b"),
            "name: contains a bidirectional control character (U+061C)"
        );
        assert_eq!(
            e("a\u{200B}b"),
            "name: contains a zero-width character (U+200B)"
        );
        assert_eq!(
            e("a\u{FEFF}b"),
            "name: contains a zero-width character (U+FEFF)"
        );
        assert!(e("a\u{FFFD}").contains("replacement character"));
        assert!(check_text("name", "髙橋 一郎 様", false).is_ok());
        assert!(check_text("name", "渡邉\u{E0100}", false).is_ok()); // ideographic variation
    }
}
