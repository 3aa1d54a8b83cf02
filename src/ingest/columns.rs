//! The header of the list: which column holds the id, the address, the name, the brand, the
//! locale and each catalogue field's `leaked_*` flag, matched trimmed and in any case, and the
//! header refused when it does not fit the configuration.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};

use crate::config::Config;
use crate::ingest::record::cell;

/// A `leaked_*` column: its position, its catalogue field, its header as written (lowercase).
#[derive(Debug)]
pub(super) struct FlagColumn {
    pub(super) column: usize,
    pub(super) field: usize,
    pub(super) header: String,
}

/// Where the columns the reader needs are (`None`: the list has no such column).
#[derive(Debug)]
pub(super) struct Columns {
    pub(super) count: usize,
    pub(super) id: usize,
    pub(super) email: usize,
    pub(super) name: Option<usize>,
    pub(super) brand: Option<usize>,
    pub(super) locale: Option<usize>,
    pub(super) flags: Vec<FlagColumn>,
}

/// Maps the header record (on `line` of `path`) to the columns `config` needs.
pub(super) fn map_columns(
    path: &Path,
    line: u64,
    header: &csv::ByteRecord,
    config: &Config,
) -> Result<Columns> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cols = Columns {
        count: header.len(),
        id: usize::MAX,
        email: usize::MAX,
        name: None,
        brand: None,
        locale: None,
        flags: Vec::new(),
    };
    for (i, raw) in (0..header.len())
        .filter_map(|i| cell(header, i))
        .enumerate()
    {
        let text = String::from_utf8_lossy(raw);
        let name = text
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
            .to_lowercase();
        let known = matches!(name.as_str(), "id" | "email" | "name" | "brand" | "locale")
            || name.starts_with("leaked_");
        if !known {
            continue;
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            bail!(
                "{}:{line}: column `{name}` appears twice (columns {} and {})",
                path.display(),
                first + 1,
                i + 1
            );
        }
        match name.as_str() {
            "id" => cols.id = i,
            "email" => cols.email = i,
            "name" => cols.name = Some(i),
            "brand" => cols.brand = Some(i),
            "locale" => cols.locale = Some(i),
            _ => {
                let key = &name["leaked_".len()..];
                let Some(field) = config.field_index(key) else {
                    let known: Vec<String> = config
                        .fields
                        .iter()
                        .map(|f| format!("leaked_{}", f.key))
                        .collect();
                    bail!(
                        "{}:{line}: unknown column `{name}`: `{key}` is not in the field \
                         catalogue (known: {})",
                        path.display(),
                        known.join(", ")
                    );
                };
                cols.flags.push(FlagColumn {
                    column: i,
                    field,
                    header: name.clone(),
                });
            }
        }
    }
    for (col, what) in [(cols.id, "id"), (cols.email, "email")] {
        if col == usize::MAX {
            bail!(
                "{}:{line}: required column `{what}` is missing",
                path.display()
            );
        }
    }
    // A catalogue field without its column would be "not leaked" for every row, silently: refuse
    // it, unless the config says the field may be absent.
    let missing: Vec<String> = config
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| !f.optional && !cols.flags.iter().any(|c| c.field == *i))
        .map(|(_, f)| format!("`leaked_{}`", f.key))
        .collect();
    if !missing.is_empty() {
        let (what, verb) = if missing.len() == 1 {
            ("column", "is")
        } else {
            ("columns", "are")
        };
        bail!(
            "{}:{line}: {what} {} {verb} missing: every field of the catalogue needs its column, \
             or it would be taken as not leaked for everyone. Add the column (an empty cell means \
             not leaked), or, for a field that does not apply to this campaign, remove it from \
             [[fields]] or mark it `optional = true` in {}",
            path.display(),
            missing.join(", "),
            config.path.display()
        );
    }
    if cols.brand.is_none() && config.brands.len() != 1 {
        bail!(
            "{}:{line}: column `brand` is missing; it is required when the configuration has \
             several brands ({})",
            path.display(),
            config.brands.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(cols)
}
