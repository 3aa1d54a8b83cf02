//! Where each row of the list starts in the file, in bytes: what lets the hotline's name
//! check read one row ([`RecipientReader::open_at`](super::RecipientReader::open_at)) instead
//! of the list up to it.
//!
//! The offsets come from a pass over the file's own bytes, not the decoded text, with the
//! reader's CSV settings: in UTF-8 and in Shift_JIS the bytes that shape a record (`"`, `,`,
//! LF, and the spaces a blank record is made of) are ASCII and are never part of a
//! multi-byte character, so the records — and which of them are blank and take no row
//! number — are the reader's, whatever the encoding. A caller that reads a row at its
//! offset still checks that it is the row it expects.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};

use super::record::{csv_reader, is_blank_record};

/// The byte offset in the file of each row (after the header), in row order.
pub struct RowOffsets {
    csv: csv::Reader<BufReader<File>>,
    record: csv::ByteRecord,
    path: std::path::PathBuf,
}

impl RowOffsets {
    /// Opens the list at `path`; the header record is passed over.
    pub fn open(path: &Path) -> Result<RowOffsets> {
        let file = File::open(path)
            .with_context(|| format!("cannot open recipients file {}", path.display()))?;
        let mut offsets = RowOffsets {
            csv: csv_reader(BufReader::with_capacity(1 << 20, file)),
            record: csv::ByteRecord::new(),
            path: path.to_path_buf(),
        };
        offsets.next_record()?; // the header
        Ok(offsets)
    }

    fn next_record(&mut self) -> Result<Option<u64>> {
        let found = self
            .csv
            .read_byte_record(&mut self.record)
            .with_context(|| format!("cannot read recipients file {}", self.path.display()))?;
        Ok(found.then(|| self.record.position().map_or(0, |p| p.byte())))
    }
}

impl Iterator for RowOffsets {
    type Item = Result<u64>;

    fn next(&mut self) -> Option<Result<u64>> {
        loop {
            match self.next_record() {
                Ok(Some(at)) if is_blank_record(&self.record) => {
                    let _ = at;
                }
                Ok(Some(at)) => return Some(Ok(at)),
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
