//! Before sending: `check` ([`check`]), previews of every variant ([`preview`]), the review page
//! ([`page`]) and the reviewer's approval that pins the templates ([`approval`]).

pub mod approval;
pub(crate) mod check;
pub(crate) mod page;
pub(crate) mod preview;

pub use page::{PageInput, PageVariant, escape_html, render_page};
