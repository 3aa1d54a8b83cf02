//! `letters`: exports the letters for those e-mail did not reach, or records a batch's
//! posting date.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::args::{Cli, LettersArgs};
use super::exit::EXIT_OK;
use crate::config::Config;
use crate::ingest::Encoding;

pub(super) fn letters(
    config: &Config,
    cli: &Cli,
    recipients: &Path,
    encoding: Encoding,
    args: &LettersArgs,
    out: &mut dyn Write,
) -> Result<i32> {
    let state_dir = cli.one_state_dir()?;
    if let (Some(batch), Some(date)) = (&args.mark_posted, &args.date) {
        let n = crate::letters::mark_posted(config, state_dir, batch, date)?;
        writeln!(
            out,
            "{batch}: posted on {date} recorded ({n} {})",
            if n == 1 { "letter" } else { "letters" }
        )?;
        return Ok(EXIT_OK);
    }
    let Some(dir) = &args.out else {
        anyhow::bail!("--out DIR is required");
    };
    let options = crate::letters::Options {
        out: dir.clone(),
        batch: args
            .batch
            .or(config.letters.as_ref().map(|l| l.batch))
            .unwrap_or(500),
        again: args.again,
    };
    let s = crate::letters::export(config, recipients, encoding, state_dir, &options, out)?;
    let fmt = crate::util::format::group_digits;
    writeln!(
        out,
        "{} letters ({} pages) in {} PDF files in {}: {}",
        fmt(s.letters),
        fmt(s.pages),
        s.batches.len(),
        dir.display(),
        match s.batches.as_slice() {
            [] => "none".to_string(),
            [first, .., last] if s.batches.len() > 3 => format!("{first} … {last}"),
            all => all.join(", "),
        }
    )?;
    writeln!(
        out,
        "manifest for the print vendor: {} (sorted by postal code)",
        dir.join("manifest.csv").display()
    )?;
    if s.already_exported > 0 {
        writeln!(
            out,
            "{} already exported by an earlier run, not again (--again exports them again)",
            fmt(s.already_exported)
        )?;
    }
    writeln!(
        out,
        "{} without a usable postal address: a public announcement must reach them ({})",
        fmt(s.announcement),
        dir.join("announcement.csv").display()
    )?;
    writeln!(
        out,
        "these files hold personal data (names and addresses): they are owner-only; keep them safe \
         and delete them once the vendor has printed"
    )?;
    Ok(EXIT_OK)
}
