//! tsuchi (通知) — data-breach notification campaigns by e-mail, for Japan.
//!
//! The pipeline points one way, a folder per stage:
//!
//! ```text
//! config ─┐
//! ingest → render → mail → send → journal ← report
//!                             review ─┘
//! ```
//!
//! - [`config`]: the campaign file, loaded and checked, and the digests that pin it;
//! - [`ingest`]: the list, read as a stream, validated row by row, duplicates found on disk;
//! - [`render`]: one person's notice, linted for links and wrapped for Japanese;
//! - [`mail`]: the MIME message (charsets, DKIM) and the scan every command shares;
//! - [`send`]: the run — producer, workers, transports, rate limits, outages, shutdown;
//! - [`journal`]: the append-only record of attempts and outcomes; it knows nothing of SMTP;
//! - [`review`]: `check`, previews, the review page and the approval;
//! - [`waves`]: follow-up campaigns — each person compared with what an earlier campaign told them;
//! - [`report`]: status, report, lookup and bounces, read back from the journals;
//! - [`hotline`]: `tsuchi serve`, the read-only service for call-centre agents;
//! - [`preflight`]: the sender domain's DNS (SPF, DKIM key, DMARC, bounce MX, alignment);
//! - [`cli`]: the commands, and the only place that knows exit codes.

pub mod cli;
pub mod config;
pub mod hotline;
pub mod ingest;
pub mod journal;
pub mod letters;
pub mod mail;
pub mod preflight;
pub mod render;
pub mod report;
pub mod review;
pub mod send;
mod util;
pub mod waves;
