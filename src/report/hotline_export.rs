//! `report --hotline`: the file a call-centre vendor loads into its CRM before the notices go
//! out — one line per person of the list: reference number, customer id, brand, the labels of
//! the fields listed in the person's notice, the notice's state and when the relay accepted it.
//! No name, address, phone or e-mail: the agent finds the person by the reference the caller
//! reads out. CSV with a BOM through [`super::csv`]; the CLI writes it owner-only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::journals::Journals;
use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::State;
use crate::render::reference;

/// The columns of the hotline export, in order.
pub const HOTLINE_COLUMNS: [&str; 6] =
    ["reference", "id", "brand", "fields", "state", "notified_at"];

/// Writes the hotline export for every row of the list; returns the number of rows written.
/// The list is needed (the brand and the fields are only there), and must be the journals'.
pub fn hotline_export(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    out: &mut dyn Write,
) -> Result<u64> {
    // Before the first send there is no journal yet: the export then says "pending" for all,
    // which is what the vendor loads the day before.
    let mut journals = Journals::open(state_dirs, &config.campaign.id)?;
    let bound = match &journals {
        Some(j) => j.bind_list(recipients, config, encoding)?,
        None => recipients.symlink_metadata().is_ok(),
    };
    if !bound {
        bail!(
            "report --hotline needs the list the journals were made from ({} is not here): \
             the brand and the fields listed in each notice are only in the list",
            recipients.display()
        );
    }
    let header: Vec<String> = HOTLINE_COLUMNS.iter().map(|c| c.to_string()).collect();
    super::csv::write_header(out, &header)?;
    let mut n = 0u64;
    for row in RecipientReader::open_without_duplicates(recipients, config, encoding)? {
        let (row, id, brand, fields) = match row? {
            Row::Valid { recipient, .. } => {
                let brand = config
                    .brands
                    .get(&recipient.brand)
                    .map(|b| b.name.clone())
                    .unwrap_or_default();
                let fields: Vec<String> = recipient
                    .leaked
                    .iter()
                    .filter_map(|i| config.fields.get(i))
                    .map(|f| f.label.clone())
                    .collect();
                (recipient.row, recipient.id, brand, fields.join("・"))
            }
            Row::Invalid { row, id, .. } => {
                (row, id.unwrap_or_default(), String::new(), String::new())
            }
        };
        let state = journals.as_ref().map_or(State::Pending, |j| j.state(row));
        let notified_at = match &mut journals {
            Some(j) if state.is_delivered() => {
                j.last_outcome(row)?.map(|o| o.at).unwrap_or_default()
            }
            _ => String::new(),
        };
        let cells = vec![
            if id.is_empty() {
                String::new()
            } else {
                reference::reference(&config.campaign.id, &id)
            },
            id,
            brand,
            fields,
            state.as_str().to_string(),
            notified_at,
        ];
        super::csv::write_record(out, &cells)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}
