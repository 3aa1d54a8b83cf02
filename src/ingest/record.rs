//! The records of the list: how its bytes are cut into records and cells (LF ends a record, the
//! CR of a CRLF is cut from the last cell), which records are blank, and the bound on one
//! record's length that keeps an unbalanced quote from loading the rest of the file into
//! memory. The reader and the row count of the list's identity share these rules, since the
//! journal binds rows by number to that count.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// A single record longer than this stops the reader: it almost always means an unbalanced
/// quote swallowing the rest of the file, which must not be loaded into memory.
pub(super) const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Marker carried by the I/O error raised when one record exceeds [`MAX_RECORD_BYTES`].
#[derive(Debug)]
pub(super) struct RecordTooLong;

impl fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// A csv reader of `source` by the list's rules: no header row (the caller reads it as a record),
/// ragged records allowed (validation reports them), records ended by LF only.
pub(super) fn csv_reader<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        // Only LF ends a record; the CR of a CRLF is cut from the last cell (see `cell`).
        // With csv's default terminator a CRLF record ends at the CR, and the next record's
        // position then points at the LF, one line too early.
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(source)
}

/// Cell `i` of a record, without the CR of a CRLF line end on the last cell.
pub(super) fn cell(rec: &csv::ByteRecord, i: usize) -> Option<&[u8]> {
    let value = rec.get(i)?;
    if i + 1 == rec.len() {
        Some(value.strip_suffix(b"\r").unwrap_or(value))
    } else {
        Some(value)
    }
}

/// Whether a record is blank: every cell empty or made of spaces, tabs and CRs only (a row of
/// empty cells a spreadsheet left, a CRLF line end converted twice, `\r\r\n`). Blank records
/// take no row number. This is the one rule for it: the reader and [`count_rows`] both use it,
/// since the journal binds rows by number to the count the header records.
///
/// Space, tab and CR are the same bytes in UTF-8 and Shift_JIS (whose trail bytes are 0x40 and
/// up), so the rule gives the same answer on raw and on decoded bytes.
pub(super) fn is_blank_record(rec: &csv::ByteRecord) -> bool {
    rec.iter()
        .all(|cell| cell.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')))
}

/// The error for a record that cannot be read, naming the file and the line where it starts.
pub(super) fn fatal(path: &Path, line: u64, e: csv::Error) -> anyhow::Error {
    if let csv::ErrorKind::Io(io) = e.kind()
        && io
            .get_ref()
            .is_some_and(|inner| inner.is::<RecordTooLong>())
    {
        return anyhow::anyhow!(
            "{}:{line}: a record starting here is longer than {} MiB; is a quote unbalanced?",
            path.display(),
            MAX_RECORD_BYTES >> 20
        );
    }
    anyhow::Error::new(e).context(format!("cannot read recipients file {}", path.display()))
}
