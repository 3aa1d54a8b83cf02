//! Exit codes, and the one place that turns the library's typed errors into them.
//!
//! The library never names an exit code: it returns errors that say what happened (another
//! process holds the state directory, the journal is not for this list, …), and
//! [`exit_code`] decides what a script sees.

use crate::journal::{JournalMismatch, LockHeld, RecordsMissing};

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INCOMPLETE: i32 = 3;
pub const EXIT_RESUMABLE: i32 = 4;
pub const EXIT_REFUSED: i32 = 5;

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// The exit code for an error that ended a command: a [`Failure`]'s own code; a refusal to
/// start (the state directory held by another process, a journal made from another list or
/// other inputs, a journal that lost committed records) is [`EXIT_REFUSED`]; anything else
/// [`EXIT_ERROR`].
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.code;
        }
        if cause.is::<LockHeld>() || cause.is::<JournalMismatch>() || cause.is::<RecordsMissing>() {
            return EXIT_REFUSED;
        }
    }
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn refusals_are_told_by_type_however_they_are_wrapped() {
        let held: anyhow::Error = LockHeld {
            pid: "42".into(),
            path: "state/lock".into(),
        }
        .into();
        let wrapped = Err::<(), _>(held).context("bounces").unwrap_err();
        assert_eq!(exit_code(&wrapped), EXIT_REFUSED);
        let mismatch: anyhow::Error = JournalMismatch::InputsChanged {
            journal: "j".into(),
            changes: "templates".into(),
        }
        .into();
        assert_eq!(exit_code(&mismatch), EXIT_REFUSED);
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), EXIT_ERROR);
        let usage: anyhow::Error = Failure::new(EXIT_USAGE, "bad flag").into();
        assert_eq!(exit_code(&usage.context("while parsing")), EXIT_USAGE);
    }
}
