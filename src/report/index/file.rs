//! The index files' common ground: written aside and renamed into place (so a reader sees
//! the old index or the new, never half of one), owner-only, read with positioned reads so
//! that a binary search touches a few pages, not the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::util::fs::open_existing_state_file;

/// Writes a new index to `path` through `fill`, streaming (memory does not grow with the
/// index): written aside, fsynced, renamed over it, owner-only.
pub(super) fn replace(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    crate::util::fs::write_atomic_with(path, 0o600, fill)
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
