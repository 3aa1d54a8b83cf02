//! The rules every CSV this tool writes follows: a byte order mark first, so that Excel reads
//! UTF-8, and cells that a spreadsheet would run as formulas neutralised. Every CSV writer of
//! the crate goes through [`write_header`] and [`write_record`].

use std::io::Write;

use anyhow::Result;

/// The byte order mark that CSV files for people begin with: Excel (Japanese Windows in
/// particular) reads a CSV without one as Shift_JIS and garbles every name.
pub const CSV_BOM: &str = "\u{feff}";

/// A cell as every CSV this tool writes carries it: a cell that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return would be run as a formula by a spreadsheet (a customer
/// named `=HYPERLINK(…)`), so it gets a leading single quote, as OWASP advises for CSV
/// injection. The quote shows in the cell; the value stays readable and is never executed.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Starts a CSV output: the BOM, then the header record.
pub fn write_header(out: &mut dyn Write, header: &[String]) -> Result<()> {
    out.write_all(CSV_BOM.as_bytes())?;
    write_record(out, header)
}

/// Writes `cells` as one CSV record: csv does the quoting, [`csv_cell`] neutralises formulas;
/// one row at a time keeps memory flat.
pub fn write_record(out: &mut dyn Write, cells: &[String]) -> Result<()> {
    let mut buf = Vec::new();
    let mut w = ::csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(&mut buf);
    w.write_record(cells.iter().map(|c| csv_cell(c).into_owned()))?;
    w.flush()?;
    drop(w);
    out.write_all(&buf)?;
    Ok(())
}
