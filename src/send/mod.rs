//! Sending: the run that streams the list to the workers ([`run`]), the transports behind one
//! trait ([`transport`]: the dry run's outbox and the [`smtp`] relay), rate limits ([`throttle`]),
//! relay outages ([`outage`]), the progress line ([`progress`]) and shutdown ([`shutdown`]).

pub(crate) mod outage;
pub(crate) mod progress;
pub(crate) mod run;
pub(crate) mod shutdown;
pub(crate) mod smtp;
pub(crate) mod throttle;
pub(crate) mod transport;

pub use run::notice_settings_digest;
pub use transport::file_name_for;
