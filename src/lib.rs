//! tsuchi (通知) — data-breach notification campaigns by e-mail, for Japan.
//!
//! The pipeline points one way: [`config`] and [`recipients`] feed [`notice`] (rendering, with
//! the no-link [`lint`] and Japanese line breaking in [`wrap`]), which feeds [`message`] (the MIME
//! message: [`charset`], [`dkim`]), which the [`campaign`] hands to a [`transport`] — the outbox
//! of a dry run or the [`smtp`] relay — recording every attempt and outcome in the [`journal`],
//! which knows nothing of SMTP.
//!
//! Around it:
//! - reading the list: [`scan`] (validate + render, shared by every command), [`variant`],
//!   [`reference`](mod@reference) (the number the hotline asks for), [`shard`];
//! - sending: [`throttle`] (rate limits), [`outage`] (relay down), [`shutdown`], [`signals`],
//!   [`progress`];
//! - legal review: [`review`] (previews), [`review_page`], [`approval`];
//! - afterwards: [`report`] (status, report, lookup, unreached, summary) over [`journals`],
//!   [`bounce`] (reading DSNs) and [`bounce_matching`] (recording them);
//! - [`check`] and [`cli`], the commands.

pub mod approval;
pub mod bounce;
pub mod bounce_matching;
pub mod campaign;
pub mod charset;
pub mod check;
pub mod cli;
pub mod config;
pub mod disk_sort;
pub mod dkim;
pub mod duplicates;
pub mod journal;
pub mod journals;
pub mod lint;
pub mod message;
pub mod notice;
pub mod outage;
pub mod progress;
pub mod recipients;
pub mod reference;
pub mod report;
pub mod review;
pub mod review_page;
pub mod scan;
pub mod shard;
pub mod shutdown;
pub mod signals;
pub mod smtp;
pub mod throttle;
pub mod transport;
pub mod variant;
pub mod wrap;
