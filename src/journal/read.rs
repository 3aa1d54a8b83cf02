//! Every record of a journal with its byte offset, for the commands that need more than the
//! replayed states (the reply of a row's last outcome, the id a row's records name).

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};

use super::record::Record;

/// One journal line with its byte offset.
pub struct JournalLine {
    pub offset: u64,
    pub record: Record,
}

/// Reads every complete record of a journal, in order (a torn last line is skipped; `replay`
/// reports it).
pub fn read_journal(path: &Path) -> Result<impl Iterator<Item = Result<JournalLine>>> {
    let file = crate::util::fs::open_state_file(path, std::fs::File::options().read(true))
        .with_context(|| format!("cannot read journal {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let path = path.to_path_buf();
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    Ok(std::iter::from_fn(move || {
        buf.clear();
        let n = match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => return Some(Err(anyhow::anyhow!("{}: {e}", path.display()))),
        };
        let start = offset;
        offset += n as u64;
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            return None; // torn tail
        }
        Some(
            serde_json::from_slice::<Record>(&buf)
                .map(|record| JournalLine {
                    offset: start,
                    record,
                })
                .map_err(|e| anyhow::anyhow!("{}:{line_no}: corrupt record ({e})", path.display())),
        )
    }))
}
