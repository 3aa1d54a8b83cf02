//! The output formats of `report`: a CSV for people ([`super::csv`]) or JSON Lines for
//! programs, written one line at a time so that memory stays flat however long the list.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

/// Output format of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

/// Starts an output: in CSV the BOM and the header record; JSON Lines has no header.
pub(super) fn write_start(out: &mut dyn Write, format: Format, header: &[String]) -> Result<()> {
    match format {
        Format::Csv => super::csv::write_header(out, header),
        Format::Json => Ok(()),
    }
}

/// Writes one line of output: `cells` as a CSV record or `object` as a JSON line.
pub(super) fn write_line(
    out: &mut dyn Write,
    format: Format,
    cells: &[String],
    object: &impl Serialize,
) -> Result<()> {
    match format {
        Format::Csv => super::csv::write_record(out, cells),
        Format::Json => {
            let mut buf = serde_json::to_vec(object)?;
            buf.push(b'\n');
            out.write_all(&buf)?;
            Ok(())
        }
    }
}
