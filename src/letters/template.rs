//! One person's letter as text: `templates/<locale>/letter.tera` rendered with the data the
//! notice's templates see ([`Renderer::template_context`]: the numbered fields, what was not
//! leaked, the brand's hotline, the reference number) plus the addressee and the sender's
//! return block, then checked for links like every notice.
//!
//! A letter template has three parts, separated by a line of four hyphens (`----`): the
//! addressee (printed in the envelope's window), the sender's return block, and the letter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::address::PostalAddress;
use crate::config::{Config, Letters, sha256_hex};
use crate::render::notice::{
    RenderError, display_name, lint_and_wrap, strip_tera_tags, tera_error, tidy_body,
};
use crate::render::{Person, Renderer, find_link};

/// The line that separates a letter template's parts.
const PART_BREAK: &str = "----";

/// Display width of a window line: about 21 full-width characters fit the 長3 window at the
/// size the addressee is printed.
const WINDOW_WIDTH: usize = 42;

/// One person's letter, linted and wrapped: what the PDF prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterText {
    /// The addressee: 〒 and postal code, address lines, name with 様.
    pub window: Vec<String>,
    /// The sender's return block (date, address, company).
    pub sender: Vec<String>,
    /// The letter, wrapped.
    pub body: Vec<String>,
}

/// The letter templates of one campaign, parsed once.
pub struct LetterTemplates {
    renderer: Renderer,
    tera: tera::Tera,
    wrap_width: usize,
    return_address: Vec<String>,
    date_ja: String,
    date_en: String,
    /// Template file (`ja/letter.tera`) → SHA-256 of its bytes.
    pub digests: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct LetterView<'a> {
    name: &'a str,
    postal_code: String,
    address: &'a [String],
    return_address: &'a [String],
    date_ja: &'a str,
    date_en: &'a str,
}

impl LetterTemplates {
    /// Loads `<templates>/<locale>/letter.tera` for every locale the notices have, and lints
    /// their fixed text and the return block.
    pub fn new(config: &Config, letters: &Letters) -> Result<LetterTemplates> {
        let renderer = Renderer::new(config)?;
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        let mut digests = BTreeMap::new();
        for locale in renderer.locales() {
            let rel = format!("{locale}/letter.tera");
            let path: PathBuf = config.campaign.templates.join(&rel);
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read letter template {}", path.display()))?;
            if let Some(found) = find_link(&strip_tera_tags(&source)) {
                bail!("{}: template text contains {found}", path.display());
            }
            if source
                .lines()
                .filter(|l| l.trim_end() == PART_BREAK)
                .count()
                != 2
            {
                bail!(
                    "{}: a letter template has three parts (addressee, return block, letter) \
                     separated by lines of {PART_BREAK:?}",
                    path.display()
                );
            }
            tera.add_raw_template(&rel, &source)
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), tera_error(&e)))?;
            digests.insert(rel, sha256_hex(source.as_bytes()));
        }
        for (i, line) in letters.return_address.iter().enumerate() {
            if let Some(found) = find_link(line) {
                bail!(
                    "{}: letters.return_address[{i}] contains {found}; letters carry no links",
                    config.path.display()
                );
            }
        }
        let today = crate::util::time::shown_time(&crate::util::time::now_rfc3339());
        let (date_ja, date_en) = dates(&today[..10.min(today.len())]);
        Ok(LetterTemplates {
            renderer,
            tera,
            wrap_width: letters.wrap_width,
            return_address: letters.return_address.clone(),
            date_ja,
            date_en,
            digests,
        })
    }

    /// Renders, lints and wraps one person's letter.
    pub fn render(
        &self,
        person: &Person<'_>,
        address: &PostalAddress,
    ) -> Result<LetterText, RenderError> {
        let mut context = self.renderer.template_context(person)?;
        for line in &address.lines {
            if let Some(found) = find_link(line) {
                return Err(RenderError(format!(
                    "address: contains {}",
                    found.kind.describe()
                )));
            }
        }
        context.insert(
            "letter",
            &LetterView {
                name: display_name(person.name),
                postal_code: address.postal_code_printed(),
                address: &address.lines,
                return_address: &self.return_address,
                date_ja: &self.date_ja,
                date_en: &self.date_en,
            },
        );
        let text = self
            .tera
            .render(&format!("{}/letter.tera", person.locale), &context)
            .map_err(|e| RenderError(format!("letter template: {}", tera_error(&e))))?;
        let mut parts = text.split('\n').collect::<Vec<_>>().into_iter();
        let mut take_part = || -> Vec<&str> {
            parts
                .by_ref()
                .take_while(|l| l.trim_end() != PART_BREAK)
                .collect()
        };
        let window = take_part();
        let sender = take_part();
        let body = take_part().join("\n");
        let short = |lines: Vec<&str>, width: usize| -> Result<Vec<String>, RenderError> {
            let text = lint_and_wrap(&tidy_body(&lines.join("\n")), width)?;
            Ok(text.lines().map(str::to_string).collect())
        };
        let window = short(window, WINDOW_WIDTH)?;
        let sender = short(sender, WINDOW_WIDTH)?;
        let body = lint_and_wrap(&tidy_body(&body), self.wrap_width)?;
        Ok(LetterText {
            window,
            sender,
            body: body.lines().map(str::to_string).collect(),
        })
    }
}

/// `2026-12-02` as a Japanese letter dates it (`2026年12月2日`) and an English one
/// (`2 December 2026`).
fn dates(iso: &str) -> (String, String) {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut it = iso.split('-').map(|p| p.parse::<u32>().unwrap_or(0));
    let (y, m, d) = (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    );
    let month = MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("");
    (format!("{y}年{m}月{d}日"), format!("{d} {month} {y}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn letters_are_dated_as_people_write_dates() {
        assert_eq!(
            super::dates("2026-12-02"),
            ("2026年12月2日".to_string(), "2 December 2026".to_string())
        );
    }
}
