//! The list's identity: the digest of the file and its number of data records, in one read of
//! the raw bytes. The journal's header records both, and binds every row by number to that
//! count, so the count follows the reader's own rules for records, blank records and record
//! length ([`crate::ingest::record`]).

use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::ingest::record::{self, fatal, is_blank_record};

/// The digest of the list file and its number of data records, in one read.
pub fn list_identity(path: &Path) -> Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read recipients {}", path.display()))?;
    let mut hasher = Sha256::new();
    // Count records with the csv parser over raw bytes (delimiters and quotes are ASCII in both
    // UTF-8 and Shift_JIS, so no decoding is needed), hashing the same bytes as they pass.
    struct Tee<R: std::io::Read, W: Write>(R, W);
    impl<R: std::io::Read, W: Write> std::io::Read for Tee<R, W> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.write_all(&buf[..n])?;
            Ok(n)
        }
    }
    struct HashWriter<'a>(&'a mut Sha256);
    impl Write for HashWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let rows = {
        let mut tee = Tee(
            std::io::BufReader::with_capacity(1 << 20, file),
            HashWriter(&mut hasher),
        );
        // The recipients reader's own rules for records, blank rows and record length.
        let rows = count_rows(&mut tee, path)?;
        // Drain whatever the parser did not need so the digest covers the whole file.
        std::io::copy(&mut tee, &mut std::io::sink())?;
        rows
    };
    Ok((hex::encode(hasher.finalize()), rows))
}

/// Counts the data records of a list read as raw bytes from `source` (delimiters and quotes are
/// ASCII in UTF-8 and Shift_JIS alike, so no decoding is needed), by the reader's rules: the first
/// record is the header, records end at LF, blank records ([`is_blank_record`]) take no number,
/// and a record longer than the reader accepts stops the count with an error naming `path` and
/// the line, before it is held in memory.
fn count_rows(source: impl Read, path: &Path) -> Result<u64> {
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
