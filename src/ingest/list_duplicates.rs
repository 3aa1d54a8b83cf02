//! The duplicates of one list file ([`ListDuplicates`]): found by a pass over the whole file
//! before the first row is handed out ([`RecipientReader::find_duplicates`]), or collected
//! while the rows are validated ([`RecipientReader::collecting_duplicates`]), then handed to
//! the reader that marks them ([`RecipientReader::with_duplicates`]), which checks that the
//! file is still the one they describe. The keys are sorted in bounded memory by
//! [`crate::ingest::duplicates`].

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::config::Encoding;
use crate::ingest::RecipientReader;
use crate::ingest::columns::Columns;
use crate::ingest::duplicates::{DuplicateFinder, Findings};
use crate::ingest::fields::{check_email, check_id, resolve_brand, trim};
use crate::ingest::keys::id_key;
use crate::ingest::record::cell;

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
pub(super) struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    pub(super) fn of(file: &File) -> io::Result<FileStamp> {
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

impl RecipientReader {
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
