//! Previews for legal review: one `.eml` per variant filled with a clearly fictional sample
//! person, or the real notices of chosen customers (`--id`), built by the same code path that
//! sends.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::ingest::Encoding;
use crate::ingest::variant::{Variant, VariantCounts};
use crate::mail::message::MessageBuilder;
use crate::mail::scan::{Scanned, Scanner};
use crate::render::notice::Person;
use crate::send::transport::file_name_for;
use crate::util::fs::create_private_dir;

/// The fictional person every variant preview is addressed to.
pub const SAMPLE_ID: &str = "SAMPLE-0001";
pub const SAMPLE_NAME_JA: &str = "見本 花子";
pub const SAMPLE_NAME_EN: &str = "Hanako Mihon (sample)";
pub const SAMPLE_EMAIL: &str = "sample.recipient@example.invalid";

/// A variant preview: its sample notice, and its `.eml` when one was written.
pub struct VariantPreview {
    pub variant: Variant,
    pub count: u64,
    pub file: Option<PathBuf>,
    pub subject: String,
    pub body: String,
}

/// Renders the sample notice of every variant present in the list and writes an `.eml` into
/// `out_dir` for those `write` picks; returns them all with counts, most recipients first.
pub fn preview_variants(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    shard: Option<crate::ingest::shard::Shard>,
    out_dir: &Path,
    write: &dyn Fn(&Variant) -> bool,
) -> Result<(Vec<VariantPreview>, u64)> {
    let renderer = crate::waves::renderer(config)?;
    let builder = MessageBuilder::new(config)?;
    let mut counts = VariantCounts::default();
    let mut refused = 0u64;
    for scanned in Scanner::open(recipients, config, encoding, &renderer)?
        .with_builder(&builder)
        .with_shard(shard)
    {
        match scanned? {
            // A follow-up class that is not mailed has nothing to review.
            Scanned::Ready { recipient, .. }
                if crate::waves::skip_reason(config, &renderer, &recipient).is_some() => {}
            Scanned::Ready { recipient, .. } => {
                let follow_up = renderer.follow_up(&recipient.id, recipient.leaked);
                counts.add_follow_up(
                    &recipient.brand,
                    &recipient.locale,
                    recipient.leaked,
                    follow_up.map(|f| f.variant()),
                )
            }
            Scanned::Refused { .. } => refused += 1,
        }
    }
    create_private_dir(out_dir)?;
    let mut previews = Vec::new();
    let total = counts.len();
    for (n, (variant, count)) in counts.by_count().into_iter().enumerate() {
        let name = if variant.locale == "ja" {
            SAMPLE_NAME_JA
        } else {
            SAMPLE_NAME_EN
        };
        let person = Person {
            id: SAMPLE_ID,
            name,
            brand: &variant.brand,
            locale: &variant.locale,
            leaked: variant.fields,
        };
        let follow_up = variant.follow_up.map(|f| renderer.sample_follow_up(f));
        let notice = renderer
            .render_as(&person, follow_up.as_ref())
            .map_err(|e| anyhow::anyhow!("variant {}: {}", variant.code(), e))?;
        if !write(&variant) {
            previews.push(VariantPreview {
                variant,
                count,
                file: None,
                subject: notice.subject,
                body: notice.body,
            });
            continue;
        }
        let message = builder.build(
            &notice,
            &format!("{SAMPLE_ID}/{}", variant.code()),
            SAMPLE_EMAIL,
            SystemTime::now(),
        )?;
        let width = total.to_string().len();
        let file = out_dir.join(format!(
            "{:0width$}-{}-{}.eml",
            n + 1,
            variant.code(),
            crate::util::format::people(count)
        ));
        std::fs::write(&file, &message.bytes)
            .with_context(|| format!("cannot write {}", file.display()))?;
        previews.push(VariantPreview {
            variant,
            count,
            file: Some(file),
            subject: notice.subject,
            body: notice.body,
        });
    }
    Ok((previews, refused))
}

/// Writes the real notices of the customers `ids` as `<out_dir>/<id>.eml`, owner-only (they
/// hold personal data). Returns the files written and the ids not found or refused.
pub fn preview_ids(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    out_dir: &Path,
    ids: &[String],
    log: &mut dyn Write,
) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let renderer = crate::waves::renderer(config)?;
    let builder = MessageBuilder::new(config)?;
    let mut wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    create_private_dir(out_dir)?;
    let mut written = Vec::new();
    let mut scanner =
        Scanner::open(recipients, config, encoding, &renderer)?.with_builder(&builder);
    for scanned in &mut scanner {
        if wanted.is_empty() {
            break;
        }
        match scanned? {
            Scanned::Ready {
                recipient, notice, ..
            } => {
                if !wanted.remove(recipient.id.as_str()) {
                    continue;
                }
                let message =
                    builder.build(&notice, &recipient.id, &recipient.email, SystemTime::now())?;
                let file = out_dir.join(format!("{}.eml", file_name_for(&recipient.id)));
                crate::journal::write_atomic(&file, &message.bytes, 0o600)?;
                written.push(file);
            }
            Scanned::Refused {
                id: Some(id),
                errors,
                ..
            } if wanted.remove(id.as_str()) => {
                for e in errors {
                    writeln!(log, "error: {e}")?;
                }
            }
            Scanned::Refused { .. } => {}
        }
    }
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| {
            !written
                .iter()
                .any(|f| f.ends_with(format!("{}.eml", file_name_for(id))))
        })
        .cloned()
        .collect();
    Ok((written, missing))
}

/// One line of `<state-dir>/review-sends.jsonl`: a preview mailed to a reviewer, kept apart
/// from the campaign journal.
#[derive(serde::Serialize)]
struct ReviewSend<'a> {
    at: String,
    to: &'a str,
    variant: String,
    message_id: &'a str,
    result: String,
}

/// Sends every variant preview, subject prefixed `[確認用 n/N]`, to each reviewer through
/// `transport`; records each send in `<state-dir>/review-sends.jsonl`. Returns how many were
/// accepted.
pub async fn mail_previews<T: crate::send::transport::Transport>(
    config: &Config,
    previews: &[VariantPreview],
    reviewers: &[String],
    transport: T,
    state_dir: &Path,
    out: &mut dyn Write,
) -> Result<usize> {
    use crate::send::transport::Session;
    for r in reviewers {
        r.parse::<lettre::Address>()
            .map_err(|e| anyhow::anyhow!("--mail-to {r:?} is not an e-mail address: {e}"))?;
    }
    let builder = MessageBuilder::new(config)?;
    create_private_dir(state_dir)?;
    let log_path = state_dir.join("review-sends.jsonl");
    let mut log = {
        use std::os::unix::fs::OpenOptionsExt;
        crate::util::fs::open_state_file(
            &log_path,
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600),
        )
        .with_context(|| format!("cannot write {}", log_path.display()))?
    };
    let mut session = transport.session();
    let total = previews.len();
    let mut accepted = 0;
    for (n, p) in previews.iter().enumerate() {
        let notice = crate::render::notice::Notice {
            subject: format!("[確認用 {}/{total}] {}", n + 1, p.subject),
            body: p.body.clone(),
        };
        for to in reviewers {
            let id = format!("REVIEW/{}/{to}", p.variant.code());
            let message = builder
                .build(&notice, &id, to, SystemTime::now())
                .map_err(|e| anyhow::anyhow!("variant {}: {e}", p.variant.code()))?;
            let result = match session.send(&message, "review").await {
                Ok(d) => {
                    accepted += 1;
                    format!("{} {}", d.code, crate::util::redact::redact_reply(&d.reply))
                }
                Err(f) => format!(
                    "failed: {}",
                    crate::util::redact::redact_reply(&f.to_string())
                ),
            };
            writeln!(
                out,
                "[確認用 {}/{total}] {} → {to}: {result}",
                n + 1,
                p.variant.code()
            )?;
            let line = ReviewSend {
                at: crate::journal::now_rfc3339(),
                to,
                variant: p.variant.code(),
                message_id: &message.message_id,
                result,
            };
            let mut bytes = serde_json::to_vec(&line)?;
            bytes.push(b'\n');
            log.write_all(&bytes)?;
        }
    }
    session.close().await;
    log.sync_all()?;
    writeln!(
        out,
        "{accepted} review copies sent; recorded in {}",
        log_path.display()
    )?;
    Ok(accepted)
}
