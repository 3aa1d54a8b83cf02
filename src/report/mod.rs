//! After sending: what the journal says, and bounces. `status` ([`status`]: counts, last run,
//! failures by reply and by domain, possible duplicates), `report` ([`listing`]: one line per
//! recipient, CSV or JSON; [`unreached`]: those not reached by e-mail; [`summary`]: the
//! figures for the incident report) and `lookup` ([`lookup`]: the hotline's "was this person
//! notified?"), over one or several journals ([`journals`]); and bounces — reading DSNs and
//! recording them ([`bounce`]). Everything but bounces is computed from the journal and the
//! list; nothing here prints a name, an address or a phone number.

mod answer;
pub(crate) mod bounce;
pub(crate) mod csv;
mod hotline_export;
mod index;
mod journals;
mod listing;
mod lookup;
mod output;
mod status;
mod summary;
mod unreached;

pub use answer::{Answer, Event, HotlineInfo, answer, name_matches, normalize_name};
pub use bounce::{Classification, Dsn, Source, classify, read_messages};
pub use hotline_export::{HOTLINE_COLUMNS, hotline_export};
pub(crate) use index::merge_in_background;
pub use listing::report;
pub use lookup::lookup;
pub use output::Format;
pub use status::{Status, status};
pub use summary::summary;
pub use unreached::{unreached, unreached_category};
