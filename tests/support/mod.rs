//! Shared helpers for integration tests.

pub mod smtp_server;
