//! Durable file operations shared by the modules that keep state on disk.
//!
//! A rename is only durable once the directory holding it is fsynced: without that, a power
//! cut can bring back the old file (or no file) after the new one was reported written.
//!
//! Files inside the state directory (lock, journal, approvals, outbox) are opened with
//! [`open_state_file`], which never follows a symbolic link: a link planted there would
//! otherwise make tsuchi truncate, append to or lock a file outside the directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Opens a file of the state directory with `options`, refusing (with an error naming the
/// path) if it is a symbolic link. `O_NOFOLLOW` makes the kernel check the last component
/// as part of the open, so there is no window between a check and the open.
pub fn open_state_file(path: &Path, options: &mut OpenOptions) -> Result<File> {
    match options.custom_flags(libc::O_NOFOLLOW).open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(symlink_refused(path)),
        Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
    }
}

/// [`open_state_file`] for a file that may not be there: `None` when it does not exist.
pub fn open_existing_state_file(path: &Path, options: &mut OpenOptions) -> Result<Option<File>> {
    match open_state_file(path, options) {
        Ok(f) => Ok(Some(f)),
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads a whole file of the state directory without following a symbolic link; `None`
/// when it does not exist.
pub fn read_state_file(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let Some(mut f) = open_existing_state_file(path, OpenOptions::new().read(true))? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(bytes))
}

/// The error for a symbolic link found where a state file belongs.
pub fn symlink_refused(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a symbolic link; tsuchi does not follow links inside its state directory \
         (it could write to a file elsewhere): replace the link with the file itself",
        path.display()
    )
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, making renames and new entries in it durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync directory {}", dir.display()))
}

/// A fresh temporary name next to `path` (same directory, so a rename stays atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_dir(path).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Replaces `path` with `bytes` atomically and durably: a reader sees the old content or the
/// new, never a mix, and after this returns the new content survives a power cut.
///
/// Writes a temporary file in the same directory with permissions `mode` (e.g. `0o600`),
/// fsyncs it, renames it over `path`, then fsyncs the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_atomic_with(path, mode, |w| Ok(w.write_all(bytes)?))
}

/// [`write_atomic`] for content written by `fill` as it is made, so that memory does not grow
/// with the file (an index, a checkpoint of millions of rows). If `fill` fails, nothing is
/// left behind and the old file stays.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut std::io::BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        let f = open_state_file(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(mode),
        )
        .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(parent_dir(path))
}

/// Creates `path` holding `bytes`, owner-only (0600), durably and atomically — written aside,
/// fsynced, then linked into place (link(2), unlike rename(2), fails if the target exists), and
/// the directory fsynced — so it never exists half-written and an existing file is never
/// overwritten. `Ok(false)` when `path` already exists (another writer was first).
pub fn create_new_durable(path: &Path, bytes: &[u8]) -> Result<bool> {
    let tmp = temp_path(path);
    let made = (|| -> Result<bool> {
        let mut f = open_state_file(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )
        .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    if made? {
        fsync_dir(parent_dir(path))?;
        return Ok(true);
    }
    Ok(false)
}

/// Creates a directory (and its parents) readable by its owner only (0700).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Creates (truncating) a file readable by its owner only, for files the operator asks to hold
/// personal data. An existing file is made owner-only too (`mode` applies only to new files).
pub fn create_private_file(path: &Path) -> Result<std::io::BufWriter<File>> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} owner-only", path.display()))?;
    Ok(std::io::BufWriter::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_atomically_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("approval.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn state_files_are_not_opened_through_symbolic_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_state_file(&link, OpenOptions::new().write(true).truncate(true))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("symbolic link") && err.contains("lock"),
            "{err}"
        );
        assert!(read_state_file(&link).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(read_state_file(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("x");
        assert!(write_atomic(&path, b"x", 0o600).is_err());
    }
}
