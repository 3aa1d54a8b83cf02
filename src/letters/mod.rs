//! `tsuchi letters`: print-ready letters for the people e-mail did not reach — A4 PDF batch
//! files with the Japanese font embedded and subset ([`pdf`]), the text rendered from the
//! notice's data with the addressee and return block ([`template`]), the print vendor's
//! manifest sorted by postal code ([`manifest`]) — each letter recorded in the campaign
//! journal (`letter_exported`), so a second run exports nobody twice unless asked, and the
//! vendor's posting date recorded per batch (`--mark-posted`).
//!
//! Who gets a letter: exactly the people `report --unreached` lists ([`crate::report`]),
//! with a usable postal address ([`address`]). The others are listed by id and reason in
//! `DIR/announcement.csv`: a public announcement must reach them.

mod address;
mod export;
mod manifest;
mod pdf;
mod template;

pub use address::{PREFECTURES, PostalAddress, Unusable};
pub use export::{ExportSummary, Options, export, mark_posted};
pub use template::{LetterTemplates, LetterText};
