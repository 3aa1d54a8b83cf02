//! After sending: status, report, lookup, unreached and summary ([`commands`]) over one or
//! several journals ([`journals`]), and bounces — reading DSNs and recording them ([`bounce`]).

pub(crate) mod bounce;
pub(crate) mod commands;
pub(crate) mod journals;

pub use bounce::{Classification, Dsn, Source, classify, read_messages};
