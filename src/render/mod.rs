//! The notice: Tera rendering of one person's text ([`notice`]), the no-link lint every notice
//! passes ([`lint`]), Japanese line breaking ([`wrap`]) and the reference number the hotline asks
//! for ([`reference`](mod@reference)).

pub(crate) mod follow_up;
pub(crate) mod lint;
pub(crate) mod notice;
pub(crate) mod reference;
pub(crate) mod wrap;

pub use follow_up::{FollowUp, FollowUpKind, FollowUps};
pub use lint::{LinkKind, find_link, find_links};
pub use notice::{Notice, Person, Renderer};
pub use reference::{normalize as normalize_reference, reference};
pub use wrap::{display_width, is_no_break_after, is_no_break_before, wrap_body};
