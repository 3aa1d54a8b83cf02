//! The progress journal: an append-only log of what was attempted and what came of it, one
//! file per campaign, that survives crashes, `kill -9`, relay outages and Ctrl-C.
//!
//! The journal knows nothing about SMTP; it stores outcomes as data. Its file,
//! `<state-dir>/<campaign>.journal.jsonl`, holds JSON lines ([`Record`]): a [`Header`] binding
//! the journal to one list, template set and configuration, then `attempt` lines (written and
//! fsynced *before* a message's DATA is sent), `outcome` lines, and `run` markers. No line
//! carries personal data — only row numbers, customer ids and outcomes.
//!
//! [`replay`] rebuilds the state of every row (one byte per row) and reports the rows that
//! were mid-transaction at a crash ([`Replay::in_flight`]) and a torn last line, which it
//! tolerates. [`JournalWriter`] appends, with group commit on a dedicated thread, and after
//! every commit records in a small file beside the journal, `<campaign>.journal.commit`
//! ([`hint_path`]), how far the journal reached: a journal found shorter than that, or with
//! other lines in its committed part, has lost records ([`RecordsMissing`]), which replay
//! reports with the rows it touches and which no `send` continues.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tsuchi::journal::{self, Attempt, Header, JournalWriter, Outcome, State};
//! let state_dir = std::path::Path::new("state");
//! let _lock = journal::lock_state_dir(state_dir)?;
//! let path = journal::journal_path(state_dir, "kaede-2026-11");
//! let writer = JournalWriter::create(&path, &Header::new("kaede-2026-11", "…", 1, "…", "…"))?;
//! writer
//!     .attempt(&Attempt { row: 1, id: "C0001".into(), attempt: 1, message_id: "<1@x>".into() })
//!     .await?; // durable: now the message may be sent
//! writer.outcome(&Outcome { code: Some(250), ..Outcome::new(1, "C0001", State::Sent, 1) })?;
//! writer.close()?;
//! let replay = journal::replay(&path)?;
//! assert_eq!(replay.states.get(1), State::Sent);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

mod binding;
mod checkpoint;
mod hint;
mod letters;
mod lock;
mod missing;
mod read;
mod record;
mod replay;
mod rows;
mod scan;
mod writer;

pub use crate::util::fs::write_atomic;
pub use crate::util::time::{format_rfc3339, now_rfc3339, parse_rfc3339};
pub use binding::{JournalMismatch, Purpose, check_list, list_file_name, verify_ids};
pub use checkpoint::checkpoint_path;
pub use checkpoint::header_of;
pub(crate) use checkpoint::{load as load_checkpoint, save as save_checkpoint, worth_saving};
pub use hint::hint_path;
pub use letters::{Letter, LetterLog};
pub use lock::{LockHeld, StateLock, lock_holder, lock_state_dir};
pub use missing::RecordsMissing;
pub use read::{JournalLine, read_journal};
pub use record::{
    Attempt, AttemptRecord, Header, LetterExported, LetterPosted, OLDEST_VERSION, Outcome, Record,
    RunEvent, RunMarker, State, UNKNOWN_OUTCOME, VERSION,
};
pub(crate) use replay::replay_from;
pub use replay::{Observer, RecordKind, Replay, RunInfo, Seen, TornTail, next_state, replay};
pub use rows::{RowAttempts, RowIds, RowStates};
pub use writer::{COMMIT_INTERVAL, COMMIT_RECORDS, JournalWriter};

/// The journal file of `campaign` in `state_dir`: `<state-dir>/<campaign>.journal.jsonl`.
pub fn journal_path(state_dir: &Path, campaign: &str) -> PathBuf {
    state_dir.join(format!("{campaign}.journal.jsonl"))
}
