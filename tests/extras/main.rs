//! Tests that need programs installed by `.ci/run`: Postfix (its smtp-sink, and a test-owned
//! smtpd with STARTTLS and Cyrus SASL), headless Chromium, python3 with dkimpy. Those are
//! `#[ignore]`d in a plain `cargo test` and run with
//! `cargo test --test extras -- --ignored`; the rest of this binary runs in every `cargo test`.

#[path = "../support/mod.rs"]
mod support;

mod dkim_sign;
mod hotline_chromium;
mod hotline_tls;
mod letters_pdf;
mod relay_postfix;
mod review_groups_chromium;
mod review_page_chromium;
mod send_smtp_sink;
