//! The index files' common ground: written aside and renamed into place (so a reader sees
//! the old index or the new, never half of one), owner-only, read with positioned reads so
//! that a binary search touches a few pages, not the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::util::fs::{
    fsync_dir, open_existing_state_file, open_state_file, parent_dir, temp_path,
};

/// Writes a new index to `path` through `fill`, streaming (memory does not grow with the
/// index): a temporary file beside it, fsynced, renamed over it, the directory fsynced.
pub(super) fn replace(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        let f = open_state_file(
            &tmp,
            File::options().write(true).create_new(true).mode(0o600),
        )?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(parent_dir(path))
}

/// Opens an index for reading; `None` when there is none.
pub(super) fn open(path: &Path) -> Result<Option<File>> {
    open_existing_state_file(path, File::options().read(true))
}

/// `len` bytes at `offset`.
pub(super) fn read_at(f: &File, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset)
        .context("index file shorter than its header says")?;
    Ok(buf)
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// What tells that a file is still the one an index was made from: device, inode, size and
/// modification time (a list edited in place, or replaced by another file, changes one).
pub(super) fn stamp(path: &Path) -> Result<[u64; 4]> {
    let m = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok([
        m.dev(),
        m.ino(),
        m.size(),
        (m.mtime() as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(m.mtime_nsec() as u64),
    ])
}

/// Writes `values` as little-endian u64s.
pub(super) fn put(w: &mut impl Write, values: &[u64]) -> Result<()> {
    for v in values {
        w.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}
