//! Row validation: one data record of the list checked against the columns, the cell rules
//! ([`crate::ingest::fields`]) and the duplicates found for it, and turned into a [`Row`] —
//! valid with its warnings, or invalid with every problem found in it.

use std::io;

use anyhow::{Context, Result};

use crate::ingest::RecipientReader;
use crate::ingest::decode::looks_like_utf8_read_as_sjis;
use crate::ingest::duplicates::Finding;
use crate::ingest::fields::{
    FLAG_HELP, check_email, check_id, check_text, is_private_use, parse_flag, resolve_brand,
    shorten, trim,
};
use crate::ingest::keys::id_key;
use crate::ingest::record::cell;
use crate::ingest::row::{FieldSet, MAX_NAME_CHARS, Recipient, Row, RowIssue};

impl RecipientReader {
    fn issue(&self, line: u64, id: &Option<String>, problem: String) -> RowIssue {
        RowIssue {
            file: self.path.clone(),
            line,
            id: id.clone(),
            problem,
            value: None,
        }
    }

    /// The issues of a row: `errors`, each with its cell from `values` (by position in `errors`).
    fn issues(
        &self,
        line: u64,
        id: &Option<String>,
        errors: Vec<String>,
        mut values: Vec<(usize, String)>,
    ) -> Vec<RowIssue> {
        errors
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let mut issue = self.issue(line, id, e);
                if let Some(at) = values.iter().position(|(j, _)| *j == i) {
                    issue.value = Some(values.swap_remove(at).1);
                }
                issue
            })
            .collect()
    }

    pub(super) fn validate(
        &mut self,
        row: u64,
        line: u64,
        rec: &csv::ByteRecord,
        bad_bytes: bool,
    ) -> Result<Row> {
        let mut errors: Vec<String> = Vec::new();
        // Cells quoted for the operator's terminal, by position in `errors` (never in `errors`).
        let mut values: Vec<(usize, String)> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        if bad_bytes {
            errors.push(format!("invalid {} byte sequence", self.encoding_name));
        }
        // Borrowed when the cell is valid UTF-8 (nearly always): no allocation per field.
        let field = |i: usize| -> std::borrow::Cow<'_, str> {
            cell(rec, i)
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
        };
        let cols = &self.columns;

        // id (even on a ragged row, if its column is there, so the error can name it)
        let id_raw = field(cols.id);
        let id_value = trim(&id_raw);
        let id = match check_id(id_value, bad_bytes) {
            Ok(()) => Some(id_value.to_string()),
            Err(e) => {
                if rec.len() == cols.count {
                    errors.push(e);
                }
                None
            }
        };
        if rec.len() != cols.count {
            errors.push(format!(
                "expected {} fields, found {}",
                cols.count,
                rec.len()
            ));
            let errors = errors
                .into_iter()
                .map(|e| self.issue(line, &id, e))
                .collect();
            return Ok(Row::Invalid {
                row,
                line,
                id,
                errors,
            });
        }

        let email = match check_email(
            trim(&field(cols.email)),
            bad_bytes,
            self.case_sensitive_local,
        ) {
            Ok(e) => Some(e),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if email.as_ref().is_some_and(|e| e.legacy) {
            warnings.push(
                "email: legacy address with dots outside RFC 5322; sent with a quoted local part"
                    .into(),
            );
        }

        let mut name = String::new();
        if let Some(c) = cols.name {
            let raw = field(c);
            let v = trim(&raw);
            let mixed = self.encoding_name != "UTF-8" && looks_like_utf8_read_as_sjis(v);
            match check_text("name", v, bad_bytes) {
                Err(e) => errors.push(e),
                Ok(()) if mixed => errors.push(
                    "name: looks like UTF-8 text in a file read as Shift_JIS (mixed encodings); \
                     save the whole file in one encoding"
                        .into(),
                ),
                Ok(()) if v.chars().count() > MAX_NAME_CHARS => {
                    errors.push(format!("name: longer than {MAX_NAME_CHARS} characters"))
                }
                Ok(()) => {
                    if let Some(c) = v.chars().find(|&c| is_private_use(c)) {
                        warnings.push(format!(
                            "name: contains a private-use character (U+{:04X}) that most devices \
                             cannot display",
                            c as u32
                        ));
                    }
                    name = v.to_string();
                }
            }
        }

        let brand_cell = cols.brand.map(|c| cell(rec, c).unwrap_or_default());
        let (brand, brand_problem) =
            resolve_brand(&self.brands, self.only_brand, brand_cell, bad_bytes);
        if let Some((problem, value)) = brand_problem {
            if let Some(v) = value {
                values.push((errors.len(), v));
            }
            errors.push(problem);
        }

        let mut locale = Some(self.default_locale.clone());
        if let Some(c) = cols.locale {
            let raw = field(c);
            let v = trim(&raw);
            match check_text("locale", v, bad_bytes) {
                Err(e) => {
                    errors.push(e);
                    locale = None;
                }
                Ok(()) if v.is_empty() => {}
                Ok(()) if self.locales.iter().any(|l| l == v) => locale = Some(v.to_string()),
                Ok(()) => {
                    values.push((errors.len(), shorten(v)));
                    errors.push(format!(
                        "locale: unknown locale (known: {})",
                        self.locales.join(", ")
                    ));
                    locale = None;
                }
            }
        }

        let mut leaked = FieldSet::default();
        for flag in &cols.flags {
            let raw = field(flag.column);
            if let Err(e) = check_text(&flag.header, &raw, bad_bytes) {
                errors.push(e);
                continue;
            }
            match parse_flag(&raw) {
                Some(true) => leaked.insert(flag.field),
                Some(false) => {}
                None => {
                    values.push((errors.len(), shorten(trim(&raw))));
                    errors.push(format!("{}: not a flag ({FLAG_HELP})", flag.header));
                }
            }
        }

        // Duplicates: collected for a later pass, or found by an earlier one.
        if let Some(finder) = &mut self.collecting {
            let path = &self.path;
            let sorted = |e: io::Error| {
                anyhow::anyhow!(
                    "sorting the ids and addresses of {} {}: {e}",
                    path.display(),
                    crate::util::disk_sort::location()
                )
            };
            if let Some(id) = &id {
                finder.id(line, id_key(id)).map_err(sorted)?;
            }
            if let (Some(e), Some(b)) = (&email, brand) {
                finder.email(line, e.key, b).map_err(sorted)?;
            }
        }
        let mut found = std::mem::take(&mut self.found);
        self.findings
            .take(line, &mut found)
            .with_context(|| format!("reading the duplicates of {}", self.path.display()))?;
        for finding in found.drain(..) {
            match finding {
                Finding::DuplicateId { first_line } => {
                    errors.push(format!("duplicate id, first seen on line {first_line}"))
                }
                Finding::DuplicateEmail { first_line } => errors.push(format!(
                    "email: duplicate address within brand {}, first seen on line {first_line} \
                     (two near-identical notices look like phishing)",
                    brand.map_or("?", |b| self.brands[b].as_str())
                )),
                Finding::EmailUnderOtherBrand { brand, first_line } => warnings.push(format!(
                    "email: also registered under brand {} on line {first_line}",
                    self.brands.get(brand).map_or("?", String::as_str)
                )),
            }
        }
        self.found = found;

        Ok(match (errors.is_empty(), id, email, brand, locale) {
            (true, Some(id), Some(email), Some(brand), Some(locale)) => {
                let warnings = warnings
                    .into_iter()
                    .map(|w| self.issue(line, &Some(id.clone()), w))
                    .collect();
                Row::Valid {
                    recipient: Recipient {
                        row,
                        line,
                        id,
                        email: email.address,
                        legacy_email: email.legacy,
                        name,
                        brand: self.brands[brand].clone(),
                        locale,
                        leaked,
                    },
                    warnings,
                }
            }
            (_, id, ..) => {
                let errors = self.issues(line, &id, errors, values);
                Row::Invalid {
                    row,
                    line,
                    id,
                    errors,
                }
            }
        })
    }
}
