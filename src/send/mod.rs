//! Sending: the run that streams the list to the workers ([`run`]: the journal it opens, the
//! producer that reads the list, the workers that send, the summary at the end), the
//! transports behind one trait ([`transport`]: the dry run's outbox and the [`smtp`] relay),
//! rate limits ([`throttle`]), relay outages ([`outage`]), the progress line ([`progress`])
//! and shutdown ([`shutdown`]).

mod events;
mod journal_open;
mod metrics;
pub(crate) mod outage;
mod producer;
pub(crate) mod progress;
pub(crate) mod relay;
mod run;
mod schedule;
pub(crate) mod shutdown;
pub(crate) mod smtp;
mod summary;
pub(crate) mod throttle;
pub(crate) mod transport;
mod worker;

pub use journal_open::notice_settings_digest;
pub use metrics::MetricsListener;
pub(crate) use run::{SendOptions, send};
pub(crate) use summary::{RunReport, print_report};
pub use transport::file_name_for;
