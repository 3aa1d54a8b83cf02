//! One tsuchi process per state directory.
//!
//! Two senders appending to one journal would interleave records and mail people twice, so
//! every command that writes state first takes an exclusive lock on `<state-dir>/lock`. The
//! lock is an OS file lock (`flock`): the kernel drops it when the process dies, so a crash
//! never leaves a stale lock behind. The pid written into the file is only for the message.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Another process holds the state directory: a refusal to start, not a failure.
#[derive(Debug, thiserror::Error)]
#[error("another tsuchi process (pid {pid}) holds {}", path.display())]
pub struct LockHeld {
    /// The pid written in the lock file (`unknown` if none).
    pub pid: String,
    pub path: PathBuf,
}

/// The exclusive lock on a state directory; released when dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// The lock file (`<dir>/lock`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether a live process holds the lock on `dir/lock`, without disturbing it: `Some(pid)`
/// (the pid as written in the file, `"unknown"` if none) while a `send` or another writer is
/// running, `None` when nobody holds it — a journal that ended without a clean stop then
/// belongs to a run that died. Takes a shared lock for an instant when free (a writer
/// starting at that very instant is told the directory is busy, and may simply retry).
pub fn lock_holder(dir: &Path) -> Result<Option<String>> {
    let path = dir.join("lock");
    let Some(mut file) =
        crate::util::fs::open_existing_state_file(&path, OpenOptions::new().read(true))?
    else {
        return Ok(None);
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None), // released when `file` is dropped
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&mut file).take(64).read_to_string(&mut text);
            Ok(Some(match text.trim() {
                "" => "unknown".to_owned(),
                pid => pid.to_owned(),
            }))
        }
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot check the lock {}", path.display()))
        }
    }
}

/// Creates `dir` (mode 0700) if needed and takes an exclusive, non-blocking lock on
/// `dir/lock`. Fails at once with `another tsuchi process (pid N) holds <dir>/lock` when
/// another process (or another handle in this one) holds it.
pub fn lock_state_dir(dir: &Path) -> Result<StateLock> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create state directory {}", dir.display()))?;
    let path = dir.join("lock");
    let mut file = crate::util::fs::open_state_file(
        &path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
    )
    .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = match text.trim() {
                "" => "unknown".to_owned(),
                pid => pid.to_owned(),
            };
            return Err(LockHeld { pid, path }.into());
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()))
        .and_then(|_| file.sync_data())
        .with_context(|| format!("cannot write lock file {}", path.display()))?;
    Ok(StateLock { _file: file, path })
}
