//! The `[letters]` section: where `tsuchi letters` finds a person's postal address in the list,
//! the font it embeds, and the sender's return block. Absent section: `letters` refuses to run
//! and says which keys it needs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Letters {
    /// The list's column holding the postal code (`123-4567`, `1234567`, full-width digits too).
    #[serde(default = "default_postal_code")]
    pub postal_code: String,
    /// The list's columns holding the address, printed one per line in this order; empty
    /// cells are left out.
    pub address: Vec<String>,
    /// The list's column holding the addressee's name (printed with 様).
    #[serde(default = "default_name")]
    pub name: String,
    /// The list's column holding the prefecture, for the vendor's manifest; when absent, the
    /// prefecture is read from the start of the first address line.
    #[serde(default)]
    pub prefecture: Option<String>,
    /// A TrueType/OpenType font with Japanese glyphs (`.ttf`, `.otf` or a `.ttc` collection),
    /// embedded and subset in every PDF (relative to the config file).
    pub font: PathBuf,
    /// The face of a `.ttc` collection (Noto Sans CJK: 0 is the Japanese face).
    #[serde(default)]
    pub font_index: u32,
    /// The sender's return block, one line each (address, company, department).
    pub return_address: Vec<String>,
    /// Body lines are wrapped at this display width (a full-width character counts two).
    #[serde(default = "default_wrap_width")]
    pub wrap_width: usize,
    /// Letters per PDF file unless `--batch` says otherwise.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_postal_code() -> String {
    "postal_code".into()
}
fn default_name() -> String {
    "name".into()
}
fn default_wrap_width() -> usize {
    80
}
fn default_batch() -> usize {
    500
}
