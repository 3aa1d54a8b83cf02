//! `tsuchi check`: the whole list validated, every notice rendered and linted, nothing sent.
//! Prints totals, counts per brand and per variant, and every row problem as
//! `file:line: id: problem`.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};

use anyhow::Result;

use crate::config::Config;
use crate::ingest::variant::VariantCounts;
use crate::ingest::{Encoding, RecipientReader};
use crate::mail::scan::{Scanned, Scanner};
use crate::render::notice::Renderer;

/// What one pass over the list found.
#[derive(Debug, Default)]
pub struct ListSummary {
    pub rows: u64,
    pub ready: u64,
    pub refused: u64,
    pub warnings: u64,
    /// Recipients whose message ISO-2022-JP cannot carry and that go out in UTF-8.
    pub utf8_fallback: u64,
    pub per_brand: BTreeMap<String, u64>,
    pub variants: VariantCounts,
    pub encoding: &'static str,
    pub shard: Option<crate::ingest::shard::Shard>,
    /// For a follow-up campaign: ready rows per class against the earlier campaign.
    pub follow_up: BTreeMap<crate::render::FollowUpKind, u64>,
}

/// Runs `check`, writing the report to `out`. Returns the summary; the caller turns refused
/// rows into a non-zero exit.
pub fn run(
    config: &Config,
    recipients: &std::path::Path,
    encoding: Encoding,
    shard: Option<crate::ingest::shard::Shard>,
    out: &mut dyn Write,
) -> Result<ListSummary> {
    let renderer = crate::waves::renderer(config)?;
    writeln!(
        out,
        "config {}: campaign {}, {} brands, {} fields, locales {}",
        config.path.display(),
        config.campaign.id,
        config.brands.len(),
        config.fields.len(),
        renderer.locales().collect::<Vec<_>>().join(", ")
    )?;
    if !config.campaign.require_approval {
        writeln!(
            out,
            "warning: campaign.require_approval is false — a real send will not wait for legal's approval"
        )?;
    }
    let builder = crate::mail::message::MessageBuilder::new(config)?;
    // One pass when the list has no duplicates, as nearly every list: the ids and addresses
    // are collected while the rows are checked, and the report waits in a spool. If duplicates
    // turn up, the spool is dropped and the list is checked again, now knowing them.
    let reader = RecipientReader::open_without_duplicates(recipients, config, encoding)?
        .collecting_duplicates();
    let mut spool = tempfile::SpooledTempFile::new(SPOOL_IN_MEMORY);
    let (summary, reader) = check_rows(
        config, reader, recipients, &renderer, &builder, shard, &mut spool,
    )?;
    let duplicates = reader.collected_duplicates()?;
    let summary = if duplicates.is_empty() {
        spool.seek(SeekFrom::Start(0))?;
        std::io::copy(&mut spool, out)?;
        summary
    } else {
        drop(spool);
        let reader = RecipientReader::open_without_duplicates(recipients, config, encoding)?
            .with_duplicates(duplicates)?;
        check_rows(config, reader, recipients, &renderer, &builder, shard, out)?.0
    };
    print_summary(config, recipients, &summary, out)?;
    Ok(summary)
}

/// How much of `check`'s report is held in memory before the spool moves to a file.
const SPOOL_IN_MEMORY: usize = 4 << 20;

/// Checks every row, writing each problem to `out`; returns the counts and the reader, at the
/// end of the list.
fn check_rows(
    config: &Config,
    reader: RecipientReader,
    recipients: &std::path::Path,
    renderer: &Renderer,
    builder: &crate::mail::message::MessageBuilder,
    shard: Option<crate::ingest::shard::Shard>,
    out: &mut dyn Write,
) -> Result<(ListSummary, RecipientReader)> {
    let scanner = Scanner::from_reader(reader, recipients, renderer)
        .with_builder(builder)
        .with_shard(shard);
    let mut summary = ListSummary {
        shard,
        encoding: scanner.detected_encoding(),
        ..Default::default()
    };
    let reader = scanner.for_each_parallel(|scanned| {
        summary.rows += 1;
        match scanned? {
            Scanned::Ready {
                recipient,
                warnings,
                fallback,
                ..
            } => {
                summary.ready += 1;
                if fallback {
                    summary.utf8_fallback += 1;
                }
                for w in &warnings {
                    summary.warnings += 1;
                    writeln!(out, "warning: {w}")?;
                }
                *summary
                    .per_brand
                    .entry(recipient.brand.clone())
                    .or_default() += 1;
                let follow_up = renderer.follow_up(&recipient.id, recipient.leaked);
                if let Some(f) = &follow_up {
                    *summary.follow_up.entry(f.kind).or_default() += 1;
                }
                if crate::waves::skip_reason(config, renderer, &recipient).is_none() {
                    summary.variants.add_follow_up(
                        &recipient.brand,
                        &recipient.locale,
                        recipient.leaked,
                        follow_up.map(|f| f.variant()),
                    );
                }
            }
            Scanned::Refused { errors, .. } => {
                summary.refused += 1;
                // The operator's terminal: a bad cell may be shown here, marked as such.
                for e in &errors {
                    writeln!(out, "error: {}", e.with_value())?;
                }
            }
        }
        Ok(())
    })?;
    Ok((summary, reader))
}

fn print_summary(
    config: &Config,
    recipients: &std::path::Path,
    s: &ListSummary,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(out)?;
    if let Some(shard) = s.shard {
        writeln!(
            out,
            "shard {shard}: only this shard's rows are counted below"
        )?;
    }
    writeln!(
        out,
        "recipients {} ({}): {} rows",
        recipients.display(),
        s.encoding,
        s.rows
    )?;
    writeln!(out, "  ready to send  {:>10}", s.ready)?;
    writeln!(out, "  refused        {:>10}", s.refused)?;
    writeln!(out, "  warnings       {:>10}", s.warnings)?;
    if config.mail.charset != crate::config::Charset::Utf8 {
        writeln!(
            out,
            "  {} fallback {:>10}  (messages {} cannot carry, sent in UTF-8)",
            config.mail.charset, s.utf8_fallback, config.mail.charset
        )?;
    }
    if let Some(follows) = &config.campaign.follows {
        writeln!(
            out,
            "follow-up of campaign {} (ready rows by class):",
            follows.campaign
        )?;
        for kind in crate::render::FollowUpKind::ALL {
            let n = s.follow_up.get(&kind).copied().unwrap_or(0);
            let action = if crate::waves::sends_to(config, kind) {
                "sent"
            } else {
                "skipped"
            };
            writeln!(out, "  {:<12} {n:>10}  {action}", kind.as_str())?;
        }
    }
    writeln!(out, "by brand:")?;
    for (brand, n) in &s.per_brand {
        let name = config
            .brands
            .get(brand)
            .map(|b| b.name.as_str())
            .unwrap_or("");
        writeln!(out, "  {brand:<12} {n:>10}  {name}")?;
    }
    writeln!(
        out,
        "variants ({}, brand × locale × leaked fields):",
        s.variants.len()
    )?;
    for (variant, n) in s.variants.by_count() {
        let follow_up = match &variant.follow_up {
            Some(f) => format!("{:<12}", f.kind.as_str()),
            None => String::new(),
        };
        writeln!(
            out,
            "  {n:>10}  {:<12} {:<3} {follow_up}{}",
            variant.brand,
            variant.locale,
            variant.field_labels(config).join("・")
        )?;
    }
    Ok(())
}
