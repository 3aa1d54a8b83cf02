//! Before sending: `check` ([`check`]), previews of every variant ([`preview`]) gathered into
//! review groups ([`groups`], [`group_preview`]), the review page ([`group_page`]; [`page`] is the
//! page of one section per variant) and the reviewer's approval that pins the templates
//! ([`approval`]).

pub mod approval;
pub(crate) mod check;
pub(crate) mod group_page;
pub(crate) mod group_preview;
pub(crate) mod groups;
pub(crate) mod page;
pub(crate) mod preview;

pub use group_page::{GroupPageInput, PageCombination, PageGroup, render_group_page};
pub use page::{PageInput, PageVariant, escape_html, render_page};
