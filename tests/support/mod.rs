//! Shared helpers for integration tests.

pub mod campaign;
pub mod catalogue;
pub mod chromium;
pub mod combos;
pub mod dns_server;
pub mod letters;
pub mod rows;
pub mod smtp_server;
