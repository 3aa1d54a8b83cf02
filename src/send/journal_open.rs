//! The campaign journal a run opens: created for a new campaign, or resumed after checking
//! that it is bound to the same list, templates and notice settings.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::Config;
use crate::ingest::{ListDuplicates, RecipientReader, list_identity};
use crate::journal::{self, Header, JournalWriter, Replay};
use crate::render::notice::Renderer;

use super::producer::needs_message;
use super::run::SendOptions;

/// About how many messages this run will send, for the progress bar's ETA: the rows of the
/// list not yet done (a share of them with `--shard`), at most `--limit`.
pub(super) fn expected_messages(
    rows: u64,
    replay: Option<&Replay>,
    opts: &SendOptions,
) -> Option<u64> {
    let done = replay.map_or(0, |r| {
        r.states
            .counts()
            .iter()
            .filter(|(s, _)| !needs_message(**s, opts.retry_failed))
            .map(|(_, n)| n)
            .sum()
    });
    let mut left = rows.saturating_sub(done);
    if let Some(shard) = opts.shard {
        left = left.div_ceil(u64::from(shard.n));
    }
    Some(opts.limit.map_or(left, |l| left.min(l)))
}

/// A digest of every notice-relevant setting, for the journal header.
pub fn notice_settings_digest(config: &Config) -> String {
    crate::config::digest_of(&config.notice_digests())
}

/// The campaign journal, opened for appending.
pub struct OpenJournal {
    pub writer: JournalWriter,
    /// What an existing journal held (`None`: created now).
    pub replay: Option<Replay>,
    pub path: PathBuf,
    /// Data rows in the list the journal is bound to.
    pub list_rows: u64,
    /// The list's duplicate ids and addresses, for the reader that sends.
    pub duplicates: ListDuplicates,
}

/// Opens (resuming) or creates the campaign journal in `state_dir`, refusing one that was
/// started with other inputs unless `accept_changes`. The list is read to its end first (for
/// its digest and its duplicates), so a list that cannot be read leaves no journal behind.
pub fn open_journal(
    config: &Config,
    renderer: &Renderer,
    opts: &SendOptions,
) -> Result<OpenJournal> {
    let path = journal::journal_path(&opts.state_dir, &config.campaign.id);
    // Hashing the list, finding its duplicates and replaying the journal all read a large
    // file: do them side by side.
    let (identity, duplicates, existing) = std::thread::scope(|scope| {
        let identity = scope.spawn(|| list_identity(&opts.recipients));
        let duplicates = scope
            .spawn(|| RecipientReader::find_duplicates(&opts.recipients, config, opts.encoding));
        let existing = path.exists().then(|| journal::replay(&path));
        (identity.join(), duplicates.join(), existing)
    });
    let duplicates =
        duplicates.map_err(|_| anyhow::anyhow!("reading the recipients list failed"))??;
    let (list_digest, list_rows) =
        identity.map_err(|_| anyhow::anyhow!("hashing the recipients list failed"))??;
    let mut header = Header::new(
        &config.campaign.id,
        &list_digest,
        list_rows,
        &renderer.templates_digest(),
        &notice_settings_digest(config),
    );
    header.list_file = Some(journal::list_file_name(&opts.recipients));
    header.templates = renderer.template_digests.clone();
    header.settings = config.notice_digests();
    if let Some(replay) = existing {
        let replay = replay?;
        journal::check_list(
            &path,
            &replay.header,
            &opts.recipients,
            (&list_digest, list_rows),
            journal::Purpose::Resume,
        )?;
        journal::verify_ids(&[(&path, &replay)], &opts.recipients, config, opts.encoding)?;
        if let Err(e) = replay.header.check_matches(&header)
            && !opts.accept_changes
        {
            return Err(journal::JournalMismatch::InputsChanged {
                journal: path.clone(),
                changes: named_changes(&replay.header, &header, format!("{e:#}")),
            }
            .into());
        }
        let writer = JournalWriter::open_append(&path, &replay)?;
        Ok(OpenJournal {
            writer,
            replay: Some(replay),
            path,
            list_rows,
            duplicates,
        })
    } else {
        let writer = JournalWriter::create(&path, &header)?;
        Ok(OpenJournal {
            writer,
            replay: None,
            path,
            list_rows,
            duplicates,
        })
    }
}

/// The digests that differ (`detail`), followed by the template files and config keys that
/// changed when the journal's header names them (journals of earlier versions do not).
fn named_changes(began: &Header, now: &Header, detail: String) -> String {
    if began.templates.is_empty() && began.settings.is_empty() {
        return detail;
    }
    let changes = crate::config::compare_pins(
        (&began.templates, &began.settings),
        (&now.templates, &now.settings),
    );
    if changes.is_empty() {
        return detail;
    }
    let named: Vec<String> = changes.iter().map(ToString::to_string).collect();
    format!("{detail}; changed since it began: {}", named.join(", "))
}
