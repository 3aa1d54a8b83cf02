//! The reviewer's approval, which pins the exact wording of a campaign's notices.
//!
//! `tsuchi approve` records who approved, when, and the SHA-256 of every template file and of
//! every notice-relevant configuration key ([`Config::notice_digests`]). `tsuchi send` calls
//! [`verify`]: unless the latest approval for the campaign pins exactly what is in force now, it
//! refuses and names what changed, so nothing reaches a recipient unreviewed.
//!
//! Approvals live in `<state-dir>/approvals.jsonl`, one JSON object per line, oldest first. The
//! file is only ever appended to (approving twice gives two lines), owner-only (0600) in an
//! owner-only directory (0700), and each append is fsynced before [`record`] returns. A line is
//! committed once its newline is on disk: a torn last line left by a crash is ignored by
//! [`history`] and cut off by the next [`record`]; damage anywhere else is an error naming the
//! line.
//!
//! [`Config::notice_digests`]: crate::config::Config::notice_digests

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub use crate::config::Change;
use crate::config::{Config, sha256_hex};

/// File name of the approval log inside the state directory.
pub const APPROVALS_FILE: &str = "approvals.jsonl";

/// Longest reviewer name accepted, in characters.
pub const MAX_REVIEWER_CHARS: usize = 100;
/// Longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// One recorded approval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Approval {
    /// Who approved (as given with `--reviewer`).
    pub reviewer: String,
    /// Free-form remark (ticket number, scope of the review…).
    pub note: Option<String>,
    /// When, RFC 3339 UTC (`2026-11-25T09:00:00Z`).
    pub at: String,
    /// `campaign.id` of the approved campaign.
    pub campaign: String,
    /// Template file relative to the templates directory (`ja/body.tera`) → SHA-256 (hex).
    pub templates: BTreeMap<String, String>,
    /// Config key (`incident.ja`, `brands.kaede`, …) → SHA-256 (hex).
    pub settings: BTreeMap<String, String>,
}

impl Approval {
    /// An approval of `pinned`, stamped with the current time.
    pub fn new(reviewer: &str, note: Option<&str>, campaign: &str, pinned: &Pinned) -> Approval {
        Approval {
            reviewer: reviewer.to_string(),
            note: note.map(str::to_string),
            at: crate::util::time::now_rfc3339_seconds(),
            campaign: campaign.to_string(),
            templates: pinned.templates.clone(),
            settings: pinned.settings.clone(),
        }
    }

    /// What this approval pins.
    pub fn pinned(&self) -> Pinned {
        Pinned {
            templates: self.templates.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// What is in force now: digests of the template files and of the notice settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pinned {
    pub templates: BTreeMap<String, String>,
    pub settings: BTreeMap<String, String>,
}

impl Pinned {
    /// The digests of `config`'s template directory and notice settings.
    pub fn of_config(config: &Config) -> Result<Pinned> {
        Ok(Pinned {
            templates: template_digests(&config.campaign.templates)?,
            settings: config.notice_digests(),
        })
    }
}

/// SHA-256 of every file under the templates directory, keyed by its path relative to that
/// directory with `/` separators (`ja/body.tera`). Every file counts, since a template may
/// include any of them; hidden files (`.name`) and editor backups (`name~`) are skipped.
pub fn template_digests(dir: &Path) -> Result<BTreeMap<String, String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read templates directory {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                bail!(
                    "{}: template file name is not UTF-8",
                    entry.path().display()
                );
            };
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            let path = entry.path();
            let key = format!("{prefix}{name}");
            // Follows symbolic links: what counts is the content a template load would read.
            let meta = std::fs::metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if meta.is_dir() {
                walk(&path, &format!("{key}/"), out)?;
            } else if meta.is_file() {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read template {}", path.display()))?;
                out.insert(key, sha256_hex(&bytes));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out)?;
    if out.is_empty() {
        bail!(
            "templates directory {} holds no template files",
            dir.display()
        );
    }
    Ok(out)
}

/// `<state-dir>/approvals.jsonl`.
pub fn approvals_path(state_dir: &Path) -> PathBuf {
    state_dir.join(APPROVALS_FILE)
}

/// Checks a reviewer name: required, at most [`MAX_REVIEWER_CHARS`] characters, no control
/// characters, no invisible ones (bidi overrides and isolates, zero-width characters, line
/// separators: they make the approval log show another name than the one recorded), not only
/// white space.
pub fn validate_reviewer(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        bail!("the reviewer's name is required (--reviewer NAME)");
    }
    if name.chars().count() > MAX_REVIEWER_CHARS {
        bail!("the reviewer's name is longer than {MAX_REVIEWER_CHARS} characters");
    }
    if name.chars().any(char::is_control) {
        bail!("the reviewer's name contains a control character");
    }
    if let Some(c) = crate::render::lint::invisible_char(name)
        .or_else(|| name.chars().find(|c| matches!(c, '\u{2028}' | '\u{2029}')))
    {
        bail!(
            "the reviewer's name contains an invisible or direction-changing character (U+{:04X})",
            c as u32
        );
    }
    Ok(())
}

fn validate(approval: &Approval) -> Result<()> {
    validate_reviewer(&approval.reviewer)?;
    if let Some(note) = &approval.note {
        if note.chars().count() > MAX_NOTE_CHARS {
            bail!("the note is longer than {MAX_NOTE_CHARS} characters");
        }
        if note
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            bail!("the note contains a control character");
        }
    }
    if approval.campaign.is_empty() {
        bail!("the approval names no campaign");
    }
    if approval.at.is_empty() {
        bail!("the approval has no time");
    }
    if approval.templates.is_empty() {
        bail!("the approval pins no template");
    }
    Ok(())
}

/// Appends `approval` to `<state-dir>/approvals.jsonl` and fsyncs it. History is kept:
/// approving twice gives two lines. The directory is created 0700 and the file 0600 (a new file
/// appears atomically, complete with its first line). A torn last line left by a crash is cut
/// off first, so it cannot glue onto the new line.
pub fn record(state_dir: &Path, approval: &Approval) -> Result<()> {
    validate(approval)?;
    crate::util::fs::create_private_dir(state_dir)?;
    let path = approvals_path(state_dir);
    let mut line = serde_json::to_string(approval).context("cannot serialize the approval")?;
    line.push('\n');

    if path.symlink_metadata().is_err()
        && crate::util::fs::create_new_durable(&path, line.as_bytes())?
    {
        return Ok(());
    }
    append(&path, line.as_bytes())
}

fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = crate::util::fs::open_state_file(path, OpenOptions::new().read(true).append(true))?;
    // One approver at a time; the lock also keeps the torn-tail repair below safe.
    f.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    cut_torn_tail(&mut f).with_context(|| format!("cannot repair {}", path.display()))?;
    // A single write of the whole line, in append mode.
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(())
}

/// Repairs the end of the log before an append. A committed line is a whole approval ending
/// with its newline; a last line that does not parse was torn by a crash and is cut off (it
/// would otherwise glue onto the new line and damage it), and a whole last approval missing
/// only its newline gets it.
fn cut_torn_tail(f: &mut File) -> std::io::Result<()> {
    let mut contents = Vec::new();
    f.seek(SeekFrom::Start(0))?;
    f.read_to_end(&mut contents)?;
    let end = contents
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    if end == 0 {
        if !contents.is_empty() {
            f.set_len(0)?;
            f.sync_all()?;
        }
        return Ok(());
    }
    let start = contents[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    if serde_json::from_slice::<Approval>(&contents[start..end]).is_err() {
        f.set_len(start as u64)?;
        f.sync_all()?;
    } else if !contents.ends_with(b"\n") {
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    Ok(())
}

/// All approvals, oldest first; none if the file does not exist. A torn last line (a crash
/// mid-append) is ignored; a damaged line anywhere else is an error naming its line number.
pub fn history(state_dir: &Path) -> Result<Vec<Approval>> {
    let path = approvals_path(state_dir);
    let Some(bytes) = crate::util::fs::read_state_file(&path)? else {
        return Ok(Vec::new());
    };
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The index of the last line holding anything: only that one may be torn.
    let last = lines.iter().rposition(|l| !is_blank(l));
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_blank(line) {
            continue;
        }
        match serde_json::from_slice::<Approval>(line) {
            Ok(a) => out.push(a),
            Err(_) if Some(i) == last => {
                tracing::warn!(
                    "{}: ignoring the torn last line {} (an interrupted approval)",
                    path.display(),
                    i + 1
                );
            }
            Err(e) => bail!(
                "{}: line {}: damaged approval record: {e}",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The latest approval for `campaign`, if any.
pub fn latest(state_dir: &Path, campaign: &str) -> Result<Option<Approval>> {
    Ok(history(state_dir)?
        .into_iter()
        .rev()
        .find(|a| a.campaign == campaign))
}

/// Compares the latest approval for `campaign` with what is in force. `Ok(approval)` when they
/// are identical; otherwise a [`Mismatch`] naming exactly what changed.
pub fn verify(state_dir: &Path, campaign: &str, now: &Pinned) -> Result<Approval, Mismatch> {
    let approval = match latest(state_dir, campaign) {
        Ok(Some(a)) => a,
        Ok(None) => return Err(Mismatch::NoApproval),
        Err(e) => return Err(Mismatch::Unreadable(format!("{e:#}"))),
    };
    let changes = compare(&approval.pinned(), now);
    if changes.is_empty() {
        Ok(approval)
    } else {
        Err(Mismatch::Changed {
            approved_by: approval.reviewer,
            approved_at: approval.at,
            changes,
        })
    }
}

/// What differs between an approved pin and the current one: templates first, then settings,
/// each in key order.
pub fn compare(approved: &Pinned, now: &Pinned) -> Vec<Change> {
    crate::config::compare_pins(
        (&approved.templates, &approved.settings),
        (&now.templates, &now.settings),
    )
}

/// Why the notice in force is not covered by an approval.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// No approval on record for this campaign.
    NoApproval,
    /// The latest approval pins something else.
    Changed {
        approved_by: String,
        approved_at: String,
        changes: Vec<Change>,
    },
    /// The approval log could not be read (damaged or unreadable); the message says where.
    Unreadable(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NoApproval => write!(
                f,
                "no approval on record: run `tsuchi preview`, have it reviewed, then \
                 `tsuchi approve --reviewer NAME`"
            ),
            Mismatch::Changed {
                approved_by,
                approved_at,
                changes,
            } => {
                write!(
                    f,
                    "the approval by {approved_by} ({approved_at}) does not cover the current notice: "
                )?;
                for (i, c) in changes.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(". Preview and run `tsuchi approve` again.")
            }
            Mismatch::Unreadable(e) => write!(f, "cannot check the approval: {e}"),
        }
    }
}

impl std::error::Error for Mismatch {}
