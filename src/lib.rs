//! tsuchi (通知) — data-breach notification campaigns by e-mail, for Japan.
//!
//! The pipeline points one way: [`config`] and [`recipients`] feed [`notice`] (rendering, the
//! no-link lint, line breaking), which feeds [`message`] (the MIME message), which the sender
//! hands to a transport.

pub mod config;
pub mod charset;
pub mod dkim;
