//! Shared helpers for integration tests.

pub mod campaign;
pub mod smtp_server;
